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
      const id = randomUUID();
      await store.createUpload(id);
      await store.append(id, 0, Readable.from([Buffer.from('0123456789')]));
      const failing = new Readable({
        read() {
          this.push(randomBytes(64 * 1024));
          this.destroy(new Error('client went away'));
        },
      });
      await expect(store.append(id, 10, failing)).rejects.toThrow('client went away');
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

    it('refuses upload ids that could escape its namespace', async () => {
      await expect(store.createUpload('../../etc')).rejects.toThrow();
      await expect(store.uploadSize('a/b')).rejects.toThrow();
    });
  });
}
