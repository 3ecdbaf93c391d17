import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Digest } from '../../domain/digest.js';
import { StoreFullError, StoreNotFoundError, StoreUnavailableError, StoreOffsetError, type BlobStore, type ByteRange } from '../../ports/blob-store.js';
import { forEachBounded } from './for-each-bounded.js';
import { encodeKey } from './key-layout.js';
import { S3KeyLayout } from './s3-key-layout.js';
import { abortMultipart, writeObject, type ObjectTarget } from './s3-object-writer.js';
import { copyPartPlan, s3Limits, streamPartSize, type ChunkExtent, type CopyPart } from './s3-part-plan.js';

export interface S3BlobStoreOptions {
  bucket: string;
  /** Key prefix, so several registries (or tests) can share a bucket. */
  prefix?: string;
  region?: string;
  /** For S3-compatible stores (MinIO, Ceph RGW, s3rver); omit for AWS. */
  endpoint?: string;
  forcePathStyle?: boolean;
  /** Omit to use the SDK's default chain (environment, shared files, instance/task role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  serverSideEncryption?: 'none' | 'AES256' | 'aws:kms';
  kmsKeyId?: string;
  /** Part size of multipart uploads; an append or commit holds at most one part in memory. */
  partSizeBytes?: number;
  redirect?: { enabled: boolean; expiresSeconds: number; cdnBaseUrl?: string };
  /** Keys per ListObjectsV2 page (S3 returns at most 1000); smaller only to exercise paging in tests. */
  listPageSize?: number;
}

/** A chunk object of an upload session. */
interface StoredChunk extends ChunkExtent {
  key: string;
}

/** What the bucket holds for one upload session. */
interface Session {
  exists: boolean;
  /** Chunks that follow each other from byte 0, in order. */
  chunks: StoredChunk[];
  size: number;
  /** Objects in the session's folder that are not part of the upload (past a gap, empty). */
  stray: string[];
}

/** UploadPartCopy requests in flight during a server-side commit. */
const copyConcurrency = 8;
/** S3 DeleteObjects takes at most 1000 keys per request. */
const deleteBatch = 1000;
/** DeleteObjects requests in flight when many objects go at once (garbage collection). */
const deleteBatchConcurrency = 4;
/** Bound on ListObjectsV2 pages (10^10 keys): a server that never stops paging is an error, not a hang. */
const maxListPages = 10_000_000;

/**
 * Content-addressed objects in an S3 bucket (AWS S3, MinIO, Ceph RGW, any S3 API), laid out as
 * S3KeyLayout says. S3 objects are immutable and a PutObject or CompleteMultipartUpload lands
 * whole or not at all, so each appended chunk is its own object: "a chunk lands whole or not at
 * all" comes for free, and upload state lives in the bucket, so any instance can continue an
 * upload another one started.
 */
export class S3BlobStore implements BlobStore {
  readonly client: S3Client;
  readonly bucket: string;
  readonly keys: S3KeyLayout;
  private readonly partSize: number;
  private readonly listPageSize: number;
  private readonly encryption: { ServerSideEncryption?: 'AES256' | 'aws:kms'; SSEKMSKeyId?: string };
  private readonly redirect: S3BlobStoreOptions['redirect'];
  /** Set once the server answers UploadPartCopy with NotImplemented (s3rver); commits then stream. */
  private partCopyUnsupported = false;

