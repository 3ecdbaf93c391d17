import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { engineMatrix, startTestBerth, type TestBerth } from '../../helpers/berth.js';
import { ApiClient } from '../../helpers/api.js';
import { imageManifest, jsonBlob, randomImage, sha256, RegistryClient, type Blob } from '../../helpers/oci.js';
import { gzipTarOf, tarOf } from '../../helpers/layer-tar.js';
import { until } from '../../helpers/wait.js';

const blob = (data: Buffer): Blob => ({ data, digest: sha256(data) });

/**
 * Must show 6 of issue 17: hostile layers pushed over HTTP to a running Berth are indexed as
 * failed layers and images with the walker's coded reason (or, for an entry count past what the
 * index stores, a truncated layer), and the registry keeps serving: /v2/ answers, a pull and a
 * push right after succeed.
 */
describe.each(await engineMatrix())('hostile layers pushed to a running Berth ($engine)', ({ engine, skip }) => {
  let berth: TestBerth;
  let registry: RegistryClient;
  const good = gzipTarOf([{ path: 'etc/hostname', content: 'box\n' }]);

  beforeAll(async () => {
    if (skip) return;
    berth = await startTestBerth({ engine, settings: { 'insights.index.maxEntriesPerLayer': 100, 'insights.index.maxLayerEntries': 1000 } });
    registry = new RegistryClient(berth.url);
    await new ApiClient(berth.url).createProject('hostile');
  });
  afterAll(async () => {
    await berth?.stop();
  });

  async function push(name: string, layers: Buffer[]): Promise<{ digest: string; layers: string[] }> {
    const config = jsonBlob({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] }, history: [] });
    const blobs = layers.map(blob);
    for (const b of [config, ...new Map(blobs.map((x) => [x.digest, x])).values()]) expect((await registry.pushBlob(name, b)).status).toBe(201);
    const manifest = imageManifest(config, blobs);
    expect((await registry.pushManifest(name, 'v1', manifest)).status).toBe(201);
    return { digest: sha256(manifest), layers: blobs.map((b) => b.digest) };
  }
  const record = async (digest: string) => {
    await until(async () => (await berth.api.insights.index.getImage(digest)) !== undefined, 60_000, `the index record of ${digest}`);
    return (await berth.api.insights.index.getImage(digest))!;
  };
  /** The registry still serves: /v2/ answers, a pull of a good image and a new push succeed. */
  async function stillServing(): Promise<void> {
    expect((await registry.fetch('/v2/')).status).toBe(200);
    const image = await registry.pushImage('hostile/after', `t${Date.now()}`, randomImage(1, 512));
    const pulled = await registry.fetch(`/v2/hostile/after/manifests/${sha256(image.manifest)}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(pulled.status).toBe(200);
    expect(Buffer.from(await pulled.arrayBuffer()).equals(image.manifest)).toBe(true);
    const layer = await registry.fetch(`/v2/hostile/after/blobs/${image.layers[0]!.digest}`);
    expect(layer.status).toBe(200);
    expect(Buffer.from(await layer.arrayBuffer()).equals(image.layers[0]!.data)).toBe(true);
  }

  it.skipIf(!!skip)('records a path leaving the root (a name or a hardlink) as a failed layer and image, naming the reason', async () => {
    const traversal = gzipTarOf([{ path: '../../etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n' }]);
    const image = await push('hostile/traversal', [good, traversal]);
    const failed = await record(image.digest);
    expect(failed.status).toBe('failed');
    expect(failed.error).toBe(`LAYER_UNREADABLE (path-outside-root): layer 1 (${image.layers[1]}) could not be read: the layer names a path outside its root: "../../etc/passwd"`);
    expect(failed.packages).toEqual([]);
    expect(await berth.api.insights.index.getLayer(image.layers[1]!)).toMatchObject({ status: 'failed', entries: 0, error: 'LAYER_UNREADABLE (path-outside-root): the layer names a path outside its root: "../../etc/passwd"' });
    // The good layer below it is indexed as any other.
    expect(await berth.api.insights.index.getLayer(image.layers[0]!)).toMatchObject({ status: 'indexed', entries: 1, files: 1 });

    const link = await push('hostile/hardlink', [gzipTarOf([{ path: 'shadow', type: 'hardlink', target: '../../etc/shadow' }])]);
    expect((await record(link.digest)).error).toBe(`LAYER_UNREADABLE (path-outside-root): layer 0 (${link.layers[0]}) could not be read: a hardlink in the layer points outside its root: "../../etc/shadow"`);
    // An absolute name stays inside the root, as a container runtime unpacks it: indexed at etc/passwd, not an error.
    const absolute = await push('hostile/absolute', [gzipTarOf([{ path: '/etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n' }])]);
    expect((await record(absolute.digest)).status).toBe('indexed');
    expect((await berth.api.insights.index.listDirectory(absolute.layers, 'etc', { limit: 10 })).entries.map((e) => e.name)).toEqual(['passwd']);
    await stillServing();
  });

  it.skipIf(!!skip)('indexes a symlink loop without hanging: the links are entries, lookups through them give up', async () => {
    const loop = gzipTarOf([
      { path: 'etc/os-release', type: 'symlink', target: 'os-release2' },
      { path: 'etc/os-release2', type: 'symlink', target: 'os-release' },
      { path: 'a', type: 'symlink', target: 'b/x' },
      { path: 'b', type: 'symlink', target: 'a/y' },
    ]);
    const image = await push('hostile/loop', [loop]);
    const indexed = await record(image.digest);
    expect(indexed.status).toBe('indexed');
    // os-release is a loop: no distribution is read from it.
    expect(indexed.os).toBeUndefined();
    const listing = await berth.api.insights.index.listDirectory(image.layers, 'etc', { limit: 10 });
    expect(listing.entries.map((e) => [e.name, e.type, e.linkTarget])).toEqual([
      ['os-release', 'symlink', 'os-release2'],
      ['os-release2', 'symlink', 'os-release'],
    ]);
    await stillServing();
  });

  it.skipIf(!!skip)('stops a decompression bomb at the ratio limit and records it', async () => {
    // 200 MiB of zeros in about 200 KiB.
    const bomb = gzipSync(tarOf([{ path: 'zeros', content: Buffer.alloc(200 * 2 ** 20) }]));
    expect(bomb.length).toBeLessThan(2 ** 20);
    const image = await push('hostile/bomb', [bomb]);
    const failed = await record(image.digest);
    expect(failed.status).toBe('failed');
    expect(failed.error).toBe(`LAYER_UNREADABLE (decompression-bomb): layer 0 (${image.layers[0]}) could not be read: the layer expands more than 200 times its compressed size`);
    // The scan of the same push fails the same way, recorded, instead of crashing anything.
    await until(async () => (await berth.api.security.scans.report(image.digest)) !== undefined, 60_000, 'the scan report');
    expect(await berth.api.security.scans.report(image.digest)).toMatchObject({ status: 'failed' });
    await stillServing();
  });

  it.skipIf(!!skip)('keeps the first entries of a layer past the stored limit (truncated), and refuses one past the walker’s limit', async () => {
    const many = gzipTarOf(Array.from({ length: 150 }, (_, i) => ({ path: `f/${String(i).padStart(3, '0')}`, content: '' })));
    const truncated = await push('hostile/many', [many]);
    expect((await record(truncated.digest)).status).toBe('indexed');
    expect(await berth.api.insights.index.getLayer(truncated.layers[0]!)).toMatchObject({ status: 'indexed', entries: 150, files: 150, truncated: true });
    const listed = await berth.api.insights.index.listDirectory(truncated.layers, 'f', { limit: 1000 });
    expect(listed.entries).toHaveLength(100);
    expect(listed.entries.at(-1)!.name).toBe('099');

    const huge = gzipTarOf(Array.from({ length: 1200 }, (_, i) => ({ path: `g/${i}`, content: '' })));
    const refused = await push('hostile/huge', [huge]);
    const failed = await record(refused.digest);
    expect(failed.error).toBe(`LAYER_UNREADABLE (too-many-entries): layer 0 (${refused.layers[0]}) could not be read: the layer has more than 1000 entries`);
    await stillServing();
  });
});
