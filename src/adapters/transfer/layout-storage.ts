import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { endOfArchive, fileHeader, filePadding, scanTar, type TarEntry } from './tar.js';

/** The files of an image layout, kept in a directory or in one tar archive. */
export interface LayoutStorage {
  /** The file's size, undefined when it is not there. */
  size(name: string): number | undefined;
  read(name: string): Readable;
  /** A small file (index.json, a manifest) whole; refuses one over `limit` bytes. */
  readSmall(name: string, limit: number): Promise<Buffer>;
  /**
   * Adds a file of `size` bytes from a stream. When `digest` is given the bytes must hash to it;
   * otherwise nothing of the file is kept and the error says so.
   */
  write(name: string, size: number, body: Readable, digest?: string): Promise<void>;
  /** Writes what is kept and releases the file handles. */
  close(): Promise<void>;
}

export class LayoutContentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LayoutContentError';
  }
}

/** Counts and hashes what passes, to check it against the size and digest promised. */
function checker(name: string, size: number, digest: string | undefined): Transform {
  const hash = digest ? createHash('sha256') : undefined;
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > size) return callback(new LayoutContentError(`${name}: more than the ${size} bytes announced`));
      hash?.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      if (seen !== size) return callback(new LayoutContentError(`${name}: ${seen} bytes where ${size} were announced`));
      const actual = hash && `sha256:${hash.digest('hex')}`;
      if (digest && actual !== digest) return callback(new LayoutContentError(`${name}: the content hashes to ${actual}, not ${digest}`));
      callback();
    },
  });
}

/** An OCI layout directory (`oci:` in skopeo's terms): files written whole to a temporary name, then renamed. */
export class DirectoryStorage implements LayoutStorage {
  constructor(private readonly root: string) {}

  size(name: string): number | undefined {
    // Asked between writes, of files this process does not write concurrently: a synchronous stat is enough.
    const found = statSync(join(this.root, name), { throwIfNoEntry: false });
    return found?.isFile() ? found.size : undefined;
  }

  read(name: string): Readable {
    return createReadStream(join(this.root, name));
  }

  async readSmall(name: string, limit: number): Promise<Buffer> {
    const path = join(this.root, name);
    const { size } = await stat(path);
    if (size > limit) throw new LayoutContentError(`${name} is ${size} bytes, over the ${limit} allowed`);
    return readFile(path);
  }

  async write(name: string, size: number, body: Readable, digest?: string): Promise<void> {
    const path = join(this.root, name);
    await mkdir(dirname(path), { recursive: true });
    const partial = `${path}.partial`;
    try {
      await pipeline(body, checker(name, size, digest), createWriteStream(partial));
      await rename(partial, path);
    } catch (err) {
      await rm(partial, { force: true });
      throw err;
    }
  }

  async close(): Promise<void> {}
}

/**
 * A layout inside one tar file (`oci-archive:`, `docker-archive:`). Reading finds files by the
 * offsets of a header scan. Writing appends; `resume` first keeps what an interrupted writer
 * left: every whole file whose bytes match its name's digest, the file cut after the last one.
 */
export class ArchiveStorage implements LayoutStorage {
  private readonly entries = new Map<string, TarEntry>();
  private handle: FileHandle | undefined;
  private end = 0;
  private closed = false;

  private constructor(
    private readonly path: string,
    private readonly writable: boolean,
  ) {}

  /** An archive to read: refuses one that ends before its last file does (truncated) or has a damaged header. */
  static async openForReading(path: string): Promise<ArchiveStorage> {
    const archive = new ArchiveStorage(path, false);
    const scan = await scanTar(path);
    if (scan.damage) throw new LayoutContentError(`${path} is incomplete or damaged: ${scan.damage}`);
    for (const entry of scan.entries) archive.entries.set(entry.name, entry);
    return archive;
  }

  /**
   * An archive to write. With `resume`, an existing file's whole, digest-checked files are kept
   * (their names are returned) and writing goes on after them; without, the file is replaced.
   */
  static async openForWriting(path: string, resume: boolean): Promise<{ archive: ArchiveStorage; kept: number; completeAlready: boolean }> {
    const archive = new ArchiveStorage(path, true);
    let kept = 0;
    let completeAlready = false;
    if (resume && existsSync(path)) {
      const scan = await scanTar(path);
      completeAlready = scan.entries.some((e) => e.name === 'index.json');
      for (const entry of scan.entries) {
        const digest = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(entry.name);
        if (!digest || !(await archive.matches(entry, `sha256:${digest[1]}`))) {
          // Only content-addressed files are resumed; anything after the first other one is written again.
          archive.end = entry.start;
          break;
        }
        archive.entries.set(entry.name, entry);
        archive.end = entry.offset + entry.size + filePadding(entry.size).length;
        kept++;
      }
    }
    await mkdir(dirname(path), { recursive: true });
    archive.handle = await open(path, kept > 0 ? 'r+' : 'w+');
    await archive.handle.truncate(archive.end);
    return { archive, kept, completeAlready };
  }

  private async matches(entry: TarEntry, digest: string): Promise<boolean> {
    const hash = createHash('sha256');
    for await (const chunk of this.read(entry.name, entry)) hash.update(chunk as Buffer);
    return `sha256:${hash.digest('hex')}` === digest;
  }

  size(name: string): number | undefined {
    return this.entries.get(name)?.size;
  }

  read(name: string, known?: TarEntry): Readable {
    const entry = known ?? this.entries.get(name);
    if (!entry) throw new LayoutContentError(`${name} is not in ${this.path}`);
    // An empty range would read the whole file: `end` is inclusive.
    return createReadStream(this.path, entry.size === 0 ? { start: 1, end: 0 } : { start: entry.offset, end: entry.offset + entry.size - 1 });
  }

  async readSmall(name: string, limit: number): Promise<Buffer> {
    const entry = this.entries.get(name);
    if (!entry) throw new LayoutContentError(`${name} is not in ${this.path}`);
    if (entry.size > limit) throw new LayoutContentError(`${name} is ${entry.size} bytes, over the ${limit} allowed`);
    const file = this.handle ?? (await open(this.path, 'r'));
    try {
      const buffer = Buffer.alloc(entry.size);
      await file.read(buffer, 0, entry.size, entry.offset);
      return buffer;
    } finally {
      if (file !== this.handle) await file.close();
    }
  }

  async write(name: string, size: number, body: Readable, digest?: string): Promise<void> {
    if (!this.writable || !this.handle) throw new Error(`${this.path} was opened for reading`);
    const handle = this.handle;
    const header = fileHeader(name, size);
    const start = this.end;
    let position = start;
    const append = async (chunk: Buffer) => {
      let written = 0;
      while (written < chunk.length) written += (await handle.write(chunk, written, chunk.length - written, position + written)).bytesWritten;
      position += chunk.length;
    };
    try {
      await append(header);
      const offset = position;
      await pipeline(body, checker(name, size, digest), async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) await append(chunk);
      });
      await append(filePadding(size));
      this.entries.set(name, { name, start, offset, size });
      this.end = position;
    } catch (err) {
      // Nothing of a file that failed stays in the archive.
      await handle.truncate(start);
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.handle) {
      await this.handle.write(endOfArchive, 0, endOfArchive.length, this.end);
      await this.handle.sync();
      await this.handle.close();
    }
  }

  /** Stops writing without ending the archive, so a later run can resume it. */
  async abandon(): Promise<void> {
    this.closed = true;
    await this.handle?.close();
  }
}
