import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { walkLayer, type LayerWalk } from '../../../src/services/security/layer-walker.js';
import { LayerView } from '../../../src/services/security/layer-view.js';
import { inventoryOf, inventoryProbe, inventoryWants } from '../../../src/services/security/inventory.js';
import { InventoryService } from '../../../src/services/security/inventory-service.js';
import type { BlobService } from '../../../src/services/registry/blob-service.js';
import { GoBuildInfoProbe, parseGoBuildInfo, type GoBuildInfo } from '../../../src/domain/packages/golang.js';
import { gzipTarOf, tarOf, type TarItem } from '../../helpers/layer-tar.js';

/** Streams `data` in chunks of `chunk` bytes, as a blob read from storage arrives. */
function stream(data: Buffer, chunk = 64 * 1024): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
    })(),
  );
}

const walkOf = (items: TarItem[], chunk?: number) => walkLayer(stream(tarOf(items), chunk), { wanted: inventoryWants, probe: inventoryProbe });

async function inventory(layers: TarItem[][]) {
  const walks: LayerWalk[] = [];
  for (const items of layers) walks.push(await walkOf(items));
  return inventoryOf(new LayerView(walks));
}

/** Go's uvarint. */
function uvarint(n: number): Buffer {
  const bytes: number[] = [];
  while (n >= 0x80) {
    bytes.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

/** A `.go.buildinfo` record as Go 1.18+ writes it: magic, pointer size, flags, then varint-prefixed version and module lines between sentinels. */
function buildInfoRecord(goVersion: string, modules: string, { pointerSize = 8, flags = 2 } = {}): Buffer {
  const header = Buffer.alloc(32);
  header.write('\xff Go buildinf:', 0, 'latin1');
  header[14] = pointerSize;
  header[15] = flags;
  const mod = Buffer.concat([Buffer.alloc(16, 0x30), Buffer.from(modules), Buffer.alloc(16, 0xf9)]);
  return Buffer.concat([header, uvarint(goVersion.length), Buffer.from(goVersion), uvarint(mod.length), mod]);
}

/** An ELF-looking executable of `size` bytes holding `record` at `at` (16-byte aligned, as the linker places it). */
function fakeGoBinary(record: Buffer, size: number, at = size - record.length - 4096 - ((size - record.length - 4096) % 16)): Buffer {
  const binary = Buffer.alloc(size, 0x90);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(binary, 0);
  record.copy(binary, at);
  return binary;
}

const helloModules = 'path\texample.com/hello\nmod\texample.com/hello\t(devel)\t\ndep\texample.com/dep\tv0.0.0\n=>\t./dep\t(devel)\t\ndep\tgolang.org/x/text\tv0.3.7\th1:abc=\n=>\tgithub.com/fork/text\tv0.3.8\th1:def=\nbuild\tGOOS=linux\n';

const goCli = (() => {
  try {
    return execFileSync('go', ['version'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
})();
if (!goCli) console.warn('go-java.test.ts: `go` is not installed (Debian: apt-get install golang-go): the test with a real Go binary is SKIPPED.');

describe('Go binaries', () => {
  let dir = '';
  let binary = Buffer.alloc(0);
  let goVersion = '';

  beforeAll(() => {
    if (!goCli) return;
    goVersion = /^go version (go\S+)/.exec(goCli)![1]!;
    dir = mkdtempSync(join(tmpdir(), 'berth-go-'));
    const src = join(dir, 'hello');
    mkdirSync(join(src, 'dep'), { recursive: true });
    writeFileSync(join(src, 'go.mod'), 'module example.com/hello\n\ngo 1.18\n\nrequire example.com/dep v0.0.0\n\nreplace example.com/dep => ./dep\n');
    writeFileSync(join(src, 'main.go'), 'package main\n\nimport "example.com/dep"\n\nfunc main() { println(dep.Greeting()) }\n');
    writeFileSync(join(src, 'dep', 'go.mod'), 'module example.com/dep\n\ngo 1.18\n');
    writeFileSync(join(src, 'dep', 'dep.go'), 'package dep\n\nfunc Greeting() string { return "hello" }\n');
    // No network: the one dependency is a local module; caches stay in the temporary directory.
    const env = { ...process.env, HOME: dir, GOPATH: join(dir, 'gopath'), GOCACHE: join(dir, 'cache'), GOPROXY: 'off', GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' };
    execFileSync('go', ['build', '-o', join(dir, 'hello-bin'), '.'], { cwd: src, env, stdio: 'pipe' });
    binary = readFileSync(join(dir, 'hello-bin'));
  }, 120_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!goCli)('lists a real Go binary’s main module, its dependency (replaced by a local directory) and the standard library', async () => {
    const result = await inventory([[{ path: 'usr/local/bin/hello', content: binary, mode: 0o755 }]]);
    expect(result.packages).toEqual([
      { name: 'example.com/dep', version: '(devel)', type: 'golang', purl: 'pkg:golang/example.com/dep@(devel)', foundIn: '/usr/local/bin/hello' },
      { name: 'example.com/hello', version: '(devel)', type: 'golang', purl: 'pkg:golang/example.com/hello@(devel)', foundIn: '/usr/local/bin/hello' },
      { name: 'stdlib', version: goVersion, type: 'golang', purl: `pkg:golang/stdlib@${goVersion}`, foundIn: '/usr/local/bin/hello' },
    ]);
    expect(goVersion).toMatch(/^go1\.\d+/);
  });

  it('finds the build info whatever the chunk boundaries, past decoys: an unaligned magic and an aligned one whose header is not a record', async () => {
    const record = buildInfoRecord('go1.21.5 X:loopvar', helloModules);
    const binary = fakeGoBinary(record, 64 * 1024);
    // A program embedding Go's debug/buildinfo holds the magic as a constant.
    binary.write('\xff Go buildinf:\x08\x02', 1001, 'latin1');
    binary.write('\xff Go buildinf:\x03\x00', 2048, 'latin1');
    const expected: GoBuildInfo = { kind: 'go-buildinfo', goVersion: 'go1.21.5 X:loopvar', modules: helloModules };
    for (const size of [1, 7, 13, 16, 31, 500, 4096, 64 * 1024]) {
      const probe = new GoBuildInfoProbe();
      let done = false;
      for (let i = 0; i < binary.length && !done; i += size) done = probe.update(binary.subarray(i, i + size));
      expect(probe.finish(), `chunks of ${size}`).toEqual(expected);
    }
    const result = await inventory([[{ path: 'app/server', content: binary, mode: 0o755 }]]);
    expect(result.packages.map((p) => p.purl)).toEqual(['pkg:golang/example.com/dep@(devel)', 'pkg:golang/example.com/hello@(devel)', 'pkg:golang/github.com/fork/text@v0.3.8', 'pkg:golang/stdlib@go1.21.5']);
  });

  it('gives up on files that are not ELF, too small or not executable, and on records it cannot trust, without failing the layer', async () => {
    const record = buildInfoRecord('go1.22.1', helloModules);
    const huge = Buffer.concat([record.subarray(0, 32), uvarint(2 ** 40), Buffer.from('go1.22.1')]);
    const hugeModules = Buffer.concat([record.subarray(0, 32), uvarint(8), Buffer.from('go1.22.1'), uvarint(2 ** 31), Buffer.alloc(64)]);
    const badVarint = Buffer.concat([record.subarray(0, 32), Buffer.alloc(12, 0xff)]);
    const oldFormat = buildInfoRecord('go1.17', helloModules, { flags: 0 });
    const noSentinel = Buffer.concat([record.subarray(0, 32), uvarint(8), Buffer.from('go1.22.1'), uvarint(40), Buffer.alloc(40, 0x41)]);
    const walk = await walkOf([
      { path: 'bin/script', content: Buffer.concat([Buffer.from('#!/bin/sh\n'), fakeGoBinary(record, 8192)]), mode: 0o755 },
      { path: 'bin/not-executable', content: fakeGoBinary(record, 8192), mode: 0o644 },
      { path: 'bin/small', content: fakeGoBinary(record, 1000, 16), mode: 0o755 },
      { path: 'bin/huge-version', content: fakeGoBinary(huge, 8192), mode: 0o755 },
      { path: 'bin/huge-modules', content: fakeGoBinary(hugeModules, 8192), mode: 0o755 },
      { path: 'bin/bad-varint', content: fakeGoBinary(badVarint, 8192), mode: 0o755 },
      { path: 'bin/go1.17', content: fakeGoBinary(oldFormat, 8192), mode: 0o755 },
      { path: 'bin/truncated', content: fakeGoBinary(record, 8192, 8192 - 48), mode: 0o755 },
      { path: 'bin/tiny-elf', content: Buffer.from([0x7f, 0x45]), mode: 0o755 },
      // No module lines (built outside module mode): the standard library only.
      { path: 'bin/gopath', content: fakeGoBinary(noSentinel, 8192), mode: 0o755 },
    ]);
    expect([...walk.probes.keys()]).toEqual(['bin/gopath']);
    expect(inventoryOf(new LayerView([walk])).packages.map((p) => p.purl)).toEqual(['pkg:golang/stdlib@go1.22.1']);
  });

  it('drops a Go binary a later layer deletes, and one it replaces with something else', async () => {
    const binary = fakeGoBinary(buildInfoRecord('go1.22.1', helloModules), 16 * 1024);
    const layers = [
      gzipTarOf([
        { path: 'app/server', content: binary, mode: 0o755 },
        { path: 'app/worker', content: binary, mode: 0o755 },
        { path: 'app/tool', content: binary, mode: 0o755 },
      ]),
      gzipTarOf([
        { path: 'app/.wh.server', content: '' },
        { path: 'app/worker', content: '#!/bin/sh\nexit 0\n', mode: 0o755 },
      ]),
    ];
    const blobs = { open: async (_repository: string, digest: string) => ({ stream: Readable.from([layers[Number(digest.slice(-1))]!]) }) };
    const service = new InventoryService(blobs as unknown as BlobService);
    const result = await service.ofImage('library/app', [{ digest: 'sha256:0' }, { digest: 'sha256:1' }]);
    expect(new Set(result.packages.map((p) => p.foundIn))).toEqual(new Set(['/app/tool']));
    expect(result.packages.map((p) => p.name)).toEqual(['example.com/dep', 'example.com/hello', 'github.com/fork/text', 'stdlib']);
  });

  it('finds the build info at the end of a 40 MiB executable without keeping the file', async () => {
    const size = 40 * 2 ** 20;
    const binary = fakeGoBinary(buildInfoRecord('go1.22.1', helloModules), size);
    const walk = await walkOf([{ path: 'app/big', content: binary, mode: 0o755 }]);
    expect(walk.entries.map((e) => [e.path, e.size])).toEqual([['app/big', size]]);
    expect(walk.contents.size).toBe(0);
    expect(walk.probes.get('app/big')).toEqual({ kind: 'go-buildinfo', goVersion: 'go1.22.1', modules: helloModules });
    expect(JSON.stringify(walk.probes.get('app/big')).length).toBeLessThan(1024);
  });

  it('names modules as the Go vulnerability database does: replacements applied, purl namespaces split at slashes', () => {
    const info: GoBuildInfo = {
      kind: 'go-buildinfo',
      goVersion: 'go1.19.8',
      modules: 'path\tgithub.com/acme/cli/cmd/cli\nmod\tgithub.com/acme/cli/v2\tv2.1.0\th1:x=\ndep\tgithub.com/a/b\tv1.0.0\th1:y=\n=>\t../b\t\t\ndep\tgolang.org/x/net\tv0.1.0\th1:z=\n',
    };
    expect(parseGoBuildInfo(info, '/cli')).toEqual([
      { name: 'github.com/acme/cli/v2', version: 'v2.1.0', type: 'golang', purl: 'pkg:golang/github.com/acme/cli/v2@v2.1.0', foundIn: '/cli' },
      { name: 'github.com/a/b', version: '(devel)', type: 'golang', purl: 'pkg:golang/github.com/a/b@(devel)', foundIn: '/cli' },
      { name: 'golang.org/x/net', version: 'v0.1.0', type: 'golang', purl: 'pkg:golang/golang.org/x/net@v0.1.0', foundIn: '/cli' },
      { name: 'stdlib', version: 'go1.19.8', type: 'golang', purl: 'pkg:golang/stdlib@go1.19.8', foundIn: '/cli' },
    ]);
  });
});
