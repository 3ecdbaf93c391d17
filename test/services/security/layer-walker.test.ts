import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { normalise, walkLayer, type LayerWalk, type WalkOptions } from '../../../src/services/security/layer-walker.js';
import { LayerView } from '../../../src/services/security/layer-view.js';
import { BerthError } from '../../../src/domain/errors.js';
import { gzipTarOf, tarOf, type TarItem } from '../../helpers/layer-tar.js';

const zstdCli = existsSync('/usr/bin/zstd') ? '/usr/bin/zstd' : undefined;

/** Streams `data` in small chunks, as a blob read from storage arrives. */
function stream(data: Buffer, chunk = 1000): Readable {
  return Readable.from((function* () {
    for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
  })());
}

const walk = (data: Buffer, options?: WalkOptions) => walkLayer(stream(data), options);

async function reason(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BerthError);
  expect((err as BerthError).key).toBe('LAYER_UNREADABLE');
  return ((err as BerthError).detail as { reason: string }).reason;
}

const items: TarItem[] = [
  { path: './etc/', type: 'directory' },
  { path: './etc/os-release', type: 'symlink', target: '../usr/lib/os-release' },
  { path: './usr/lib/os-release', content: 'ID=debian\nVERSION_ID="12"\n' },
  { path: './usr/bin/tool', content: 'x'.repeat(3000), mode: 0o4755 },
  { path: './usr/bin/tool-again', type: 'hardlink', target: './usr/bin/tool' },
  { path: `./opt/${'deep/'.repeat(30)}file`, content: 'long name' },
];

