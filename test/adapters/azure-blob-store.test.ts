import { randomBytes, randomUUID } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { ContainerSASPermissions, SASProtocol } from '@azure/storage-blob';
import { afterAll, describe, expect, it } from 'vitest';
import { AzureBlobStore, type AzureBlobStoreOptions } from '../../src/adapters/storage/azure-blob-store.js';
import { blockOffset } from '../../src/adapters/storage/azure-block-plan.js';
import { digestOf } from '../../src/domain/digest.js';
import { BerthError } from '../../src/domain/errors.js';
import { StoreOffsetError } from '../../src/ports/blob-store.js';
import { startAzuriteOrWarn } from '../helpers/azurite.js';
import { measureTransfers, memoryReport } from '../helpers/blob-memory.js';
import { expectServesBytes } from '../helpers/direct-url.js';
import { blobStoreContract, failingBody, uploadOf } from './blobstore.contract.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const azurite = await startAzuriteOrWarn('Azure blob store tests');

afterAll(async () => {
  await azurite?.stop();
});

describe.skipIf(!azurite)('Azure driver on Azurite', () => {
  const az = azurite!;
  const open = (overrides: Partial<AzureBlobStoreOptions> = {}) => new AzureBlobStore(az.storeOptions(overrides));

  // Pages of 2 names: list() crosses continuation tokens.
  blobStoreContract('azure (Azurite)', {
    async create() {
      return open({ listPageSize: 2 });
    },
    async destroy() {},
    async reopen(store) {
      return open({ prefix: (store as AzureBlobStore).keys.prefix });
    },
    async withCdn(cdnBaseUrl, prefix) {
      return open({ prefix, redirect: { enabled: true, expiresSeconds: 300, cdnBaseUrl } });
    },
  });

  /** Every blob name under the store's prefix and `under`, without the prefix. */
  async function namesOf(store: AzureBlobStore, under: string): Promise<string[]> {
    const names: string[] = [];
    for await (const item of az.containerClient().listBlobsFlat({ prefix: `${store.keys.prefix}${under}` })) names.push(item.name.slice(store.keys.prefix.length));
    return names.sort();
  }

  /** The session blob's committed and uncommitted blocks: [offset named in the id, size]. */
  async function blocksOf(store: AzureBlobStore, id: string): Promise<{ committed: number[][]; uncommitted: number }> {
    const list = await az.containerClient().getBlockBlobClient(`${store.keys.upload(id)}data`).getBlockList('all');
    return {
      committed: (list.committedBlocks ?? []).map((b) => [blockOffset(b.name)!, b.size]),
      uncommitted: (list.uncommittedBlocks ?? []).length,
    };
  }

  it('keeps an upload as one block blob whose committed blocks are the appended chunks', async () => {
    const store = open();
    const id = await uploadOf(store, ['abc', 'defg']);
    expect(await namesOf(store, '')).toEqual([`uploads/${id}/data`]);
    expect(await blocksOf(store, id)).toEqual({ committed: [[0, 3], [3, 4]], uncommitted: 0 });
    const digest = digestOf(Buffer.from('abcdefg'));
    await store.commitUpload(id, digest);
    const hex = digest.slice('sha256:'.length);
    expect(await namesOf(store, '')).toEqual([`blobs/sha256/${hex.slice(0, 2)}/${hex}`]);
    expect((await buffer(await store.read(digest))).toString()).toBe('abcdefg');
  });

  it('cuts a chunk into blocks of blockSizeBytes, each named by its offset', async () => {
    const store = open({ blockSizeBytes: 64 * KiB });
    const id = randomUUID();
    const data = randomBytes(200 * KiB + 5);
    await store.createUpload(id);
    // Pieces of 10,000 bytes: blocks are cut across them.
    const pieces = Array.from({ length: Math.ceil(data.length / 10_000) }, (_, i) => data.subarray(i * 10_000, (i + 1) * 10_000));
    expect(await store.append(id, 0, Readable.from(pieces))).toBe(data.length);
    expect(await blocksOf(store, id)).toEqual({
      committed: [
        [0, 64 * KiB],
        [64 * KiB, 64 * KiB],
        [128 * KiB, 64 * KiB],
        [192 * KiB, 8 * KiB + 5],
      ],
      uncommitted: 0,
    });
    expect((await buffer(store.readUpload(id, 70_000))).equals(data.subarray(70_000))).toBe(true);
  });

  it('lands a chunk whole or not at all: blocks staged before the stream failed stay uncommitted and are dropped', async () => {
    const store = open({ blockSizeBytes: 64 * KiB });
    const id = await uploadOf(store, ['0123456789']);
    // Five whole blocks reach Azure (Put Block), then the client goes away.
    await expect(store.append(id, 10, failingBody(5, 64 * KiB))).rejects.toThrow('client went away');
    expect(await store.uploadSize(id)).toBe(10);
    expect(await blocksOf(store, id)).toEqual({ committed: [[0, 10]], uncommitted: 5 });
    expect((await buffer(store.readUpload(id))).toString()).toBe('0123456789');
    // The next Put Block List discards them.
    expect(await store.append(id, 10, Readable.from([Buffer.from('ab')]))).toBe(12);
    expect(await blocksOf(store, id)).toEqual({ committed: [[0, 10], [10, 2]], uncommitted: 0 });
    expect((await buffer(store.readUpload(id))).toString()).toBe('0123456789ab');
  });

  it('refuses a chunk that would take the upload past its block limit with BLOB_TOO_LARGE, storing none of it', async () => {
    const store = open({ blockSizeBytes: KiB, maxUploadBlocks: 3 });
    const id = randomUUID();
    await store.createUpload(id);
    expect(await store.append(id, 0, Readable.from([randomBytes(2 * KiB)]))).toBe(2 * KiB);
    const error = await store.append(id, 2 * KiB, Readable.from([randomBytes(2 * KiB)])).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(BerthError);
    expect(error).toMatchObject({ key: 'BLOB_TOO_LARGE', status: 413, message: 'an upload holds at most 3 blocks of 1024 bytes on Azure (storage.azure.blockSizeBytes)' });
    expect(await blocksOf(store, id)).toEqual({ committed: [[0, KiB], [KiB, KiB]], uncommitted: 1 });
    expect(await store.append(id, 2 * KiB, Readable.from([randomBytes(KiB)]))).toBe(3 * KiB);
  });

  it('refuses an append that lost the race to another writer, keeping the winner’s bytes', async () => {
    const store = open({ blockSizeBytes: 64 * KiB });
    const other = new AzureBlobStore({ ...az.storeOptions(), prefix: store.keys.prefix });
    const id = randomUUID();
    await store.createUpload(id);
    const slow = new PassThrough();
    const losing = store.append(id, 0, slow);
    slow.write(Buffer.alloc(64 * KiB, 1));
    // Once a block of the slow append is staged, it has read the session's ETag.
    for (let i = 0; i < 200 && (await blocksOf(store, id)).uncommitted === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await blocksOf(store, id)).uncommitted).toBe(1);
    expect(await other.append(id, 0, Readable.from([Buffer.from('XYZ')]))).toBe(3);
    slow.end(Buffer.from('tail'));
    const error = await losing.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(StoreOffsetError);
    expect(error).toMatchObject({ expected: 3, actual: 0 });
    expect((await buffer(store.readUpload(id))).toString()).toBe('XYZ');
  });

  it('truncates inside a block by staging it again shortened, and drops the blocks after', async () => {
    const store = open();
    const id = await uploadOf(store, ['abcd', 'efgh', 'ijkl']);
    await store.truncateUpload(id, 6);
    expect(await blocksOf(store, id)).toEqual({ committed: [[0, 4], [4, 2]], uncommitted: 0 });
    await store.truncateUpload(id, 4);
    expect(await blocksOf(store, id)).toEqual({ committed: [[0, 4]], uncommitted: 0 });
    expect(await store.append(id, 4, Readable.from([Buffer.from('XY')]))).toBe(6);
    expect((await buffer(store.readUpload(id))).toString()).toBe('abcdXY');
  });

  it('stores nothing for an empty chunk', async () => {
    const store = open();
    const id = randomUUID();
    await store.createUpload(id);
    expect(await store.append(id, 0, Readable.from([]))).toBe(0);
    expect(await blocksOf(store, id)).toEqual({ committed: [], uncommitted: 0 });
  });

  it('commits by streaming blocks of blockSizeBytes where Copy Blob From URL does not apply and Put Block From URL is missing', async () => {
    // syncCopyMaxBytes 0: past Copy Blob From URL; Azurite answers Put Block From URL with 501.
    const store = open({ blockSizeBytes: 64 * KiB, syncCopyMaxBytes: 0 });
    const id = randomUUID();
    const data = randomBytes(150 * KiB);
    await store.createUpload(id);
    await store.append(id, 0, Readable.from([data.subarray(0, 1000)]));
    await store.append(id, 1000, Readable.from([data.subarray(1000)]));
    const digest = digestOf(data);
    await store.commitUpload(id, digest);
    const committed = await az.containerClient().getBlockBlobClient(store.keys.blob(digest)).getBlockList('committed');
    expect((committed.committedBlocks ?? []).map((b) => [blockOffset(b.name), b.size])).toEqual([
      [0, 64 * KiB],
      [64 * KiB, 64 * KiB],
      [128 * KiB, 22 * KiB],
    ]);
    expect((await buffer(await store.read(digest))).equals(data)).toBe(true);
    expect(await namesOf(store, 'uploads/')).toEqual([]);
  });

  it('commits with Copy Blob From URL inside Azure up to 256 MiB', async () => {
    const store = open();
    const id = randomUUID();
    const data = randomBytes(3 * MiB + 1);
    await store.createUpload(id);
    await store.append(id, 0, Readable.from([data.subarray(0, MiB)]));
    await store.append(id, MiB, Readable.from([data.subarray(MiB)]));
    const digest = digestOf(data);
    await store.commitUpload(id, digest);
    expect(await store.stat(digest)).toEqual({ size: data.length });
    expect((await buffer(await store.read(digest, { start: MiB - 10, end: MiB + 9 }))).equals(data.subarray(MiB - 10, MiB + 10))).toBe(true);
    expect((await buffer(await store.read(digest))).equals(data)).toBe(true);
  });

  it('answers a ping, and fails one for a container that does not exist, naming it and not the key', async () => {
    await expect(open().ping()).resolves.toBeUndefined();
    const error = await open({ container: 'no-such-container' })
      .ping()
      .then(
        () => undefined,
        (err: unknown) => err as Error,
      );
    expect(error?.message).toMatch(/^Azure container no-such-container is not usable: 404 ContainerNotFound /);
    expect(error?.message).not.toContain(az.accountKey);
  });

  it('treats a missing container as an error, not as an absent blob', async () => {
    await expect(open({ container: 'no-such-container' }).stat(digestOf(Buffer.from('x')))).rejects.toMatchObject({ statusCode: 404 });
  });

  it('works with a connection string', async () => {
    const store = new AzureBlobStore({ container: az.container, prefix: `cs-${randomBytes(4).toString('hex')}`, connectionString: az.connectionString });
    const data = Buffer.from('through a connection string');
    await store.put(digestOf(data), data);
    expect((await buffer(await store.read(digestOf(data)))).equals(data)).toBe(true);
  });

  it('works with a container SAS token instead of a key, commits included, and cannot sign redirects', async () => {
    const sasUrl = await az.containerClient().generateSasUrl({
      permissions: ContainerSASPermissions.parse('racwdl'),
      expiresOn: new Date(Date.now() + 3600_000),
      protocol: SASProtocol.HttpsAndHttp,
    });
    const sasToken = new URL(sasUrl).search.slice(1);
    const options = { container: az.container, prefix: `sas-${randomBytes(4).toString('hex')}`, endpoint: az.endpoint, sasToken };
    const store = new AzureBlobStore(options);
    const id = randomUUID();
    const data = randomBytes(100 * KiB);
    await store.createUpload(id);
    await store.append(id, 0, Readable.from([data]));
    await store.commitUpload(id, digestOf(data));
    expect((await buffer(await store.read(digestOf(data)))).equals(data)).toBe(true);
    await expect(store.ping()).resolves.toBeUndefined();
    expect(() => new AzureBlobStore({ ...options, redirect: { enabled: true, expiresSeconds: 60 } })).toThrow(/need an account key to sign SAS URLs, or a CDN base URL/);
  });

  describe('redirects', () => {
    it('signs a read-only SAS URL that serves the exact bytes and honours Range', async () => {
      const store = open({ redirect: { enabled: true, expiresSeconds: 300 } });
      const data = randomBytes(50_000);
      const digest = digestOf(data);
      await store.put(digest, data);
      const before = Date.now();
      const url = new URL((await store.redirectURL(digest))!);
      expect(`${url.origin}${url.pathname}`).toBe(`${az.endpoint}/${az.container}/${store.keys.blob(digest)}`);
      expect(url.searchParams.get('sp')).toBe('r');
      expect(url.searchParams.get('sr')).toBe('b');
      const expiry = Date.parse(url.searchParams.get('se')!);
      expect(expiry).toBeGreaterThan(before + 295_000);
      expect(expiry).toBeLessThanOrEqual(Date.now() + 300_000);
      expect(url.href).not.toContain(encodeURIComponent(az.accountKey));
      expect(url.href).not.toContain(az.accountKey);

      await expectServesBytes(url, data);
      const tail = await fetch(url, { headers: { Range: 'bytes=49990-' } });
      expect(tail.status).toBe(206);
      expect(Buffer.from(await tail.arrayBuffer()).equals(data.subarray(49_990))).toBe(true);

      // Azurite checks the signature, and the SAS only reads.
      const forged = new URL(url);
      forged.searchParams.set('sig', Buffer.alloc(32).toString('base64'));
      expect((await fetch(forged)).status).toBe(403);
      const overwrite = await fetch(url, { method: 'PUT', body: 'x', headers: { 'x-ms-blob-type': 'BlockBlob' } });
      expect(overwrite.status).toBe(403);
      expect((await buffer(await store.read(digest))).equals(data)).toBe(true);
    });
  });

  it('keeps memory bounded: a 256 MiB append, streamed commit and read grow RSS by less than 64 MiB', { timeout: 300_000 }, async () => {
    // syncCopyMaxBytes 0: the commit streams through Berth (the path that could buffer), as for
    // blobs over 256 MiB on Azurite; appends hold one 16 MiB block each.
    const memory = await measureTransfers(open({ syncCopyMaxBytes: 0 }), 64 * MiB, 256 * MiB);
    console.log(memoryReport('Azure driver', memory, 64 * MiB, 256 * MiB));
    expect(memory.peak - memory.baseline).toBeLessThan(64 * MiB);
  });
});
