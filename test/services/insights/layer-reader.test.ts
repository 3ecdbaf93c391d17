import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { LayerReader, type WalkedLayer } from '../../../src/services/insights/layer-reader.js';
import { fileIndexWalk, summarise } from '../../../src/services/insights/file-index.js';
import { inventoryLayer } from '../../../src/services/security/inventory-service.js';
import { inventoryOf, inventoryProbe, inventoryWants } from '../../../src/services/security/inventory.js';
import { LayerView } from '../../../src/services/security/layer-view.js';
import { walkLayer } from '../../../src/services/security/layer-walker.js';
import { gzipTarOf, type TarItem } from '../../helpers/layer-tar.js';

/** A `.go.buildinfo` record as Go 1.18+ writes it (see test/services/security/go-java.test.ts). */
function goBinary(extra: string): Buffer {
  const header = Buffer.alloc(32);
  header.write('\xff Go buildinf:', 0, 'latin1');
  header[14] = 8;
  header[15] = 2;
  const modules = 'path\texample.com/srv\nmod\texample.com/srv\t(devel)\t\ndep\tgolang.org/x/text\tv0.3.7\th1:abc=\n';
  const mod = Buffer.concat([Buffer.alloc(16, 0x30), Buffer.from(modules), Buffer.alloc(16, 0xf9)]);
  const record = Buffer.concat([header, Buffer.from([8]), Buffer.from('go1.22.1'), Buffer.from([mod.length]), mod]);
  const binary = Buffer.alloc(64 * 1024, 0x90);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(binary, 0);
  Buffer.from(extra).copy(binary, 1024);
  record.copy(binary, 32 * 1024);
  return binary;
}

const items: TarItem[] = [
  { path: 'etc/os-release', content: 'ID=alpine\nVERSION_ID=3.20.0\n' },
  { path: 'lib/apk/db/installed', content: 'P:musl\nV:1.2.5-r0\nA:x86_64\n\nP:busybox\nV:1.36.1-r29\nA:x86_64\n' },
  { path: 'usr/lib/python3.12/site-packages/requests-2.32.3.dist-info/METADATA', content: 'Metadata-Version: 2.1\nName: requests\nVersion: 2.32.3\n' },
  { path: 'app/node_modules/left-pad/package.json', content: '{"name":"left-pad","version":"1.3.0"}' },
  // An executable Go binary whose name the secret rule reads too: both probes see the same bytes.
  { path: 'srv/tls.pem', content: goBinary('-----BEGIN RSA PRIVATE KEY-----\n'), mode: 0o755 },
  { path: 'usr/local/bin/srv', content: goBinary(''), mode: 0o755 },
  { path: 'usr/local/bin/srv-link', type: 'hardlink', target: 'usr/local/bin/srv' },
  { path: 'home/app/.npmrc', content: '//registry.npmjs.org/:_authToken=npm_abc\n' },
  { path: 'usr/bin/su', content: 'x', mode: 0o4755 },
  { path: 'bin/sh', type: 'symlink', target: 'busybox' },
  { path: 'var/cache/apk/APKINDEX.tar.gz', content: Buffer.alloc(3000, 1) },
  { path: 'opt/.wh..wh..opq', content: '' },
  { path: 'etc/.wh.motd', content: '' },
];

/** Layers served from memory, counting opens per digest. */
function blobs(layers: Record<string, Buffer | (() => Readable)>) {
  const opened: string[] = [];
  return {
    opened,
    source: {
      blobs: {
        open: async (_repository: string, digest: string) => {
          opened.push(digest);
          const layer = layers[digest]!;
          return { stream: typeof layer === 'function' ? layer() : Readable.from([layer]) };
        },
      },
    },
  };
}

