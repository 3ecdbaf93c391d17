import type { Readable } from 'node:stream';
import { BerthError } from '../../domain/errors.js';
import { parseDigest, type Digest } from '../../domain/digest.js';
import { StoreNotFoundError, type BlobStore, type ByteRange } from '../../ports/blob-store.js';
import type { BlobRow, ManifestRow, MetadataStore } from '../../ports/metadata-store.js';
import { existingRepository, readableRepository } from './repositories.js';
import type { RepositoryCache } from './repository-cache.js';
import { quarantineMessage } from '../../domain/quarantine.js';

export interface BlobContent {
  digest: Digest;
  size: number;
  /** Present when a range was asked for and satisfiable. */
  range?: ByteRange;
  stream: Readable;
}

/** Pulling and deleting blobs (OCI dist-spec "Pulling blobs", "Deleting blobs"). */
export class BlobService {
  constructor(
    private readonly meta: MetadataStore,
    private readonly store: BlobStore,
    /** Repository rows kept current by tag changes (PostgreSQL): a blob read then costs one lookup, not two. */
    private readonly repositories?: RepositoryCache,
  ) {}

  /** The blob's size when the repository holds it (as a layer/config, or a manifest fetched by digest). */
  async stat(repositoryName: string, digestValue: string, touch = true): Promise<BlobRow> {
    const { digest } = parseDigest(digestValue);
    // The id the repository had when last read, kept across its tag changes: what it finds is
    // there (a deleted repository's rows go with its row, and a name never moves to another id);
    // a miss is confirmed against the row, which may name a repository made anew.
    const lastId = this.repositories?.lastId(repositoryName);
    const found = lastId === undefined ? undefined : await this.held(lastId, digest, touch);
    if (found) return checked(digest, found);
    const repository = await readableRepository(this.meta, repositoryName, this.repositories);
    const blob = repository.id === lastId ? undefined : await this.held(repository.id, digest, touch);
    if (!blob) throw new BerthError('BLOB_UNKNOWN', { detail: { digest } });
    return checked(digest, blob);
  }

  private async held(repositoryId: number, digest: Digest, touch: boolean): Promise<BlobRow | ManifestRow | undefined> {
    return (await this.meta.getRepositoryBlob(repositoryId, digest, touch)) ?? (await this.meta.getManifest(repositoryId, digest));
  }

  /**
   * Opens the blob for reading. `range` is the parsed `Range` header; an unsatisfiable one
   * is a 416 naming the blob's size.
   */
  async open(repositoryName: string, digestValue: string, range?: { start?: number; end?: number }): Promise<BlobContent> {
    return this.read(repositoryName, digestValue, range, true);
  }

  /** Opens the blob for a background reader (a scan, insights): its grace period is left alone (MetadataStore.getRepositoryBlob). */
  openQuietly(repositoryName: string, digestValue: string): Promise<BlobContent> {
    return this.read(repositoryName, digestValue, undefined, false);
  }

  private async read(repositoryName: string, digestValue: string, range: { start?: number; end?: number } | undefined, touch: boolean): Promise<BlobContent> {
    const blob = await this.stat(repositoryName, digestValue, touch);
    let byteRange: ByteRange | undefined;
    if (range) {
      byteRange = resolveRange(range, blob.size);
      if (!byteRange) {
        throw new BerthError('RANGE_INVALID', { headers: { 'Content-Range': `bytes */${blob.size}` }, detail: { size: blob.size } });
      }
    }
    try {
      const stream = await this.store.read(blob.digest, byteRange);
      return { digest: blob.digest, size: blob.size, range: byteRange, stream };
    } catch (err) {
      // A row without bytes must never be served as if it were there.
      if (err instanceof StoreNotFoundError) throw new BerthError('BLOB_UNKNOWN', { detail: { digest: blob.digest } });
      throw err;
    }
  }

  async redirectURL(digest: Digest, range?: ByteRange): Promise<string | undefined> {
    return this.store.redirectURL?.(digest, range);
  }

  /** Unlinks the blob from the repository; bytes are reclaimed by garbage collection. */
  async delete(repositoryName: string, digestValue: string): Promise<void> {
    const { digest } = parseDigest(digestValue);
    const repository = await existingRepository(this.meta, repositoryName);
    if (!(await this.meta.unlinkBlob(repository.id, digest))) throw new BerthError('BLOB_UNKNOWN', { detail: { digest } });
  }
}

/** RFC 9110 byte ranges: `start-end`, `start-` or the suffix `-length`; undefined when unsatisfiable. */
export function resolveRange(range: { start?: number; end?: number }, size: number): ByteRange | undefined {
  if (range.start === undefined) {
    if (range.end === undefined || range.end === 0 || size === 0) return undefined;
    return { start: Math.max(size - range.end, 0), end: size - 1 };
  }
  if (range.start >= size) return undefined;
  const end = range.end === undefined ? size - 1 : Math.min(range.end, size - 1);
  if (end < range.start) return undefined;
  return { start: range.start, end };
}

/** The blob a repository holds, unless it is quarantined. */
function checked(digest: Digest, blob: BlobRow | ManifestRow): BlobRow {
  if ('quarantine' in blob && blob.quarantine) throw new BerthError('BLOB_UNKNOWN', { message: quarantineMessage('blob', digest, blob.quarantine), detail: { digest, quarantine: blob.quarantine } });
  return { digest, size: blob.size };
}
