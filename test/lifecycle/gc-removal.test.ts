import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, migrate, type Database } from '../../src/adapters/db/connect.js';
import { KyselyGcStore } from '../../src/adapters/db/kysely-gc-store.js';
import { KyselyMetadataStore } from '../../src/adapters/db/kysely-metadata-store.js';
import { FsBlobStore } from '../../src/adapters/storage/fs-blob-store.js';
import type { Digest } from '../../src/domain/digest.js';
import { UploadService } from '../../src/services/registry/upload-service.js';
import { engineMatrix } from '../helpers/berth.js';
import { sha256 } from '../helpers/oci.js';
import { createTempDatabase, type TempDatabase } from '../helpers/pg.js';

const engines = await engineMatrix();
const leaseMs = 60_000;

/**
 * The collector deletes a blob's bytes without holding its row: it takes the row for removal
 * first, and a writer of the same digest waits until the row is gone (docs/lifecycle.md, "Why
 * a push always wins").
 */
describe.each(engines)('a push of a blob garbage collection is removing, on $engine', ({ engine, skip }) => {
  let database: Database;
  let temp: TempDatabase | undefined;
  let dir: string;
  let meta: KyselyMetadataStore;
  let gc: KyselyGcStore;
  let store: FsBlobStore;
  let uploads: UploadService;

  beforeAll(async () => {
    if (skip) return;
    dir = await mkdtemp(join(tmpdir(), 'berth-gc-removal-'));
    if (engine === 'postgres') temp = await createTempDatabase();
    database = connect({ url: temp?.url ?? `sqlite:${join(dir, 'meta.db')}` });
    await migrate(database);
    meta = new KyselyMetadataStore(database);
    gc = new KyselyGcStore(database);
    store = await new FsBlobStore(join(dir, 'storage')).init();
    uploads = new UploadService(meta, store, { gcLeaseMs: leaseMs });
  });
  afterAll(async () => {
    if (skip) return;
    await database.db.destroy();
    await temp?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  /** A blob pushed once, then unlinked: nothing references it, and the collector has marked it. */
  async function markedBlob(repository: string): Promise<{ digest: Digest; data: Buffer }> {
    const data = randomBytes(4096);
    const digest = (await uploads.pushMonolithic(repository, sha256(data), Readable.from([data]), data.length)) as Digest;
    const repo = (await meta.getRepository(repository))!;
    expect(await meta.unlinkBlob(repo.id, digest)).toBe(true);
    expect((await gc.markBlobsDeleting([digest], Date.now() + 1000)).map((b) => b.digest)).toEqual([digest]);
    return { digest, data };
  }

  async function storedBytes(digest: Digest): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await store.read(digest)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  it.skipIf(skip !== undefined)('waits while the bytes are being deleted, then stores them anew', async () => {
    const { digest, data } = await markedBlob('removal/wait');
    const since = Date.now();
    expect((await gc.claimForRemoval([digest], since)).map((b) => b.digest)).toEqual([digest]);
    // Being removed: absent to readers, and a second claim (a run taking over) takes it again.
    expect(await meta.getBlob(digest)).toBeUndefined();

    let pushed = false;
    const push = uploads.pushMonolithic('removal/wait', digest, Readable.from([data]), data.length).then((d) => ((pushed = true), d));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(pushed).toBe(false);

    // The collector finishes: bytes, then the row. Only then does the writer store its copy.
    expect(await store.delete(digest)).toBe(true);
    expect((await gc.deleteRemoved([digest], since)).map((b) => b.digest)).toEqual([digest]);
    expect(await push).toBe(digest);
    expect(await meta.getBlob(digest)).toEqual({ digest, size: data.length });
    expect(sha256(await storedBytes(digest))).toBe(digest);
    // Nothing is left for the collector to finish.
    expect(await gc.deletingBlobs(undefined, 10)).toEqual([]);
  });

  it.skipIf(skip !== undefined)('calls off a deletion that was only marked, and the collector then takes nothing', async () => {
    const { digest, data } = await markedBlob('removal/marked');
    await uploads.pushMonolithic('removal/marked', digest, Readable.from([data]), data.length);
    expect(await gc.claimForRemoval([digest], Date.now())).toEqual([]);
    expect(await meta.getBlob(digest)).toEqual({ digest, size: data.length });
  });

  it.skipIf(skip !== undefined)('takes over a removal whose collector died, once its lease has run out', async () => {
    const { digest, data } = await markedBlob('removal/abandoned');
    // Taken for removal longer ago than the lease, and never finished: the bytes are still there.
    const since = Date.now() - leaseMs - 1000;
    expect((await gc.claimForRemoval([digest], since)).map((b) => b.digest)).toEqual([digest]);
    const started = Date.now();
    expect(await uploads.pushMonolithic('removal/abandoned', digest, Readable.from([data]), data.length)).toBe(digest);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await meta.getBlob(digest)).toEqual({ digest, size: data.length });
    expect(sha256(await storedBytes(digest))).toBe(digest);
    // The dead collector's row is gone; a late finish of it deletes nothing.
    expect(await gc.deleteRemoved([digest], since)).toEqual([]);
  });

  it.skipIf(skip !== undefined)('a run that took over finishes what the dead one left being removed', async () => {
    const { digest } = await markedBlob('removal/resumed');
    await gc.claimForRemoval([digest], Date.now() - 10);
    expect((await gc.deletingBlobs(undefined, 10)).map((b) => b.digest)).toEqual([digest]);
    const again = Date.now();
    expect((await gc.claimForRemoval([digest], again)).map((b) => b.digest)).toEqual([digest]);
    await store.delete(digest);
    expect((await gc.deleteRemoved([digest], again)).map((b) => b.digest)).toEqual([digest]);
    expect(await gc.deletingBlobs(undefined, 10)).toEqual([]);
  });
});