describe('the layer walker', () => {
  it('lists every entry of a plain, gzip or zstd tar the same, whatever the chunking', async () => {
    const plain = tarOf(items);
    const expected = [
      { path: 'etc', type: 'directory', size: 0, mode: 0o755, uid: 0, gid: 0 },
      { path: 'etc/os-release', type: 'symlink', size: 0, mode: 0o777, uid: 0, gid: 0, linkTarget: '../usr/lib/os-release' },
      { path: 'usr/lib/os-release', type: 'file', size: 26, mode: 0o644, uid: 0, gid: 0 },
      { path: 'usr/bin/tool', type: 'file', size: 3000, mode: 0o4755, uid: 0, gid: 0 },
      { path: 'usr/bin/tool-again', type: 'hardlink', size: 0, mode: 0o644, uid: 0, gid: 0, linkTarget: 'usr/bin/tool' },
      { path: `opt/${'deep/'.repeat(30)}file`, type: 'file', size: 9, mode: 0o644, uid: 0, gid: 0 },
    ];
    const variants: Array<[string, Buffer]> = [
      ['plain', plain],
      ['gzip', gzipSync(plain)],
    ];
    if (zstdCli) variants.push(['zstd', execFileSync(zstdCli, ['-q', '-c'], { input: plain })]);
    else console.warn('zstd CLI not installed (Debian package zstd): the zstd layer is not checked');
    for (const [name, data] of variants) {
      for (const chunk of [1, 7, 512, 65536]) {
        const result = await walkLayer(stream(data, chunk), { wanted: (p) => p === 'usr/lib/os-release' || p === 'usr/bin/tool-again' });
        expect(result.entries, `${name} in chunks of ${chunk}`).toEqual(expected);
        expect(result.contents.get('usr/lib/os-release')?.toString()).toBe('ID=debian\nVERSION_ID="12"\n');
        expect(result.uncompressedBytes).toBe(plain.length);
        expect(result.compressedBytes).toBe(data.length);
      }
    }
  });

  it('keeps a wanted hardlink’s bytes from the file it links to, and no unwanted bytes', async () => {
    const result = await walk(tarOf(items), { wanted: (p) => p.startsWith('usr/bin/') });
    expect([...result.contents.keys()]).toEqual(['usr/bin/tool', 'usr/bin/tool-again']);
    expect(result.contents.get('usr/bin/tool-again')?.toString()).toBe('x'.repeat(3000));
  });

  it('lists whiteouts and opaque directories instead of entries', async () => {
    const result = await walk(
      tarOf([
        { path: 'etc/.wh.motd', content: '' },
        { path: 'var/cache/apt/.wh..wh..opq', content: '' },
        { path: '.wh.tmp', content: '' },
      ]),
    );
    expect(result.entries).toEqual([]);
    expect(result.whiteouts).toEqual(['etc/motd', 'tmp']);
    expect(result.opaqueDirs).toEqual(['var/cache/apt']);
  });

  it('does not keep a wanted file over the size limit, but lists it', async () => {
    const result = await walk(tarOf([{ path: 'big', content: Buffer.alloc(5000) }]), { wanted: () => true, limits: { maxFileBytes: 4096 } });
    expect(result.entries.map((e) => e.path)).toEqual(['big']);
    expect(result.contents.size).toBe(0);
  });

  it('ends, failed, when the storage read of a compressed layer breaks midway (instead of waiting for ever)', async () => {
    const layer = gzipTarOf([{ path: 'big', content: Buffer.alloc(256 * 1024, 7) }, { path: 'after', content: 'x' }]);
    const broken = Readable.from((async function* () {
      yield layer.subarray(0, layer.length >> 1);
      throw new Error('connection reset');
    })());
    const outcome = await Promise.race([walkLayer(broken).then(() => 'read', () => 'failed'), new Promise((resolve) => setTimeout(() => resolve('hung'), 5000))]);
    expect(outcome).toBe('failed');
  });

  describe('hostile layers', () => {
    it('refuses paths that leave the root, in names and in hardlinks', async () => {
      expect(await reason(walk(tarOf([{ path: '../../etc/passwd', content: 'x' }])))).toBe('path-outside-root');
      expect(await reason(walk(tarOf([{ path: 'a/../../b', content: 'x' }])))).toBe('path-outside-root');
      expect(await reason(walk(tarOf([{ path: 'link', type: 'hardlink', target: '../../etc/shadow' }])))).toBe('path-outside-root');
      // Absolute names are read relative to the root, as a container runtime unpacks them.
      expect((await walk(tarOf([{ path: '/etc/hosts', content: 'x' }]))).entries[0]!.path).toBe('etc/hosts');
    });

    it('stops a decompression bomb at the ratio limit, having read a bounded part of it', async () => {
      // 200 MiB of zeros compress to about 200 KiB.
      const zeros = Buffer.alloc(200 * 2 ** 20);
      const bomb = gzipSync(Buffer.concat([tarOf([{ path: 'zeros', content: zeros }], { end: true })]));
      const before = process.memoryUsage().rss;
      expect(await reason(walk(bomb, { limits: { maxRatio: 100 } }))).toBe('decompression-bomb');
      expect(process.memoryUsage().rss - before).toBeLessThan(100 * 2 ** 20);
      expect(await reason(walk(tarOf([{ path: 'f', content: Buffer.alloc(4096) }]), { limits: { maxUncompressedBytes: 2048 } }))).toBe('too-large');
    });

    it('refuses a layer compressed twice (the tar parser would inflate it again, past the limits)', async () => {
      expect(await reason(walk(gzipSync(gzipTarOf(items))))).toBe('nested-compression');
    });

    it('refuses truncated gzip and truncated tar', async () => {
      const gz = gzipTarOf(items);
      expect(await reason(walk(gz.subarray(0, gz.length - 30)))).toBe('truncated');
      const plain = tarOf(items, { end: false });
      expect(await reason(walk(plain.subarray(0, 1024 + 700)))).toBe('truncated');
      if (zstdCli) {
        const zst = execFileSync(zstdCli, ['-q', '-c'], { input: tarOf(items) });
        expect(await reason(walk(zst.subarray(0, zst.length - 20)))).toBe('truncated');
      }
    });

    it('reads an empty tar (its end-of-archive blocks only) as a layer without entries, and refuses a lone zero block', async () => {
      // buildah commits such a layer for a step that changed nothing; Docker's empty layer is one gzipped.
      for (const [empty, bytes] of [
        [Buffer.alloc(1024), 1024],
        [gzipSync(Buffer.alloc(1024)), 1024],
        [gzipSync(Buffer.alloc(10240)), 10240],
      ] as const) {
        const result = await walk(empty);
        expect(result.entries).toEqual([]);
        expect(result.uncompressedBytes).toBe(bytes);
      }
      expect(await reason(walk(Buffer.alloc(512)))).toBe('not-a-tar');
    });

    it('refuses bytes that are not a tar', async () => {
      expect(await reason(walk(Buffer.from('this is not a tar archive at all '.repeat(40))))).toBe('not-a-tar');
    });

    it('refuses more entries than the limit', async () => {
      const many = Array.from({ length: 20 }, (_, i) => ({ path: `f${i}`, content: '' }));
      expect(await reason(walk(tarOf(many), { limits: { maxEntries: 10 } }))).toBe('too-many-entries');
    });
  });

  it('normalises tar paths to the root, and refuses escapes and NULs', () => {
    expect(normalise('./usr/bin/')).toBe('usr/bin');
    expect(normalise('/etc//passwd')).toBe('etc/passwd');
    expect(normalise('a/./b/../c')).toBe('a/c');
    expect(normalise('.')).toBe('');
    expect(normalise('..')).toBeUndefined();
    expect(normalise('a/../../b')).toBeUndefined();
    expect(normalise('a\0b')).toBeUndefined();
  });
});

