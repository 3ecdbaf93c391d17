import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { crc32, deflateRawSync } from 'node:zlib';
import { walkLayer, type LayerWalk } from '../../../src/services/security/layer-walker.js';
import { LayerView } from '../../../src/services/security/layer-view.js';
import { inventoryOf, inventoryProbe, inventoryWants } from '../../../src/services/security/inventory.js';
import { InventoryService } from '../../../src/services/security/inventory-service.js';
import type { BlobService } from '../../../src/services/registry/blob-service.js';
import { GoBuildInfoProbe, parseGoBuildInfo, type GoBuildInfo } from '../../../src/domain/packages/golang.js';
import { JarProbe } from '../../../src/domain/packages/java.js';
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

  it('drops a Go binary a later layer deletes, and one it replaces with something else; lists a hardlinked one at both paths', async () => {
    const binary = fakeGoBinary(buildInfoRecord('go1.22.1', helloModules), 16 * 1024);
    const layers = [
      gzipTarOf([
        { path: 'app/server', content: binary, mode: 0o755 },
        { path: 'app/worker', content: binary, mode: 0o755 },
        { path: 'app/tool', content: binary, mode: 0o755 },
        { path: 'app/tool-link', type: 'hardlink', target: 'app/tool' },
      ]),
      gzipTarOf([
        { path: 'app/.wh.server', content: '' },
        { path: 'app/worker', content: '#!/bin/sh\nexit 0\n', mode: 0o755 },
      ]),
    ];
    const blobs = { open: async (_repository: string, digest: string) => ({ stream: Readable.from([layers[Number(digest.slice(-1))]!]) }) };
    const service = new InventoryService(blobs as unknown as BlobService);
    const result = await service.ofImage('library/app', [{ digest: 'sha256:0' }, { digest: 'sha256:1' }]);
    expect(result.packages.map((p) => `${p.name} ${p.foundIn}`).sort()).toEqual(
      ['example.com/dep', 'example.com/hello', 'github.com/fork/text', 'stdlib'].flatMap((name) => [`${name} /app/tool`, `${name} /app/tool-link`]),
    );
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

/** One entry of a test zip: deflated unless `stored`; `descriptor` writes its sizes after the data (bit 3), as java.util.zip does. */
interface ZipItem {
  name: string;
  data: string | Buffer;
  stored?: boolean;
  descriptor?: 'signed' | 'unsigned';
}

/** A zip as the spec (APPNOTE 4.3) lays it out: local headers and data, central directory, end record. */
function zipOf(items: ZipItem[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const item of items) {
    const raw = Buffer.isBuffer(item.data) ? item.data : Buffer.from(item.data);
    const data = item.stored ? raw : deflateRawSync(raw);
    const name = Buffer.from(item.name);
    const crc = crc32(raw);
    const flags = item.descriptor ? 0x8 : 0;
    const method = item.stored ? 0 : 8;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0x21, 12);
    if (!item.descriptor) {
      local.writeUInt32LE(crc, 14);
      local.writeUInt32LE(data.length, 18);
      local.writeUInt32LE(raw.length, 22);
    }
    local.writeUInt16LE(name.length, 26);
    const parts = [local, name, data];
    if (item.descriptor) {
      const descriptor = Buffer.alloc(16);
      descriptor.writeUInt32LE(0x08074b50, 0);
      descriptor.writeUInt32LE(crc, 4);
      descriptor.writeUInt32LE(data.length, 8);
      descriptor.writeUInt32LE(raw.length, 12);
      parts.push(item.descriptor === 'signed' ? descriptor : descriptor.subarray(4));
    }
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(raw.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    const local_ = Buffer.concat(parts);
    locals.push(local_);
    offset += local_.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(items.length, 8);
  end.writeUInt16LE(items.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

const pom = (groupId: string, artifactId: string, version: string) => `#Generated by Maven\n#Tue Jan 02 10:00:00 UTC 2024\ngroupId=${groupId}\nartifactId=${artifactId}\nversion=${version}\n`;
const pomItem = (groupId: string, artifactId: string, version: string, extra: Partial<ZipItem> = {}): ZipItem => ({ name: `META-INF/maven/${groupId}/${artifactId}/pom.properties`, data: pom(groupId, artifactId, version), ...extra });
/** Class files: incompressible bytes, which may hold anything, a zip signature included. */
const classItem = (name: string, size: number): ZipItem => ({ name, data: Buffer.concat([Buffer.from('PK\x03\x04PK\x01\x02PK\x05\x06'), Buffer.from(Array.from({ length: size }, (_, i) => (i * 7919 + (i >> 8) * 31) & 0xff))]) });

const jarJava = (() => {
  try {
    execFileSync('jar', ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
})();
if (!jarJava) console.warn('go-java.test.ts: the JDK\'s `jar` is not installed (Debian: apt-get install openjdk-17-jdk-headless): the test with a jar written by `jar` is SKIPPED.');

describe('Java archives', () => {
  it('lists each pom.properties of a jar (a shaded jar holds several), and the manifest of one without', async () => {
    const manifest = (lines: string) => `Manifest-Version: 1.0\r\nCreated-By: Maven JAR Plugin 3.3.0\r\n${lines}\r\n\r\nName: org/example/\r\nImplementation-Title: not the main section\r\n\r\n`;
    const result = await inventory([
      [
        {
          path: 'app/lib/commons-lang3-3.14.0.jar',
          content: zipOf([
            { name: 'META-INF/MANIFEST.MF', data: manifest('Bundle-SymbolicName: org.apache.commons.lang3\r\nBundle-Version: 3.14.0') },
            classItem('org/apache/commons/lang3/StringUtils.class', 200_000),
            { name: 'org/apache/commons/lang3/big.bin', data: classItem('x', 3 * 2 ** 20).data, stored: true },
            pomItem('org.apache.commons', 'commons-lang3', '3.14.0'),
          ]),
        },
        {
          path: 'app/shaded.jar',
          content: zipOf([
            { name: 'META-INF/MANIFEST.MF', data: manifest('Implementation-Title: shaded\r\nImplementation-Version: 1.0') },
            pomItem('com.example', 'app', '1.0.0'),
            classItem('com/example/App.class', 5000),
            pomItem('com.fasterxml.jackson.core', 'jackson-databind', '2.15.2', { stored: true }),
            pomItem('org.yaml', 'snakeyaml', '2.0'),
          ]),
        },
        {
          path: 'opt/osgi/bundle.JAR',
          content: zipOf([{ name: 'META-INF/MANIFEST.MF', data: manifest('Bundle-SymbolicName: org.example.a-very-long-bundle-symbolic-name-that-manifest-writers-wr\r\n ap-at-72-bytes;singleton:=true\r\nBundle-Version: 2.0.0.v20240101') }, classItem('org/example/A.class', 100)]),
        },
        {
          path: 'srv/app.war',
          content: zipOf([{ name: 'META-INF/MANIFEST.MF', data: manifest('Implementation-Title: shop\r\nImplementation-Version: 4.2\r\nImplementation-Vendor-Id: com.example.shop'), stored: true }, classItem('WEB-INF/classes/A.class', 100)]),
        },
        { path: 'srv/empty.ear', content: zipOf([classItem('A.class', 100)]) },
      ],
    ]);
    expect(result.packages).toEqual([
      { name: 'com.example:app', version: '1.0.0', type: 'maven', purl: 'pkg:maven/com.example/app@1.0.0', foundIn: '/app/shaded.jar' },
      { name: 'com.example.shop:shop', version: '4.2', type: 'maven', purl: 'pkg:maven/com.example.shop/shop@4.2', foundIn: '/srv/app.war' },
      { name: 'com.fasterxml.jackson.core:jackson-databind', version: '2.15.2', type: 'maven', purl: 'pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.15.2', foundIn: '/app/shaded.jar' },
      { name: 'org.apache.commons:commons-lang3', version: '3.14.0', type: 'maven', purl: 'pkg:maven/org.apache.commons/commons-lang3@3.14.0', foundIn: '/app/lib/commons-lang3-3.14.0.jar' },
      {
        name: 'org.example.a-very-long-bundle-symbolic-name-that-manifest-writers-wrap-at-72-bytes',
        version: '2.0.0.v20240101',
        type: 'maven',
        purl: 'pkg:maven/org.example.a-very-long-bundle-symbolic-name-that-manifest-writers-wrap-at-72-bytes@2.0.0.v20240101',
        foundIn: '/opt/osgi/bundle.JAR',
      },
      { name: 'org.yaml:snakeyaml', version: '2.0', type: 'maven', purl: 'pkg:maven/org.yaml/snakeyaml@2.0', foundIn: '/app/shaded.jar' },
    ]);
  });

  it('reads entries written with data descriptors (sizes after the data), deflated and stored, whatever the chunk boundaries', async () => {
    const jar = zipOf([
      { name: 'META-INF/', data: '', stored: true, descriptor: 'signed' },
      { name: 'META-INF/MANIFEST.MF', data: 'Manifest-Version: 1.0\nImplementation-Title: ignored\nImplementation-Version: 0\n', descriptor: 'signed' },
      { ...classItem('a/A.class', 3000), descriptor: 'signed' },
      pomItem('org.example', 'deflated', '1.0', { descriptor: 'signed' }),
      { ...classItem('a/B.class', 3000), descriptor: 'unsigned' },
      pomItem('org.example', 'last', '4.0', { descriptor: 'unsigned' }),
      // Stored ones without a final newline: the descriptor after the data must not become part of the version (the last one ends where the central directory begins).
      pomItem('org.example', 'stored', '2.0', { stored: true, descriptor: 'signed', data: pom('org.example', 'stored', '2.0').trimEnd() }),
      pomItem('org.example', 'stored-unsigned', '3.0', { stored: true, descriptor: 'unsigned', data: pom('org.example', 'stored-unsigned', '3.0').trimEnd() }),
    ]);
    const expected = ['org.example:deflated@1.0', 'org.example:last@4.0', 'org.example:stored@2.0', 'org.example:stored-unsigned@3.0'];
    for (const size of [1, 3, 29, 100, 4096, jar.length]) {
      const probe = new JarProbe();
      for (let i = 0; i < jar.length; i += size) probe.update(jar.subarray(i, i + size));
      const found = probe.finish();
      expect(found?.archives.flatMap((a) => a.poms.map((p) => `${p.groupId}:${p.artifactId}@${p.version}`)).sort(), `chunks of ${size}`).toEqual([...expected].sort());
    }
    const result = await inventory([[{ path: 'app/app.jar', content: jar }]]);
    expect(result.packages.map((p) => `${p.name}@${p.version}`)).toEqual(expected);
  });

  it.skipIf(!jarJava)('reads a jar the JDK’s `jar` tool wrote (java.util.zip: data descriptors on deflated entries)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-jar-'));
    try {
      mkdirSync(join(dir, 'root/META-INF/maven/com.example/demo'), { recursive: true });
      mkdirSync(join(dir, 'root/com/example'), { recursive: true });
      writeFileSync(join(dir, 'root/META-INF/maven/com.example/demo/pom.properties'), pom('com.example', 'demo', '0.9.1'));
      writeFileSync(join(dir, 'root/com/example/Demo.class'), classItem('x', 20_000).data);
      writeFileSync(join(dir, 'manifest.txt'), 'Implementation-Title: demo\nImplementation-Version: 0.9.1\n');
      execFileSync('jar', ['--create', '--file', join(dir, 'demo.jar'), '--manifest', join(dir, 'manifest.txt'), '-C', join(dir, 'root'), '.'], { stdio: 'pipe' });
      execFileSync('jar', ['--create', '--file', join(dir, 'plain.jar'), '--manifest', join(dir, 'manifest.txt'), '-C', join(dir, 'root'), 'com'], { stdio: 'pipe' });
      const demo = readFileSync(join(dir, 'demo.jar'));
      // The tool did write data descriptors: bit 3 of the first local header's flags.
      expect(demo.readUInt16LE(6) & 0x8).toBe(0x8);
      const result = await inventory([
        [
          { path: 'app/demo.jar', content: demo },
          { path: 'app/plain.jar', content: readFileSync(join(dir, 'plain.jar')) },
        ],
      ]);
      expect(result.packages).toEqual([
        { name: 'com.example:demo', version: '0.9.1', type: 'maven', purl: 'pkg:maven/com.example/demo@0.9.1', foundIn: '/app/demo.jar' },
        { name: 'demo', version: '0.9.1', type: 'maven', purl: 'pkg:maven/demo@0.9.1', foundIn: '/app/plain.jar' },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the jars a Spring Boot jar stores in BOOT-INF/lib, one level deep', async () => {
    const deeper = zipOf([pomItem('org.example', 'two-levels-down', '1.0')]);
    const inner = zipOf([pomItem('org.springframework', 'spring-core', '6.1.2'), { name: 'lib/deeper.jar', data: deeper, stored: true }]);
    const manifestOnly = zipOf([{ name: 'META-INF/MANIFEST.MF', data: 'Manifest-Version: 1.0\nBundle-SymbolicName: org.hdrhistogram.HdrHistogram\nBundle-Version: 2.1.12\n' }]);
    const boot = zipOf([
      { name: 'META-INF/MANIFEST.MF', data: 'Manifest-Version: 1.0\nMain-Class: org.springframework.boot.loader.JarLauncher\nImplementation-Title: ignored\nImplementation-Version: 0\n' },
      classItem('org/springframework/boot/loader/JarLauncher.class', 4000),
      { name: 'BOOT-INF/lib/spring-core-6.1.2.jar', data: inner, stored: true },
      { name: 'BOOT-INF/lib/HdrHistogram-2.1.12.jar', data: manifestOnly, stored: true },
      // Deflated: not read (its bytes are not visible as they stream by).
      { name: 'BOOT-INF/lib/deflated-1.0.jar', data: zipOf([pomItem('org.example', 'deflated', '1.0')]) },
      pomItem('com.example', 'boot-app', '0.0.1-SNAPSHOT'),
    ]);
    const result = await inventory([[{ path: 'app.jar', content: boot }]]);
    expect(result.packages).toEqual([
      { name: 'com.example:boot-app', version: '0.0.1-SNAPSHOT', type: 'maven', purl: 'pkg:maven/com.example/boot-app@0.0.1-SNAPSHOT', foundIn: '/app.jar' },
      { name: 'org.hdrhistogram.HdrHistogram', version: '2.1.12', type: 'maven', purl: 'pkg:maven/org.hdrhistogram.HdrHistogram@2.1.12', foundIn: '/app.jar!/BOOT-INF/lib/HdrHistogram-2.1.12.jar' },
      { name: 'org.springframework:spring-core', version: '6.1.2', type: 'maven', purl: 'pkg:maven/org.springframework/spring-core@6.1.2', foundIn: '/app.jar!/BOOT-INF/lib/spring-core-6.1.2.jar' },
    ]);
  });

  it('skips a truncated jar, a zip with lying sizes and names, and files that are no zip at all, and reads the layer’s other jars', async () => {
    const good = zipOf([pomItem('org.example', 'good', '1.0')]);
    const whole = zipOf([pomItem('org.example', 'truncated', '1.0'), classItem('A.class', 10_000)]);
    const lying = zipOf([pomItem('org.example', 'lying', '1.0')]);
    lying.writeUInt32LE(0xfffffff0, 18); // compressed size: 4 GiB
    lying.writeUInt32LE(0xfffffff0, 22);
    const longName = zipOf([pomItem('org.example', 'long-name', '1.0')]);
    longName.writeUInt16LE(0xffff, 26);
    const bomb = zipOf([{ name: 'META-INF/maven/org.example/bomb/pom.properties', data: `groupId=org.example\nartifactId=bomb\nversion=1.0\n${'#'.repeat(10 * 2 ** 20)}\n` }]);
    const badDeflate = zipOf([pomItem('org.example', 'bad-deflate', '1.0')]);
    badDeflate.fill(0xff, 30 + 'META-INF/maven/org.example/bad-deflate/pom.properties'.length, 30 + 'META-INF/maven/org.example/bad-deflate/pom.properties'.length + 4);
    const walk = await walkOf([
      { path: 'a/truncated.jar', content: whole.subarray(0, whole.length - 200) },
      { path: 'a/lying.jar', content: lying },
      { path: 'a/long-name.jar', content: longName },
      { path: 'a/bomb.jar', content: bomb },
      { path: 'a/bad-deflate.jar', content: badDeflate },
      { path: 'a/text.jar', content: 'this is not a zip '.repeat(100) },
      { path: 'a/tiny.war', content: 'PK\x03\x04' },
      { path: 'a/good.jar', content: good },
    ]);
    expect([...walk.probes.keys()]).toEqual(['a/good.jar']);
    expect(inventoryOf(new LayerView([walk])).packages.map((p) => p.purl)).toEqual(['pkg:maven/org.example/good@1.0']);
  });

  it('drops a jar a later layer deletes or replaces', async () => {
    const jar = (version: string) => zipOf([pomItem('org.example', 'lib', version)]);
    const result = await inventory([
      [
        { path: 'app/lib/a.jar', content: jar('1.0') },
        { path: 'app/lib/b.jar', content: jar('2.0') },
        { path: 'app/lib/c.jar', content: jar('3.0') },
      ],
      [
        { path: 'app/lib/.wh.a.jar', content: '' },
        { path: 'app/lib/b.jar', content: jar('2.1') },
      ],
    ]);
    expect(result.packages.map((p) => `${p.name}@${p.version} ${p.foundIn}`)).toEqual(['org.example:lib@2.1 /app/lib/b.jar', 'org.example:lib@3.0 /app/lib/c.jar']);
  });
});
