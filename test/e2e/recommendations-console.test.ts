import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { ApiClient } from '../helpers/api.js';
import { adminCredentials, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { consoleSkipReasons, consoleWindow, launchChromium, logIn, suiteTitle, tableRows } from '../helpers/chromium.js';
import { indexedImage } from '../helpers/image-index.js';
import { imageManifest, jsonBlob, sha256, type Blob } from '../helpers/oci.js';
import { tarOf, type TarItem } from '../helpers/layer-tar.js';
import { consoleRoot } from '../../src/http/console-routes.js';

/**
 * An image's recommendations (Insights tab) and a project's Rebuild hints tab in Chromium, in
 * English and 简体中文 (docs/console.md, "Recommendations and rebuild hints"). The image index
 * is filled through its store, as the indexer does on push.
 */
const built = (): boolean => {
  const assets = join(consoleRoot, 'assets');
  if (!existsSync(join(consoleRoot, 'index.html')) || !existsSync(assets)) return false;
  return readdirSync(assets).some((f) => f.endsWith('.js') && readFileSync(join(assets, f), 'utf8').includes('rebuild-hints'));
};
const reasons = consoleSkipReasons('recommendations console', { built: { check: built, reason: 'the console is not built with the Rebuild hints tab (npm run build)' } });

const release = 'ID=debian\nVERSION_ID="12"\n';
const layer = (items: TarItem[]) => {
  const tar = tarOf(items);
  const data = gzipSync(tar, { level: 1 });
  return { blob: { data, digest: sha256(data) } as Blob, tarBytes: tar.length };
};
const short = (digest: string) => digest.slice(0, 19);

describe.skipIf(reasons.length > 0)(suiteTitle('recommendations and rebuild hints in the web console', reasons), () => {
  let berth: TestBerth;
  let browser: Browser;
  let page: Page;
  const digests: Record<string, string> = {};
  const errors: string[] = [];
  const base = layer([{ path: 'etc/os-release', content: release }, { path: 'big', content: Buffer.alloc(30_000_000, 1) }]);
  const slim = layer([{ path: 'etc/os-release', content: release }, { path: 'big', content: Buffer.alloc(9_000_000, 1) }]);

  beforeAll(async () => {
    berth = await startTestBerth({ settings: { 'security.scanning': false, 'insights.index.enabled': false } });
    const admin = new ApiClient(berth.url);
    await admin.createProject('apps');
    async function push(repository: string, tag: string, layers: Array<{ blob: Blob; tarBytes: number }>) {
      const config = jsonBlob({ architecture: 'amd64', os: 'linux', config: { Env: [`BUILD=${repository}:${tag}:${layers.length}`] }, rootfs: { type: 'layers', diff_ids: [] } });
      for (const b of [config, ...layers.map((l) => l.blob)]) expect((await admin.registry.pushBlob(repository, b)).status).toBe(201);
      const manifest = imageManifest(
        config,
        layers.map((l) => l.blob),
      );
      expect((await admin.registry.pushManifest(repository, tag, manifest)).status).toBe(201);
      const digest = sha256(manifest);
      await berth.api.recommendations.index.putImage(
        indexedImage({
          digest,
          configDigest: config.digest,
          layers: layers.map((l) => l.blob.digest),
          compressedBytes: layers.reduce((n, l) => n + l.blob.data.length, 0),
          uncompressedBytes: layers.reduce((n, l) => n + l.tarBytes, 0),
          os: { id: 'debian', versionId: '12' },
        }),
      );
      return digest;
    }
    digests.base = await push('library/debian', '12', [base]);
    digests.slim = await push('library/debian', '12-slim', [slim]);
    digests.web = await push('apps/web', '1.0', [base, layer([{ path: 'app', content: 'web' }])]);
    digests.worker = await push('apps/worker', '2', [base, layer([{ path: 'app', content: 'worker' }])]);
    digests.base2 = await push('library/debian', '12', [layer([{ path: 'etc/os-release', content: release }, { path: 'big', content: Buffer.alloc(30_000_000, 2) }])]);
    // The move is worked out right after the push; the hints API lists it once it is.
    const deadline = Date.now() + 15_000;
    while ((await admin.ok<{ hints: unknown[] }>('GET', '/projects/apps/rebuild-hints')).hints.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    browser = await launchChromium();
    const context = await browser.newContext({ ...consoleWindow, timezoneId: 'UTC' });
    page = await context.newPage();
    page.on('pageerror', (err) => errors.push(err.message));
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await berth?.stop();
  });

  const rows = (selector: string) => tableRows(page.locator(selector));

  it("shows an image's recommendations on its Insights tab and the project's rebuild hints, in English and Chinese", async () => {
    await logIn(page, berth.url, adminCredentials.username, adminCredentials.password);

    await page.goto(`${berth.url}/projects/apps/repositories/web/artifacts/1.0`);
    const recommendations = page.locator('section.recommendations');
    await recommendations.locator('.recommendation-list').waitFor();
    const saving = ((base.tarBytes - slim.tarBytes) / 1024 / 1024).toFixed(1);
    expect(await recommendations.locator('li').allInnerTexts()).toEqual([
      `Rebuild library/debian:12 now names a newer build than this image’s base: rebuild it on library/debian:12 (built on ${short(digests.base!)})`,
      `Slimmer base This image could be ${saving} MiB smaller on library/debian:12-slim (base ${(base.tarBytes / 1024 / 1024).toFixed(1)} MiB, this one ${(slim.tarBytes / 1024 / 1024).toFixed(1)} MiB, uncompressed)`,
    ]);
    expect(await recommendations.getByRole('link', { name: 'library/debian:12-slim' }).getAttribute('href')).toBe(`/projects/library/repositories/debian/artifacts/${digests.slim}`);
    expect(await recommendations.getByRole('link', { name: 'library/debian:12', exact: true }).getAttribute('href')).toBe(`/projects/library/repositories/debian/artifacts/${digests.base2}`);

    await page.goto(`${berth.url}/projects/apps`);
    await page.getByRole('tab', { name: 'Rebuild hints' }).click();
    await page.locator('.rebuild-hint table').waitFor();
    expect(await page.locator('.rebuild-hint h3').innerText()).toMatch(new RegExp(`^library/debian:12 moved from ${short(digests.base!)} to ${short(digests.base2!)} at `));
    expect(await rows('.rebuild-hint table')).toEqual([
      [`apps/web@${short(digests.web!)}`, '1.0', 'no scan data'],
      [`apps/worker@${short(digests.worker!)}`, '2', 'no scan data'],
    ]);

    await page.getByLabel('Language').selectOption('zh-CN');
    await page.getByRole('tab', { name: '重建提示' }).waitFor();
    expect(await page.locator('#rebuild-title').innerText()).toBe('重建提示');
    expect(await page.locator('.rebuild-hint thead th').allInnerTexts()).toEqual(['镜像', '标签', '新基础镜像修复的漏洞']);
    await page.goto(`${berth.url}/projects/apps/repositories/web/artifacts/1.0`);
    await recommendations.locator('.recommendation-list').waitFor();
    expect(await recommendations.locator('h3').innerText()).toBe('优化建议');
    expect(await recommendations.locator('.badge').allInnerTexts()).toEqual(['需要重新构建', '更精简的基础镜像']);
    expect(errors).toEqual([]);
  }, 120_000);
});
