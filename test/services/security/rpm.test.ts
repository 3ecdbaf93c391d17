import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Sqlite } from '../../../src/adapters/db/sqlite-driver.js';
import { parseRpmHeader, rpmPackage, rpmPackages, type RpmHeader } from '../../../src/domain/packages/rpm.js';
import type { Package } from '../../../src/domain/packages/package.js';
import { inventoryOf, inventoryWants } from '../../../src/services/security/inventory.js';
import { LayerView } from '../../../src/services/security/layer-view.js';
import { walkLayer } from '../../../src/services/security/layer-walker.js';
import { berkeleyHashValues, ndbHeaderBlobs, sqliteHeaderBlobs } from '../../../src/services/security/rpm-database.js';
import { tarOf, type TarItem } from '../../helpers/layer-tar.js';
import { prng, testSeed } from '../../helpers/prng.js';

// ---------------------------------------------------------------------------------------------
// Writers for test input: an rpm header blob, and the two database containers Debian's rpm
// cannot write (Berkeley DB hash, NDB). The Berkeley DB files are checked against rpm's own
// reader (bdb_ro) where rpm is installed.

type Value = string | string[] | number | Buffer;
interface Entry {
  tag: number;
  type: number;
  value: Value;
}
const T = { int32: 4, string: 6, bin: 7, stringArray: 8 };

/** A header blob as rpm stores it: il, dl, index entries, data; an immutable region around `entries` when `region`. */
function headerBlob(entries: Entry[], { region = true, dribbles = [] as Entry[] } = {}): Buffer {
  const data: Buffer[] = [];
  let size = 0;
  const index: Buffer[] = [];
  const put = ({ tag, type, value }: Entry) => {
    let bytes: Buffer;
    let count = 1;
    if (type === T.int32) {
      const pad = (4 - (size % 4)) % 4;
      data.push(Buffer.alloc(pad));
      size += pad;
      bytes = Buffer.alloc(4);
      bytes.writeUInt32BE(value as number);
    } else if (Array.isArray(value)) {
      bytes = Buffer.concat(value.map((s) => Buffer.from(`${s}\0`)));
      count = value.length;
    } else if (Buffer.isBuffer(value)) {
      bytes = value;
      count = value.length;
    } else bytes = Buffer.from(`${value}\0`);
    const e = Buffer.alloc(16);
    e.writeUInt32BE(tag, 0);
    e.writeUInt32BE(type, 4);
    e.writeUInt32BE(size, 8);
    e.writeUInt32BE(count, 12);
    index.push(e);
    data.push(bytes);
    size += bytes.length;
  };
  for (const entry of entries) put(entry);
  let regionEntry: Buffer | undefined;
  if (region) {
    // The trailer: HEADERIMMUTABLE, BIN, -(region index bytes), 16.
    const trailer = Buffer.alloc(16);
    trailer.writeUInt32BE(63, 0);
    trailer.writeUInt32BE(T.bin, 4);
    trailer.writeInt32BE(-(entries.length + 1) * 16, 8);
    trailer.writeUInt32BE(16, 12);
    regionEntry = Buffer.alloc(16);
    regionEntry.writeUInt32BE(63, 0);
    regionEntry.writeUInt32BE(T.bin, 4);
    regionEntry.writeUInt32BE(size, 8);
    regionEntry.writeUInt32BE(16, 12);
    data.push(trailer);
    size += 16;
  }
  for (const entry of dribbles) put(entry);
  const all = regionEntry ? [regionEntry, ...index] : index;
  const intro = Buffer.alloc(8);
  intro.writeUInt32BE(all.length, 0);
  intro.writeUInt32BE(size, 4);
  return Buffer.concat([intro, ...all, ...data]);
}

