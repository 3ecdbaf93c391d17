import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { adminCredentials, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { consoleSkipReasons, expectControlsLabelled, openConsole, shot, suiteTitle } from '../helpers/chromium.js';
import { ContainerTools, missingTools } from '../helpers/clients.js';
import { writeOciLayout, type WrittenLayout } from '../helpers/oci-layout.js';
import { ApiClient } from '../helpers/api.js';
import { OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, RegistryClient, jsonBlob, sha256 } from '../helpers/oci.js';
import { until } from '../helpers/wait.js';

// The few browser types that code passed to page.evaluate() uses (it runs in Chromium, not in
// Node; the project's lib is ES2023 without DOM so Node code cannot use browser globals).
declare const document: {
  activeElement: { textContent: string | null } | null;
  documentElement: { dataset: Record<string, string | undefined> };
  querySelectorAll(selector: string): ArrayLike<unknown>;
};

const toolsMissing = await missingTools(['skopeo', 'podman', 'tar']);
const reasons = consoleSkipReasons('console', { extra: [toolsMissing.length > 0 ? `${toolsMissing.join(', ')} missing` : undefined] });

describe.skipIf(reasons.length > 0)(suiteTitle('web console in Chromium', reasons), () => {
  let berth: TestBerth;
  let browser: Browser;
  let page: Page;
  let work: string;
  let tools: ContainerTools;
  let layout: WrittenLayout;
  let host: string;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    berth = await startTestBerth();
    host = `127.0.0.1:${berth.port}`;
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-'));
    tools = new ContainerTools(work);
    layout = await writeOciLayout(join(work, 'layout'), 'v1', [{ architecture: 'amd64', files: { 'app.txt': 'console e2e\n', 'README': 'hello\n' } }]);
    ({ browser, page } = await openConsole(consoleErrors));
  });
  afterAll(async () => {
    await browser?.close();
    await berth?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('shows the login page in English and 简体中文, with labelled controls', async () => {
    await page.goto(berth.url);
    await page.getByRole('heading', { name: 'Log in to Berth' }).waitFor();
    await shot(page, 'login');
    await page.getByLabel('Language').selectOption('zh-CN');
    await page.getByRole('heading', { name: '登录 Berth' }).waitFor();
    expect(await page.getByRole('button', { name: '登录', exact: true }).isVisible()).toBe(true);
    await shot(page, 'login-zh');
    await page.getByLabel('语言').selectOption('en');
    await page.getByRole('heading', { name: 'Log in to Berth' }).waitFor();
  });

  it('logs in with the keyboard alone', async () => {
    await page.getByLabel('Username').focus();
    await page.keyboard.type(adminCredentials.username);
    await page.keyboard.press('Tab');
    await page.keyboard.type(adminCredentials.password);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
    // The first Tab from the top of the page reaches the skip link.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
  });

  it('creates a project, and shows how to push into it while it is empty', async () => {
    await page.getByRole('button', { name: 'New project' }).click();
    const dialog = page.getByRole('dialog', { name: 'New project' });
    await dialog.getByLabel('Name').fill('e2e');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { name: /^e2e/ }).waitFor();
    await page.getByText('This project has no repositories yet').waitFor();
    expect(await page.getByText(`podman push --tls-verify=false <image> ${host}/e2e/<name>:<tag>`).isVisible()).toBe(true);
    await shot(page, 'project-empty');
  });

  it('shows an image pushed with skopeo, with its artifact, layers and sizes', async () => {
    await tools.skopeo(['copy', '--all', '--dest-tls-verify=false', '--dest-creds', `${adminCredentials.username}:${adminCredentials.password}`, `oci:${layout.dir}:v1`, `docker://${host}/e2e/app:v1`]);
    await page.reload();
    await page.getByRole('link', { name: 'e2e/app' }).click();
    await page.getByRole('heading', { name: 'e2e/app' }).waitFor();
    // The index is the one artifact (issue 17): its amd64 image is a platform chip, not a row of its own.
    await page.locator('table tbody tr .badge.platform').first().waitFor();
    expect(await page.locator('table tbody tr').count()).toBe(1);
    expect(await page.locator('table tbody tr').first().innerText()).toContain('linux/amd64');
    await shot(page, 'repository');
    // The index, then its amd64 image.
    await page.getByRole('link', { name: layout.indexDigest.slice(0, 19) }).click();
    await page.getByRole('heading', { name: 'Platforms' }).waitFor();
    await page.getByRole('link', { name: layout.images[0]!.manifestDigest.slice(0, 19) }).click();
    await page.getByRole('heading', { name: 'Layers' }).waitFor();
    const layerRow = page.locator('table.layers tbody tr');
    expect(await layerRow.count()).toBe(1);
    expect(await layerRow.first().innerText()).toContain(layout.images[0]!.layerDigest.slice(0, 19));
    expect(await page.getByText('linux/amd64').isVisible()).toBe(true);
    expect(await page.getByText('berth interop test').isVisible()).toBe(true);
    await shot(page, 'artifact');
  });

  it('shows a multi-arch index as one artifact with its platforms, signature, SBOM and pulls', async () => {
    const multi = await writeOciLayout(join(work, 'multi'), 'v2', [
      { architecture: 'amd64', files: { 'app.txt': 'amd64\n' } },
      { architecture: 'arm64', files: { 'app.txt': 'arm64\n' } },
    ]);
    await tools.skopeo(['copy', '--all', '--dest-tls-verify=false', '--dest-creds', `${adminCredentials.username}:${adminCredentials.password}`, `oci:${multi.dir}:v2`, `docker://${host}/e2e/multi:v2`]);
    const registry = new RegistryClient(berth.url);
    const pushArtifact = async (reference: string, body: Buffer, blobs: Array<ReturnType<typeof jsonBlob>>) => {
      for (const blob of blobs) expect((await registry.pushBlob('e2e/multi', blob)).status).toBe(201);
      expect((await registry.pushManifest('e2e/multi', reference, body)).status).toBe(201);
    };
    // A cosign signature under its tag scheme, and an SPDX SBOM through the referrers API.
    const sigConfig = jsonBlob({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: [] } });
    const payload = jsonBlob({ critical: { image: { 'docker-manifest-digest': multi.indexDigest } } });
    const sig = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sigConfig.digest, size: sigConfig.data.length },
        layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: payload.digest, size: payload.data.length }],
      }),
    );
    await pushArtifact(`sha256-${multi.indexDigest.slice(7)}.sig`, sig, [sigConfig, payload]);
    const empty = jsonBlob({});
    const spdx = jsonBlob({ spdxVersion: 'SPDX-2.3', name: 'multi' });
    const sbom = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/spdx+json',
        config: { mediaType: OCI_EMPTY, digest: empty.digest, size: empty.data.length },
        layers: [{ mediaType: 'application/spdx+json', digest: spdx.digest, size: spdx.data.length }],
        subject: { mediaType: OCI_INDEX, digest: multi.indexDigest, size: multi.index.length },
      }),
    );
    await pushArtifact(sha256(sbom), sbom, [empty, spdx]);
    for (let i = 0; i < 2; i++) await (await registry.fetch('/v2/e2e/multi/manifests/v2', { headers: { Accept: OCI_INDEX } })).arrayBuffer();
    const admin = new ApiClient(berth.url);
    const listed = async () => (await admin.ok<{ items: Array<{ pullCount: number }> }>('GET', '/projects/e2e/repositories/multi/artifacts')).items[0]!.pullCount;
    await until(async () => (await listed()) >= 2, 10_000, 'pulls recorded', 100);
    const pulls = await listed();

    await page.goto(`${berth.url}/projects/e2e/repositories/multi`);
    await page.getByRole('heading', { name: 'e2e/multi' }).waitFor();
    const rows = page.locator('table tbody tr');
    await rows.first().locator('.badge.platform').first().waitFor();
    expect(await rows.count()).toBe(1);
    const row = await rows.first().innerText();
    for (const text of ['v2', 'linux/amd64', 'linux/arm64', 'signature', 'SBOM', String(pulls)]) expect(row).toContain(text);
    await shot(page, 'console-multiarch');

    await rows.first().getByRole('link', { name: multi.indexDigest.slice(0, 19) }).click();
    await page.getByRole('heading', { name: 'Platforms' }).waitFor();
    expect(await page.getByText(new RegExp(`^${pulls} · last `)).isVisible()).toBe(true);
    expect(await page.locator('.badge.referrer').allInnerTexts()).toEqual(expect.arrayContaining(['signature', 'SBOM']));
    await page.getByRole('link', { name: 'linux/arm64' }).click();
    await page.getByRole('heading', { name: 'Layers' }).waitFor();
    expect(await page.locator('table.layers tbody tr').first().innerText()).toContain(multi.images[1]!.layerDigest.slice(0, 19));
  });

  it('creates a robot account whose secret is shown once, and podman logs in with it', async () => {
    await page.goto(`${berth.url}/projects/e2e?tab=robots`);
    await page.getByRole('button', { name: 'New robot account' }).click();
    const dialog = page.getByRole('dialog', { name: 'New robot account' });
    await dialog.getByLabel('Name').fill('ci');
    await dialog.getByLabel('push').check();
    await dialog.getByRole('button', { name: 'Create' }).click();
    const created = page.getByRole('dialog', { name: 'Robot account created' });
    await created.waitFor();
    const name = await created.getByLabel('Name').inputValue();
    const secret = await created.getByLabel('Secret', { exact: true }).inputValue();
    expect(name).toBe('robot$e2e+ci');
    expect(secret).toMatch(/^[A-Za-z0-9_-]{32}$/);
    await shot(page, 'robot-secret');
    await created.getByRole('button', { name: 'Close' }).click();
    await page.getByRole('cell', { name: 'robot$e2e+ci' }).waitFor();
    await tools.podman(['login', '--tls-verify=false', '--username', name, '--password', secret, host]);
    await tools.podman(['pull', '--tls-verify=false', `${host}/e2e/app:v1`]);
  });

  it('deletes a tag after confirmation', async () => {
    await page.goto(`${berth.url}/projects/e2e/repositories/app/artifacts/v1`);
    await page.getByRole('button', { name: 'Delete tag v1' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete tag v1' });
    await confirm.getByText('Delete the tag v1? The artifact stays.').waitFor();
    await confirm.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('untagged').waitFor();
    const tags = JSON.parse(await tools.skopeo(['list-tags', '--tls-verify=false', `docker://${host}/e2e/app`])) as { Tags: string[] };
    expect(tags.Tags).toEqual([]);
  });

  it("shows the project's audit entries, filterable", async () => {
    await page.goto(`${berth.url}/projects/e2e?tab=audit`);
    const table = page.locator('table tbody');
    await table.getByText('tag.delete').waitFor();
    const text = await table.innerText();
    for (const action of ['push', 'robot.create', 'project.create', 'pull']) expect(text).toContain(action);
    await page.getByLabel('Action').fill('robot.create');
    await page.waitForFunction(() => document.querySelectorAll('table tbody tr').length === 1);
    expect(await table.locator('tr').first().innerText()).toContain('robot$e2e+ci');
    await shot(page, 'audit');
  });

  it('switches the project pages to 简体中文 and remembers it for the user', async () => {
    await page.goto(`${berth.url}/projects`);
    await page.getByLabel('Language').selectOption('zh-CN');
    await page.getByRole('heading', { name: '项目' }).waitFor();
    expect(await page.getByRole('button', { name: '新建项目' }).isVisible()).toBe(true);
    await shot(page, 'projects-zh');
    await page.goto(`${berth.url}/projects/e2e`);
    await page.getByRole('tab', { name: '成员' }).waitFor();
    await shot(page, 'project-zh');
    const me = await berth.api.users.get((await berth.api.identity.getUserByName('admin'))!.id);
    expect(me.preferences.language).toBe('zh-CN');
    await page.getByLabel('语言').selectOption('en');
    await page.getByRole('tab', { name: 'Members' }).waitFor();
  });

  it('renders the dark theme and a phone-width layout', async () => {
    await page.getByLabel('Theme').selectOption('dark');
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    await shot(page, 'projects-dark');
    await page.setViewportSize({ width: 390, height: 800 });
    await page.goto(`${berth.url}/projects/e2e`);
    await page.getByRole('tab', { name: 'Repositories' }).waitFor();
    await shot(page, 'project-phone');
    await page.getByLabel('Theme').selectOption('light');
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  it('lets an administrator allow an internal webhook receiver and set rate limits under System', async () => {
    await page.goto(`${berth.url}/system`);
    const outbound = page.locator('form.settings').nth(0);
    await outbound.getByRole('heading', { name: 'Outbound requests' }).waitFor();
    await outbound.getByLabel('Webhooks').fill('10.20.0.0/33');
    await outbound.getByRole('button', { name: 'Save' }).click();
    await outbound.getByText('must be a CIDR such as 10.0.0.0/8 or fd00::/8, or one address').waitFor();
    // Chromium logs the refused request itself; that one is expected.
    const refused = consoleErrors.findIndex((e) => e.includes('status of 400') && e.includes('/api/v1/system/settings'));
    expect(refused).toBeGreaterThanOrEqual(0);
    consoleErrors.splice(refused, 1);
    await outbound.getByLabel('Webhooks').fill('10.20.0.0/16\nfd00::/8');
    await outbound.getByRole('button', { name: 'Save' }).click();
    await outbound.getByText('Settings saved').waitFor();
    expect(berth.api.settings.view().outbound.webhook.allowCidrs).toEqual(['10.20.0.0/16', 'fd00::/8']);

    const limits = page.locator('form.settings').nth(1);
    await limits.getByText('From the config file').waitFor();
    await limits.getByLabel('Limit requests').check();
    await limits.getByLabel('Pulls · Anonymous address').fill('50');
    await limits.getByLabel('API calls · User').fill('1000');
    await limits.getByRole('button', { name: 'Save' }).click();
    await limits.getByText('Set here').waitFor();
    const view = berth.api.settings.view();
    expect(view.rateLimitsFrom).toBe('settings');
    expect(view.rateLimits).toMatchObject({ enabled: true, windowSeconds: 21600, pull: { anonymous: 50, user: 200 }, api: { user: 1000, anonymous: null } });
    await shot(page, 'system-settings');
    await limits.getByRole('button', { name: 'Use the config file’s' }).click();
    await limits.getByText('From the config file').waitFor();
    expect(berth.api.settings.view().rateLimitsFrom).toBe('file');
  });

  it('runs garbage collection from System, a dry run first, and shows the history', async () => {
    await page.goto(`${berth.url}/system`);
    await page.getByRole('heading', { name: 'Garbage collection' }).waitFor();
    await page.getByRole('button', { name: 'Dry run' }).click();
    const rows = page.locator('table.gc-runs tbody tr');
    await rows.first().getByText('succeeded').waitFor();
    expect(await rows.first().getByText('dry run').count()).toBe(1);
    await page.getByRole('button', { name: 'Collect garbage now' }).click();
    await page.waitForFunction(() => document.querySelectorAll('table.gc-runs tbody tr').length === 2);
    await rows.first().getByText('succeeded').waitFor();
    const runs = await berth.api.lifecycle.gc.runs({ offset: 0, limit: 10 });
    expect(runs.items.map((r) => [r.status, r.dryRun, r.triggeredBy])).toEqual([
      ['succeeded', false, 'admin'],
      ['succeeded', true, 'admin'],
    ]);
    await page.getByLabel('Language').selectOption('zh-CN');
    await page.getByRole('heading', { name: '垃圾回收' }).waitFor();
    await shot(page, 'gc-zh');
    await page.getByLabel('语言').selectOption('en');
    await page.getByRole('heading', { name: 'Garbage collection' }).waitFor();
  });

  it("shows a user some address is waiting for, and unlocks it", async () => {
    await berth.api.users.create({ username: 'locky', password: 'Locky-Passw0rd', email: null, isAdmin: false });
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${berth.url}/service/token?service=berth`, { headers: { Authorization: `Basic ${Buffer.from(`locky:Wrong-${i}-Passw0rd`).toString('base64')}` } });
      expect(res.status).toBe(401);
    }
    await page.goto(`${berth.url}/users`);
    const row = page.locator('tr', { hasText: 'locky' });
    await row.getByText('Waiting after failed logins').waitFor();
    await row.getByRole('button', { name: 'Unlock' }).click();
    await page.getByText('Every address may try locky again').waitFor();
    // The list is read again after the toast shows: wait for the badge to go (throws if it stays).
    await row.getByText('Waiting after failed logins').waitFor({ state: 'detached', timeout: 5000 });
    const res = await fetch(`${berth.url}/service/token?service=berth`, { headers: { Authorization: `Basic ${Buffer.from('locky:Locky-Passw0rd').toString('base64')}` } });
    expect(res.status).toBe(200);
  });

  it('labels every form control on every page it visited', async () => {
    const paths = ['/projects', '/projects/e2e?tab=members', '/projects/e2e?tab=webhooks', '/users', '/audit', '/system', '/account'];
    await expectControlsLabelled(
      page,
      berth.url,
      paths.map((path) => [path, () => page.locator('main h1').first().waitFor()]),
    );
  });

  it('logged no error in the browser console during the whole run', () => {
    expect(consoleErrors).toEqual([]);
  });
});
