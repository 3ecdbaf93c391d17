import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  BlobSASPermissions,
  BlobServiceClient,
  SASProtocol,
  StorageSharedKeyCredential,
  type BlobClient,
  type BlockBlobClient,
  type ContainerClient,
} from '@azure/storage-blob';
import type { Digest } from '../../domain/digest.js';
import { BerthError } from '../../domain/errors.js';
import { StoreNotFoundError, StoreOffsetError, type BlobStore, type ByteRange } from '../../ports/blob-store.js';
import { azureLimits, blockId, blockRanges, blockSizeFor } from './azure-block-plan.js';
import { fixedBlocks } from './fixed-blocks.js';
import { forEachBounded } from './for-each-bounded.js';
import { encodeKey, KeyLayout } from './key-layout.js';

export interface AzureBlobStoreOptions {
  container: string;
  /** Blob name prefix, so several registries (or tests) can share a container. */
  prefix?: string;
  /**
   * Credentials, one of: a connection string (which names the account, key or SAS, and
   * endpoint); `accountName` + `accountKey`; or a `sasToken` with `endpoint` or `accountName`.
   */
  connectionString?: string;
  accountName?: string;
  accountKey?: string;
  sasToken?: string;
  /** Blob service URL; default `https://<accountName>.blob.core.windows.net`. */
  endpoint?: string;
  /** Block size of staged uploads; an append holds at most one block in memory. */
  blockSizeBytes?: number;
  redirect?: { enabled: boolean; expiresSeconds: number; cdnBaseUrl?: string };
  /** Blob names per List Blobs page (Azure returns at most 5000); smaller only to exercise paging in tests. */
  listPageSize?: number;
  /** Largest session committed with Copy Blob From URL (Azure allows 256 MiB); smaller only to exercise the other paths in tests. */
  syncCopyMaxBytes?: number;
  /** Committed blocks an upload session may hold (Azure allows 50,000); smaller only to exercise the limit in tests. */
  maxUploadBlocks?: number;
}

/** What Get Block List says of an upload session's blob. */
interface CommittedBlocks {
  etag: string;
  size: number;
  blocks: Array<{ name: string; size: number }>;
}

const MiB = 1024 * 1024;
/** Put Block From URL requests in flight during a server-side commit. */
const copyConcurrency = 4;
/** Blob batch requests in flight when many objects go at once (garbage collection). */
const deleteBatchConcurrency = 4;
/** Lifetime of the SAS Berth gives Azure to read an upload session while committing it. */
const copySourceSasSeconds = 3600;
/** Bound on List Blobs pages (5 × 10^10 names): a server that never stops paging is an error, not a hang. */
const maxListPages = 10_000_000;
/** A readiness probe answers within this, retries included. */
const pingTimeoutMs = 10_000;

/**
 * Content-addressed objects in an Azure Blob Storage container (block blobs), laid out as
 * KeyLayout says, so moving between S3 and Azure is a copy of blobs/.
 *
 * An upload session is one block blob, `<prefix>uploads/<id>/data`:
 * - An append cuts the request body into blocks of `blockSizeBytes` (one block buffer in
 *   memory, fixedBlocks), stages each with Put Block, then commits the session's committed
 *   blocks plus the new ones with one Put Block List, conditional on the ETag read before the
 *   append. Put Block List is atomic: until it succeeds the blob shows exactly the bytes it had,
 *   so a chunk lands whole or not at all. Blocks of a failed append stay uncommitted and
 *   invisible; the next Put Block List on the blob discards them, as does deleting the session
 *   (Azure also drops uncommitted blocks after 7 days). A concurrent append that lost the ETag
 *   race is refused (StoreOffsetError) instead of overwriting the winner.
 * - The upload's size is the blob's committed length: any instance, or this one after a
 *   restart, continues an upload another one started. Nothing lives in process memory.
 * - Block ids encode the block's offset and a per-write nonce (azure-block-plan.ts).
 *
 * Why not one blob per chunk, as on S3: Azure can append blocks to a blob atomically, which S3
 * cannot; one blob makes the size one HEAD, deletion one request, and truncation a Put Block
 * List of the blocks that stay.
 *
 * Commit makes `<prefix>blobs/<alg>/<xx>/<hex>` from the session blob, atomically, inside Azure
 * where it can: Copy Blob From URL up to 256 MiB; above that Put Block From URL per 100 MiB
 * range and one Put Block List. Where the service lacks Put Block From URL (Azurite) or Berth
 * cannot sign a source URL, the bytes stream through Berth into staged blocks (no buffer: each
 * block is a ranged download piped into Put Block), committed by one Put Block List.
 *
 * Limits (service version 2019-12-12 and later): 50,000 committed blocks per blob, 4000 MiB per
 * block, so 190.7 TiB per blob; an upload session is capped at 50,000 × blockSizeBytes
 * (781 GiB at the default 16 MiB), and at most 50,000 appends.
 */