function header(h: { name: string; version: string; release: string; epoch?: number; arch?: string; license?: string; sourceRpm?: string }, options?: Parameters<typeof headerBlob>[1]): Buffer {
  const entries: Entry[] = [
    { tag: 1000, type: T.string, value: h.name },
    { tag: 1001, type: T.string, value: h.version },
    { tag: 1002, type: T.string, value: h.release },
  ];
  if (h.epoch !== undefined) entries.push({ tag: 1003, type: T.int32, value: h.epoch });
  entries.push({ tag: 1004, type: 9, value: ['a summary'] });
  if (h.license) entries.push({ tag: 1014, type: T.string, value: h.license });
  if (h.arch) entries.push({ tag: 1022, type: T.string, value: h.arch });
  if (h.sourceRpm) entries.push({ tag: 1044, type: T.string, value: h.sourceRpm });
  entries.push({ tag: 1047, type: T.stringArray, value: [h.name, `${h.name}(x86-64)`] });
  return headerBlob(entries, options);
}

/**
 * A Berkeley DB hash file (libdb's dbinc/db_page.h) with one bucket: page 0 the metadata, page 1
 * on the hash pages (chained by next_pgno), each value an H_OFFPAGE item on a chain of overflow
 * pages, keyed by rpm's 4-byte package number.
 */
function berkeleyHashFile(values: Buffer[], { pageSize = 512, littleEndian = true } = {}): Buffer {
  const pages: Buffer[] = [Buffer.alloc(pageSize)];
  const u32 = (b: Buffer, at: number, v: number) => (littleEndian ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at));
  const u16 = (b: Buffer, at: number, v: number) => (littleEndian ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at));
  const newPage = (type: number) => {
    const page = Buffer.alloc(pageSize);
    u32(page, 8, pages.length);
    page[25] = type;
    pages.push(page);
    return page;
  };
  const overflow = (value: Buffer): number => {
    const first = pages.length;
    for (let at = 0; at < value.length; ) {
      const page = newPage(7);
      const n = Math.min(pageSize - 26, value.length - at);
      value.copy(page, 26, at, at + n);
      u16(page, 22, n);
      u16(page, 20, 1);
      at += n;
      if (at < value.length) u32(page, 16, pages.length);
    }
    return first;
  };
  let hashPage = newPage(13);
  let entries = 0;
  let low = pageSize;
  values.forEach((value, i) => {
    if (26 + (entries + 2) * 2 > low - 5 - 12) {
      const next = newPage(13);
      u32(hashPage, 16, pages.length - 1);
      hashPage = next;
      entries = 0;
      low = pageSize;
    }
    const key = Buffer.alloc(5);
    key[0] = 1;
    key.writeUInt32LE(i + 1, 1);
    low -= key.length;
    key.copy(hashPage, low);
    u16(hashPage, 26 + entries * 2, low);
    const item = Buffer.alloc(12);
    item[0] = 3;
    low -= item.length;
    const at = low;
    u16(hashPage, 26 + (entries + 1) * 2, at);
    entries += 2;
    u16(hashPage, 20, entries);
    u16(hashPage, 22, low);
    const pageIndex = pages.indexOf(hashPage);
    const first = overflow(value);
    u32(item, 4, first);
    u32(item, 8, value.length);
    item.copy(pages[pageIndex]!, at);
  });
  const meta = pages[0]!;
  u32(meta, 12, 0x061561);
  u32(meta, 16, 9);
  u32(meta, 20, pageSize);
  meta[25] = 8;
  u32(meta, 32, pages.length - 1);
  u32(meta, 72, 0); // max_bucket
  u32(meta, 88, values.length);
  u32(meta, 96, 1); // spares[0]: bucket 0 is page 1
  return Buffer.concat(pages);
}

