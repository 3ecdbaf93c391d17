import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, open, opendir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { writeSynced } from '../storage/durable-file.js';
import { endOfArchive, fileHeader, filePadding } from '../transfer/tar.js';
import { blobEntryName, digestOfEntry, manifestName, type BackupFileRecord, type BackupManifest } from './backup-manifest.js';

/** What became of one blob written into a backup. */
export type BlobOutcome =
  | { kind: 'copied' }
  /** Already whole in the target directory, or linked from the `--since` backup (digest checked). */
  | { kind: 'reused' }
  | { kind: 'missing' }
  | { kind: 'corrupt'; actual: string };

/** Where a backup goes: a directory (incremental) or one tar file (self-contained). */
export interface BackupWriter {
  readonly kind: 'directory' | 'tar';
  /** Puts a blob in; `open` is called only when its bytes are not already at hand. */
  blob(digest: string, size: number, open: () => Promise<Readable>): Promise<BlobOutcome>;
  /** Puts a whole file in under `name`, moving or copying it from `path`. */
  file(name: string, path: string): Promise<BackupFileRecord>;
  /** Where the database copy is made before `file` takes it (same filesystem as the backup). */
  scratchPath(name: string): string;
  /** Writes the manifest last: only now is the backup complete. */
  finish(manifest: BackupManifest, keep: (digest: string) => boolean): Promise<void>;
  /** Removes what an unfinished backup wrote (a tar's partial file; a directory keeps its verified blobs for the next run). */
  abort(): Promise<void>;
}

function algorithmOf(digest: string): string {
  return digest.slice(0, digest.indexOf(':'));
}

function digestText(digest: string, hash: Hash): string {
  return `${algorithmOf(digest)}:${hash.digest('hex')}`;
}

/** Streams `source` through `write`, hashing; resolves with the bytes seen. */
async function copyHashed(source: Readable, hash: Hash, write: (chunk: Buffer) => Promise<void>): Promise<number> {
  let bytes = 0;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
    await write(chunk);
  }
  return bytes;
}

/** The digest of a file, or undefined when it is absent or not `size` bytes long. */
async function fileDigest(path: string, digest: string, size: number): Promise<string | undefined> {
  try {
    if ((await stat(path)).size !== size) return undefined;
  } catch {
    return undefined;
  }
  const hash = createHash(algorithmOf(digest));
  await copyHashed(createReadStream(path, { highWaterMark: 1024 * 1024 }), hash, async () => undefined);
  return digestText(digest, hash);
}

async function writeAll(handle: FileHandle, chunk: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < chunk.length) written += (await handle.write(chunk, written, chunk.length - written, position + written)).bytesWritten;
}

async function fileRecord(name: string, path: string): Promise<BackupFileRecord> {
  const hash = createHash('sha256');
  const bytes = await copyHashed(createReadStream(path, { highWaterMark: 1024 * 1024 }), hash, async () => undefined);
  return { file: name, bytes, sha256: hash.digest('hex') };
}

/**
 * A backup directory: blobs/<algorithm>/<xx>/<hex>, berth.db, secrets.key, berth-backup.json.
 * Incremental: a blob already in the directory (a backup made into it before) or in the
 * `--since` backup is kept or hard-linked once its digest checks out, not read from storage
 * again. The previous manifest is removed first, so an interrupted run never looks complete.
 */
export class DirectoryBackupWriter implements BackupWriter {
  readonly kind = 'directory';

  private constructor(
    private readonly dir: string,
    private readonly since: string | undefined,
  ) {}

  static async open(dir: string, since?: string): Promise<DirectoryBackupWriter> {
    // A backup holds password hashes and the secrets key: readable by its owner only.
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await rm(join(dir, manifestName), { force: true });
    return new DirectoryBackupWriter(dir, since);
  }

  scratchPath(name: string): string {
    return join(this.dir, `${name}.partial`);
  }

  async blob(digest: string, size: number, openSource: () => Promise<Readable>): Promise<BlobOutcome> {
    const target = join(this.dir, blobEntryName(digest));
    if ((await fileDigest(target, digest, size)) === digest) return { kind: 'reused' };
    await mkdir(dirname(target), { recursive: true });
    const partial = `${target}.partial`;
    if (this.since !== undefined) {
      const previous = join(this.since, blobEntryName(digest));
      if ((await fileDigest(previous, digest, size)) === digest) {
        await rm(partial, { force: true });
        // Same filesystem: a link costs no space; elsewhere, a copy.
        await link(previous, partial).catch(() => copyFile(previous, partial));
        await rename(partial, target);
        return { kind: 'reused' };
      }
    }
    const source = await openOrMissing(openSource);
    if (!source) return { kind: 'missing' };
    const handle = await open(partial, 'w');
    const hash = createHash(algorithmOf(digest));
    let bytes: number;
    try {
      let position = 0;
      bytes = await copyHashed(source, hash, async (chunk) => {
        await writeAll(handle, chunk, position);
        position += chunk.length;
      });
    } finally {
      await handle.close();
    }
    const actual = digestText(digest, hash);
    if (bytes !== size || actual !== digest) {
      await unlink(partial);
      return { kind: 'corrupt', actual: bytes !== size ? `${bytes} bytes instead of ${size}` : actual };
    }
    await rename(partial, target);
    return { kind: 'copied' };
  }

