import { randomUUID, type Hash } from 'node:crypto';
import { Writable, finished, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BerthError } from '../../domain/errors.js';
import { hashToDigest, newHash, parseDigest, type Digest, type DigestAlgorithm } from '../../domain/digest.js';
import { StoreNotFoundError, StoreOffsetError, type BlobStore } from '../../ports/blob-store.js';
import { RepositoryGoneError, type MetadataStore, type UploadRow } from '../../ports/metadata-store.js';
import { assertRepositoryName } from '../../domain/names.js';
import { HashingStream } from './hashing-stream.js';
import { KeyedLock } from './keyed-lock.js';
import { pinForWrite } from './write-pin.js';
import { cachedRepository, existingRepository, onWritableRepository } from './repositories.js';
import type { RepositoryCache } from './repository-cache.js';

export interface UploadState {
  id: string;
  repository: string;
  /** Bytes received so far; the next chunk must start here. */
  offset: number;
}

export interface ChunkInput {
  body: Readable;
  /** From Content-Range: the inclusive byte range the client says this chunk covers. */
  range?: { start: number; end: number };
  /** From Content-Length: how many bytes the body will have, when the client said so. */
  length?: number;
}

export interface UploadOptions {
  maxBlobBytes?: number;
  /** Mount a blob the client names with `?mount=` but no `from=`, when it exists in any repository. */
  automaticMount?: boolean;
  /**
   * Refuses (throws) a blob of `size` bytes into `repository` that its project's quota cannot
   * take; asked before a chunk of known length is kept and again before a blob is committed.
   */
  admit?: (repository: string, size: number, digest?: Digest) => Promise<void>;
  /** Told how many bytes each chunk added (metrics). */
  onBytesReceived?: (bytes: number) => void;
  /** Garbage collection's lease (WritePinOptions.removalLeaseMs); 60 s when not given. */
  gcLeaseMs?: number;
  /** Where repository rows and ids are remembered (PostgreSQL): a write or mount then need not read them first. */
  repositories?: RepositoryCache;
  now?: () => number;
}

/** What the process remembers of an upload's running hash; lost on restart and then rebuilt from the stored bytes. */
interface HashState {
  offset: number;
  hash: Hash;
}

const uploadIdPattern = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * Blob upload sessions (OCI dist-spec "Pushing blobs"): monolithic, single-request, chunked
 * and resumable; plus cross-repository mounts. State that must outlive the process (offset)
 * is a row; bytes are in the BlobStore's upload area; the running sha256 is kept in memory
 * and recomputed from the stored bytes when missing (restart, or another instance).
 */
export class UploadService {
  private readonly hashes = new Map<string, HashState>();
  private readonly lock = new KeyedLock();
  private readonly now: () => number;