export class AzureBlobStore implements BlobStore {
  readonly container: ContainerClient;
  readonly keys: KeyLayout;
  private readonly blockSize: number;
  private readonly listPageSize: number;
  private readonly syncCopyMaxBytes: number;
  private readonly maxUploadBlocks: number;
  private readonly redirect: AzureBlobStoreOptions['redirect'];
  /** The account key, when there is one to sign SAS URLs with. */
  private readonly signer: StorageSharedKeyCredential | undefined;
  /** The container URL carries a configured SAS token, which then authorizes copy sources too. */
  private readonly sasInUrl: boolean;
  private readonly sasProtocol: SASProtocol;
  /** Set once the service answers Put Block From URL with 501 (Azurite); large commits then stream. */
  private blockFromUrlUnsupported = false;
  /** Set once the service refuses blob batch requests; deleteMany then deletes one at a time. */
  private batchUnsupported = false;

  constructor(options: AzureBlobStoreOptions) {
    this.container = containerClient(options);
    this.keys = new KeyLayout(options.prefix ?? '');
    this.blockSize = Math.min(Math.max(Math.floor(options.blockSizeBytes ?? 16 * MiB), 1), azureLimits.maxBlockBytes);
    this.listPageSize = options.listPageSize ?? 5000;
    this.syncCopyMaxBytes = Math.min(options.syncCopyMaxBytes ?? azureLimits.maxSyncCopyBytes, azureLimits.maxSyncCopyBytes);
    this.maxUploadBlocks = Math.min(options.maxUploadBlocks ?? azureLimits.maxBlocks, azureLimits.maxBlocks);
    this.redirect = options.redirect;
    const credential = this.container.credential;
    this.signer = credential instanceof StorageSharedKeyCredential ? credential : undefined;
    const url = new URL(this.container.url);
    this.sasInUrl = url.searchParams.has('sig');
    this.sasProtocol = url.protocol === 'https:' ? SASProtocol.Https : SASProtocol.HttpsAndHttp;
    if (this.redirect?.enabled && !this.redirect.cdnBaseUrl && !this.signer) {
      throw new Error('Azure redirects need an account key to sign SAS URLs, or a CDN base URL');
    }
  }

  async ping(): Promise<void> {
    // List Blobs on the prefix: what a container-scoped SAS allows, unlike Get Container Properties.
    try {
      await this.container.listBlobsFlat({ prefix: this.keys.prefix, abortSignal: AbortSignal.timeout(pingTimeoutMs) }).byPage({ maxPageSize: 1 }).next();
    } catch (err) {
      throw new Error(`Azure container ${this.container.containerName} is not usable: ${describeError(err)}`);
    }
  }

  async stat(digest: Digest): Promise<{ size: number } | undefined> {
    const size = await this.head(this.blockBlob(this.keys.blob(digest)));
    return size === undefined ? undefined : { size };
  }

  async read(digest: Digest, range?: ByteRange): Promise<Readable> {
    try {
      return await this.body(this.blockBlob(this.keys.blob(digest)), range?.start ?? 0, range && range.end - range.start + 1);
    } catch (err) {
      if (isNotFound(err)) throw new StoreNotFoundError(digest);
      throw err;
    }
  }