describe('the layer reader', () => {
  it('splits one walk into exactly what the inventory’s and the file index’s own walks give', async () => {
    const layer = gzipTarOf(items);
    const reader = new LayerReader(blobs({ 'sha256:a': layer }).source);
    const read = await reader.read('r', 'sha256:a');
    const inventoryAlone = inventoryLayer(await walkLayer(Readable.from([layer]), { wanted: inventoryWants, probe: inventoryProbe }));
    const summaryAlone = summarise(await walkLayer(Readable.from([layer]), fileIndexWalk));
    expect(read.inventory).toEqual(inventoryAlone);
    expect(read.summary).toEqual(summaryAlone);
    // What each found, to be sure the comparison compares something.
    const inventory = inventoryOf(new LayerView([read.inventory]));
    expect(inventory.packages.map((p) => `${p.type}:${p.name}@${p.version}`).sort()).toEqual([
      'apk:busybox@1.36.1-r29',
      'apk:musl@1.2.5-r0',
      // Three Go binaries: the .pem one, srv and its hardlink.
      'golang:example.com/srv@(devel)',
      'golang:example.com/srv@(devel)',
      'golang:example.com/srv@(devel)',
      'golang:golang.org/x/text@v0.3.7',
      'golang:golang.org/x/text@v0.3.7',
      'golang:golang.org/x/text@v0.3.7',
      'golang:stdlib@go1.22.1',
      'golang:stdlib@go1.22.1',
      'golang:stdlib@go1.22.1',
      'npm:left-pad@1.3.0',
      'pypi:requests@2.32.3',
    ]);
    expect(read.summary.notable.find((e) => e.path === 'srv/tls.pem')?.markers).toEqual(['private-key']);
    expect([...read.summary.whiteouts, ...read.summary.opaqueDirs]).toEqual(['etc/motd', 'opt']);
  });

  it('walks a layer once for readers at the same time, tells the hook once, and again only when asked fresh', async () => {
    const served = blobs({ 'sha256:a': gzipTarOf(items) });
    const walked: WalkedLayer[] = [];
    const reader = new LayerReader(served.source, { onWalked: async (w) => void walked.push(w) });
    const reads = await Promise.all(Array.from({ length: 10 }, () => reader.read('r', 'sha256:a')));
    expect(new Set(reads).size).toBe(1);
    expect(await reader.summary('r', 'sha256:a', 0)).toBe(reads[0]!.summary);
    expect(served.opened).toEqual(['sha256:a']);
    expect(walked.map((w) => [w.digest, 'walk' in w ? w.walk.entries.length : 'error'])).toEqual([['sha256:a', 11]]);
    await reader.read('r', 'sha256:a', { fresh: true });
    expect(served.opened).toEqual(['sha256:a', 'sha256:a']);
    expect(walked).toHaveLength(2);
  });

  it('tells the hook of a hostile layer, but not of a storage read that broke, and walks neither into the cache', async () => {
    const hostile = gzipTarOf([{ path: '../../etc/passwd', content: 'x' }]);
    const good = gzipTarOf(items);
    const served = blobs({
      'sha256:bad': hostile,
      'sha256:broken': () =>
        Readable.from(
          (async function* () {
            yield good.subarray(0, good.length >> 1);
            throw new Error('connection reset');
          })(),
        ),
    });
    const walked: WalkedLayer[] = [];
    const reader = new LayerReader(served.source, { onWalked: async (w) => void walked.push(w) });
    const bad = await reader.summary('r', 'sha256:bad', 3).catch((err: unknown) => err as Error & { code: string; detail: unknown });
    expect(bad).toMatchObject({ code: 'LAYER_UNREADABLE', message: 'layer 3 (sha256:bad) could not be read: the layer names a path outside its root: "../../etc/passwd"', detail: { reason: 'path-outside-root', layer: 3, digest: 'sha256:bad' } });
    const broken = await reader.read('r', 'sha256:broken').catch((err: unknown) => err as Error);
    expect(broken).toBeInstanceOf(Error);
    expect((broken as Error).message).toBe('connection reset');
    expect(walked.map((w) => [w.digest, 'error' in w ? w.error.code : 'walk'])).toEqual([['sha256:bad', 'LAYER_UNREADABLE']]);
    await reader.read('r', 'sha256:bad').catch(() => undefined);
    expect(served.opened).toEqual(['sha256:bad', 'sha256:broken', 'sha256:bad']);
  });
});
