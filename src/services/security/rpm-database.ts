import { Sqlite, type SqliteDatabase } from '../../adapters/db/sqlite-driver.js';
import { rpmPackages } from '../../domain/packages/rpm.js';
import type { OperatingSystem, Package } from '../../domain/packages/package.js';

/**
 * rpm's package databases, in the order the inventory looks for them: SQLite (Fedora 33+,
 * RHEL 9), NDB (SUSE 15+), Berkeley DB (RHEL/CentOS 7 and 8, Amazon Linux 2). Fedora 36+ and
 * openSUSE keep them in /usr/lib/sysimage/rpm, /var/lib/rpm being a symlink there.
 */
const databaseFiles = [
  { file: 'rpmdb.sqlite', blobs: sqliteHeaderBlobs },
  { file: 'Packages.db', blobs: ndbHeaderBlobs },
  { file: 'Packages', blobs: berkeleyHashValues },
] as const;
const databaseDirs = ['usr/lib/sysimage/rpm', 'var/lib/rpm'];

/** The paths of rpm databases a layer walk should keep. */
export function isRpmDatabase(path: string): boolean {
  return databaseDirs.some((dir) => databaseFiles.some(({ file }) => path === `${dir}/${file}`));
}

/** What the inventory needs of a merged filesystem: the bytes at a path and where a path leads. */
export interface FileSource {
  read(path: string): Buffer | undefined;
  resolve(path: string): string | undefined;
}

/**
 * The packages of the image's rpm database: the first of SQLite, NDB and Berkeley DB found (one
 * image has one backend; a second file would be a stale leftover). A database that cannot be
 * read gives no packages, never an exception.
 */
export function rpmDatabasePackages(files: FileSource, os: OperatingSystem | undefined): Package[] {
  for (const { file, blobs } of databaseFiles) {
    for (const dir of databaseDirs) {
      const path = files.resolve(`${dir}/${file}`);
      const bytes = path === undefined ? undefined : files.read(path);
      if (!bytes) continue;
      try {
        return rpmPackages(blobs(bytes), `/${path}`, os);
      } catch {
        return [];
      }
    }
  }
  return [];
}

