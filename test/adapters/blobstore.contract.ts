import { describe, expect, it, beforeEach, afterEach } from 'vitest';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { randomBytes, randomUUID } from 'node:crypto';
import type { BlobStore } from '../../src/ports/blob-store.js';
import { StoreNotFoundError, StoreOffsetError } from '../../src/ports/blob-store.js';
import type { Digest } from '../../src/domain/digest.js';
import { digestOf } from '../../src/domain/digest.js';

export interface BlobStoreHarness {
  create(): Promise<BlobStore>;
  destroy(store: BlobStore): Promise<void>;
  /** Another instance on the same storage as `store`: another Berth process, or this one after a restart. */
  reopen?(store: BlobStore): Promise<BlobStore>;
  /** A store with redirects to `cdnBaseUrl` and blob names under `prefix` (drivers that offer redirects). */
  withCdn?(cdnBaseUrl: string, prefix: string): Promise<BlobStore>;
}

/** A new upload session holding `chunks`, one append each; resolves with its id. */
export async function uploadOf(store: BlobStore, chunks: ReadonlyArray<string | Buffer>): Promise<string> {
  const id = randomUUID();
  await store.createUpload(id);
  let offset = 0;
  for (const chunk of chunks) offset = await store.append(id, offset, Readable.from([Buffer.from(chunk)]));
  return id;
}

/** A request body that sends `pieces` random pieces of `pieceBytes`, then fails as when the client goes away. */
export function failingBody(pieces: number, pieceBytes: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent === pieces) return void this.destroy(new Error('client went away'));
      sent++;
      this.push(randomBytes(pieceBytes));
    },
  });
}

/**
 * The one behaviour every BlobStore driver must have (shared/STYLE.md: distribution's
 * driver testsuites). Each driver's test file calls this with a harness.
 */
