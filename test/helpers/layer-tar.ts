import { gzipSync } from 'node:zlib';

/** One entry of a test layer. */
export type TarItem =
  | { path: string; type?: 'file'; content: string | Buffer; mode?: number; uid?: number }
  | { path: string; type: 'directory'; mode?: number }
  | { path: string; type: 'symlink' | 'hardlink'; target: string };

const block = 512;

function header(name: string, typeflag: string, size: number, mode: number, uid: number, linkname = ''): Buffer {
  const h = Buffer.alloc(block);
  const put = (value: string, offset: number, length: number) => h.write(value, offset, Math.min(length, Buffer.byteLength(value)), 'utf8');
  const num = (value: number, offset: number, length: number) => put(value.toString(8).padStart(length - 1, '0'), offset, length - 1);
  put(name, 0, 100);
  num(mode, 100, 8);
  num(uid, 108, 8);
  num(0, 116, 8);
  num(size, 124, 12);
  num(1_700_000_000, 136, 12);
  h.fill(' ', 148, 156);
  put(typeflag, 156, 1);
  put(linkname, 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const byte of h) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return h;
}

function padded(data: Buffer): Buffer[] {
  const pad = (block - (data.length % block)) % block;
  return [data, Buffer.alloc(pad)];
}

/** A PAX extended header naming `path` (for names longer than ustar's 100 bytes). */
function pax(path: string): Buffer[] {
  const body = (len: number) => `${len} path=${path}\n`;
  let len = Buffer.byteLength(body(0));
  while (Buffer.byteLength(body(len)) !== len) len = Buffer.byteLength(body(len));
  const data = Buffer.from(body(len));
  return [header('PaxHeader', 'x', data.length, 0o644, 0), ...padded(data)];
}

/** An uncompressed tar of `items`, in order, with the two zero blocks that end an archive. */
export function tarOf(items: TarItem[], { end = true } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const item of items) {
    const name = Buffer.byteLength(item.path) > 100 ? 'long-name' : item.path;
    if (name !== item.path) parts.push(...pax(item.path));
    if (item.type === 'directory') parts.push(header(name, '5', 0, item.mode ?? 0o755, 0));
    else if ('target' in item) parts.push(header(name, item.type === 'symlink' ? '2' : '1', 0, item.type === 'symlink' ? 0o777 : 0o644, 0, item.target));
    else {
      const data = Buffer.isBuffer(item.content) ? item.content : Buffer.from(item.content);
      parts.push(header(name, '0', data.length, item.mode ?? 0o644, item.uid ?? 0), ...padded(data));
    }
  }
  if (end) parts.push(Buffer.alloc(block * 2));
  return Buffer.concat(parts);
}

export function gzipTarOf(items: TarItem[]): Buffer {
  return gzipSync(tarOf(items));
}
