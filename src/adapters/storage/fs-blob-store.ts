import { createWriteStream, stat as statThen } from 'node:fs';
import { access, mkdir, open, opendir, readdir, rename, rm, stat, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../../domain/digest.js';
import { tryParseDigest } from '../../domain/digest.js';
import { FileReadStream } from './file-read-stream.js';
import { syncPath, writeSynced } from './durable-file.js';
import { forEachBounded } from './for-each-bounded.js';
import { StoreNotFoundError, StoreOffsetError, type BlobStore, type ByteRange } from '../../ports/blob-store.js';

const uploadIdPattern = /^[A-Za-z0-9_-]{1,128}$/;
/**
 * Unlinks in flight in deleteMany. They run on libuv's thread pool (16 threads in cluster
 * workers), which pulls' file reads share: four at a time leave room for them.
 */
const unlinkConcurrency = 4;

/** A staging file older than this was left by a crash (a put writes and renames its file within seconds). */
const stagingMaxAgeMs = 3_600_000;

/**
 * Content-addressed objects on a local filesystem:
 *   <root>/blobs/<algorithm>/<first two hex>/<hex>
 *   <root>/uploads/<id>/data
 *   <root>/tmp/            (staging for atomic writes; same filesystem, so rename is atomic)
 * Every commit is write → fsync → rename → fsync(dir), so a crash never leaves a torn object
 * under a digest's name.
 */
export class FsBlobStore implements BlobStore {
  private readonly blobsDir: string;
  private readonly uploadsDir: string;
  private readonly tmpDir: string;

  constructor(readonly root: string) {
    this.blobsDir = join(root, 'blobs');
    this.uploadsDir = join(root, 'uploads');
    this.tmpDir = join(root, 'tmp');
  }

  async init(): Promise<this> {
    await Promise.all([this.blobsDir, this.uploadsDir, this.tmpDir].map((dir) => mkdir(dir, { recursive: true })));
    // Staging files left by a crash are garbage. Only old ones are: another process on the same
    // root (a sibling worker starting, `berth backup`, `berth gc`) must not take the file a
    // running put is about to rename into place (that push failed with ENOENT).
    const before = Date.now() - stagingMaxAgeMs;
    for (const name of await readdir(this.tmpDir)) {
      const path = join(this.tmpDir, name);
      const info = await stat(path).catch(() => undefined);
      if (info && info.mtimeMs < before) await rm(path, { force: true, recursive: true });
    }
    return this;
  }

  private blobPath(digest: Digest): string {
    const parsed = tryParseDigest(digest);
    if (!parsed) throw new Error(`not a digest: ${digest}`);
    return join(this.blobsDir, parsed.algorithm, parsed.hex.slice(0, 2), parsed.hex);
  }

  private uploadPath(id: string): string {
    if (!uploadIdPattern.test(id)) throw new Error(`not an upload id: ${id}`);
    return join(this.uploadsDir, id);
  }

  async ping(): Promise<void> {
    await access(this.root, constants.R_OK | constants.W_OK);
  }

  async stat(digest: Digest): Promise<{ size: number } | undefined> {
    try {
      const s = await stat(this.blobPath(digest));
      return { size: s.size };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async read(digest: Digest, range?: ByteRange): Promise<Readable> {
    const path = this.blobPath(digest);
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      if (isNotFound(err)) throw new StoreNotFoundError(digest);
      throw err;
    }
    try {
      return new FileReadStream(handle, range?.start ?? 0, range?.end ?? (await handle.stat()).size - 1);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async put(digest: Digest, data: Uint8Array): Promise<void> {
    const target = this.blobPath(digest);
    if (await exists(target)) return;
    const staging = join(this.tmpDir, randomUUID());
    await writeSynced(staging, data);
    await this.place(staging, target);
  }

  async delete(digest: Digest): Promise<boolean> {
    try {
      await unlink(this.blobPath(digest));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }
  async deleteMany(digests: readonly Digest[]): Promise<void> {
    await forEachBounded(digests, unlinkConcurrency, async (digest) => void (await this.delete(digest)));
  }


  async *list(): AsyncIterable<Digest> {
    for (const algorithm of await readdirIfExists(this.blobsDir)) {
      for (const prefix of await readdirIfExists(join(this.blobsDir, algorithm))) {
        const dir = await opendir(join(this.blobsDir, algorithm, prefix));
        for await (const entry of dir) {
          const digest = `${algorithm}:${entry.name}`;
          if (entry.isFile() && tryParseDigest(digest)) yield digest as Digest;
        }
      }
    }
  }

  async createUpload(id: string): Promise<void> {
    const dir = this.uploadPath(id);
    await mkdir(dir, { recursive: true });
    const handle = await open(join(dir, 'data'), 'wx');
    await handle.close();
  }

  async uploadSize(id: string): Promise<number | undefined> {
    try {
      return (await stat(join(this.uploadPath(id), 'data'))).size;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async append(id: string, offset: number, data: Readable): Promise<number> {
    const path = join(this.uploadPath(id), 'data');
    const size = await this.uploadSize(id);
    if (size === undefined) throw new StoreNotFoundError(`upload ${id}`);
    if (size !== offset) throw new StoreOffsetError(size, offset);
    const out = createWriteStream(path, { flags: 'r+', start: offset, highWaterMark: 256 * 1024 });
    try {
      await pipeline(data, out);
    } catch (err) {
      // A chunk lands whole or not at all: cut back what the failed stream wrote.
      await truncate(path, offset).catch(() => undefined);
      throw err;
    }
    return offset + out.bytesWritten;
  }

  async truncateUpload(id: string, size: number): Promise<void> {
    await truncate(join(this.uploadPath(id), 'data'), size);
  }

  readUpload(id: string, start = 0): Readable {
    return Readable.from(readUploadFile(join(this.uploadPath(id), 'data'), id, start), { objectMode: false });
  }

  async commitUpload(id: string, digest: Digest): Promise<void> {
    const dir = this.uploadPath(id);
    const data = join(dir, 'data');
    await syncPath(data, 'r+').catch((err: unknown) => {
      throw isNotFound(err) ? new StoreNotFoundError(`upload ${id}`) : err;
    });
    const target = this.blobPath(digest);
    if (await exists(target)) {
      // Already stored (content addressing: same digest, same bytes).
      await rm(dir, { recursive: true, force: true });
      return;
    }
    await this.place(data, target);
    await rm(dir, { recursive: true, force: true });
  }

  async deleteUpload(id: string): Promise<void> {
    await rm(this.uploadPath(id), { recursive: true, force: true });
  }

  /** Renames a synced file into its content address and makes the rename durable. */
  private async place(source: string, target: string): Promise<void> {
    const dir = join(target, '..');
    // The digest's directory (one of 256 per algorithm) nearly always exists: made when missing only.
    try {
      await rename(source, target);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await mkdir(dir, { recursive: true });
      await rename(source, target);
    }
    await syncPath(dir);
  }
}

/** An upload's bytes from `start`; an unknown upload fails as StoreNotFoundError, as on every driver. */
async function* readUploadFile(path: string, id: string, start: number): AsyncGenerator<Buffer> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if (isNotFound(err)) throw new StoreNotFoundError(`upload ${id}`);
    throw err;
  }
  // The stream closes the handle when it ends or is destroyed.
  yield* handle.createReadStream({ start, highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>;
}

/**
 * Whether a file is at `path`. A put asks before writing, and for new content the answer is no:
 * fs/promises' stat then rejects with an error it builds on the event loop, 16-24 µs there a
 * call on this machine, against 8-11 µs through the callback (durable-file.ts says why callbacks).
 */
function exists(path: string): Promise<boolean> {
  return new Promise((resolve, reject) =>
    statThen(path, (err) => {
      if (!err) resolve(true);
      else if (isNotFound(err)) resolve(false);
      else reject(err);
    }),
  );
}

async function readdirIfExists(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}