  async file(name: string, path: string): Promise<BackupFileRecord> {
    const target = join(this.dir, name);
    if (path !== this.scratchPath(name)) await copyFile(path, this.scratchPath(name));
    await rename(this.scratchPath(name), target);
    return fileRecord(name, target);
  }

  async finish(manifest: BackupManifest, keep: (digest: string) => boolean): Promise<void> {
    // Blobs of an earlier backup into this directory that the new database no longer has.
    await pruneBlobs(join(this.dir, 'blobs'), this.dir, keep);
    const partial = join(this.dir, `${manifestName}.partial`);
    await writeSynced(partial, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
    await rename(partial, join(this.dir, manifestName));
  }

  async abort(): Promise<void> {
    for (const name of ['berth.db.partial', `${manifestName}.partial`]) await rm(join(this.dir, name), { force: true });
  }
}

async function pruneBlobs(dir: string, root: string, keep: (digest: string) => boolean): Promise<void> {
  let entries;
  try {
    entries = await opendir(dir);
  } catch {
    return;
  }
  for await (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await pruneBlobs(path, root, keep);
    else {
      const digest = digestOfEntry(path.slice(root.length + 1).split('\\').join('/'));
      if (digest === undefined || !keep(digest)) await unlink(path);
    }
  }
}

/**
 * A backup as one tar file: every blob, then berth.db and secrets.key, then berth-backup.json
 * last, so a file cut short lacks the manifest and is refused. Written to `<file>.partial` and
 * renamed once whole. Always self-contained (no `--since`): it must restore on its own.
 */
export class TarBackupWriter implements BackupWriter {
  readonly kind = 'tar';
  private position = 0;

  private constructor(
    private readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  static async open(path: string): Promise<TarBackupWriter> {
    await mkdir(dirname(path), { recursive: true });
    return new TarBackupWriter(path, await open(`${path}.partial`, 'w', 0o600));
  }

  scratchPath(name: string): string {
    return `${this.path}.${name}.partial`;
  }

  private async write(chunk: Buffer): Promise<void> {
    await writeAll(this.handle, chunk, this.position);
    this.position += chunk.length;
  }

  async blob(digest: string, size: number, openSource: () => Promise<Readable>): Promise<BlobOutcome> {
    const source = await openOrMissing(openSource);
    if (!source) return { kind: 'missing' };
    const start = this.position;
    await this.write(fileHeader(blobEntryName(digest), size));
    const hash = createHash(algorithmOf(digest));
    let bytes = 0;
    for await (const chunk of source as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
      // More bytes than the header promised would break the archive: stop writing them.
      if (bytes <= size) await this.write(chunk);
    }
    const actual = digestText(digest, hash);
    if (bytes !== size || actual !== digest) {
      // Cut the entry off again: the archive stays whole without it.
      this.position = start;
      await this.handle.truncate(start);
      return { kind: 'corrupt', actual: bytes !== size ? `${bytes} bytes instead of ${size}` : actual };
    }
    await this.write(filePadding(size));
    return { kind: 'copied' };
  }

  async file(name: string, path: string): Promise<BackupFileRecord> {
    const size = (await stat(path)).size;
    await this.write(fileHeader(name, size));
    const hash = createHash('sha256');
    const bytes = await copyHashed(createReadStream(path, { highWaterMark: 1024 * 1024 }), hash, (chunk) => this.write(chunk));
    await this.write(filePadding(bytes));
    if (path === this.scratchPath(name)) await rm(path, { force: true });
    return { file: name, bytes, sha256: hash.digest('hex') };
  }

  async finish(manifest: BackupManifest): Promise<void> {
    const body = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
    await this.write(fileHeader(manifestName, body.length));
    await this.write(body);
    await this.write(filePadding(body.length));
    await this.write(endOfArchive);
    await this.handle.sync();
    await this.handle.close();
    await rename(`${this.path}.partial`, this.path);
  }

  async abort(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await rm(`${this.path}.partial`, { force: true });
    await rm(this.scratchPath('berth.db'), { force: true });
  }
}

/** The blob's bytes, or undefined when storage no longer has them (a garbage collection ran meanwhile). */
async function openOrMissing(openSource: () => Promise<Readable>): Promise<Readable | undefined> {
  try {
    return await openSource();
  } catch (err) {
    if ((err as Error).name === 'StoreNotFoundError') return undefined;
    throw err;
  }
}
