import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, migrate, type Database } from '../../../src/adapters/db/connect.js';
import { KyselyScannerStore } from '../../../src/adapters/db/kysely-scanner-store.js';
import type { ScannerAdapter } from '../../../src/ports/scanner-adapter.js';
import { AesSecretBox } from '../../../src/adapters/crypto/secret-box.js';
import { defaultScannerTtlMs, ScannerRegistrations } from '../../../src/services/security/scanner-registrations.js';

describe('the default scanner, read at most every few seconds', () => {
  let dir: string;
  let database: Database;
  let clock = 1_000;
  let reads = 0;
  let failNext = false;
  let other: KyselyScannerStore;
  let scanners: ScannerRegistrations;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-scanners-'));
    database = connect({ url: `sqlite:${join(dir, 'meta.db')}` });
    await migrate(database);
    const store = new KyselyScannerStore(database);
    const counted = Object.assign(Object.create(store) as KyselyScannerStore, {
      defaultScanner: () => {
        reads++;
        if (failNext) {
          failNext = false;
          return Promise.reject(new Error('database restarting'));
        }
        return store.defaultScanner();
      },
    });
    scanners = new ScannerRegistrations(counted, {
      box: new AesSecretBox('a test key of no importance'),
      connect: (scanner) => ({ name: scanner.name }) as unknown as ScannerAdapter,
      checkUrl: async () => undefined,
      now: () => clock,
    });
    // Another instance registering scanners in the same database, past this one's cache.
    other = new KyselyScannerStore(database);
  });
  afterAll(async () => {
    await database?.db.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reads once per interval, at once after a change made here, and keeps no failed read', async () => {
    expect(await scanners.choose()).toBeUndefined();
    expect(await scanners.choose()).toBeUndefined();
    expect(reads).toBe(1);

    // Registered by another instance: seen once the interval has passed.
    const now = clock;
    await other.create({ name: 'elsewhere', description: null, url: 'http://127.0.0.1:9/x', auth: 'none', credentialSealed: null, skipCertVerify: false, enabled: true, isDefault: true, createdBy: 'admin', createdAt: now, updatedAt: now });
    clock += defaultScannerTtlMs - 1;
    expect(await scanners.choose()).toBeUndefined();
    expect(reads).toBe(1);
    clock += 1;
    expect((await scanners.choose())?.name).toBe('elsewhere');
    expect(reads).toBe(2);

    // A change made here applies to the next scan.
    const here = await scanners.create({ name: 'here', url: 'http://127.0.0.1:9/y', isDefault: true }, 'admin');
    expect((await scanners.choose())?.name).toBe('here');
    expect(reads).toBe(3);
    await scanners.update(here.id, { enabled: false, isDefault: false });
    expect(await scanners.choose()).toBeUndefined();
    expect(reads).toBe(4);

    // A read that failed is tried again by the next scan, not kept for the interval.
    clock += defaultScannerTtlMs;
    failNext = true;
    await expect(scanners.choose()).rejects.toThrow('database restarting');
    expect(await scanners.choose()).toBeUndefined();
    expect(reads).toBe(6);
  });
});
