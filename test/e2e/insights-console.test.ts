import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { Browser, Locator, Page } from 'playwright-core';
import { ApiClient } from '../helpers/api.js';
import { adminCredentials, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { consoleSkipReasons, expectControlsLabelled, logIn, logInAs, openConsole, shotOf, suiteTitle, tableRows as rows, type BrowserElement } from '../helpers/chromium.js';
import { formatBytes } from '../../web/src/format-bytes.js';
import { imageManifest, jsonBlob, sha256, type Blob } from '../helpers/oci.js';
import { gzipTarOf, type TarItem } from '../helpers/layer-tar.js';

const reasons = consoleSkipReasons('insights console');

interface Insights {
  digest: string;
  layers: Array<{ index: number; compressedSize: number; uncompressedSize: number; files: number }>;
  history: Array<{ index: number; created: string | null; createdBy: string | null; emptyLayer: boolean; layer: number | null }>;
  historyMismatch: boolean;
  totalCompressed: number;
  totalUncompressed: number;
  wasted: { bytes: number; files: number; largest: Array<{ path: string; bytes: number; layer: number; replacedIn: number }> };
  efficiency: number;
  base?: { repository: string; tag?: string; digest: string; layers: number; matchedBy: string };
}
interface LintReport {
  findings: Array<{ rule: string; severity: string; title: string; message: string; fix: string }>;
}
interface LintSummary {
  images: number;
  rules: Array<{ id: string; severity: string; title: string; images: number; findings: number }>;
}

/** As the console shows efficiency: a percentage rounded down to one decimal (web/src/pages/Insights.tsx). */
const percent = (efficiency: number) => `${(Math.floor(efficiency * 1000) / 10).toFixed(1)}%`;

const osRelease = 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n';
const motd = Buffer.alloc(6000, 'm');
/** A Debian-like base: os-release, a 6000-byte /etc/motd the application replaces, a library that does not compress. */
const baseLayer = gzipTarOf([
  { path: 'etc/os-release', content: osRelease },
  { path: 'etc/motd', content: motd },
  { path: 'usr/lib/libbig.so', content: randomBytes(40_000) },
  { path: 'tmp', type: 'directory', mode: 0o1777 },
]);
/** The application: /etc/motd overwritten, a world-writable data file. */
const appItems: TarItem[] = [
  { path: 'etc/motd', content: 'Welcome.\n' },
  { path: 'app/run', content: '#!/bin/sh\necho run\n', mode: 0o755 },
  { path: 'app/data.txt', content: 'shared\n', mode: 0o666 },
];
const baseHistory = [
  { created: '2026-03-01T10:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:rootfs in /' },
  { created: '2026-03-01T10:00:01Z', created_by: '/bin/sh -c #(nop)  CMD ["bash"]', empty_layer: true },
];
const appHistory = [
  ...baseHistory,
  { created: '2026-03-02T09:30:00Z', created_by: 'ENV APP_MODE=production', comment: 'buildkit.dockerfile.v0', empty_layer: true },
  { created: '2026-03-02T09:30:05Z', created_by: 'COPY app /app # buildkit', comment: 'buildkit.dockerfile.v0' },
];
/** The rules the application breaks: no USER (root), no HEALTHCHECK, no OCI annotations, a world-writable file. */
const appRules = ['BERTH-L001-root-user', 'BERTH-L002-no-healthcheck', 'BERTH-L010-missing-oci-annotations', 'BERTH-L011-world-writable'];

describe.skipIf(reasons.length > 0)(suiteTitle('insights pages of the web console in Chromium', reasons), () => {
  let berth: TestBerth;
  let api: ApiClient;
  let browser: Browser;
  let page: Page;
  let baseDigest: string;
  let appDigest: string;
  const consoleErrors: string[] = [];

  async function push(name: string, tag: string, layers: Buffer[], config: Record<string, unknown>, history: unknown[]): Promise<string> {
    const configBlob = jsonBlob({ architecture: 'amd64', os: 'linux', config, rootfs: { type: 'layers', diff_ids: [] }, history });
    const blobs = layers.map((data): Blob => ({ data, digest: sha256(data) }));
    for (const b of [configBlob, ...blobs]) expect((await api.registry.pushBlob(name, b)).status).toBe(201);
    const manifest = imageManifest(configBlob, blobs);
    expect((await api.registry.pushManifest(name, tag, manifest)).status).toBe(201);
    return sha256(manifest);
  }

  beforeAll(async () => {
    berth = await startTestBerth();
    api = new ApiClient(berth.url, adminCredentials);
    await api.createProject('shop');
    baseDigest = await push('shop/base', '12', [baseLayer], { User: '1000', Cmd: ['bash'] }, baseHistory);
    // `User` empty: the image runs as root.
    appDigest = await push('shop/app', '1.0', [baseLayer, gzipTarOf(appItems)], { User: '', Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'APP_MODE=production'], Cmd: ['/app/run'] }, appHistory);
    ({ browser, page } = await openConsole(consoleErrors, { timezoneId: 'UTC' }));
  });
  afterAll(async () => {
    await browser?.close();
    await berth?.stop();
  });

  const region = (name: string) => page.getByRole('region', { name, exact: true });
  /** The rule ids of the artifact page's lint rows, group by group (worst first). */
  const lintIds = async (section: Locator) => (await section.locator('table.lint-findings tbody tr td:first-child').allInnerTexts()).map((s) => s.trim());
  const openApp = async () => {
    await page.goto(`${berth.url}/projects/shop/repositories/app/artifacts/1.0`);
    // The history shows at once, its sizes with the report (the chart comes with it).
    await region('Insights').locator('.layer-chart').waitFor();
    await region('Insights').locator('table.image-history tbody tr').nth(3).waitFor();
    await region('Best practices').locator('table.lint-findings').first().waitFor();
  };

  it('logs in and shows the image’s history with its layers’ sizes, the layer chart, wasted space, efficiency and base', async () => {
    await logIn(page, berth.url, adminCredentials.username, adminCredentials.password);
    await openApp();

    const report = await api.ok<Insights>('GET', '/projects/shop/repositories/app/artifacts/1.0/insights');
    expect(report.digest).toBe(appDigest);
    expect(report.historyMismatch).toBe(false);
    expect(report.history.map((h) => [h.emptyLayer, h.layer])).toEqual([
      [false, 0],
      [true, null],
      [true, null],
      [false, 1],
    ]);
    expect(report.wasted).toEqual({ bytes: 6000, files: 1, largest: [{ path: '/etc/motd', bytes: 6000, layer: 0, replacedIn: 1 }] });
    expect(report.base).toEqual({ repository: 'shop/base', tag: '12', digest: baseDigest, layers: 1, matchedBy: 'layers' });

    const insights = region('Insights');
    // The times as the browser's own Intl formats them, in the context's time zone (UTC).
    const times = await page.evaluate((isos) => isos.map((iso) => new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso))), appHistory.map((h) => h.created));
    const [l0, l1] = report.layers;
    expect(await rows(insights.locator('table.image-history'))).toEqual([
      ['0', '/bin/sh -c #(nop) ADD file:rootfs in /', times[0], '0', formatBytes(l0!.compressedSize), formatBytes(l0!.uncompressedSize)],
      ['1', '/bin/sh -c #(nop)  CMD ["bash"]', times[1], 'empty layer', '—', '—'],
      ['2', 'ENV APP_MODE=production buildkit.dockerfile.v0', times[2], 'empty layer', '—', '—'],
      ['3', 'COPY app /app # buildkit buildkit.dockerfile.v0', times[3], '1', formatBytes(l1!.compressedSize), formatBytes(l1!.uncompressedSize)],
    ]);
    expect(await insights.locator('table.image-history tbody tr.empty-layer').count()).toBe(2);

    // One bar per layer, each labelled with its sizes; the incompressible base layer is the longest bar.
    const bars = insights.locator('.layer-chart li.layer-bar');
    expect(await bars.count()).toBe(2);
    expect(await insights.locator('.layer-chart .track').evaluateAll((els) => els.map((el) => (el as unknown as BrowserElement).getAttribute('aria-label')))).toEqual(
      report.layers.map((l) => `Layer ${l.index}: ${formatBytes(l.compressedSize)} compressed, ${formatBytes(l.uncompressedSize)} uncompressed, ${l.files} files`),
    );
    expect(await bars.nth(0).locator('.bar.uncompressed').getAttribute('style')).toBe('width: 100%;');
    expect(l0!.files).toBe(3);
    expect(l1!.files).toBe(3);

    const facts = Object.fromEntries(
      await insights.locator('dl.facts dt').evaluateAll((dts) => dts.map((dt) => [(dt as unknown as { innerText: string }).innerText, (dt as unknown as { nextElementSibling: { innerText: string } }).nextElementSibling.innerText])),
    ) as Record<string, string>;
    expect(facts).toEqual({
      Layers: '2',
      'Total compressed': formatBytes(report.totalCompressed),
      'Total uncompressed': formatBytes(report.totalUncompressed),
      'Wasted space': `${formatBytes(6000)} (6000 bytes) · files later layers overwrite or delete: 1`,
      Efficiency: percent(report.efficiency),
      'Base image': 'shop/base:12 matched by its layers: the first 1 of this image’s 2',
    });
    // 6000 of the files' bytes (os-release, motd, the library; motd, run, data.txt) are wasted.
    const fileBytes = Buffer.byteLength(osRelease) + 6000 + 40_000 + appItems.reduce((n, i) => n + ('content' in i ? Buffer.byteLength(i.content) : 0), 0);
    expect(report.efficiency).toBeCloseTo(1 - 6000 / fileBytes, 12);
    expect(await rows(insights.locator('table.wasted-files'))).toEqual([['/etc/motd', '5.9 KiB', '0', '1']]);

    const baseLink = insights.getByRole('link', { name: 'shop/base:12' });
    expect(await baseLink.getAttribute('href')).toBe(`/projects/shop/repositories/base/artifacts/${baseDigest}`);
    await page.setViewportSize({ width: 1280, height: 1000 });
    await shotOf('console-insights', insights);
    await page.setViewportSize({ width: 1280, height: 860 });

    // The link opens the base, which has no base of its own and wastes nothing.
    await baseLink.click();
    await page.getByRole('heading', { name: /^shop\/base/ }).waitFor();
    await insights.locator('dd.base-image').waitFor();
    expect(await insights.locator('table.image-history tbody tr').count()).toBe(2);
    expect(await insights.locator('dd.base-image').innerText()).toBe('None found among the images you may pull.');
    expect(await insights.getByText('No layer overwrites or deletes a file of another: nothing is wasted.').isVisible()).toBe(true);
    expect(await insights.locator('dd.efficiency').innerText()).toBe('100.0%');
  });

  it('shows the lint findings grouped by severity with rule, evidence and fix, the explanation on demand', async () => {
    await openApp();
    const report = await api.ok<LintReport>('GET', '/projects/shop/repositories/app/artifacts/1.0/lint');
    expect(report.findings.map((f) => f.rule)).toEqual(appRules);
    const lint = region('Best practices');
    expect(await lint.locator('.severity-counts .badge').allInnerTexts()).toEqual(['Error 0', 'Warning 2', 'Info 2']);
    expect(await lint.getByRole('heading', { level: 3 }).allInnerTexts()).toEqual(['Warnings (2)', 'Information (2)']);
    expect(await lintIds(lint)).toEqual(['BERTH-L001-root-user', 'BERTH-L011-world-writable', 'BERTH-L002-no-healthcheck', 'BERTH-L010-missing-oci-annotations']);
    const byRule = new Map(report.findings.map((f) => [f.rule, f]));
    const shown = (await rows(lint.locator('table.lint-findings').first())).concat(await rows(lint.locator('table.lint-findings').nth(1)));
    expect(shown).toEqual(['BERTH-L001-root-user', 'BERTH-L011-world-writable', 'BERTH-L002-no-healthcheck', 'BERTH-L010-missing-oci-annotations'].map((id) => [id, byRule.get(id)!.title, byRule.get(id)!.message, byRule.get(id)!.fix.replaceAll('`', '')]));
    // Backticked commands show as code.
    expect(await lint.locator('table.lint-findings').first().locator('tbody tr').first().locator('td').nth(3).locator('code').allInnerTexts()).toEqual(['USER 10001:10001']);
    expect(byRule.get('BERTH-L011-world-writable')!.message).toBe('/app/data.txt is a world-writable file (mode 0666, layer 1)');
    // The explanation opens under the title.
    const rules = await api.ok<Array<{ id: string; title: string; explanation: string }>>('GET', '/lint/rules');
    const root = rules.find((r) => r.id === 'BERTH-L001-root-user')!;
    const explanation = lint.getByText(root.explanation.replaceAll('`', ''));
    expect(await explanation.isVisible()).toBe(false);
    await lint.getByText(root.title, { exact: true }).click();
    expect(await explanation.isVisible()).toBe(true);
    await page.setViewportSize({ width: 1280, height: 760 });
    await shotOf('console-best-practices', lint);
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  it('shows the project’s summary and switches a rule off, which leaves the artifact’s report', async () => {
    await page.goto(`${berth.url}/projects/shop`);
    await page.getByRole('tab', { name: 'Best practices' }).click();
    const summarySection = region('Best practices');
    await summarySection.locator('table.lint-summary tbody tr').first().waitFor();
    const summary = await api.ok<LintSummary>('GET', '/projects/shop/lint-summary');
    expect(summary.images).toBe(2);
    const severity = { error: 'Error', warning: 'Warning', info: 'Info' } as Record<string, string>;
    expect(await rows(summarySection.locator('table.lint-summary'))).toEqual(summary.rules.map((r) => [r.id, severity[r.severity], r.title, String(r.images), String(r.findings)]));
    // The application breaks four rules; the base (USER 1000, /tmp sticky) only the healthcheck and annotation ones.
    expect(Object.fromEntries(summary.rules.filter((r) => r.images > 0).map((r) => [r.id, r.images]))).toEqual({
      'BERTH-L001-root-user': 1,
      'BERTH-L002-no-healthcheck': 2,
      'BERTH-L010-missing-oci-annotations': 2,
      'BERTH-L011-world-writable': 1,
    });
    expect(await summarySection.locator('.lint-scope').innerText()).toBe('2 tagged images linted · 0 skipped (indexes, signatures, SBOMs)');

    const policy = region('Rules checked');
    const rules = await api.ok<Array<{ id: string; title: string }>>('GET', '/lint/rules');
    expect(await policy.getByRole('checkbox').count()).toBe(rules.length);
    const healthcheck = rules.find((r) => r.id === 'BERTH-L002-no-healthcheck')!;
    const box = policy.getByLabel(`${healthcheck.id} · ${healthcheck.title}`);
    expect(await box.isChecked()).toBe(true);
    await box.uncheck();
    await policy.getByRole('button', { name: 'Save' }).click();
    await policy.getByText('Rules saved').waitFor();
    expect(await api.ok('GET', '/projects/shop/lint-policy')).toEqual({ disabledRules: ['BERTH-L002-no-healthcheck'] });
    // The summary reloads without the rule.
    await expect.poll(async () => (await summarySection.locator('table.lint-summary tbody tr td:first-child').allInnerTexts()).includes('BERTH-L002-no-healthcheck')).toBe(false);
    expect(await summarySection.locator('table.lint-summary tbody tr').count()).toBe(rules.length - 1);

    await openApp();
    const lint = region('Best practices');
    expect(await lintIds(lint)).toEqual(['BERTH-L001-root-user', 'BERTH-L011-world-writable', 'BERTH-L010-missing-oci-annotations']);
    expect(await lint.locator('.severity-counts .badge').allInnerTexts()).toEqual(['Error 0', 'Warning 2', 'Info 1']);
    expect(await lint.getByText('1 rules are switched off in this project: BERTH-L002-no-healthcheck.').isVisible()).toBe(true);
    expect(await lint.getByRole('link', { name: 'Rules checked' }).getAttribute('href')).toBe('/projects/shop?tab=lint');
  });

  it('shows the rules read-only to a developer and no rules to a guest', async () => {
    await api.createUser('dev', 'Dev-Passw0rd-1');
    await api.addMember('shop', 'dev', 'developer');
    await api.createUser('viewer', 'Viewer-Passw0rd-1');
    await api.addMember('shop', 'viewer', 'guest');
    for (const [username, password] of [
      ['dev', 'Dev-Passw0rd-1'],
      ['viewer', 'Viewer-Passw0rd-1'],
    ] as const) {
      const { context, page: other } = await logInAs(browser, berth.url, username, password, consoleErrors, { timezoneId: 'UTC' });
      await other.goto(`${berth.url}/projects/shop?tab=lint`);
      await other.getByRole('region', { name: 'Best practices', exact: true }).locator('table.lint-summary tbody tr').first().waitFor();
      const policy = other.getByRole('region', { name: 'Rules checked', exact: true });
      if (username === 'dev') {
        await policy.getByText('Project administrators and maintainers change these.').waitFor();
        expect(await policy.getByLabel('BERTH-L002-no-healthcheck', { exact: false }).isChecked()).toBe(false);
        expect(await policy.getByLabel('BERTH-L001-root-user', { exact: false }).isDisabled()).toBe(true);
        expect(await policy.getByRole('button').count()).toBe(0);
      } else {
        expect(await policy.count()).toBe(0);
        // A guest reads the artifact's insights and findings, without the link to rules it cannot read.
        await other.goto(`${berth.url}/projects/shop/repositories/app/artifacts/1.0`);
        const lint = other.getByRole('region', { name: 'Best practices', exact: true });
        await lint.locator('table.lint-findings').first().waitFor();
        expect(await lint.getByRole('link', { name: 'Rules checked' }).count()).toBe(0);
        await other.getByRole('region', { name: 'Insights', exact: true }).locator('.layer-chart li.layer-bar').nth(1).waitFor();
      }
      await context.close();
    }
  });

  it('labels every form control of the new pages', async () => {
    await expectControlsLabelled(page, berth.url, [
      ['/projects/shop/repositories/app/artifacts/1.0', () => page.locator('table.lint-findings').first().waitFor()],
      ['/projects/shop?tab=lint', () => page.getByRole('region', { name: 'Rules checked' }).getByRole('checkbox').first().waitFor()],
    ]);
  });

  it('shows the insights sections in 简体中文', async () => {
    await page.getByLabel('Language').selectOption('zh-CN');
    await page.getByRole('tab', { name: '最佳实践' }).waitFor();
    expect(await page.getByRole('tab', { name: '最佳实践' }).getAttribute('aria-selected')).toBe('true');
    await page.getByRole('heading', { name: '检查的规则', exact: true }).waitFor();
    await page.goto(`${berth.url}/projects/shop/repositories/app/artifacts/1.0`);
    await page.getByRole('heading', { name: '镜像洞察', exact: true }).waitFor();
    expect(await page.getByRole('heading', { name: '最佳实践', exact: true }).isVisible()).toBe(true);
    await page.getByRole('heading', { name: '构建历史', exact: true }).waitFor();
    // The history is shown at once from the manifest; the wasted-space section comes with the report.
    await page.getByRole('heading', { name: '浪费空间最大的文件', exact: true }).waitFor();
    expect(await page.getByRole('columnheader', { name: '创建命令' }).isVisible()).toBe(true);
    expect(await page.getByText('空层', { exact: true }).count()).toBe(2);
    await page.getByRole('heading', { name: '警告（2）', exact: true }).waitFor();
    await page.getByLabel('语言').selectOption('en');
    await page.getByRole('heading', { name: 'Insights', exact: true }).waitFor();
  });

  it('logged no error in the browser console during the whole run', () => {
    expect(consoleErrors).toEqual([]);
  });
});
