import { Readable, Transform, type TransformCallback } from 'node:stream';
import { once } from 'node:events';
import { posix } from 'node:path';
import { createGunzip } from 'node:zlib';
import type { Decompress as ZstdDecompress } from 'fzstd';
import type { ReadEntry } from 'tar';
import { BerthError } from '../../domain/errors.js';

/** One entry of a layer, as its tar header says (DESIGN.md, "One layer walker"). */
export interface LayerEntry {
  /** Normalised: relative to the root, no `./`, no trailing slash, never `..`. */
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** Symlink target as written; hardlink target normalised like `path`. */
  linkTarget?: string;
}

/** What a layer holds: its entries, what it deletes from the layers below, and the wanted files' bytes. */
export interface LayerWalk {
  entries: LayerEntry[];
  /** Paths this layer removes from the layers below (`.wh.<name>` entries). */
  whiteouts: string[];
  /** Directories whose lower-layer contents this layer hides (`.wh..wh..opq`). */
  opaqueDirs: string[];
  /** Contents of the files `wanted` chose, by path (hardlinks to them included). */
  contents: Map<string, Buffer>;
  /** What the probes `probe` chose found in their files, by path (hardlinks to them included); no entry when a probe found nothing. */
  probes: Map<string, unknown>;
  compressedBytes: number;
  uncompressedBytes: number;
}

export interface WalkLimits {
  /** Entries in one layer. */
  maxEntries: number;
  /** Bytes of the uncompressed tar. */
  maxUncompressedBytes: number;
  /** Uncompressed bytes per compressed byte, once past 64 MiB (a decompression bomb). */
  maxRatio: number;
  /** A wanted file larger than this is listed but not read. */
  maxFileBytes: number;
  /** All wanted files of one layer together. */
  maxWantedBytes: number;
}

export const defaultWalkLimits: WalkLimits = {
  maxEntries: 1_000_000,
  maxUncompressedBytes: 64 * 2 ** 30,
  maxRatio: 200,
  maxFileBytes: 32 * 2 ** 20,
  maxWantedBytes: 128 * 2 ** 20,
};

export interface WalkOptions {
  /** Which files' bytes to keep (package databases, os-release, …); every entry is listed anyway. */
  wanted?: (path: string) => boolean;
  limits?: Partial<WalkLimits>;
  /**
   * A probe to run over a file's bytes as they stream by, for files too large to keep (a Go
   * binary's build info, a jar's manifests); undefined for a file not worth reading.
   */
  probe?: (entry: LayerEntry) => FileProbe | undefined;
}

/**
 * Reads one file in passing, holding no more than its own small, bounded state: it sees the
 * file's bytes in order, once, and says what it found. A probe that throws is dropped, never a
 * layer error: what a file holds is the image author's, not the layer format's.
 */
export interface FileProbe {
  /** The file's next bytes; true when the probe needs no more of this file. */
  update(chunk: Buffer): boolean;
  /** The file ended or the probe was done: what it found, kept in `LayerWalk.probes`, or undefined. */
  finish(): unknown;
}

const gzipMagic = Buffer.from([0x1f, 0x8b]);
const zstdMagic = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/**
 * Reads a layer once, as a stream (gzip, zstd or plain tar, told apart by their first bytes,
 * whatever the media type claims), and lists its entries. Nothing is written anywhere: entries
 * are only listed, and the few files `wanted` asks for are kept in memory, within limits. A
 * layer that is truncated, not a tar, too large for its compressed size, or that names a path
 * outside its root is a LAYER_UNREADABLE error whose detail names the reason.
 */