/** An NDB Packages.db (rpm's lib/backend/ndb/rpmpkg.c): one slot page, blobs after it. */
function ndbFile(values: Buffer[]): Buffer {
  const slots = Buffer.alloc(4096);
  slots.write('RpmP', 0, 'latin1');
  slots.writeUInt32LE(0, 4);
  slots.writeUInt32LE(1, 8);
  slots.writeUInt32LE(1, 12);
  slots.writeUInt32LE(values.length + 1, 16);
  for (let o = 32; o < 4096; o += 16) slots.write('Slot', o, 'latin1');
  const blobs: Buffer[] = [];
  let block = 4096 / 16;
  values.forEach((value, i) => {
    const blocks = Math.ceil((16 + value.length + 12) / 16);
    const blob = Buffer.alloc(blocks * 16);
    blob.write('BlbS', 0, 'latin1');
    blob.writeUInt32LE(i + 1, 4);
    blob.writeUInt32LE(1_700_000_000, 8);
    blob.writeUInt32LE(value.length, 12);
    value.copy(blob, 16);
    const tail = blob.length - 12;
    blob.writeUInt32LE(adler32(blob.subarray(0, tail)), tail);
    blob.writeUInt32LE(value.length, tail + 4);
    blob.write('BlbE', tail + 8, 'latin1');
    const slot = 32 + i * 16;
    slots.writeUInt32LE(i + 1, slot + 4);
    slots.writeUInt32LE(block, slot + 8);
    slots.writeUInt32LE(blocks, slot + 12);
    blobs.push(blob);
    block += blocks;
  });
  return Buffer.concat([slots, ...blobs]);
}

