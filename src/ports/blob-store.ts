import type { Readable } from 'node:stream';
import type { Digest } from '../domain/digest.js';

/** An inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Content-addressed bytes (blobs and manifests), plus the scratch space of upload sessions.
 * Small on purpose (see shared/STYLE.md): every driver runs the same contract suite.
 * Drivers know nothing of repositories or the database; they never hash.
 */
export interface BlobStore {
  /** Size of a committed object, or undefined when absent. */
  stat(digest: Digest): Promise<{ size: number } | undefined>;
  /** A stream of a committed object's bytes; rejects with StoreNotFoundError when absent. */
  read(digest: Digest, range?: ByteRange): Promise<Readable>;
  /** Stores small content (manifests) whole, atomically. Idempotent. */
  put(digest: Digest, data: Uint8Array): Promise<void>;
  /** Removes a committed object. Resolves false when it was absent. */
  delete(digest: Digest): Promise<boolean>;
  /**
   * Removes committed objects in as few requests as the storage allows (S3 DeleteObjects, Azure
   * blob batch, a few unlinks at once on a disk); absent ones are fine.
   */
  deleteMany(digests: readonly Digest[]): Promise<void>;
  /** Every committed digest, in no particular order. */
  list(): AsyncIterable<Digest>;

  /** Starts an empty upload session. */
  createUpload(id: string): Promise<void>;
  /** Bytes an upload session holds, or undefined when it does not exist. */
  uploadSize(id: string): Promise<number | undefined>;
  /**
   * Appends a stream at `offset` (which must be the session's current size). If the stream
   * fails, the session is cut back to `offset`, so a chunk lands whole or not at all.
   * Resolves with the new size.
   */
  append(id: string, offset: number, data: Readable): Promise<number>;
  /** Cuts an upload back to `size` bytes (drops the tail a crash left behind). */
  truncateUpload(id: string, size: number): Promise<void>;
  /** The bytes of an upload session, from `start` (to recompute a hash after a restart); fails with StoreNotFoundError when it does not exist. */
  readUpload(id: string, start?: number): Readable;
  /** Makes an upload's bytes the committed object `digest` (atomic) and ends the session. */
  commitUpload(id: string, digest: Digest): Promise<void>;
  /** Ends an upload session, discarding its bytes. */
  deleteUpload(id: string): Promise<void>;

  /** Resolves when the storage is reachable and usable (readiness checks). */
  ping(): Promise<void>;

  /** A URL clients may fetch the object from directly (presigned / CDN), if the driver offers one. */
  redirectURL?(digest: Digest, range?: ByteRange): Promise<string | undefined>;

  close?(): Promise<void>;
}

export class StoreNotFoundError extends Error {
  constructor(readonly path: string) {
    super(`not found in storage: ${path}`);
    this.name = 'StoreNotFoundError';
  }
}

export class StoreOffsetError extends Error {
  constructor(readonly expected: number, readonly actual: number) {
    super(`upload offset mismatch: expected ${expected}, got ${actual}`);
    this.name = 'StoreOffsetError';
  }
}

/** The storage has no room for what is being written (a full disk, a full or over-quota bucket). */
export class StoreFullError extends Error {
  constructor(readonly reason: string, options?: { cause?: unknown }) {
    super(`storage is full: ${reason}`, options);
    this.name = 'StoreFullError';
  }
}

/** The storage service cannot be reached or failed on its side; retrying later may work. */
export class StoreUnavailableError extends Error {
  constructor(readonly reason: string, options?: { cause?: unknown }) {
    super(`the storage is unavailable: ${reason}`, options);
    this.name = 'StoreUnavailableError';
  }
}