export async function walkLayer(source: Readable, options: WalkOptions = {}): Promise<LayerWalk> {
  const limits = { ...defaultWalkLimits, ...options.limits };
  const wanted = options.wanted ?? (() => false);
  const walk: LayerWalk = { entries: [], whiteouts: [], opaqueDirs: [], contents: new Map(), probes: new Map(), compressedBytes: 0, uncompressedBytes: 0 };
  let wantedBytes = 0;
  // Whether the tar has had a byte other than zero yet (an all-zero tar is an empty one).
  let sawData = false;
  let failure: BerthError | undefined;
  const fail = (reason: string, message: string) => {
    failure ??= new BerthError('LAYER_UNREADABLE', { message, detail: { reason } });
  };

  // tar (and fzstd, below) load with the first layer walked: a registry that never scans or
  // indexes never holds them (issue 19, idle memory).
  const { Parser } = await import('tar');
  const parser = new Parser({
    strict: false,
    onwarn: (code: string, message: string | Error) => {
      // An empty tar is its end-of-archive zero blocks only (buildah commits one for a step that changed nothing).
      if (code === 'TAR_BAD_ARCHIVE' && !sawData && walk.uncompressedBytes >= 1024 && walk.uncompressedBytes % 512 === 0) return;
      if (code === 'TAR_BAD_ARCHIVE' || code === 'TAR_ENTRY_INVALID' || code === 'TAR_ABORT') fail(/truncat/i.test(String(message)) ? 'truncated' : 'not-a-tar', `the layer is not a readable tar: ${String(message)}`);
    },
    onReadEntry: (entry: ReadEntry) => {
      if (failure) return void entry.resume();
      const path = normalise(entry.path);
      if (path === undefined) {
        fail('path-outside-root', `the layer names a path outside its root: ${JSON.stringify(entry.path.slice(0, 200))}`);
        return void entry.resume();
      }
      if (walk.entries.length + walk.whiteouts.length >= limits.maxEntries) {
        fail('too-many-entries', `the layer has more than ${limits.maxEntries} entries`);
        return void entry.resume();
      }
      const base = posix.basename(path);
      if (base.startsWith('.wh.')) {
        const dir = posix.dirname(path);
        if (base === '.wh..wh..opq') walk.opaqueDirs.push(dir === '.' ? '' : dir);
        else walk.whiteouts.push(dir === '.' ? base.slice(4) : `${dir}/${base.slice(4)}`);
        return void entry.resume();
      }
      const type = typeOf(entry.type);
      const listed: LayerEntry = { path, type, size: type === 'file' ? entry.size : 0, mode: entry.mode ?? 0, uid: entry.uid ?? 0, gid: entry.gid ?? 0 };
      if (type === 'symlink') listed.linkTarget = entry.linkpath ?? '';
      if (type === 'hardlink') {
        const target = normalise(entry.linkpath ?? '');
        if (target === undefined) {
          fail('path-outside-root', `a hardlink in the layer points outside its root: ${JSON.stringify((entry.linkpath ?? '').slice(0, 200))}`);
          return void entry.resume();
        }
        listed.linkTarget = target;
        const content = walk.contents.get(target);
        if (content && wanted(path)) walk.contents.set(path, content);
        if (walk.probes.has(target)) walk.probes.set(path, walk.probes.get(target));
      }
      walk.entries.push(listed);
      if (type !== 'file' || path === '') return void entry.resume();
      const keep = wanted(path) && entry.size <= limits.maxFileBytes && wantedBytes + entry.size <= limits.maxWantedBytes;
      const probe = probeOf(options.probe, listed);
      if (!keep && !probe) return void entry.resume();
      if (keep) {
        wantedBytes += entry.size;
        const chunks: Buffer[] = [];
        entry.on('data', (chunk: Buffer) => chunks.push(chunk));
        entry.on('end', () => walk.contents.set(path, Buffer.concat(chunks)));
      }
      if (probe) probeEntry(entry, probe, (found) => walk.probes.set(path, found));
      entry.resume();
    },
  });

  const ended = new Promise<void>((resolve, reject) => {
    parser.on('end', resolve);
    parser.on('close', resolve);
    parser.on('error', reject);
  });
  try {
    for await (const chunk of decompressed(source, walk, limits, fail)) {
      if (failure) break;
      if (!sawData && (chunk as Buffer).some((byte) => byte !== 0)) sawData = true;
      if (!parser.write(chunk as Buffer)) await once(parser, 'drain');
    }
    parser.end();
    await ended;
  } catch (err) {
    if (err instanceof BerthError) throw err;
    fail(/unexpected end|truncat/i.test(String((err as Error).message)) ? 'truncated' : 'not-a-tar', `the layer could not be read: ${(err as Error).message}`);
  } finally {
    source.destroy();
  }
  if (failure) throw failure;
  return walk;
}

/** The probe `choose` picks for `entry`, if any; a throwing chooser picks none. */
function probeOf(choose: WalkOptions['probe'], entry: LayerEntry): FileProbe | undefined {
  try {
    return choose?.(entry);
  } catch {
    return undefined;
  }
}

/** Feeds `entry`'s bytes to `probe` until it has enough, and hands on what it found; a probe that throws finds nothing. */
function probeEntry(entry: ReadEntry, probe: FileProbe, found: (result: unknown) => void): void {
  let open = true;
  const close = (finished: boolean) => {
    open = false;
    if (!finished) return;
    try {
      const result = probe.finish();
      if (result !== undefined) found(result);
    } catch {
      // A probe that fails finds nothing.
    }
  };
  entry.on('data', (chunk: Buffer) => {
    if (!open) return;
    let enough: boolean;
    try {
      enough = probe.update(chunk);
    } catch {
      return close(false);
    }
    if (enough) close(true);
  });
  entry.on('end', () => {
    if (open) close(true);
  });
}