export function blobStoreContract(name: string, harness: BlobStoreHarness): void {
  describe(`BlobStore contract: ${name}`, () => {
    let store: BlobStore;
    beforeEach(async () => {
      store = await harness.create();
    });
    afterEach(async () => {
      await harness.destroy(store);
    });

    it('puts, stats and reads small content', async () => {
      const data = Buffer.from('{"hello":"world"}');
      const digest = digestOf(data);
      expect(await store.stat(digest)).toBeUndefined();
      await store.put(digest, data);
      expect(await store.stat(digest)).toEqual({ size: data.length });
      expect((await buffer(await store.read(digest))).equals(data)).toBe(true);
      await store.put(digest, data);
      expect(await store.stat(digest)).toEqual({ size: data.length });
    });

    it('reads an inclusive byte range', async () => {
      const data = randomBytes(10_000);
      const digest = digestOf(data);
      await store.put(digest, data);
      const part = await buffer(await store.read(digest, { start: 1000, end: 1999 }));
      expect(part.equals(data.subarray(1000, 2000))).toBe(true);
    });

    it('rejects reading absent content with StoreNotFoundError', async () => {
      await expect(store.read(digestOf(Buffer.from('absent')))).rejects.toBeInstanceOf(StoreNotFoundError);
    });

    it('deletes content and reports whether it existed', async () => {
      const data = randomBytes(100);
      const digest = digestOf(data);
      await store.put(digest, data);
      expect(await store.delete(digest)).toBe(true);
      expect(await store.stat(digest)).toBeUndefined();
      expect(await store.delete(digest)).toBe(false);
    });

    it('deletes many objects at once, absent ones included', async () => {
      const kept = randomBytes(40);
      await store.put(digestOf(kept), kept);
      const doomed: Digest[] = [];
      // More than one S3 DeleteObjects (1000) or Azure batch (256) request.
      for (let i = 0; i < 1100; i++) {
        const data = Buffer.from(`doomed ${i} ${randomUUID()}`);
        doomed.push(digestOf(data));
        if (i % 11 !== 0) await store.put(digestOf(data), data);
      }
      await store.deleteMany(doomed);
      const listed: Digest[] = [];
      for await (const d of store.list()) listed.push(d);
      expect(listed).toEqual([digestOf(kept)]);
      await store.deleteMany([]);
    }, 120_000);

    it('lists every committed digest', async () => {
      const digests: Digest[] = [];
      for (let i = 0; i < 5; i++) {
        const data = randomBytes(50);
        const digest = digestOf(data);
        digests.push(digest);
        await store.put(digest, data);
      }
      const listed: Digest[] = [];
      for await (const d of store.list()) listed.push(d);
      expect(listed.sort()).toEqual(digests.sort());
    });

    it('appends chunks to an upload and commits it under its digest', async () => {
      const id = randomUUID();
      const data = randomBytes(300_000);
      await store.createUpload(id);
      expect(await store.uploadSize(id)).toBe(0);
      expect(await store.append(id, 0, Readable.from([data.subarray(0, 100_000)]))).toBe(100_000);
      expect(await store.append(id, 100_000, Readable.from([data.subarray(100_000)]))).toBe(300_000);
      expect(await store.uploadSize(id)).toBe(300_000);
      expect((await buffer(store.readUpload(id))).equals(data)).toBe(true);
      expect((await buffer(store.readUpload(id, 299_990))).equals(data.subarray(299_990))).toBe(true);
      const digest = digestOf(data);
      await store.commitUpload(id, digest);
      expect(await store.uploadSize(id)).toBeUndefined();
      expect((await buffer(await store.read(digest))).equals(data)).toBe(true);
    });

    it('commits an upload whose content already exists without error', async () => {
      const data = randomBytes(1000);
      const digest = digestOf(data);
      await store.put(digest, data);
      const id = randomUUID();
      await store.createUpload(id);
      await store.append(id, 0, Readable.from([data]));
      await store.commitUpload(id, digest);
      expect(await store.stat(digest)).toEqual({ size: 1000 });
      expect(await store.uploadSize(id)).toBeUndefined();
    });

    it('refuses an append at the wrong offset with StoreOffsetError', async () => {
      const id = randomUUID();
      await store.createUpload(id);
      await store.append(id, 0, Readable.from([Buffer.from('abc')]));
      await expect(store.append(id, 10, Readable.from([Buffer.from('x')]))).rejects.toBeInstanceOf(StoreOffsetError);
      expect(await store.uploadSize(id)).toBe(3);
    });

    it('cuts back a chunk whose stream fails midway: it lands whole or not at all', async () => {
      const id = await uploadOf(store, ['0123456789']);
      await expect(store.append(id, 10, failingBody(1, 64 * 1024))).rejects.toThrow('client went away');
      expect(await store.uploadSize(id)).toBe(10);
      expect((await buffer(store.readUpload(id))).toString()).toBe('0123456789');
    });

    it('truncates an upload and deletes it', async () => {
      const id = randomUUID();
      await store.createUpload(id);
      await store.append(id, 0, Readable.from([Buffer.from('abcdef')]));
      await store.truncateUpload(id, 2);
      expect(await store.uploadSize(id)).toBe(2);
      await store.deleteUpload(id);
      expect(await store.uploadSize(id)).toBeUndefined();
    });

    it('rejects an append to an unknown upload with StoreNotFoundError', async () => {
      await expect(store.append(randomUUID(), 0, Readable.from([Buffer.from('x')]))).rejects.toBeInstanceOf(StoreNotFoundError);
    });

    it('truncates across chunks, then appends after the cut', async () => {
      const id = await uploadOf(store, ['abcd', 'efgh', 'ijkl']);
      await store.truncateUpload(id, 6);
      expect(await store.uploadSize(id)).toBe(6);
      expect((await buffer(store.readUpload(id))).toString()).toBe('abcdef');
      expect(await store.append(id, 6, Readable.from([Buffer.from('XY')]))).toBe(8);
      expect((await buffer(store.readUpload(id))).toString()).toBe('abcdefXY');
    });

    it('stores nothing for an empty chunk', async () => {
      const id = randomUUID();
      await store.createUpload(id);
      expect(await store.append(id, 0, Readable.from([]))).toBe(0);
      expect(await store.uploadSize(id)).toBe(0);
    });

    it('commits an empty upload as an empty object', async () => {
      const id = randomUUID();
      await store.createUpload(id);
      const digest = digestOf(Buffer.alloc(0));
      await store.commitUpload(id, digest);
      expect(await store.stat(digest)).toEqual({ size: 0 });
      expect((await buffer(await store.read(digest))).length).toBe(0);
    });

    it('refuses to commit or read an unknown upload with StoreNotFoundError', async () => {
      await expect(store.commitUpload(randomUUID(), digestOf(Buffer.from('x')))).rejects.toBeInstanceOf(StoreNotFoundError);
      await expect(buffer(store.readUpload(randomUUID()))).rejects.toBeInstanceOf(StoreNotFoundError);
    });

    it.skipIf(!harness.reopen)('continues an upload from another instance on the same storage', async () => {
      const id = await uploadOf(store, ['hello ']);
      const other = await harness.reopen!(store);
      expect(await other.uploadSize(id)).toBe(6);
      await expect(other.append(id, 5, Readable.from([Buffer.from('x')]))).rejects.toBeInstanceOf(StoreOffsetError);
      expect(await other.append(id, 6, Readable.from([Buffer.from('world')]))).toBe(11);
      const digest = digestOf(Buffer.from('hello world'));
      await other.commitUpload(id, digest);
      expect((await buffer(await store.read(digest))).toString()).toBe('hello world');
      expect(await store.uploadSize(id)).toBeUndefined();
    });

    it('offers no redirect URL unless redirects are enabled', async () => {
      expect(await store.redirectURL?.(digestOf(Buffer.from('x')))).toBeUndefined();
    });

    it.skipIf(!harness.withCdn)('points redirects at the CDN when one is configured, the blob name URL-encoded', async () => {
      const cdn = await harness.withCdn!('https://cdn.example.test/base/', 'reg one');
      const digest = digestOf(Buffer.from('cdn'));
      const hex = digest.slice('sha256:'.length);
      expect(await cdn.redirectURL!(digest)).toBe(`https://cdn.example.test/base/reg%20one/blobs/sha256/${hex.slice(0, 2)}/${hex}`);
    });

    it('refuses upload ids that could escape its namespace', async () => {
      await expect(store.createUpload('../../etc')).rejects.toThrow();
      await expect(store.uploadSize('a/b')).rejects.toThrow();
    });
  });
}
