import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { S3BlobStore, type S3BlobStoreOptions } from '../../src/adapters/storage/s3-blob-store.js';
import { digestOf } from '../../src/domain/digest.js';
import { measureTransfers, memoryReport } from '../helpers/blob-memory.js';
import { expectServesBytes } from '../helpers/direct-url.js';
import { startS3rverOrWarn } from '../helpers/s3rver.js';
import { blobStoreContract, failingBody, uploadOf } from './blobstore.contract.js';

const MiB = 1024 * 1024;
const s3 = await startS3rverOrWarn('S3 blob store tests');

afterAll(async () => {
  await s3?.stop();
});

describe.skipIf(!s3)('S3 driver on s3rver', () => {
  const stores: S3BlobStore[] = [];
  const open = (overrides: Partial<S3BlobStoreOptions> = {}) => {
    const store = new S3BlobStore(s3!.storeOptions(overrides));
    stores.push(store);
    return store;
  };
  afterAll(async () => {
    for (const store of stores) await store.close();
  });

  // Pages of 2 keys: every listing (sizes, deletions, list()) crosses continuation tokens.
  blobStoreContract('s3 (s3rver)', {
    async create() {
      return new S3BlobStore(s3!.storeOptions({ listPageSize: 2 }));
    },
    async destroy(store) {
      await store.close?.();
    },
    async reopen(store) {
      return open({ prefix: (store as S3BlobStore).keys.prefix });
    },
    async withCdn(cdnBaseUrl, prefix) {
      return open({ prefix, redirect: { enabled: true, expiresSeconds: 300, cdnBaseUrl } });
    },
  });

  /** Every key under the store's prefix and `under`. */
  async function keysOf(store: S3BlobStore, under: string): Promise<string[]> {
    const listed = await store.client.send(new ListObjectsV2Command({ Bucket: store.bucket, Prefix: `${store.keys.prefix}${under}` }));
    return (listed.Contents ?? []).map((o) => o.Key!.slice(store.keys.prefix.length));
  }

  it('keeps each appended chunk as its own object named by its start offset', async () => {
    const store = open();
    const id = await uploadOf(store, ['abc', 'defg']);
    expect((await keysOf(store, `uploads/${id}/`)).sort()).toEqual([
      `uploads/${id}/chunk-0000000000000000`,
      `uploads/${id}/chunk-0000000000000003`,
      `uploads/${id}/session`,
    ]);
    const digest = digestOf(Buffer.from('abcdefg'));
    await store.commitUpload(id, digest);
    const hex = digest.slice('sha256:'.length);
    expect(await keysOf(store, '')).toEqual([`blobs/sha256/${hex.slice(0, 2)}/${hex}`]);
  });

  it('commits many small chunks in order', async () => {
    const store = open({ listPageSize: 7 });
    const id = randomUUID();
    const data = randomBytes(120 * 1001);
    await store.createUpload(id);
    let offset = 0;
    for (let i = 0; i < 120; i++) {
      offset = await store.append(id, offset, Readable.from([data.subarray(offset, offset + 1001)]));
    }
    expect(await store.uploadSize(id)).toBe(data.length);
    expect((await buffer(store.readUpload(id, 50_000))).equals(data.subarray(50_000))).toBe(true);
    const digest = digestOf(data);
    await store.commitUpload(id, digest);
    expect((await buffer(await store.read(digest))).equals(data)).toBe(true);
    expect(await keysOf(store, 'uploads/')).toEqual([]);
  });

  it('commits chunks of 5 MiB and more (UploadPartCopy, or streaming where the server lacks it)', async () => {
    const store = open({ partSizeBytes: 5 * MiB });
    const id = randomUUID();
    const data = randomBytes(11 * MiB + 17);
    await store.createUpload(id);
    await store.append(id, 0, Readable.from([data.subarray(0, 5 * MiB)]));
    await store.append(id, 5 * MiB, Readable.from([data.subarray(5 * MiB, 10 * MiB + 1)]));
    await store.append(id, 10 * MiB + 1, Readable.from([data.subarray(10 * MiB + 1)]));
    const digest = digestOf(data);
    await store.commitUpload(id, digest);
    expect(await store.stat(digest)).toEqual({ size: data.length });
    expect((await buffer(await store.read(digest))).equals(data)).toBe(true);
  });

  it('stores nothing for a chunk whose stream fails after a multipart upload began', async () => {
    const store = open({ partSizeBytes: 5 * MiB });
    const id = await uploadOf(store, ['0123456789']);
    // 12 MiB then a failure: two 5 MiB parts have gone to S3 by then.
    await expect(store.append(id, 10, failingBody(12, MiB))).rejects.toThrow('client went away');
    expect(await keysOf(store, `uploads/${id}/`)).toEqual([`uploads/${id}/chunk-0000000000000000`, `uploads/${id}/session`]);
    expect(await store.uploadSize(id)).toBe(10);
    expect(await store.append(id, 10, Readable.from([Buffer.from('ab')]))).toBe(12);
  });

  it('stores no object for an empty chunk', async () => {
    const store = open();
    const id = randomUUID();
    await store.createUpload(id);
    expect(await store.append(id, 0, Readable.from([]))).toBe(0);
    expect(await keysOf(store, `uploads/${id}/`)).toEqual([`uploads/${id}/session`]);
  });

  it('ignores chunks past a gap, and removes them before appending', async () => {
    const store = open();
    const id = await uploadOf(store, ['abcd', 'efgh', 'ijkl']);
    // What a deletion cut short could leave: the middle chunk gone, the last one still there.
    await store.truncateUpload(id, 4);
    await store.client.send(
      new (await import('@aws-sdk/client-s3')).PutObjectCommand({ Bucket: store.bucket, Key: store.keys.chunk(id, 8), Body: Buffer.from('ijkl') }),
    );
    expect(await store.uploadSize(id)).toBe(4);
    expect(await store.append(id, 4, Readable.from([Buffer.from('EFGH')]))).toBe(8);
    expect(await store.uploadSize(id)).toBe(8);
    expect((await buffer(store.readUpload(id))).toString()).toBe('abcdEFGH');
  });

  it('answers a ping, and fails one for a bucket that does not exist', async () => {
    await expect(open().ping()).resolves.toBeUndefined();
    await expect(open({ bucket: 'no-such-bucket' }).ping()).rejects.toThrow();
  });

  describe('redirects', () => {
    it('presigns a GetObject URL that serves the exact bytes and honours Range', async () => {
      const store = open({ redirect: { enabled: true, expiresSeconds: 300 } });
      const data = randomBytes(50_000);
      const digest = digestOf(data);
      await store.put(digest, data);
      const url = await store.redirectURL(digest);
      expect(url).toMatch(new RegExp(`^${s3!.endpoint}/${s3!.bucket}/${store.keys.prefix}blobs/sha256/`));
      expect(new URL(url!).searchParams.get('X-Amz-Expires')).toBe('300');
      expect(url).not.toContain(s3!.secretAccessKey);
      await expectServesBytes(url!, data);
    });
  });

  it('keeps memory bounded: a 256 MiB append, commit and read grow RSS by less than 64 MiB', { timeout: 240_000 }, async () => {
    // The commit concatenates two chunks: streamed on s3rver, which lacks UploadPartCopy.
    const memory = await measureTransfers(open(), 64 * MiB, 256 * MiB);
    console.log(memoryReport('S3 driver', memory, 64 * MiB, 256 * MiB));
    expect(memory.peak - memory.baseline).toBeLessThan(64 * MiB);
  });
});
