import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { ApiClient } from '../helpers/api.js';
import { adminCredentials, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { consoleSkipReasons, expectControlsLabelled, expectLoggedFailure, logIn, openConsole, shot, shotOf, suiteTitle } from '../helpers/chromium.js';
import { formatBytes } from '../../web/src/format-bytes.js';
import { imageManifest, randomImage, type Image } from '../helpers/oci.js';

const reasons = consoleSkipReasons('lifecycle console');

interface Quota {
  limits: { storageBytes: number | null; artifacts: number | null };
  usage: { storageBytes: number; artifacts: number };
}

describe.skipIf(reasons.length > 0)(suiteTitle('lifecycle pages of the web console in Chromium', reasons), () => {
  let berth: TestBerth;
  let api: ApiClient;
  let browser: Browser;
  let page: Page;
  const images: Record<string, Image> = {};
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    berth = await startTestBerth();
    api = new ApiClient(berth.url, adminCredentials);
    await api.createProject('shop');
    // Four artifacts of one repository, one tag each: three versions and a tag no rule selects.
    for (const tag of ['v1.0.0', 'v1.1.0', 'v2.0.0', 'dev']) images[tag] = await api.registry.pushImage('shop/app', tag, randomImage());
    ({ browser, page } = await openConsole(consoleErrors));
  });
  afterAll(async () => {
    await browser?.close();
    await berth?.stop();
  });

  const region = (name: string) => page.getByRole('region', { name, exact: true });

  it('logs in as the administrator and opens the Policies tab of a project', async () => {
    await logIn(page, berth.url, adminCredentials.username, adminCredentials.password);
    await page.goto(`${berth.url}/projects/shop`);
    await page.getByRole('tab', { name: 'Policies' }).click();
    await page.getByRole('heading', { name: 'Retention', exact: true }).waitFor();
    // Each section loads on its own: wait for what each shows once loaded.
    await region('Retention').getByText('No rules: every artifact stays.').waitFor();
    await region('Tag immutability').getByText('No rules: every tag can be moved and deleted.').waitFor();
    await region('Retention').getByText('No runs yet.').waitFor();
  });

  it('adds a retention rule keeping the 2 highest versions of tags v*, and the API stores exactly it', async () => {
    const retention = region('Retention');
    await retention.getByRole('button', { name: 'Add rule' }).click();
    const rule = retention.getByRole('group', { name: 'Rule 1', exact: true });
    expect(await rule.getByLabel('Repositories', { exact: true }).inputValue()).toBe('**');
    await rule.getByLabel('Tags', { exact: true }).fill('v*');
    await rule.getByLabel('Keep', { exact: true }).selectOption({ label: 'the N highest versions (semver)' });
    await rule.getByLabel('N (how many)').fill('2');
    // Runs use the saved policy, so they wait until it is saved.
    expect(await retention.getByRole('button', { name: 'Dry run' }).isDisabled()).toBe(true);
    // The server's refusal is shown as it words it.
    await retention.getByLabel('Schedule (cron, UTC)').fill('daily');
    await retention.getByRole('button', { name: 'Save' }).click();
    await retention.getByRole('alert').getByText('schedule: "daily" is not a cron expression (5 or 6 fields), or empty').waitFor();
    // Chromium logs the refused request itself; that one is expected.
    await expectLoggedFailure(consoleErrors, 400, '/api/v1/projects/shop/retention');
    await retention.getByLabel('Schedule (cron, UTC)').fill('');
    await retention.getByRole('button', { name: 'Save' }).click();
    await retention.getByText('Retention policy saved').waitFor();
    expect(await api.ok('GET', '/projects/shop/retention')).toEqual({
      rules: [{ repositories: { pattern: '**' }, tags: { pattern: 'v*' }, untagged: false, keep: { kind: 'highestSemver', value: 2 } }],
      schedule: '',
    });
  });

  it('dry-runs the policy and reports every artifact with what a run would do and why', async () => {
    const retention = region('Retention');
    await retention.getByRole('button', { name: 'Dry run' }).click();
    const run = retention.locator('table.retention-runs tbody tr');
    await run.first().getByText('succeeded').waitFor();
    expect(await run.count()).toBe(1);
    const cells = await run.first().locator('td').allInnerTexts();
    expect([cells[0], cells[2], cells[3], cells[4], cells[6]]).toEqual(['1', '2', '2', 'admin', 'Report of run 1']);
    expect(await run.first().locator('td').nth(1).locator('.badge').allInnerTexts()).toEqual(['succeeded', 'dry run']);
    const report = page.getByRole('region', { name: 'Report of run 1' });
    await report.getByText('A dry run: nothing was deleted.').waitFor();
    // The report is fetched again once the run has ended: wait for its rows.
    const reportRows = report.locator('table.retention-report tbody tr');
    await reportRows.nth(3).waitFor();
    expect(await reportRows.count()).toBe(4);
    const rows: string[][] = [];
    for (let i = 0; i < (await reportRows.count()); i++) rows.push(await reportRows.nth(i).locator('td').allInnerTexts());
    const byTag = Object.fromEntries(rows.map(([repository, tags, digest, action, reason]) => [tags, { repository, digest, action, reason }]));
    const expected = (tag: string, action: string, reason: string) => ({ repository: 'shop/app', digest: `sha256:${images[tag]!.digest.slice(7, 19)}`, action, reason });
    expect(byTag).toEqual({
      'v2.0.0': expected('v2.0.0', 'keep', 'kept by rule 1'),
      'v1.1.0': expected('v1.1.0', 'keep', 'kept by rule 1'),
      'v1.0.0': expected('v1.0.0', 'would delete', 'no rule keeps it'),
      dev: expected('dev', 'would delete', 'no rule keeps it'),
    });
    // A dry run deletes nothing.
    const tags = (await api.registry.fetch('/v2/shop/app/tags/list').then((r) => r.json())) as { tags: string[] };
    expect(tags.tags.sort()).toEqual(['dev', 'v1.0.0', 'v1.1.0', 'v2.0.0']);
    await shot(page, 'retention');
  });

  it('adds a tag immutability rule, stored exactly, and a push moving a matching tag is refused', async () => {
    const immutability = region('Tag immutability');
    await immutability.getByRole('button', { name: 'Add rule' }).click();
    const rule = immutability.getByRole('group', { name: 'Rule 1', exact: true });
    await rule.getByLabel('Tags', { exact: true }).fill('v*');
    await immutability.getByRole('button', { name: 'Save' }).click();
    await immutability.getByText('Immutability rules saved').waitFor();
    expect(await api.ok('GET', '/projects/shop/immutability')).toEqual({ rules: [{ repositories: { pattern: '**' }, tags: { pattern: 'v*' } }] });
    // Other content (the v2.0.0 blobs, so nothing new is stored) under v1.0.0: refused.
    const moved = imageManifest(images['v2.0.0']!.config, images['v2.0.0']!.layers, { annotations: { moved: 'yes' } });
    const res = await api.registry.pushManifest('shop/app', 'v1.0.0', moved);
    expect(res.status).toBe(403);
  });

  it('lets a system administrator set the quota, and shows the usage against it', async () => {
    const quota = region('Quota');
    await quota.getByText('4 used · unlimited', { exact: true }).waitFor();
    await quota.getByLabel('Storage limit', { exact: true }).fill('1');
    await quota.getByLabel('Storage limit unit').selectOption('GiB');
    await quota.getByLabel('Artifact limit').fill('5');
    await quota.getByRole('button', { name: 'Save' }).click();
    await quota.getByText('Quota saved').waitFor();
    const stored = await api.ok<Quota>('GET', '/projects/shop/quota');
    expect(stored.limits).toEqual({ storageBytes: 1024 ** 3, artifacts: 5 });
    expect(stored.usage.artifacts).toBe(4);
    const storage = quota.getByRole('progressbar', { name: 'Storage' });
    const artifacts = quota.getByRole('progressbar', { name: 'Artifacts' });
    const storageText = `${formatBytes(stored.usage.storageBytes)} of 1.0 GiB (0%)`;
    await quota.getByText(storageText).waitFor();
    expect(await storage.getAttribute('aria-valuetext')).toBe(storageText);
    expect(await artifacts.getAttribute('aria-valuetext')).toBe('4 of 5 (80%)');
    // 80% is a warning; the storage bar, far below, is not.
    expect(await quota.locator('.usage-bar.warning').innerText()).toContain('4 of 5 (80%)');
    expect(await quota.locator('.usage-bar.error').count()).toBe(0);
    await shotOf('quota', quota);

    // A limit at the usage is full: the bar turns to the error colour.
    await quota.getByLabel('Artifact limit').fill('4');
    await quota.getByRole('button', { name: 'Save' }).click();
    await quota.locator('.usage-bar.error').getByText('4 of 4 (100%)').waitFor();
    expect((await api.ok<Quota>('GET', '/projects/shop/quota')).limits.artifacts).toBe(4);
  });

  it('sets the default quota of new projects under System', async () => {
    await page.goto(`${berth.url}/system`);
    const form = page.locator('form.settings', { has: page.getByRole('heading', { name: 'Default quota for new projects' }) });
    await form.getByText('From the config file').waitFor();
    await form.getByLabel('Storage limit', { exact: true }).fill('500');
    await form.getByLabel('Storage limit unit').selectOption('MiB');
    await form.getByLabel('Artifact limit').fill('100');
    await form.getByRole('button', { name: 'Save' }).click();
    await form.getByText('Settings saved').waitFor();
    await form.getByText('Set here').waitFor();
    const settings = await api.ok<{ quotaDefaults: unknown; quotaDefaultsFrom: string }>('GET', '/system/settings');
    expect(settings.quotaDefaults).toEqual({ storageBytes: 500 * 1024 ** 2, artifacts: 100 });
    expect(settings.quotaDefaultsFrom).toBe('settings');
    // What the form shows after the reload is what is stored.
    expect(await form.getByLabel('Storage limit', { exact: true }).inputValue()).toBe('500');
    expect(await form.getByLabel('Storage limit unit').inputValue()).toBe('MiB');
    await api.createProject('fresh');
    expect((await api.ok<Quota>('GET', '/projects/fresh/quota')).limits).toEqual({ storageBytes: 500 * 1024 ** 2, artifacts: 100 });
  });

  it('scrubs from System: the run checks every stored object, and nothing is quarantined', async () => {
    const scrub = region('Scrub');
    await scrub.getByText('Nothing is quarantined').waitFor();
    await scrub.getByRole('button', { name: 'Scrub now' }).click();
    const row = scrub.locator('table.scrub-runs tbody tr').first();
    await row.getByText('succeeded').waitFor();
    const runs = await api.ok<{ items: Array<{ id: number; status: string; objectsChecked: number; corrupt: number; missing: number; released: number; triggeredBy: string }> }>('GET', '/system/scrub');
    expect(runs.items).toHaveLength(1);
    const run = runs.items[0]!;
    // Four images of a config, two layers and a manifest each.
    expect(run).toMatchObject({ status: 'succeeded', objectsChecked: 16, corrupt: 0, missing: 0, released: 0, triggeredBy: 'admin' });
    const cells = await row.locator('td').allInnerTexts();
    expect([cells[0], cells[1], cells[2], cells[4], cells[5], cells[6], cells[7]]).toEqual([String(run.id), 'succeeded', '16', '0', '0', '0', 'admin']);
    expect(await scrub.getByText('Nothing is quarantined').isVisible()).toBe(true);
    await shotOf('scrub', scrub);
  });

  it('shows the Scrub panel and the Policies tab in 简体中文', async () => {
    await page.getByLabel('Language').selectOption('zh-CN');
    await page.getByRole('heading', { name: '数据校验' }).waitFor();
    expect(await page.getByRole('button', { name: '立即校验' }).isVisible()).toBe(true);
    await page.goto(`${berth.url}/projects/shop?tab=policies`);
    expect(await page.getByRole('tab', { name: '策略' }).getAttribute('aria-selected')).toBe('true');
    await page.getByRole('heading', { name: '保留策略', exact: true }).waitFor();
    expect(await page.getByRole('heading', { name: '标签不可变' }).isVisible()).toBe(true);
    expect(await page.getByRole('heading', { name: '配额' }).isVisible()).toBe(true);
    await page.getByRole('button', { name: '运行 1 的报告' }).click();
    await page.getByRole('heading', { name: '运行 1 的报告' }).waitFor();
    await page.getByRole('cell', { name: '由规则 1 保留' }).first().waitFor();
    await shot(page, 'retention-zh');
    await page.getByLabel('语言').selectOption('en');
    await page.getByRole('tab', { name: 'Policies' }).waitFor();
  });

  it('labels every form control of the new pages', async () => {
    // Each page with what shows last of what it loads.
    await expectControlsLabelled(page, berth.url, [
      ['/projects/shop?tab=policies', () => Promise.all([region('Retention').getByLabel('Tags', { exact: true }).waitFor(), region('Tag immutability').getByLabel('Tags', { exact: true }).waitFor(), region('Quota').getByLabel('Artifact limit').waitFor(), page.getByRole('button', { name: 'Report of run 1' }).waitFor()]).then(() => undefined)],
      ['/system', () => Promise.all([page.getByLabel('Artifact limit').waitFor(), page.getByText('Nothing is quarantined').waitFor()]).then(() => undefined)],
    ]);
  });

  it('logged no error in the browser console during the whole run', () => {
    expect(consoleErrors).toEqual([]);
  });
});
