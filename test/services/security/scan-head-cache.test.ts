import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, migrate, type Database } from '../../../src/adapters/db/connect.js';
import { KyselyScanStore } from '../../../src/adapters/db/kysely-scan-store.js';
import type { ScanReport } from '../../../src/ports/scan-store.js';
import { ScanHeadCache } from '../../../src/services/security/scan-head-cache.js';

const digest = `sha256:${'a'.repeat(64)}`;
const report = (dbVersion: number, high: number): ScanReport => ({ digest, status: 'succeeded', dbVersion, scanner: 'berth', packages: 3, summary: { HIGH: high }, findings: [], durationMs: 1, scannedAt: dbVersion * 1000 });

describe('scan report heads cached for pull policies', () => {
  let dir: string;
  let database: Database;
  let clock = 0;
  let reads = 0;
  let other: KyselyScanStore;
  let cache: ScanHeadCache;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-heads-'));
    database = connect({ url: `sqlite:${join(dir, 'meta.db')}` });
    await migrate(database);
    const store = new KyselyScanStore(database);
    const counted = Object.assign(Object.create(store) as KyselyScanStore, {
      heads: (digests: readonly string[]) => {
        reads++;
        return store.heads(digests);
      },
    });
    cache = new ScanHeadCache(counted, { ttlMs: 5_000, now: () => clock });
    // Another instance writing to the same database, past this instance's cache.
    other = new KyselyScanStore(database);
  });
  afterAll(async () => {
    await database?.db.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('remembers "no report" and a report for the TTL, and a report stored through it replaces the head at once', async () => {
    expect((await cache.heads([digest])).get(digest)).toBeUndefined();
    expect((await cache.heads([digest])).get(digest)).toBeUndefined();
    expect(reads).toBe(1);

    // Another instance's report shows once the TTL has passed, not before.
    await other.put(report(1, 2));
    clock = 4_999;
    expect((await cache.heads([digest])).get(digest)).toBeUndefined();
    clock = 5_000;
    expect((await cache.heads([digest])).get(digest)?.summary).toEqual({ HIGH: 2 });
    expect(reads).toBe(2);
    expect((await cache.heads([digest])).get(digest)?.dbVersion).toBe(1);
    expect(reads).toBe(2);

    // This instance's own scan is seen by the very next pull.
    await cache.put(report(2, 0));
    expect((await cache.heads([digest])).get(digest)).toMatchObject({ dbVersion: 2, summary: { HIGH: 0 } });
    expect(reads).toBe(3);
  });
});