const sqliteMagic = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * Header blobs of an rpmdb.sqlite (rpm's sqlite backend: table `Packages(hnum, blob)`), opened
 * from memory, read-only, and closed again: nothing is written to disk. rpm keeps the file in
 * WAL mode, which an in-memory database cannot open, so a copy is marked as a rollback-journal
 * database first (file format bytes 18 and 19, sqlite.org/fileformat.html). Pages still in a
 * `-wal` file are not read; rpm checkpoints them into the database when it exits.
 */
export function sqliteHeaderBlobs(file: Buffer): Buffer[] {
  if (file.length < 100 || !file.subarray(0, sqliteMagic.length).equals(sqliteMagic)) return [];
  const copy = Buffer.from(file);
  if (copy[18] === 2) copy[18] = 1;
  if (copy[19] === 2) copy[19] = 1;
  let db: SqliteDatabase | undefined;
  try {
    db = new Sqlite(copy, { readonly: true });
    // A view could compute rows forever; rpm's Packages is a plain table.
    const table = db.prepare("SELECT type FROM sqlite_master WHERE name = 'Packages'").get() as { type: string } | undefined;
    if (table?.type !== 'table') return [];
    const blobs: Buffer[] = [];
    for (const row of db.prepare('SELECT blob FROM Packages').iterate() as IterableIterator<{ blob: unknown }>) {
      if (Buffer.isBuffer(row.blob)) blobs.push(row.blob);
    }
    return blobs;
  } catch {
    return [];
  } finally {
    db?.close();
  }
}

const ndbPageBytes = 4096;
const ndbBlockBytes = 16;
const ndbBlobHeadBytes = 16;
const ndbBlobTailBytes = 12;

/**
 * Header blobs of an NDB `Packages.db` (rpm's ndb backend, lib/backend/ndb/rpmpkg.c), all
 * little-endian: a 32-byte file header ("RpmP", version 0, generation, slot page count), slot
 * pages of 16-byte slots ("Slot", package index, block offset, block count; 16-byte blocks),
 * and at each slot's blocks a blob: "BlbS", package index, timestamp, length, the header, then
 * an Adler-32 of all before it, the length again and "BlbE". A slot or blob that does not
 * check out is skipped.
 */
export function ndbHeaderBlobs(file: Buffer): Buffer[] {
  if (file.length < 32 || file.toString('latin1', 0, 4) !== 'RpmP' || file.readUInt32LE(4) !== 0) return [];
  const slotPages = file.readUInt32LE(12);
  if (slotPages < 1 || slotPages * ndbPageBytes > file.length) return [];
  const firstBlock = (slotPages * ndbPageBytes) / ndbBlockBytes;
  const blobs: Buffer[] = [];
  for (let slot = 32; slot < slotPages * ndbPageBytes; slot += 16) {
    if (file.toString('latin1', slot, slot + 4) !== 'Slot') continue;
    const index = file.readUInt32LE(slot + 4);
    const blockOffset = file.readUInt32LE(slot + 8);
    const blockCount = file.readUInt32LE(slot + 12);
    if (blockOffset === 0 || index === 0 || blockOffset < firstBlock) continue;
    const start = blockOffset * ndbBlockBytes;
    const end = start + blockCount * ndbBlockBytes;
    if (blockCount * ndbBlockBytes < ndbBlobHeadBytes + ndbBlobTailBytes || end > file.length) continue;
    if (file.toString('latin1', start, start + 4) !== 'BlbS' || file.readUInt32LE(start + 4) !== index) continue;
    const length = file.readUInt32LE(start + 12);
    if (Math.ceil((ndbBlobHeadBytes + length + ndbBlobTailBytes) / ndbBlockBytes) !== blockCount) continue;
    const tail = end - ndbBlobTailBytes;
    if (file.readUInt32LE(tail + 4) !== length || file.toString('latin1', tail + 8, tail + 12) !== 'BlbE') continue;
    if (adler32(file.subarray(start, tail)) !== file.readUInt32LE(tail)) continue;
    blobs.push(file.subarray(start + ndbBlobHeadBytes, start + ndbBlobHeadBytes + length));
  }
  return blobs;
}

/** RFC 1950's Adler-32. */
function adler32(bytes: Buffer): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < bytes.length; ) {
    // 5552 bytes is the most that can be summed before the modulo without overflowing 32 bits.
    const end = Math.min(bytes.length, i + 5552);
    for (; i < end; i++) {
      a += bytes[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

const bdbHashMagic = 0x061561;
const bdbPageHeaderBytes = 26;
const bdbPage = { hashUnsorted: 2, overflow: 7, hashMeta: 8, hash: 13 } as const;
const bdbItem = { keyData: 1, offPage: 3 } as const;

/**
 * Every value of a Berkeley DB hash database (rpm's `Packages` up to RHEL 8): the metadata
 * page (magic 0x061561, page size, last page number, in the byte order of the machine that
 * wrote it), then hash pages whose index pairs a key with its value: a value on the page
 * (H_KEYDATA), or one on a chain of overflow pages (H_OFFPAGE: first page, total length), each
 * overflow page holding `hf_offset` bytes after its header (libdb's dbinc/db_page.h). Pages are
 * read only up to the file's end, each overflow page for at most one value, and anything out of
 * bounds is skipped. Encrypted or checksummed databases, which rpm does not write, give nothing.
 */
export function berkeleyHashValues(file: Buffer): Buffer[] {
  if (file.length < 512) return [];
  const littleEndian = file.readUInt32LE(12) === bdbHashMagic;
  if (!littleEndian && file.readUInt32BE(12) !== bdbHashMagic) return [];
  const u32 = (at: number) => (littleEndian ? file.readUInt32LE(at) : file.readUInt32BE(at));
  const u16 = (at: number) => (littleEndian ? file.readUInt16LE(at) : file.readUInt16BE(at));
  const pageSize = u32(20);
  const encrypted = file[24] !== 0;
  const checksummed = (file[26]! & 0x01) !== 0;
  if (file[25] !== bdbPage.hashMeta || encrypted || checksummed) return [];
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return [];
  const pages = Math.min(u32(32) + 1, Math.floor(file.length / pageSize));
  const usedOverflowPages = new Set<number>();

  const overflowValue = (first: number, length: number): Buffer | undefined => {
    if (length > file.length) return undefined;
    const parts: Buffer[] = [];
    let collected = 0;
    for (let pgno = first; pgno !== 0 && collected < length; ) {
      if (pgno >= pages || usedOverflowPages.has(pgno)) return undefined;
      usedOverflowPages.add(pgno);
      const page = pgno * pageSize;
      if (file[page + 25] !== bdbPage.overflow) return undefined;
      const bytes = u16(page + 22);
      if (bytes > pageSize - bdbPageHeaderBytes) return undefined;
      parts.push(file.subarray(page + bdbPageHeaderBytes, page + bdbPageHeaderBytes + bytes));
      collected += bytes;
      pgno = u32(page + 16);
    }
    return collected === length ? Buffer.concat(parts, length) : undefined;
  };

  const values: Buffer[] = [];
  for (let pgno = 1; pgno < pages; pgno++) {
    const page = pgno * pageSize;
    const pageType = file[page + 25];
    if (pageType !== bdbPage.hash && pageType !== bdbPage.hashUnsorted) continue;
    const entries = u16(page + 20);
    if (bdbPageHeaderBytes + entries * 2 > pageSize) continue;
    const itemAt = (i: number) => u16(page + bdbPageHeaderBytes + i * 2);
    // Items are paired, key then value; an item ends where the previous one starts (LEN_HITEM).
    for (let key = 0; key + 1 < entries; key += 2) {
      const at = itemAt(key + 1);
      const end = itemAt(key);
      if (at < bdbPageHeaderBytes + entries * 2 || at >= end || end > pageSize) continue;
      const item = page + at;
      if (file[item] === bdbItem.offPage && at + 12 <= end) {
        const value = overflowValue(u32(item + 4), u32(item + 8));
        if (value) values.push(value);
      } else if (file[item] === bdbItem.keyData) {
        values.push(file.subarray(item + 1, page + end));
      }
    }
  }
  return values;
}