describe('the merged view of layers', () => {
  const layer = (partial: Partial<LayerWalk>): LayerWalk => ({ entries: [], whiteouts: [], opaqueDirs: [], contents: new Map(), probes: new Map(), compressedBytes: 0, uncompressedBytes: 0, ...partial });
  const file = (path: string) => ({ path, type: 'file' as const, size: 1, mode: 0o644, uid: 0, gid: 0 });
  const dir = (path: string) => ({ path, type: 'directory' as const, size: 0, mode: 0o755, uid: 0, gid: 0 });
  const link = (path: string, linkTarget: string) => ({ path, type: 'symlink' as const, size: 0, mode: 0o777, uid: 0, gid: 0, linkTarget });

  it('applies whiteouts and opaque directories to the layers below only, and later entries over earlier ones', () => {
    const view = new LayerView([
      layer({ entries: [dir('a'), file('a/1'), file('a/2'), dir('b'), file('b/1'), file('c')] }),
      layer({ entries: [file('a/3'), file('b/2')], whiteouts: ['a/1', 'c'], opaqueDirs: ['b'] }),
      layer({ entries: [dir('a/1'), file('a/1/x')], whiteouts: ['b/2'] }),
    ]);
    // a/1 and c whited out by layer 1 (a/1 comes back in layer 2 as a directory), b/1 hidden by b's opaque marker, b/2 whited out by layer 2.
    expect([...view.entries()].map(([p, e]) => `${p}@${e.layer}`).sort()).toEqual(['a/1/x@2', 'a/1@2', 'a/2@0', 'a/3@1', 'a@0', 'b@0']);
  });

  it('follows symlinks in any component, relative or absolute, and gives up on loops', () => {
    const view = new LayerView([
      layer({
        entries: [link('lib', 'usr/lib'), dir('usr'), dir('usr/lib'), file('usr/lib/os-release'), link('etc/os-release', '../usr/lib/os-release'), link('abs', '/lib/os-release'), link('loop1', 'loop2'), link('loop2', 'loop1')],
        contents: new Map([['usr/lib/os-release', Buffer.from('ID=alpine\n')]]),
      }),
    ]);
    expect(view.resolve('lib/os-release')).toBe('usr/lib/os-release');
    expect(view.resolve('etc/os-release')).toBe('usr/lib/os-release');
    expect(view.read('abs')?.toString()).toBe('ID=alpine\n');
    expect(view.resolve('loop1/x')).toBeUndefined();
    expect(view.read('loop1')).toBeUndefined();
  });
});
