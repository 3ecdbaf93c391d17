import { open, type FileHandle } from 'node:fs/promises';

/**
 * The tar format as image archives use it (`docker save`, skopeo's oci-archive): regular files
 * in 512-byte blocks after a ustar header, names over 100 bytes in a PAX header, two zero
 * blocks at the end. Written and read here rather than through a streaming tar library because
 * archives are read out of order (a blob by its offset) and an interrupted export is resumed by
 * cutting the file after its last whole entry and appending, which both need the offsets.
 */

export const blockSize = 512;

export interface TarEntry {
  name: string;
  /** Where the entry's first header (a PAX header, when it has one) starts: cutting the file here removes it whole. */
  start: number;
  /** Where the entry's data starts in the file. */
  offset: number;
  size: number;
}

export interface TarScan {
  /** Whole regular-file entries, in file order. */
  entries: TarEntry[];
  /** The end of the last whole entry (data and padding): where appending goes on. */
  end: number;
  /** The end-of-archive blocks were found. */
  complete: boolean;
  /** Why the scan stopped early: an entry reaching past the end of the file, or a damaged header. */
  damage?: string;
}

export class TarFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TarFormatError';
  }
}

const padding = (size: number) => (blockSize - (size % blockSize)) % blockSize;

function octal(field: Buffer): number {
  // Sizes over 8 GiB use the base-256 form (GNU): a first byte with the high bit set.
  if (field[0]! & 0x80) {
    let value = 0;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    return value;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function text(field: Buffer): string {
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString('utf8');
}

function checksumOf(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < blockSize; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
  return sum;
}

/** `path` records of a PAX extended header ("%d path=%s\n"). */
function paxPath(data: Buffer): string | undefined {
  let rest = data.toString('utf8');
  while (rest.length > 0) {
    const space = rest.indexOf(' ');
    const length = Number(rest.slice(0, space));
    if (!(length > 0)) return undefined;
    const record = rest.slice(space + 1, length - 1);
    if (record.startsWith('path=')) return record.slice(5);
    rest = rest.slice(length);
  }
  return undefined;
}

async function readAt(file: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await file.read(buffer, 0, length, offset);
  return buffer.subarray(0, bytesRead);
}

/** Lists a tar file's entries by reading their headers only (the data is skipped over). */
export async function scanTar(path: string): Promise<TarScan> {
  const entries: TarEntry[] = [];
  const walk = walkTar(path);
  for (;;) {
    const step = await walk.next();
    if (step.done) return { entries, ...step.value };
    entries.push(step.value);
  }
}

/**
 * A tar file's regular-file entries one at a time, in file order, by reading their headers only
 * (memory stays the same however many entries there are); returns how the archive ended.
 */
export async function* walkTar(path: string): AsyncGenerator<TarEntry, Omit<TarScan, 'entries'>> {
  const file = await open(path, 'r');
  try {
    const size = (await file.stat()).size;
    let position = 0;
    let end = 0;
    let longName: string | undefined;
    let start = 0;
    for (;;) {
      if (position + blockSize > size) return { end, complete: false, damage: position === size ? undefined : `a header is cut at byte ${position}` };
      const header = await readAt(file, position, blockSize);
      if (header.every((byte) => byte === 0)) return { end, complete: true };
      if (octal(header.subarray(148, 156)) !== checksumOf(header)) return { end, complete: false, damage: `the header at byte ${position} is damaged (checksum)` };
      const entrySize = octal(header.subarray(124, 136));
      const type = String.fromCharCode(header[156]!);
      const dataAt = position + blockSize;
      if (dataAt + entrySize > size) {
        return { end, complete: false, damage: `"${longName ?? text(header.subarray(0, 100))}" needs ${entrySize} bytes at byte ${dataAt} but the file ends at ${size}` };
      }
      const next = dataAt + entrySize + padding(entrySize);
      if (longName === undefined) start = position;
      if (type === 'x' || type === 'L') {
        const data = await readAt(file, dataAt, entrySize);
        longName = type === 'x' ? paxPath(data) : text(data);
      } else {
        if (type === '0' || type === '\0') {
          const prefix = text(header.subarray(345, 500));
          const name = longName ?? (prefix ? `${prefix}/${text(header.subarray(0, 100))}` : text(header.subarray(0, 100)));
          yield { name: name.replace(/^\.\//, ''), start, offset: dataAt, size: entrySize };
        }
        longName = undefined;
      }
      position = Math.min(next, size);
      if (type !== 'x' && type !== 'L') end = position;
    }
  } finally {
    await file.close();
  }
}

function writeOctal(header: Buffer, offset: number, length: number, value: number): void {
  header.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'latin1');
}

/** The header block(s) of a regular file: a PAX record first when the name does not fit ustar's 100 bytes. */
export function fileHeader(name: string, size: number, mtimeSeconds = 0): Buffer {
  const blocks: Buffer[] = [];
  let shortName = name;
  if (Buffer.byteLength(name) > 100) {
    const body = paxRecord('path', name);
    blocks.push(header('PaxHeader', body.length, 'x', mtimeSeconds), body, Buffer.alloc(padding(body.length)));
    shortName = name.slice(-100);
  }
  blocks.push(header(shortName, size, '0', mtimeSeconds));
  return Buffer.concat(blocks);
}

function paxRecord(key: string, value: string): Buffer {
  const line = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(line) + 1;
  while (String(length).length + Buffer.byteLength(line) !== length) length++;
  return Buffer.from(`${length}${line}`);
}

function header(name: string, size: number, type: string, mtimeSeconds: number): Buffer {
  const block = Buffer.alloc(blockSize);
  block.write(name, 0, 100, 'utf8');
  writeOctal(block, 100, 8, 0o644);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  if (size > 0o77777777777) throw new TarFormatError(`${name}: ${size} bytes is over the 8 GiB a ustar header holds`);
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, mtimeSeconds);
  block.write(type, 156, 1, 'latin1');
  block.write('ustar\0', 257, 6, 'latin1');
  block.write('00', 263, 2, 'latin1');
  block.write(`${checksumOf(block).toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return block;
}

/** What follows a file's data so the next header starts on a block. */
export function filePadding(size: number): Buffer {
  return Buffer.alloc(padding(size));
}

/** The end-of-archive marker. */
export const endOfArchive = Buffer.alloc(blockSize * 2);