/**
 * The uncompressed tar of `source`: gzip and zstd are recognised by their magic bytes (a layer's
 * media type may say otherwise), anything else is read as plain tar. Counts both sides and
 * stops at the size and ratio limits.
 */
async function* decompressed(source: Readable, walk: LayerWalk, limits: WalkLimits, fail: (reason: string, message: string) => void): AsyncGenerator<Buffer> {
  const input = source[Symbol.asyncIterator]();
  let first = Buffer.alloc(0);
  // Enough bytes to tell the formats apart.
  while (first.length < 4) {
    const next = await input.next();
    if (next.done) break;
    first = Buffer.concat([first, next.value as Buffer]);
  }
  const counted = Readable.from(
    (async function* () {
      let chunk: Buffer | undefined = first.length > 0 ? first : undefined;
      while (chunk) {
        walk.compressedBytes += chunk.length;
        yield chunk;
        const next = await input.next();
        chunk = next.done ? undefined : (next.value as Buffer);
      }
    })(),
    { objectMode: false },
  );
  let plain: Readable;
  if (first.subarray(0, 2).equals(gzipMagic)) plain = counted.pipe(createGunzip());
  else if (first.subarray(0, 4).equals(zstdMagic)) plain = counted.pipe(zstdStream((await import('fzstd')).Decompress));
  else plain = counted;
  const errors: unknown[] = [];
  // pipe() does not pass a source's error on: a read that fails midway must end the decompressor, or the walk waits for ever.
  if (plain !== counted) counted.on('error', (err) => plain.destroy(err));
  plain.on('error', (err) => errors.push(err));
  try {
    for await (const chunk of plain) {
      // A compressed tar inside the compressed layer would be inflated again by the tar parser, past these limits.
      if (plain !== counted && walk.uncompressedBytes === 0 && (chunk.subarray(0, 2).equals(gzipMagic) || chunk.subarray(0, 4).equals(zstdMagic))) {
        fail('nested-compression', 'the layer is compressed twice');
        return;
      }
      walk.uncompressedBytes += (chunk as Buffer).length;
      if (walk.uncompressedBytes > limits.maxUncompressedBytes) {
        fail('too-large', `the layer is larger than ${limits.maxUncompressedBytes} bytes uncompressed`);
        return;
      }
      if (plain !== counted && walk.uncompressedBytes > 64 * 2 ** 20 && walk.uncompressedBytes > limits.maxRatio * walk.compressedBytes) {
        fail('decompression-bomb', `the layer expands more than ${limits.maxRatio} times its compressed size`);
        return;
      }
      yield chunk as Buffer;
    }
  } finally {
    counted.destroy();
    plain.destroy();
  }
  if (errors.length > 0) throw errors[0];
}

/** fzstd's streaming decompressor as a Transform (Node.js 20's zlib has no zstd). */
function zstdStream(Decompress: typeof ZstdDecompress): Transform {
  const output = new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      try {
        decoder.push(chunk);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
    flush(done: TransformCallback) {
      try {
        decoder.push(new Uint8Array(0), true);
        done();
      } catch (err) {
        done(new Error(`unexpected end of zstd data (${(err as Error).message})`));
      }
    },
  });
  const decoder = new Decompress((data) => {
    if (data.length > 0) output.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
  return output;
}

function typeOf(type: string): LayerEntry['type'] {
  switch (type) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
      return 'file';
    case 'Directory':
      return 'directory';
    case 'SymbolicLink':
      return 'symlink';
    case 'Link':
      return 'hardlink';
    default:
      return 'other';
  }
}

/** A tar path relative to the layer's root; undefined when it leaves the root or holds a NUL. */
export function normalise(raw: string): string | undefined {
  if (raw.includes('\0')) return undefined;
  // normalize() of a rooted path resolves every `..`, clamping at the root: the climb is counted instead.
  const path = posix.normalize(`/${raw}`).replace(/^\/+/, '').replace(/\/+$/, '');
  if (raw.split('/').reduce((depth, part) => (depth < 0 ? depth : part === '..' ? depth - 1 : part === '' || part === '.' ? depth : depth + 1), 0) < 0) return undefined;
  return path;
}