  async put(digest: Digest, data: Uint8Array): Promise<void> {
    try {
      // Put Blob is atomic; If-None-Match: * leaves an existing object (the same bytes) alone.
      await this.blockBlob(this.keys.blob(digest)).upload(data, data.byteLength, { conditions: { ifNoneMatch: '*' } });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }

  async delete(digest: Digest): Promise<boolean> {
    const deleted = await this.blockBlob(this.keys.blob(digest)).deleteIfExists();
    return deleted.succeeded;
  }

  /**
   * Deletes in blob batches of up to 256 (one request each, a few at once). A sub-request that
   * finds its blob gone is fine; any other failure fails the call. A service without blob batch
   * (answering 400/501 to the batch itself) gets single deletes from then on.
   */
  async deleteMany(digests: readonly Digest[]): Promise<void> {
    const batches: Digest[][] = [];
    for (let i = 0; i < digests.length; i += azureLimits.maxBatchRequests) batches.push(digests.slice(i, i + azureLimits.maxBatchRequests));
    await forEachBounded(batches, deleteBatchConcurrency, async (batch) => {
      if (!this.batchUnsupported) {
        try {
          const result = await this.container.getBlobBatchClient().deleteBlobs(batch.map((d) => this.blockBlob(this.keys.blob(d))));
          const failed = result.subResponses.find((r) => r.status >= 300 && r.status !== 404);
          if (failed) throw new Error(`Azure could not delete ${failed._request.url}: ${failed.status} ${failed.errorCode ?? failed.statusMessage}`);
          return;
        } catch (err) {
          if (statusOf(err) !== 400 && statusOf(err) !== 501) throw err;
          this.batchUnsupported = true;
        }
      }
      await forEachBounded(batch, 8, async (d) => void (await this.delete(d)));
    });
  }

  async *list(): AsyncIterable<Digest> {
    let pages = 0;
    for await (const page of this.container.listBlobsFlat({ prefix: this.keys.blobsPrefix }).byPage({ maxPageSize: this.listPageSize })) {
      if (++pages > maxListPages) throw new Error(`Azure listing of ${this.keys.blobsPrefix} exceeded ${maxListPages} pages`);
      for (const item of page.segment.blobItems) {
        const digest = this.keys.digestOf(item.name);
        if (digest) yield digest;
      }
    }
  }

  async createUpload(id: string): Promise<void> {
    await this.session(id).upload(new Uint8Array(0), 0);
  }

  async uploadSize(id: string): Promise<number | undefined> {
    return this.head(this.session(id));
  }

  async append(id: string, offset: number, data: Readable): Promise<number> {
    const session = this.session(id);
    const committed = await this.committedBlocks(session);
    if (!committed) throw new StoreNotFoundError(`upload ${id}`);
    if (committed.size !== offset) throw new StoreOffsetError(committed.size, offset);

    const nonce = newNonce();
    const staged: string[] = [];
    let end = offset;
    for await (const block of fixedBlocks(data, this.blockSize)) {
      if (committed.blocks.length + staged.length >= this.maxUploadBlocks) {
        throw new BerthError('BLOB_TOO_LARGE', {
          message: `an upload holds at most ${this.maxUploadBlocks} blocks of ${this.blockSize} bytes on Azure (storage.azure.blockSizeBytes)`,
        });
      }
      const name = blockId(end, nonce);
      await session.stageBlock(name, block, block.length);
      staged.push(name);
      end += block.length;
    }
    // An empty body stores nothing.
    if (staged.length === 0) return offset;
    try {
      await session.commitBlockList([...committed.blocks.map((b) => b.name), ...staged], { conditions: { ifMatch: committed.etag } });
    } catch (err) {
      // Another writer committed (or the session went) since we looked: this chunk did not land.
      if (statusOf(err) === 412) throw new StoreOffsetError((await this.uploadSize(id)) ?? offset, offset);
      if (isNotFound(err)) throw new StoreNotFoundError(`upload ${id}`);
      throw err;
    }
    return end;
  }

  async truncateUpload(id: string, size: number): Promise<void> {
    const session = this.session(id);
    const committed = await this.committedBlocks(session);
    if (!committed) throw new StoreNotFoundError(`upload ${id}`);
    if (size >= committed.size) return;
    const kept: string[] = [];
    let end = 0;
    for (const block of committed.blocks) {
      if (end + block.size > size) break;
      kept.push(block.name);
      end += block.size;
    }
    if (end < size) {
      // The block that straddles the cut is staged again, shortened, from the blob itself.
      const name = blockId(end, newNonce());
      await session.stageBlock(name, this.rangeBody(session, end, size - end), size - end);
      kept.push(name);
    }
    // One Put Block List: readers see the old bytes until the shorter list is committed.
    await session.commitBlockList(kept, { conditions: { ifMatch: committed.etag } });
  }

  readUpload(id: string, start = 0): Readable {
    const session = this.session(id); // refuses a bad id now, as the filesystem driver does
    return Readable.from(this.uploadBytes(session, id, start), { objectMode: false });
  }

  async commitUpload(id: string, digest: Digest): Promise<void> {
    const session = this.session(id);
    const size = await this.head(session);
    if (size === undefined) throw new StoreNotFoundError(`upload ${id}`);
    const target = this.blockBlob(this.keys.blob(digest));
    // Content addressing: an object under this digest already holds these very bytes.
    if ((await this.head(target)) === undefined) await this.assemble(session, size, target);
    await this.deleteUpload(id);
  }

  async deleteUpload(id: string): Promise<void> {
    // Deleting the blob deletes its uncommitted blocks too.
    await this.session(id).deleteIfExists();
  }

  /**
   * A URL to fetch the object from directly: the CDN's when configured, else the blob's URL
   * with a read-only service SAS (sp=r) valid for `expiresSeconds`. `range` is not part of the
   * SAS: the client sends its own Range header with the URL, which Azure (and CDNs) honour.
   */
  async redirectURL(digest: Digest, _range?: ByteRange): Promise<string | undefined> {
    if (!this.redirect?.enabled) return undefined;
    const key = this.keys.blob(digest);
    if (this.redirect.cdnBaseUrl) return `${this.redirect.cdnBaseUrl.replace(/\/+$/, '')}/${encodeKey(key)}`;
    return this.signedReadUrl(this.blockBlob(key), this.redirect.expiresSeconds);
  }

  /** Makes the session blob's `size` bytes the blob `target`, atomically. */
  private async assemble(session: BlockBlobClient, size: number, target: BlockBlobClient): Promise<void> {
    if (size === 0) {
      await target.upload(new Uint8Array(0), 0);
      return;
    }
    const source = await this.sourceUrl(session);
    if (source !== undefined && size <= this.syncCopyMaxBytes) {
      // Server-side and synchronous: the object appears when the copy is complete.
      await target.syncCopyFromURL(source);
      return;
    }
    if (source !== undefined && !this.blockFromUrlUnsupported && (await this.copyBlocks(session, size, target))) return;
    await this.streamBlocks(session, size, target);
  }

  /**
   * Server-side concatenation with Put Block From URL (Azure Storage). Resolves false when the
   * service does not implement it (Azurite answers 501); the staged blocks are then left
   * uncommitted, invisible, and dropped by Azure.
   */
  private async copyBlocks(session: BlockBlobClient, size: number, target: BlockBlobClient): Promise<boolean> {
    const ranges = blockRanges(size, blockSizeFor(size, azureLimits.copyBlockBytes));
    const nonce = newNonce();
    const ids = ranges.map((r) => blockId(r.start, nonce));
    try {
      await forEachBounded(ranges, copyConcurrency, async (range, index) => {
        // Signed per request: a long commit outlives no SAS.
        const source = await this.sourceUrl(session);
        await target.stageBlockFromURL(ids[index]!, source!, range.start, range.count);
      });
    } catch (err) {
      if (statusOf(err) === 501) {
        this.blockFromUrlUnsupported = true;
        return false;
      }
      throw err;
    }
    await target.commitBlockList(ids);
    return true;
  }

  /** The session's bytes through Berth into staged blocks of `target`, one ranged download at a time. */
  private async streamBlocks(session: BlockBlobClient, size: number, target: BlockBlobClient): Promise<void> {
    const ranges = blockRanges(size, blockSizeFor(size, this.blockSize));
    const nonce = newNonce();
    const ids: string[] = [];
    for (const range of ranges) {
      const name = blockId(range.start, nonce);
      await target.stageBlock(name, this.rangeBody(session, range.start, range.count), range.count);
      ids.push(name);
    }
    await target.commitBlockList(ids);
  }

  /**
   * A request body (Put Block) that streams bytes [start, start + count) of `source`. A function,
   * so the SDK's retry policy can start the download again; nothing is buffered beyond the
   * streams' high-water marks.
   */
  private rangeBody(source: BlobClient, start: number, count: number): () => NodeJS.ReadableStream {
    return () => {
      const out = new PassThrough();
      source
        .download(start, count)
        .then((res) => {
          if (!res.readableStreamBody) throw new Error(`Azure returned no stream for ${source.name}`);
          return pipeline(res.readableStreamBody, out);
        })
        .catch((err: unknown) => out.destroy(err as Error));
      return out;
    };
  }

  private async *uploadBytes(session: BlockBlobClient, id: string, start: number): AsyncGenerator<Buffer> {
    let body: Readable;
    try {
      body = await this.body(session, start, undefined);
    } catch (err) {
      if (isNotFound(err)) throw new StoreNotFoundError(`upload ${id}`);
      // A start at the very end (Azure: 416 InvalidRange) reads nothing.
      if (statusOf(err) === 416) return;
      throw err;
    }
    try {
      for await (const piece of body) yield piece as Buffer;
    } finally {
      body.destroy();
    }
  }

  /** A URL Azure itself may read the session from (copy source): signed, or carrying the configured SAS. */
  private async sourceUrl(blob: BlobClient): Promise<string | undefined> {
    if (this.signer) return this.signedReadUrl(blob, copySourceSasSeconds);
    return this.sasInUrl ? blob.url : undefined;
  }

  /** The blob's URL with a read-only service SAS, no start time (no clock-skew window), https only on https endpoints. */
  private signedReadUrl(blob: BlobClient, expiresSeconds: number): Promise<string> {
    return blob.generateSasUrl({
      permissions: BlobSASPermissions.parse('r'),
      expiresOn: new Date(Date.now() + expiresSeconds * 1000),
      protocol: this.sasProtocol,
    });
  }

  private async committedBlocks(blob: BlockBlobClient): Promise<CommittedBlocks | undefined> {
    try {
      const list = await blob.getBlockList('committed');
      if (!list.etag) throw new Error(`Azure returned no ETag for ${blob.name}`);
      const blocks = (list.committedBlocks ?? []).map((b) => ({ name: b.name, size: b.size }));
      return { etag: list.etag, blocks, size: list.blobContentLength ?? blocks.reduce((sum, b) => sum + b.size, 0) };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Size of a blob, or undefined when absent. */
  private async head(blob: BlobClient): Promise<number | undefined> {
    try {
      return (await blob.getProperties()).contentLength ?? 0;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async body(blob: BlobClient, start: number, count: number | undefined): Promise<Readable> {
    const res = await blob.download(start, count);
    if (!(res.readableStreamBody instanceof Readable)) throw new Error(`Azure returned no stream for ${blob.name}`);
    return res.readableStreamBody;
  }

  private session(id: string): BlockBlobClient {
    return this.blockBlob(`${this.keys.upload(id)}data`);
  }

  private blockBlob(name: string): BlockBlobClient {
    return this.container.getBlockBlobClient(name);
  }
}

/** The container, from whichever credentials the options carry. */
function containerClient(options: AzureBlobStoreOptions): ContainerClient {
  if (options.connectionString) return BlobServiceClient.fromConnectionString(options.connectionString).getContainerClient(options.container);
  const endpoint = (options.endpoint ?? (options.accountName && `https://${options.accountName}.blob.core.windows.net`))?.replace(/\/+$/, '');
  if (!endpoint) throw new Error('Azure storage needs an endpoint or an account name');
  if (options.accountKey) {
    if (!options.accountName) throw new Error('an Azure account key needs the account name');
    return new BlobServiceClient(endpoint, new StorageSharedKeyCredential(options.accountName, options.accountKey)).getContainerClient(options.container);
  }
  if (options.sasToken) return new BlobServiceClient(`${endpoint}?${options.sasToken.replace(/^\?/, '')}`).getContainerClient(options.container);
  throw new Error('Azure storage needs a connection string, an account key or a SAS token');
}

/** 12 hex digits, fresh for each write (see blockId). */
function newNonce(): string {
  return randomBytes(6).toString('hex');
}

function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number })?.statusCode;
}

/** Azure's error code: in the body, or (HEAD requests) only in the x-ms-error-code header. */
function codeOf(err: unknown): string | undefined {
  const e = err as { code?: string; details?: { errorCode?: string } };
  return e?.details?.errorCode ?? e?.code;
}

/** BlobNotFound (or a body-less 404 on HEAD); ContainerNotFound is a real error. */
function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404 && codeOf(err) !== 'ContainerNotFound';
}

function isAlreadyExists(err: unknown): boolean {
  return statusOf(err) === 409 && codeOf(err) === 'BlobAlreadyExists';
}

/** Status, code and the first line of the message; never a URL's signature. */
function describeError(err: unknown): string {
  const message = String((err as Error)?.message ?? err).split('\n', 1)[0]!.replace(/([?&]sig=)[^&\s]*/gi, '$1***');
  return [statusOf(err), codeOf(err), message].filter((part) => part !== undefined && part !== '').join(' ');
}
