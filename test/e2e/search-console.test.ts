import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Locator, Page } from 'playwright-core';
import { ApiClient } from '../helpers/api.js';
import { adminCredentials, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { consoleSkipReasons, logIn, openConsole, shots, suiteTitle, tableRows } from '../helpers/chromium.js';
import { formatBytes } from '../../web/src/format-bytes.js';
import { imageManifest, jsonBlob, sha256, type Blob } from '../helpers/oci.js';
import { gzipTarOf, type TarItem } from '../helpers/layer-tar.js';
import { until } from '../helpers/wait.js';

// The console's Search page and an image's Files (issue 17, docs/search.md) in Chromium: a user
// searches by file name and path, loads more, opens a result, and browses its files merged and
// layer by layer; a private project's image never shows. Screenshots for docs/search.md.

const reasons = consoleSkipReasons('search console');
const password = 'Console-Search-Passw0rd';

const short = (digest: string) => `sha256:${digest.slice(7, 19)}`;
const blob = (data: Buffer): Blob => ({ data, digest: sha256(data) });
const dir = (path: string, mode = 0o755): TarItem => ({ path, type: 'directory', mode });

const osRelease = 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n';
const curl = Buffer.alloc(180_000, 7);
const baseLayer = blob(
  gzipTarOf([
    dir('etc'),
    { path: 'etc/os-release', content: osRelease },
    { path: 'etc/motd', content: 'Welcome to Debian\n' },
    dir('usr'),
    dir('usr/bin'),
    { path: 'usr/bin/curl', content: curl, mode: 0o755 },
    { path: 'usr/bin/curl-config', type: 'symlink', target: 'curl' },
  ]),
);
const privateKey = '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n';
const appLayer = blob(
  gzipTarOf([
    dir('app'),
    { path: 'app/server', content: Buffer.alloc(52_000, 3), mode: 0o755 },
    { path: 'app/config.yaml', content: 'port: 8080\n' },
    dir('etc'),
    { path: 'etc/.wh.motd', content: '' },
    dir('root', 0o700),
    dir('root/.ssh', 0o700),
    { path: 'root/.ssh/id_rsa', content: privateKey, mode: 0o600 },
  ]),
);
const vaultLayer = blob(gzipTarOf([dir('srv'), { path: 'srv/id_rsa', content: 'vault key\n', mode: 0o600 }]));
/** Images of the build farm: enough to fill more than one page of results (25). */
const farm = 26;

describe.skipIf(reasons.length > 0)(suiteTitle('search and files in the web console in Chromium', reasons), () => {
  let berth: TestBerth;
  let admin: ApiClient;
  let browser: Browser;
  let page: Page;
  const digests: Record<string, string> = {};
  const consoleErrors: string[] = [];

  async function push(repository: string, tag: string, layers: Blob[], config: Record<string, unknown> = {}): Promise<string> {
    const configBlob = jsonBlob({ architecture: 'amd64', os: 'linux', config, rootfs: { type: 'layers', diff_ids: [] } });
    for (const b of [configBlob, ...layers]) expect((await admin.registry.pushBlob(repository, b)).status).toBe(201);
    const manifest = imageManifest(configBlob, layers);
    expect((await admin.registry.pushManifest(repository, tag, manifest)).status).toBe(201);
    return sha256(manifest);
  }
  async function indexed(project: string, repository: string, reference: string): Promise<void> {
    await until(async () => (await admin.call('GET', `/projects/${project}/repositories/${repository}/artifacts/${reference}/files`)).status === 200, 30_000, `${project}/${repository}:${reference} indexed`, 100);
  }

  beforeAll(async () => {
    berth = await startTestBerth();
    admin = new ApiClient(berth.url, adminCredentials);
    await admin.createProject('shop');
    await admin.createProject('vault');
    await admin.createUser('alice', password);
    await admin.addMember('shop', 'alice', 'developer');
    digests.base = await push('library/debian', '12', [baseLayer], { Labels: { 'org.opencontainers.image.vendor': 'Debian' } });
    digests.app = await push('shop/app', '1.0', [baseLayer, appLayer], { Labels: { 'org.opencontainers.image.vendor': 'ACME' } });
    digests.vault = await push('vault/keys', '1', [baseLayer, vaultLayer]);
    for (let i = 0; i < farm; i++) digests[`farm${i}`] = await push(`library/farm-${String(i).padStart(2, '0')}`, '1', [baseLayer], { Env: [`N=${i}`] });
    await indexed('library', 'debian', '12');
    await indexed('shop', 'app', '1.0');
    await indexed('vault', 'keys', '1');
    for (let i = 0; i < farm; i++) await indexed('library', `farm-${String(i).padStart(2, '0')}`, '1');
    ({ browser, page } = await openConsole(consoleErrors, { timezoneId: 'UTC' }));
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await berth?.stop();
  });

  const rows = async (table: Locator) => (await tableRows(table)).map((cells) => cells.map((c) => c.trim()));
  const field = (label: string) => page.getByRole('search', { name: 'Search' }).getByLabel(label, { exact: true });

  it('searches by file name as a project member: results link to artifacts, a private project’s image never shows', async () => {
    await logIn(page, berth.url, 'alice', password);
    await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Search' }).click();
    await page.getByRole('heading', { name: 'Search', level: 1 }).waitFor();

    await field('File name').fill('id_rsa');
    await field('Label or annotation').fill('org.opencontainers.image.vendor=ACME');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    const results = page.locator('table.search-results');
    await results.waitFor();
    expect(page.url()).toBe(`${berth.url}/search?file=id_rsa&label=org.opencontainers.image.vendor%3DACME`);
    // vault/keys has an id_rsa too, but alice may not pull from vault.
    expect(await rows(results)).toEqual([['shop/app', short(digests.app!), '1.0', `/root/.ssh/id_rsa layer 1, ${formatBytes(privateKey.length)}\norg.opencontainers.image.vendor=ACME`]]);
    expect(await results.getByRole('link', { name: short(digests.app!) }).getAttribute('href')).toBe(`/projects/shop/repositories/app/artifacts/${digests.app}`);
    expect(await results.getByRole('link', { name: 'shop/app' }).getAttribute('href')).toBe('/projects/shop/repositories/app');
    await page.screenshot({ path: `${shots}search.png` });

    // The address is the search: opened again, it shows the same.
    await page.goto(`${berth.url}/search?file=id_rsa`);
    await results.waitFor();
    expect((await rows(results)).map((r) => r[0])).toEqual(['shop/app']);
  });

  it('finds the images built on a base, naming the base it resolved', async () => {
    await page.goto(`${berth.url}/search`);
    await field('Base image').fill('library/debian:12');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    const results = page.locator('table.search-results');
    await results.waitFor();
    // The farm's images are the base's layer alone (not built on it); vault/keys is hidden from alice.
    expect((await rows(results)).map((r) => r.slice(0, 3))).toEqual([['shop/app', short(digests.app!), '1.0']]);
    expect(await page.locator('.search-base').innerText()).toBe(`Images built on (1 layers): library/debian@${short(digests.base!)}`);
    expect(await page.locator('.search-base').getByRole('link').getAttribute('href')).toBe(`/projects/library/repositories/debian/artifacts/${digests.base}`);
    // A base alice may not pull is refused as its pull is, whether it exists or not.
    for (const base of ['vault/keys:1', 'vault/nothing:1']) {
      await page.goto(`${berth.url}/search?base=${encodeURIComponent(base)}`);
      await page.getByRole('alert').waitFor();
      expect(await page.getByRole('alert').innerText()).toBe(`Something went wrong: requested access to the resource is denied: pull on ${base.split(":")[0]}`);
    }
  });

  it('loads more results page by page, newest first', async () => {
    await page.goto(`${berth.url}/search?path=%2Fusr%2Fbin%2Fcurl`);
    const results = page.locator('table.search-results');
    await results.waitFor();
    const expected = [
      'shop/app',
      ...Array.from({ length: farm }, (_, i) => `library/farm-${String(farm - 1 - i).padStart(2, '0')}`),
      'library/debian',
    ];
    // Pushed in the order debian, app, vault, farm-00 … farm-25: newest first, without vault.
    const firstPage = (await rows(results)).map((r) => r[0]);
    expect(firstPage.length).toBe(25);
    expect(await page.getByText('Images shown: 25').isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Load more' }).click();
    await page.getByText(`Images shown: ${farm + 2}`).waitFor();
    const all = (await rows(results)).map((r) => r[0]);
    expect(new Set(all).size).toBe(all.length);
    expect([...all].sort()).toEqual([...expected].sort());
    expect(all.slice(0, 25)).toEqual(firstPage);
    expect(await page.getByRole('button', { name: 'Load more' }).count()).toBe(0);
    // Each hit says where the file is.
    expect((await rows(results)).find((r) => r[0] === 'library/debian')![3]).toBe(`/usr/bin/curl layer 0, ${formatBytes(curl.length)}`);
  });

  it('opens a result and browses its files: merged, one layer, a directory, found by name', async () => {
    await page.goto(`${berth.url}/search?file=id_rsa`);
    await page.locator('table.search-results').getByRole('link', { name: short(digests.app!) }).click();
    const files = page.getByRole('region', { name: 'Files', exact: true });
    const tree = files.locator('table.file-tree');
    await tree.waitFor();
    // The merged root: each directory from the highest layer that has it.
    expect(await rows(tree)).toEqual([
      ['app/', '—', 'drwxr-xr-x', '0:0', '1'],
      ['etc/', '—', 'drwxr-xr-x', '0:0', '1'],
      ['root/', '—', 'drwx------', '0:0', '1'],
      ['usr/', '—', 'drwxr-xr-x', '0:0', '0'],
    ]);
    await files.getByRole('button', { name: 'etc/', exact: true }).click();
    await files.getByRole('button', { name: 'etc/', exact: true }).waitFor({ state: 'detached' });
    // /etc/motd is deleted by the application's layer: the merged filesystem has only os-release.
    expect(await rows(tree)).toEqual([['os-release', formatBytes(osRelease.length), '-rw-r--r--', '0:0', '0']]);
    await files.getByLabel('View').selectOption({ label: `Layer 1 · ${short(appLayer.digest)} · ${formatBytes((await layerSizes())[1]!)} · 3 files` });
    await files.getByText('deleted by this layer').waitFor();
    expect(await rows(tree)).toEqual([['motd deleted by this layer', '—', '—', '—', '1']]);
    await files.getByLabel('View').selectOption({ label: 'Merged filesystem' });
    await files.getByRole('button', { name: '/', exact: true }).click();
    await files.getByRole('button', { name: 'usr/', exact: true }).click();
    await files.getByRole('button', { name: 'bin/', exact: true }).click();
    await files.getByText('curl-config').waitFor();
    expect(await rows(tree)).toEqual([
      ['curl', formatBytes(curl.length), '-rwxr-xr-x', '0:0', '0'],
      ['curl-config → curl', '—', 'lrwxrwxrwx', '0:0', '0'],
    ]);
    await files.getByRole('search', { name: 'Find by name' }).getByRole('searchbox').fill('id_');
    await files.getByRole('button', { name: 'Find', exact: true }).click();
    await files.getByText('Files whose name contains “id_”: 1.').waitFor();
    expect(await rows(tree)).toEqual([['/root/.ssh/id_rsa', formatBytes(privateKey.length), '—', '—', '1']]);
    await files.getByRole('button', { name: '/root/.ssh/id_rsa', exact: true }).click();
    await files.getByRole('button', { name: 'Back to browsing' }).waitFor({ state: 'detached' });
    expect(await rows(tree)).toEqual([['id_rsa', formatBytes(privateKey.length), '-rw-------', '0:0', '1']]);
    await files.getByRole('button', { name: '/', exact: true }).click();
    await files.getByRole('button', { name: 'app/', exact: true }).click();
    await files.getByText('config.yaml').waitFor();
    expect(await rows(tree)).toEqual([
      ['config.yaml', '11 B', '-rw-r--r--', '0:0', '1'],
      ['server', formatBytes(52_000), '-rwxr-xr-x', '0:0', '1'],
    ]);
    // The picture: the merged root, each directory from the highest layer that has it.
    await files.getByRole('button', { name: '/', exact: true }).click();
    await files.getByRole('button', { name: 'root/', exact: true }).waitFor();
    await files.screenshot({ path: `${shots}files.png` });
    // Only the two refusals asked for above (the browser logs every 4xx it loads).
    expect(consoleErrors.filter((e) => !/status of 403 \(Forbidden\) @ .*\/api\/v1\/search\?base=vault%2F(keys|nothing)%3A1&limit=25$/.test(e))).toEqual([]);
    expect(consoleErrors.length).toBe(2);
  });

  /** The layers' uncompressed sizes of shop/app, as the files API gives them. */
  async function layerSizes(): Promise<number[]> {
    const tree = await admin.ok<{ layers: Array<{ uncompressedSize: number }> }>('GET', '/projects/shop/repositories/app/artifacts/1.0/files');
    return tree.layers.map((l) => l.uncompressedSize);
  }
});