  constructor(
    private readonly meta: MetadataStore,
    private readonly store: BlobStore,
    private readonly options: UploadOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  async start(repositoryName: string): Promise<UploadState> {
    assertRepositoryName(repositoryName);
    const id = randomUUID();
    await this.store.createUpload(id);
    const now = this.now();
    await onWritableRepository(this.meta, repositoryName, (repositoryId) => this.meta.createUpload({ id, repositoryId, offset: 0, startedAt: now, updatedAt: now }), this.options.repositories);
    return { id, repository: repositoryName, offset: 0 };
  }

  /**
   * OCI dist-spec "Mounting a blob from another repository": links the blob when the source
   * repository has it. Resolves false when it cannot be mounted (the caller then starts an upload).
   */
  async mount(repositoryName: string, digestValue: string, from: string | undefined): Promise<boolean> {
    const { digest } = parseDigest(digestValue);
    let blob;
    if (from !== undefined) {
      const source = await cachedRepository(this.meta, from, this.options.repositories);
      blob = source && (await this.meta.getRepositoryBlob(source.id, digest));
    } else if (this.options.automaticMount) {
      blob = await this.meta.getBlob(digest);
    }
    if (!blob || !(await this.store.stat(digest))) return false;
    // Undefined when garbage collection is deleting it right now: the client uploads it instead.
    return onWritableRepository(this.meta, repositoryName, async (targetId) => (await this.meta.mountBlob(targetId, digest)) !== undefined, this.options.repositories);
  }

  async status(repositoryName: string, id: string): Promise<UploadState> {
    const upload = await this.find(repositoryName, id);
    return { id, repository: repositoryName, offset: upload.offset };
  }

  /** PATCH: appends one chunk (or a whole streamed body) to the session. */
  async append(repositoryName: string, id: string, chunk: ChunkInput): Promise<UploadState> {
    return this.lock.run(id, async () => {
      const upload = await this.find(repositoryName, id);
      const offset = await this.appendLocked(repositoryName, upload, chunk);
      return { id, repository: repositoryName, offset };
    });
  }

  /**
   * PUT ?digest=: appends the optional final chunk, verifies the digest and commits the blob.
   * On a digest mismatch the session keeps only the bytes it had before this request.
   */
  async complete(repositoryName: string, id: string, digestValue: string, chunk?: ChunkInput): Promise<Digest> {
    const expected = parseDigest(digestValue);
    return this.lock.run(id, async () => {
      const upload = await this.find(repositoryName, id);
      const before = upload.offset;
      const size = chunk ? await this.appendLocked(repositoryName, upload, chunk, expected.algorithm, expected.digest) : await this.reconcile(upload);
      const actual = await this.digestOf(upload.id, size, expected.algorithm);
      if (actual !== expected.digest) {
        await this.rollback(upload, size, before);
        throw new BerthError('DIGEST_INVALID', {
          message: 'provided digest did not match uploaded content',
          detail: { expected: expected.digest, actual, size },
        });
      }
      // The whole size is known now, also for chunks of unknown length.
      await this.options.admit?.(repositoryName, size, expected.digest);
      // Pinned while its bytes are written, so a collector deleting the same digest (an old,
      // unreferenced copy) cannot remove them after we wrote them (docs/lifecycle.md).
      const replace = await pinForWrite(this.meta, expected.digest, upload.id, { removalLeaseMs: this.options.gcLeaseMs ?? 60_000, now: this.now });
      try {
        // Quarantined: the stored copy is corrupt or gone, and these verified bytes replace it.
        if (replace) await this.store.delete(expected.digest);
        await this.store.commitUpload(upload.id, expected.digest);
        await this.meta.completeUpload(upload.id, upload.repositoryId, { digest: expected.digest, size });
      } catch (err) {
        await this.meta.unpinBlob(expected.digest, upload.id).catch(() => undefined);
        if (err instanceof RepositoryGoneError) {
          this.hashes.delete(upload.id);
          throw new BerthError('BLOB_UPLOAD_UNKNOWN', { message: `repository ${repositoryName} was deleted during this upload`, detail: { repository: repositoryName } });
        }
        throw err;
      }
      this.hashes.delete(upload.id);
      return expected.digest;
    });
  }

  /** POST ?digest= with a body: the single-request ("monolithic POST") upload. */
  async pushMonolithic(repositoryName: string, digestValue: string, body: Readable, length?: number): Promise<Digest> {
    const { digest } = parseDigest(digestValue);
    // Refused before a session is even made when it could not fit.
    if (length !== undefined) await this.options.admit?.(repositoryName, length, digest);
    const upload = await this.start(repositoryName);
    try {
      return await this.complete(repositoryName, upload.id, digestValue, { body, length });
    } catch (err) {
      await this.cancel(repositoryName, upload.id).catch(() => undefined);
      throw err;
    }
  }

  async cancel(repositoryName: string, id: string): Promise<void> {
    await this.lock.run(id, async () => {
      const upload = await this.find(repositoryName, id);
      await this.meta.deleteUpload(upload.id);
      await this.store.deleteUpload(upload.id);
      this.hashes.delete(upload.id);
    });
  }

  /** Removes sessions idle since before `before` (abandoned by their clients). */
  async purgeStale(before: number, limit = 1000): Promise<number> {
    const stale = await this.meta.staleUploads(before, limit);
    for (const upload of stale) {
      await this.lock.run(upload.id, async () => {
        await this.meta.deleteUpload(upload.id);
        await this.store.deleteUpload(upload.id);
        this.hashes.delete(upload.id);
      });
    }
    return stale.length;
  }

  private async find(repositoryName: string, id: string): Promise<UploadRow> {
    const unknown = () => new BerthError('BLOB_UPLOAD_UNKNOWN', { detail: { id: id.slice(0, 128) } });
    if (!uploadIdPattern.test(id)) throw unknown();
    const upload = await this.meta.getUpload(id);
    // An id names one repository for good (ids are never reused), and an upload goes with its
    // repository: under the id this process last read for the name, it is that repository's.
    if (upload && upload.repositoryId === this.options.repositories?.lastId(repositoryName)) return upload;
    const repository = await existingRepository(this.meta, repositoryName).catch((err: unknown) => {
      if (err instanceof BerthError && err.key === 'NAME_UNKNOWN') throw unknown();
      throw err;
    });
    if (!upload || upload.repositoryId !== repository.id) throw unknown();
    return upload;
  }

  /**
   * Makes the stored bytes agree with the row: a crash mid-chunk can leave a tail the row
   * never acknowledged (cut it), and the row is the truth for where the next chunk starts.
   */
  private async reconcile(upload: UploadRow): Promise<number> {
    const stored = await this.store.uploadSize(upload.id);
    if (stored === undefined) {
      await this.meta.deleteUpload(upload.id);
      throw new BerthError('BLOB_UPLOAD_UNKNOWN', { message: 'upload data is gone; start a new upload', detail: { id: upload.id } });
    }
    if (stored > upload.offset) {
      await this.store.truncateUpload(upload.id, upload.offset);
      this.hashes.delete(upload.id);
    } else if (stored < upload.offset) {
      // Bytes the row counted are missing (storage rolled back): resume from what is really there.
      await this.meta.advanceUpload(upload.id, upload.offset, stored, this.now());
      upload.offset = stored;
      this.hashes.delete(upload.id);
    }
    return upload.offset;
  }

  private async appendLocked(repositoryName: string, upload: UploadRow, chunk: ChunkInput, algorithm: DigestAlgorithm = 'sha256', digest?: Digest): Promise<number> {
    const offset = await this.reconcile(upload);
    if (chunk.range && chunk.range.start !== offset) {
      throw new BerthError('UPLOAD_RANGE_INVALID', {
        message: `chunk starts at ${chunk.range.start} but the upload has ${offset} bytes`,
        headers: rangeHeaders(upload.id, offset),
        detail: { offset },
      });
    }
    // Refused before a byte is kept when the size is known up front.
    if (chunk.length !== undefined) await this.options.admit?.(repositoryName, offset + chunk.length, digest);
    const hash = algorithm === 'sha256' ? await this.hashAt(upload.id, offset) : undefined;
    const counter = new HashingStream(hash, this.options.maxBlobBytes === undefined ? undefined : this.options.maxBlobBytes - offset);
    let size: number;
    try {
      size = await this.store.append(upload.id, offset, through(chunk.body, counter));
    } catch (err) {
      if (err instanceof StoreNotFoundError) throw new BerthError('BLOB_UPLOAD_UNKNOWN', { detail: { id: upload.id } });
      if (err instanceof StoreOffsetError) throw new BerthError('UPLOAD_RANGE_INVALID', { headers: rangeHeaders(upload.id, offset) });
      throw err;
    }
    if (chunk.range && chunk.range.end - chunk.range.start + 1 !== size - offset) {
      await this.store.truncateUpload(upload.id, offset);
      throw new BerthError('UPLOAD_RANGE_INVALID', {
        message: `Content-Range says ${chunk.range.end - chunk.range.start + 1} bytes but the body had ${size - offset}`,
        headers: rangeHeaders(upload.id, offset),
      });
    }
    if (size !== offset) {
      this.options.onBytesReceived?.(size - offset);
      if (!(await this.meta.advanceUpload(upload.id, offset, size, this.now()))) {
        this.hashes.delete(upload.id);
        // Gone rather than moved: its repository was deleted meanwhile, which ends the session.
        if (!(await this.meta.getUpload(upload.id))) {
          await this.store.deleteUpload(upload.id).catch(() => undefined);
          throw new BerthError('BLOB_UPLOAD_UNKNOWN', { message: `repository ${repositoryName} was deleted during this upload`, detail: { repository: repositoryName } });
        }
        await this.store.truncateUpload(upload.id, offset).catch(() => undefined);
        throw new BerthError('UPLOAD_RANGE_INVALID', { message: 'the upload was changed concurrently', headers: rangeHeaders(upload.id, offset) });
      }
      upload.offset = size;
    }
    if (hash) this.hashes.set(upload.id, { offset: size, hash });
    return size;
  }

  /** A copy of the running sha256 at `offset`, rebuilt from the stored bytes if this process lacks it. */
  private async hashAt(id: string, offset: number): Promise<Hash> {
    const state = this.hashes.get(id);
    if (state && state.offset === offset) return state.hash.copy();
    const hash = await this.hashStored(id, 'sha256');
    this.hashes.set(id, { offset, hash });
    return hash.copy();
  }

  private async digestOf(id: string, size: number, algorithm: DigestAlgorithm): Promise<Digest> {
    if (algorithm === 'sha256') {
      const state = this.hashes.get(id);
      const hash = state && state.offset === size ? state.hash.copy() : await this.hashStored(id, algorithm);
      return hashToDigest(algorithm, hash);
    }
    return hashToDigest(algorithm, await this.hashStored(id, algorithm));
  }

  private async hashStored(id: string, algorithm: DigestAlgorithm): Promise<Hash> {
    const hash = newHash(algorithm);
    await pipeline(
      this.store.readUpload(id),
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          hash.update(chunk);
          callback();
        },
      }),
    );
    return hash;
  }

  private async rollback(upload: UploadRow, size: number, before: number): Promise<void> {
    if (size === before) return;
    await this.store.truncateUpload(upload.id, before);
    await this.meta.advanceUpload(upload.id, size, before, this.now());
    upload.offset = before;
    this.hashes.delete(upload.id);
  }
}

/** `source` piped into `transform`, with the source's errors and early end (client gone) passed on. */
function through(source: Readable, transform: HashingStream): HashingStream {
  finished(source, (err) => {
    if (err) transform.destroy(err);
  });
  // The store attaches its pipeline a tick later; until then an early failure must not be an
  // unhandled 'error' event. The pipeline still sees it (the stream is left errored).
  transform.on('error', () => undefined);
  return source.pipe(transform);
}

/** Headers that tell a client where an upload stands (OCI dist-spec "Pushing a blob in chunks"). */
export function rangeHeaders(id: string, offset: number): Record<string, string> {
  return { Range: `0-${Math.max(offset - 1, 0)}`, 'Docker-Upload-UUID': id };
}