function adler32(bytes: Buffer): number {
  let a = 1;
  let b = 0;
  for (const byte of bytes) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

async function inventory(layers: TarItem[][]) {
  const walks = [];
  for (const items of layers) walks.push(await walkLayer(Readable.from([tarOf(items)]), { wanted: inventoryWants }));
  return inventoryOf(new LayerView(walks));
}

const fedora = { id: 'fedora', versionId: '40' };
const fedoraRelease = 'NAME="Fedora Linux"\nVERSION_ID=40\nID=fedora\nPRETTY_NAME="Fedora Linux 40 (Container Image)"\n';

// ---------------------------------------------------------------------------------------------

describe('rpm header blobs', () => {
  const full = { name: 'openssl-libs', version: '3.0.7', release: '27.el9', epoch: 1, arch: 'x86_64', license: 'ASL 2.0', sourceRpm: 'openssl-3.0.7-27.el9.src.rpm' };

  it('reads name, epoch, version, release, arch, license and source rpm of a header with an immutable region', () => {
    expect(parseRpmHeader(header(full))).toEqual(full);
    expect(parseRpmHeader(header(full, { region: false }))).toEqual(full);
    expect(parseRpmHeader(header({ name: 'a', version: '1', release: '2' }))).toEqual({ name: 'a', version: '1', release: '2' });
  });

  it('takes an entry added after the region (a dribble) over the region entry of the same tag', () => {
    const blob = header(full, { dribbles: [{ tag: 1014, type: T.string, value: 'Apache-2.0' }] });
    expect(parseRpmHeader(blob)?.license).toBe('Apache-2.0');
  });

  it('turns a header into a package: epoch:version-release, vendor purl with arch, distro and epoch qualifiers, source name', () => {
    const header: RpmHeader = full;
    expect(rpmPackage(header, '/var/lib/rpm/rpmdb.sqlite', { id: 'rhel', versionId: '9.4' })).toEqual({
      name: 'openssl-libs',
      version: '1:3.0.7-27.el9',
      type: 'rpm',
      arch: 'x86_64',
      source: 'openssl',
      license: 'ASL 2.0',
      purl: 'pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&distro=rhel-9.4&epoch=1',
      foundIn: '/var/lib/rpm/rpmdb.sqlite',
    } satisfies Package);
    const bash = { name: 'bash', version: '4.4', release: '19.6.1', arch: 'x86_64', sourceRpm: 'bash-4.4-19.6.1.src.rpm' };
    expect(rpmPackage(bash, '/usr/lib/sysimage/rpm/Packages.db', { id: 'opensuse-leap', versionId: '15.5' })).toEqual({
      name: 'bash',
      version: '4.4-19.6.1',
      type: 'rpm',
      arch: 'x86_64',
      purl: 'pkg:rpm/opensuse/bash@4.4-19.6.1?arch=x86_64&distro=opensuse-leap-15.5',
      foundIn: '/usr/lib/sysimage/rpm/Packages.db',
    } satisfies Package);
    expect(rpmPackage({ ...bash, release: '1.amzn2' }, '/var/lib/rpm/Packages', { id: 'amzn', versionId: '2' })?.purl).toBe('pkg:rpm/amzn/bash@4.4-1.amzn2?arch=x86_64&distro=amzn-2');
    expect(rpmPackage({ ...bash, version: '1.0+git', release: '1' }, '/x', undefined)?.purl).toBe('pkg:rpm/bash@1.0%2Bgit-1?arch=x86_64');
  });

  it('skips gpg-pubkey entries, which are imported signing keys', () => {
    const key = header({ name: 'gpg-pubkey', version: 'fd431d51', release: '4ae0493b' });
    expect(rpmPackages([key, header(full)], '/var/lib/rpm/rpmdb.sqlite', fedora).map((p) => p.name)).toEqual(['openssl-libs']);
  });

  it('skips hostile headers without throwing: truncated, offsets out of range, huge counts, broken regions', () => {
    const good = header(full);
    // Every truncation.
    for (let n = 0; n < good.length; n++) expect(parseRpmHeader(good.subarray(0, n)), `truncated to ${n}`).toBeUndefined();
    const patched = (at: number, value: number, signed = false) => {
      const b = Buffer.from(good);
      if (signed) b.writeInt32BE(value, at);
      else b.writeUInt32BE(value, at);
      return b;
    };
    const il = good.readUInt32BE(0);
    const dl = good.readUInt32BE(4);
    const entry = (i: number, field: number) => 8 + i * 16 + field * 4;
    const cases: Record<string, Buffer> = {
      'index count 0': patched(0, 0),
      'index count past the blob': patched(0, il + 1),
      'index count 2^32-1': patched(0, 0xffffffff),
      'data length past the blob': patched(4, dl + 1),
      'data length 2^32-1': patched(4, 0xffffffff),
      'name offset past the data': patched(entry(1, 2), dl),
      'name offset negative': patched(entry(1, 2), -4, true),
      'epoch offset past the data': patched(entry(4, 2), dl - 2),
      'epoch misaligned': patched(entry(4, 2), 1),
      'epoch count huge': patched(entry(4, 3), 0x40000000),
      'string count huge': patched(entry(1, 3), 0xffffffff),
      'unknown type': patched(entry(2, 1), 77),
      'region of the wrong type': patched(entry(0, 1), T.string),
      'region trailer past the data': patched(entry(0, 2), dl - 8),
      'region trailer counting more entries than there are': patched(8 + il * 16 + good.readUInt32BE(entry(0, 2)) + 8, -(il + 1) * 16, true),
    };
    for (const [what, blob] of Object.entries(cases)) expect(() => parseRpmHeader(blob), what).not.toThrow();
    for (const [what, blob] of Object.entries(cases)) expect(parseRpmHeader(blob), what).toBeUndefined();
    // A string without its NUL: the name runs to the end of the data.
    const noNul = headerBlob([{ tag: 1001, type: T.string, value: '1' }, { tag: 1002, type: T.string, value: '1' }, { tag: 1000, type: T.bin, value: Buffer.from('name') }], { region: false });
    noNul.writeUInt32BE(T.string, 8 + 2 * 16 + 4);
    expect(parseRpmHeader(noNul)).toBeUndefined();
  });

  it('never throws on random corruptions of a header (seeded; BERTH_TEST_SEED replays)', () => {
    const seed = testSeed();
    const random = prng(seed);
    const good = header(full);
    for (let i = 0; i < 3000; i++) {
      const blob = Buffer.from(good);
      for (let k = 1 + Math.floor(random() * 4); k > 0; k--) blob[Math.floor(random() * blob.length)] = Math.floor(random() * 256);
      expect(() => parseRpmHeader(blob), `seed ${seed}, round ${i}`).not.toThrow();
    }
  });
});

describe('rpm database containers', () => {
  const blobsOnce = [
    header({ name: 'bash', version: '5.2.26', release: '3.fc40', arch: 'x86_64', license: 'GPL-3.0-or-later', sourceRpm: 'bash-5.2.26-3.fc40.src.rpm' }),
    header({ name: 'gpg-pubkey', version: 'a15b79cc', release: '63d04c2c' }),
    header({ name: 'shadow-utils', version: '4.15.1', release: '3.fc40', epoch: 2, arch: 'x86_64', sourceRpm: 'shadow-utils-4.15.1-3.fc40.src.rpm' }),
  ];
  const blobs = blobsOnce;
  const expected = (foundIn: string) => [
    { name: 'bash', version: '5.2.26-3.fc40', type: 'rpm', arch: 'x86_64', license: 'GPL-3.0-or-later', purl: 'pkg:rpm/fedora/bash@5.2.26-3.fc40?arch=x86_64&distro=fedora-40', foundIn },
    { name: 'shadow-utils', version: '2:4.15.1-3.fc40', type: 'rpm', arch: 'x86_64', purl: 'pkg:rpm/fedora/shadow-utils@4.15.1-3.fc40?arch=x86_64&distro=fedora-40&epoch=2', foundIn },
  ];

  function sqliteFile(rows: Buffer[], { wal = true } = {}): Buffer {
    const db = new Sqlite(':memory:');
    db.exec("CREATE TABLE 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL)");
    for (const blob of rows) db.prepare('INSERT INTO Packages (blob) VALUES (?)').run(blob);
    const bytes = db.serialize();
    db.close();
    // rpm leaves its database in WAL mode (file format bytes 18 and 19 = 2).
    if (wal) bytes[18] = bytes[19] = 2;
    return bytes;
  }

  it('reads an rpmdb.sqlite in WAL mode from memory', async () => {
    const file = sqliteFile(blobs);
    expect(sqliteHeaderBlobs(file).length).toBe(3);
    expect(file[18]).toBe(2);
    const result = await inventory([[{ path: 'etc/os-release', content: fedoraRelease }, { path: 'var/lib/rpm/rpmdb.sqlite', content: file }]]);
    expect(result.packages).toEqual(expected('/var/lib/rpm/rpmdb.sqlite'));
  });

  it('reads a Berkeley DB Packages file, either byte order, values on overflow page chains', async () => {
    for (const littleEndian of [true, false]) {
      const file = berkeleyHashFile(blobs, { littleEndian });
      expect(berkeleyHashValues(file)).toEqual(blobs);
      const result = await inventory([[{ path: 'etc/os-release', content: fedoraRelease }, { path: 'var/lib/rpm/Packages', content: file }]]);
      expect(result.packages).toEqual(expected('/var/lib/rpm/Packages'));
    }
  });

  it('reads an NDB Packages.db where SUSE keeps it, /var/lib/rpm being a symlink there', async () => {
    const file = ndbFile(blobs);
    expect(ndbHeaderBlobs(file)).toEqual(blobs);
    const result = await inventory([
      [
        { path: 'etc/os-release', content: fedoraRelease },
        { path: 'usr/lib/sysimage/rpm/Packages.db', content: file },
        { path: 'var/lib/rpm', type: 'symlink', target: '../../usr/lib/sysimage/rpm' },
      ],
    ]);
    expect(result.packages).toEqual(expected('/usr/lib/sysimage/rpm/Packages.db'));
  });

  it('gives no packages and no exception for corrupted sqlite files, and a Packages view', async () => {
    const good = sqliteFile(blobs);
    const random = prng(7);
    const garbage = Buffer.concat([good.subarray(0, 100), Buffer.from(Array.from({ length: 8192 }, () => Math.floor(random() * 256)))]);
    const zeroedPages = Buffer.from(good);
    zeroedPages.fill(0, 100);
    const db = new Sqlite(':memory:');
    db.exec("CREATE VIEW Packages AS WITH RECURSIVE n(hnum) AS (SELECT 1 UNION ALL SELECT hnum + 1 FROM n) SELECT hnum, zeroblob(16) AS blob FROM n");
    const view = db.serialize();
    db.close();
    const cases = { garbage, zeroedPages, truncated: good.subarray(0, 1024), headerOnly: good.subarray(0, 100), view, empty: Buffer.alloc(0) };
    for (const [what, file] of Object.entries(cases)) {
      expect(() => sqliteHeaderBlobs(file), what).not.toThrow();
      expect(sqliteHeaderBlobs(file), what).toEqual([]);
      const result = await inventory([[{ path: 'var/lib/rpm/rpmdb.sqlite', content: file }]]);
      expect(result.packages, what).toEqual([]);
    }
  });

  it('gives no packages and no exception for corrupted Berkeley DB files: loops, pages out of range, lengths that lie', async () => {
    // The first value spans several overflow pages.
    const blobs = [header({ name: 'bash', version: '5.2.26', release: '3.fc40', license: 'GPL-3.0-or-later '.repeat(100) }), ...blobsOnce.slice(1)];
    const good = berkeleyHashFile(blobs);
    const pageSize = 512;
    const firstItem = pageSize + good.readUInt16LE(pageSize + 26 + 2);
    const loop = Buffer.from(good);
    // Overflow chain of the first value points back at its own first page.
    const firstOverflow = loop.readUInt32LE(firstItem + 4);
    loop.writeUInt32LE(firstOverflow, firstOverflow * pageSize + 16);
    const outOfRange = Buffer.from(good);
    outOfRange.writeUInt32LE(0x7fffffff, firstItem + 4);
    const longer = Buffer.from(good);
    longer.writeUInt32LE(0xffffffff, firstItem + 8);
    const hugeLastPage = Buffer.from(good);
    hugeLastPage.writeUInt32LE(0xffffffff, 32);
    const hugeEntries = Buffer.from(good);
    hugeEntries.writeUInt16LE(0xffff, pageSize + 20);
    const badPageSize = Buffer.from(good);
    badPageSize.writeUInt32LE(3000, 20);
    // Each damage costs the one value it touches, at most.
    expect(berkeleyHashValues(loop)).toEqual(blobs.slice(1));
    expect(berkeleyHashValues(outOfRange)).toEqual(blobs.slice(1));
    expect(berkeleyHashValues(longer)).toEqual(blobs.slice(1));
    expect(berkeleyHashValues(hugeLastPage)).toEqual(blobs);
    expect(berkeleyHashValues(hugeEntries)).toEqual(berkeleyHashValues(good).slice(blobs.length));
    expect(berkeleyHashValues(badPageSize)).toEqual([]);
    expect(berkeleyHashValues(good.subarray(0, 300))).toEqual([]);
    const random = prng(11);
    for (let i = 0; i < 300; i++) {
      const file = Buffer.from(good);
      for (let k = 0; k < 8; k++) file[Math.floor(random() * file.length)] = Math.floor(random() * 256);
      expect(() => berkeleyHashValues(file), `round ${i}`).not.toThrow();
      const result = await inventory([[{ path: 'var/lib/rpm/Packages', content: file }]]);
      // A flipped byte may land in a name (even gpg-pubkey's); it cannot make more packages than there were headers.
      expect(result.packages.length, `round ${i}`).toBeLessThanOrEqual(blobs.length);
    }
    const noise = Buffer.from(Array.from({ length: 4096 }, () => Math.floor(random() * 256)));
    expect((await inventory([[{ path: 'var/lib/rpm/Packages', content: noise }]])).packages).toEqual([]);
  });

  it('skips an NDB blob whose checksum, length or magic does not match', () => {
    const good = ndbFile(blobs);
    const secondBlob = good.readUInt32LE(32 + 16 + 8) * 16;
    const flipped = Buffer.from(good);
    flipped[secondBlob + 40] = flipped[secondBlob + 40]! ^ 0xff;
    expect(ndbHeaderBlobs(flipped)).toEqual([blobs[0], blobs[2]]);
    const pastEnd = Buffer.from(good);
    pastEnd.writeUInt32LE(0xffffffff, 32 + 8);
    expect(ndbHeaderBlobs(pastEnd)).toEqual(blobs.slice(1));
    const hugePages = Buffer.from(good);
    hugePages.writeUInt32LE(0xffffffff, 12);
    expect(ndbHeaderBlobs(hugePages)).toEqual([]);
    expect(ndbHeaderBlobs(good.subarray(0, 4000))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Real databases written by rpm itself (Debian's rpm package: sqlite backend; bdb_ro reads).

const rpmMissing = ['rpm', 'rpmbuild'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
if (rpmMissing.length > 0) console.warn(`SKIPPING rpm database tests written by rpm itself: ${rpmMissing.join(', ')} missing (Debian: apt-get install -y rpm)`);

describe.skipIf(rpmMissing.length > 0)(`rpm databases written by rpm${rpmMissing.length ? ` (skipped: ${rpmMissing.join(', ')} missing)` : ''}`, () => {
  let dir = '';
  let installed: Buffer;
  let erased: Buffer;
  const rpm = (...args: string[]) => execFileSync('rpm', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const query = (dbpath: string, backend: string) =>
    rpm('-qa', '--dbpath', dbpath, '--define', `_db_backend ${backend}`, '--qf', '%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE} %{ARCH} %{SOURCERPM}\\n')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('gpg-pubkey'))
      .sort();

  /** A spec with no files: enough for rpmbuild to make a noarch package and rpm to record it. */
  const spec = (preamble: string, subpackage = '') =>
    `${preamble}Summary: test package\nBuildArch: noarch\n%description\ntest package\n%files\n${subpackage ? `%package ${subpackage}\nSummary: ${subpackage}\n%description ${subpackage}\n${subpackage}\n%files ${subpackage}\n` : ''}`;
  const specs = {
    'berth-hello': spec('Name: berth-hello\nEpoch: 2\nVersion: 1.2.3\nRelease: 4.fc40\nLicense: MIT\n'),
    'berth-tools': spec('Name: berth-tools\nVersion: 0.9\nRelease: 1.fc40\nLicense: Apache-2.0\n', 'libs'),
    'berth-old': spec('Name: berth-old\nVersion: 3.0\nRelease: 1.fc40\nLicense: GPL-2.0-or-later\n'),
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-rpm-'));
    const top = join(dir, 'top');
    mkdirSync(join(top, 'SPECS'), { recursive: true });
    for (const [name, text] of Object.entries(specs)) {
      const file = join(top, 'SPECS', `${name}.spec`);
      writeFileSync(file, text);
      execFileSync('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${top}`, '--define', '_build_id_links none', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    }
    const rpms = readdirSync(join(top, 'RPMS', 'noarch')).map((f) => join(top, 'RPMS', 'noarch', f));
    const db = join(dir, 'db');
    mkdirSync(db);
    rpm('--initdb', '--dbpath', db, '--define', '_db_backend sqlite');
    rpm('-i', '--nodeps', '--justdb', '--dbpath', db, '--define', '_db_backend sqlite', ...rpms);
    installed = readFileSync(join(db, 'rpmdb.sqlite'));
    cpSync(db, join(dir, 'db-installed'), { recursive: true });
    rpm('-e', '--nodeps', '--justdb', '--dbpath', db, '--define', '_db_backend sqlite', 'berth-old');
    erased = readFileSync(join(db, 'rpmdb.sqlite'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const pkg = (name: string, version: string, license: string, foundIn: string, source?: string): Package => {
    const [epoch, vr] = version.includes(':') ? version.split(':') : [undefined, version];
    const p: Package = { name, version, type: 'rpm', arch: 'noarch', license, purl: `pkg:rpm/fedora/${name}@${vr}?arch=noarch&distro=fedora-40${epoch ? `&epoch=${epoch}` : ''}`, foundIn };
    if (source) p.source = source;
    return p;
  };
  const all = (foundIn: string) => [
    pkg('berth-hello', '2:1.2.3-4.fc40', 'MIT', foundIn),
    pkg('berth-old', '3.0-1.fc40', 'GPL-2.0-or-later', foundIn),
    pkg('berth-tools', '0.9-1.fc40', 'Apache-2.0', foundIn),
    pkg('berth-tools-libs', '0.9-1.fc40', 'Apache-2.0', foundIn, 'berth-tools'),
  ];
  const asRpmSays = (packages: Package[]) => packages.map((p) => `${p.name} ${p.version} ${p.arch} ${p.source ?? p.name}-${p.version.replace(/^\d+:/, '')}.src.rpm`).sort();

  it('lists what rpm installed into an rpmdb.sqlite, and not what a later layer erased', async () => {
    const base: TarItem[] = [
      { path: 'etc/os-release', content: fedoraRelease },
      { path: 'var/lib/rpm/rpmdb.sqlite', content: installed },
    ];
    const first = await inventory([base]);
    expect(first.packages).toEqual(all('/var/lib/rpm/rpmdb.sqlite'));
    expect(asRpmSays(first.packages)).toEqual(query(join(dir, 'db-installed'), 'sqlite'));
    const second = await inventory([base, [{ path: 'var/lib/rpm/rpmdb.sqlite', content: erased }]]);
    expect(second.packages).toEqual(all('/var/lib/rpm/rpmdb.sqlite').filter((p) => p.name !== 'berth-old'));
    expect(asRpmSays(second.packages)).toEqual(query(join(dir, 'db'), 'sqlite'));
  });

  it('finds Fedora 36+ databases under /usr/lib/sysimage/rpm once, through the /var/lib/rpm symlink', async () => {
    const result = await inventory([
      [
        { path: 'etc/os-release', content: fedoraRelease },
        { path: 'usr/lib/sysimage/rpm/rpmdb.sqlite', content: installed },
        { path: 'var/lib/rpm', type: 'symlink', target: '../../usr/lib/sysimage/rpm' },
      ],
    ]);
    expect(result.packages).toEqual(all('/usr/lib/sysimage/rpm/rpmdb.sqlite'));
  });

  it('reads a Berkeley DB Packages file holding rpm-written headers, the same as rpm (bdb_ro) reads it', async () => {
    for (const [sqlite, name] of [
      [installed, 'bdb-installed'],
      [erased, 'bdb-erased'],
    ] as const) {
      const bdb = join(dir, name);
      mkdirSync(bdb);
      const file = berkeleyHashFile(sqliteHeaderBlobs(sqlite));
      writeFileSync(join(bdb, 'Packages'), file);
      const result = await inventory([[{ path: 'etc/os-release', content: fedoraRelease }, { path: 'var/lib/rpm/Packages', content: file }]]);
      const expected = all('/var/lib/rpm/Packages').filter((p) => name === 'bdb-installed' || p.name !== 'berth-old');
      expect(result.packages).toEqual(expected);
      expect(asRpmSays(result.packages)).toEqual(query(bdb, 'bdb_ro'));
    }
  });
});