  constructor(options: S3BlobStoreOptions) {
    this.bucket = options.bucket;
    this.keys = new S3KeyLayout(options.prefix ?? '');
    this.partSize = Math.max(options.partSizeBytes ?? 16 * 1024 * 1024, s3Limits.minPartBytes);
    this.listPageSize = options.listPageSize ?? 1000;
    const sse = options.serverSideEncryption ?? 'none';
    this.encryption =
      sse === 'none' ? {} : { ServerSideEncryption: sse, ...(sse === 'aws:kms' && options.kmsKeyId ? { SSEKMSKeyId: options.kmsKeyId } : {}) };
    this.redirect = options.redirect;
    this.client = new S3Client({
      region: options.region ?? 'us-east-1',
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle ?? false,
      credentials: options.credentials,
      // Checksums only where the S3 API requires them (DeleteObjects). The SDK's newer default
      // adds CRC32 headers that several S3-compatible stores reject, and puts a checksum
      // parameter into presigned GET URLs; blobs are verified by digest anyway (uploads are
      // hashed before commit, clients check what they pull) and TLS guards the transfer.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    // After the SDK's own retries: a full store and an unreachable one become the errors the
    // registry answers clients with (507, 503), instead of one generic failure.
    this.client.middlewareStack.add(
      (next) => async (args) => {
        try {
          return await next(args);
        } catch (err) {
          throw storeError(err, options.endpoint ?? `AWS S3 (${options.region ?? 'us-east-1'})`);
        }
      },
      { step: 'initialize', name: 'berthStoreErrors' },
    );
  }

  async ping(): Promise<void> {
    // ListBucket on the prefix: works with prefix-scoped IAM policies, unlike HeadBucket alone.
    await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.keys.prefix, MaxKeys: 1 }));
  }

  async stat(digest: Digest): Promise<{ size: number } | undefined> {
    const size = await this.head(this.keys.blob(digest));
    return size === undefined ? undefined : { size };
  }

  async read(digest: Digest, range?: ByteRange): Promise<Readable> {
    try {
      return await this.body(this.keys.blob(digest), range && `bytes=${range.start}-${range.end}`);
    } catch (err) {
      if (isNotFound(err)) throw new StoreNotFoundError(digest);
      throw err;
    }
  }

  async put(digest: Digest, data: Uint8Array): Promise<void> {
    const key = this.keys.blob(digest);
    if ((await this.head(key)) !== undefined) return;
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: data, ContentLength: data.byteLength, ...this.encryption }));
  }

  async delete(digest: Digest): Promise<boolean> {
    const key = this.keys.blob(digest);
    // S3's DeleteObject answers 204 whether or not the key existed; the port wants to know.
    if ((await this.head(key)) === undefined) return false;
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    return true;
  }

  async deleteMany(digests: readonly Digest[]): Promise<void> {
    // Quiet DeleteObjects reports only failures; a key that was absent is not one.
    const keys = digests.map((d) => this.keys.blob(d));
    const batches: string[][] = [];
    for (let i = 0; i < keys.length; i += deleteBatch) batches.push(keys.slice(i, i + deleteBatch));
    await forEachBounded(batches, deleteBatchConcurrency, (batch) => this.deleteKeys(batch));
  }

  async *list(): AsyncIterable<Digest> {
    for await (const object of this.listObjects(this.keys.blobsPrefix)) {
      const digest = this.keys.digestOf(object.key);
      if (digest) yield digest;
    }
  }

  async createUpload(id: string): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.keys.session(id), Body: new Uint8Array(0), ...this.encryption }));
  }

  async uploadSize(id: string): Promise<number | undefined> {
    const session = await this.session(id);
    return session.exists ? session.size : undefined;
  }

  async append(id: string, offset: number, data: Readable): Promise<number> {
    const session = await this.session(id);
    if (!session.exists) throw new StoreNotFoundError(`upload ${id}`);
    if (session.size !== offset) throw new StoreOffsetError(session.size, offset);
    // Objects past a gap must go before new chunks could make them look contiguous.
    await this.deleteKeys(session.stray);

    const key = this.keys.chunk(id, offset);
    let written: number;
    try {
      written = await writeObject(this.client, this.target(key), data, this.partSize);
    } catch (err) {
      // The multipart upload is aborted; a PUT that landed but whose answer was lost goes too.
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })).catch(() => undefined);
      throw err;
    }
    // An empty body stores nothing.
    if (written === 0) await this.deleteKeys([key]);
    return offset + written;
  }

  async truncateUpload(id: string, size: number): Promise<void> {
    const session = await this.session(id);
    if (!session.exists) throw new StoreNotFoundError(`upload ${id}`);
    // Whole chunks past `size` go first and the straddling chunk is cut last, so a truncation
    // cut short leaves a longer upload, which the next reconcile cuts again. Chunks a partial
    // DeleteObjects left past a gap are ignored by session() and removed by the next append.
    await this.deleteKeys([...session.stray, ...session.chunks.filter((c) => c.start >= size).map((c) => c.key)]);
    const straddling = session.chunks.find((c) => c.start < size && c.start + c.size > size);
    if (straddling) {
      // Rewriting a key is atomic in S3: readers see the old chunk until the new one is complete.
      const kept = size - straddling.start;
      const head = await this.body(straddling.key, `bytes=0-${kept - 1}`);
      await writeObject(this.client, this.target(straddling.key), head, streamPartSize(kept, this.partSize));
    }
  }

  readUpload(id: string, start = 0): Readable {
    this.keys.upload(id); // refuse a bad id now, as the filesystem driver does
    return Readable.from(this.uploadBytes(id, start), { objectMode: false });
  }

  async commitUpload(id: string, digest: Digest): Promise<void> {
    const session = await this.session(id);
    if (!session.exists) throw new StoreNotFoundError(`upload ${id}`);
    const target = this.keys.blob(digest);
    // Content addressing: an object under this digest already holds these very bytes.
    if ((await this.head(target)) === undefined) await this.assemble(session, target);
    await this.deleteUpload(id);
  }

  async deleteUpload(id: string): Promise<void> {
    const marker = this.keys.session(id);
    let batch: string[] = [];
    for await (const object of this.listObjects(this.keys.upload(id))) {
      if (object.key === marker) continue;
      batch.push(object.key);
      if (batch.length === deleteBatch) {
        await this.deleteKeys(batch);
        batch = [];
      }
    }
    await this.deleteKeys(batch);
    // The marker goes last: a deletion cut short leaves a session that still shows (and is
    // deleted again), never chunks that nothing points at.
    await this.deleteKeys([marker]);
  }

  /**
   * A URL to fetch the object from directly: the CDN's when configured, else a presigned
   * GetObject. `range` is not signed in: the client sends its own Range header with the URL,
   * which S3 (and CDNs) honour, so one URL serves whole and ranged pulls.
   */
  async redirectURL(digest: Digest, _range?: ByteRange): Promise<string | undefined> {
    if (!this.redirect?.enabled) return undefined;
    const key = this.keys.blob(digest);
    if (this.redirect.cdnBaseUrl) return `${this.redirect.cdnBaseUrl.replace(/\/+$/, '')}/${encodeKey(key)}`;
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), { expiresIn: this.redirect.expiresSeconds });
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  /** Makes the session's chunks, in order, the object `target`. */
  private async assemble(session: Session, target: string): Promise<void> {
    const [first] = session.chunks;
    if (first === undefined) {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: target, Body: new Uint8Array(0), ...this.encryption }));
      return;
    }
    if (session.chunks.length === 1 && first.size <= s3Limits.maxCopyObjectBytes) {
      // Server-side: no byte passes through Berth.
      await this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: target, CopySource: this.copySource(first.key), ...this.encryption }));
      return;
    }
    const plan = this.partCopyUnsupported ? undefined : copyPartPlan(session.chunks);
    if (plan && (await this.copyParts(session.chunks, plan, target))) return;
    // Chunks under 5 MiB cannot be parts (EntityTooSmall), and s3rver lacks UploadPartCopy:
    // the concatenation streams through Berth instead, one chunk at a time.
    await writeObject(this.client, this.target(target), this.chunkBytes(session.chunks, 0), streamPartSize(session.size, this.partSize));
  }

  /**
   * Server-side concatenation with UploadPartCopy (real S3, MinIO, Ceph). Resolves false when
   * the server does not implement it (s3rver answers 501), after aborting the multipart upload.
   */
  private async copyParts(chunks: StoredChunk[], plan: CopyPart[], target: string): Promise<boolean> {
    const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: target, ...this.encryption }));
    const uploadId = created.UploadId;
    if (!uploadId) throw new Error(`S3 returned no UploadId for ${target}`);
    try {
      const etags: string[] = new Array<string>(plan.length);
      await forEachBounded(plan, copyConcurrency, async (part, index) => {
        const copied = await this.client.send(
          new UploadPartCopyCommand({
            Bucket: this.bucket,
            Key: target,
            UploadId: uploadId,
            PartNumber: index + 1,
            CopySource: this.copySource(chunks[part.chunk]!.key),
            CopySourceRange: `bytes=${part.start}-${part.end}`,
          }),
        );
        const etag = copied.CopyPartResult?.ETag;
        if (!etag) throw new Error(`S3 returned no ETag for part ${index + 1} of ${target}`);
        etags[index] = etag;
      });
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: target,
          UploadId: uploadId,
          MultipartUpload: { Parts: etags.map((ETag, index) => ({ ETag, PartNumber: index + 1 })) },
        }),
      );
      return true;
    } catch (err) {
      await abortMultipart(this.client, { Bucket: this.bucket, Key: target }, uploadId);
      if (isNotImplemented(err)) {
        this.partCopyUnsupported = true;
        return false;
      }
      throw err;
    }
  }

  /** An upload's bytes from `start`; lists the session only when first read. */
  private async *uploadBytes(id: string, start: number): AsyncGenerator<Buffer> {
    const session = await this.session(id);
    if (!session.exists) throw new StoreNotFoundError(`upload ${id}`);
    yield* this.chunkBytes(session.chunks, start);
  }

  /** The bytes of `chunks` from offset `start`, one GetObject at a time. */
  private async *chunkBytes(chunks: StoredChunk[], start: number): AsyncGenerator<Buffer> {
    for (const chunk of chunks) {
      if (chunk.start + chunk.size <= start) continue;
      const skip = Math.max(start - chunk.start, 0);
      const body = await this.body(chunk.key, skip > 0 ? `bytes=${skip}-` : undefined);
      try {
        for await (const piece of body) yield piece as Buffer;
      } finally {
        body.destroy();
      }
    }
  }

  /** Lists the session's folder: its marker, its contiguous chunks, and anything else. */
  private async session(id: string): Promise<Session> {
    const marker = this.keys.session(id);
    const session: Session = { exists: false, chunks: [], size: 0, stray: [] };
    const found: StoredChunk[] = [];
    for await (const object of this.listObjects(this.keys.upload(id))) {
      if (object.key === marker) {
        session.exists = true;
        continue;
      }
      const start = this.keys.chunkStart(id, object.key);
      if (start === undefined) session.stray.push(object.key);
      else found.push({ key: object.key, start, size: object.size });
    }
    // In start order, each chunk must begin where the previous one ended. Anything else (past
    // a gap that a truncation or deletion cut short left, or empty) is not part of the upload.
    found.sort((a, b) => a.start - b.start);
    for (const chunk of found) {
      if (chunk.start === session.size && chunk.size > 0) {
        session.chunks.push(chunk);
        session.size += chunk.size;
      } else {
        session.stray.push(chunk.key);
      }
    }
    return session;
  }

  /** Every object under `prefix`, following ListObjectsV2 continuation tokens. */
  private async *listObjects(prefix: string): AsyncGenerator<{ key: string; size: number }> {
    let token: string | undefined;
    for (let page = 0; page < maxListPages; page++) {
      const listed = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: this.listPageSize }),
      );
      for (const object of listed.Contents ?? []) {
        if (object.Key !== undefined) yield { key: object.Key, size: object.Size ?? 0 };
      }
      if (!listed.IsTruncated) return;
      if (!listed.NextContinuationToken || listed.NextContinuationToken === token) throw new Error(`S3 listing of ${prefix} did not advance`);
      token = listed.NextContinuationToken;
    }
    throw new Error(`S3 listing of ${prefix} exceeded ${maxListPages} pages`);
  }

  private async deleteKeys(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += deleteBatch) {
      const batch = keys.slice(i, i + deleteBatch);
      const result = await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
      );
      const failed = result.Errors?.[0];
      if (failed) throw new Error(`S3 could not delete ${failed.Key}: ${failed.Code} ${failed.Message ?? ''}`.trim());
    }
  }

  /** Size of an object, or undefined when absent. */
  private async head(key: string): Promise<number | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return head.ContentLength ?? 0;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async body(key: string, range: string | undefined): Promise<Readable> {
    const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: range }));
    if (!(object.Body instanceof Readable)) throw new Error(`S3 returned no stream for ${key}`);
    return object.Body;
  }

  /** Where writeObject puts `key`, with the configured server-side encryption. */
  private target(key: string): ObjectTarget {
    return { Bucket: this.bucket, Key: key, ...this.encryption };
  }

  /** x-amz-copy-source: bucket and key, URL-encoded (AWS CopyObject API). */
  private copySource(key: string): string {
    return `${encodeURIComponent(this.bucket)}/${encodeKey(key)}`;
  }
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** NoSuchKey (GetObject) or a body-less 404 (HeadObject); NoSuchBucket is a real error. */
function isNotFound(err: unknown): boolean {
  const name = (err as Error)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || (statusOf(err) === 404 && name !== 'NoSuchBucket');
}

function isNotImplemented(err: unknown): boolean {
  return (err as Error)?.name === 'NotImplemented' || statusOf(err) === 501;
}

/** Error codes S3-compatible stores answer when they have no room: MinIO's, and Ceph RGW's quota. */
const fullCodes = new Set(['XMinioStorageFull', 'QuotaExceeded', 'InsufficientStorage']);
const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** The SDK's error as the BlobStore port names it; anything else unchanged. */
function storeError(err: unknown, where: string): unknown {
  const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  if (fullCodes.has(e.name ?? '') || status === 507) return new StoreFullError(`the S3 store at ${where} answered ${e.name ?? status}`, { cause: err });
  // 501 NotImplemented is an answer about a feature (UploadPartCopy on s3rver), not an outage.
  if (networkCodes.has(e.code ?? '') || e.name === 'TimeoutError' || (status !== undefined && status >= 500 && status !== 501)) {
    const what = status !== undefined && status >= 500 ? `answered ${status} ${e.name ?? ''}`.trim() : `cannot be reached (${e.code ?? e.name})`;
    return new StoreUnavailableError(`the S3 store at ${where} ${what}`, { cause: err });
  }
  return err;
}
