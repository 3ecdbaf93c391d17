import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, migrate, type Database } from '../../src/adapters/db/connect.js';
import { KyselyLeaseStore } from '../../src/adapters/db/kysely-lease-store.js';
import { engineMatrix } from '../helpers/berth.js';
import { createTempDatabase, type TempDatabase } from '../helpers/pg.js';

const engines = await engineMatrix();

describe.each(engines)('named leases on $engine', ({ engine, skip }) => {
  let dir: string;
  let temp: TempDatabase | undefined;
  let database: Database;
  let leases: KyselyLeaseStore;

  beforeAll(async () => {
    if (skip) return;
    dir = await mkdtemp(join(tmpdir(), 'berth-lease-'));
    if (engine === 'postgres') temp = await createTempDatabase();
    database = connect({ url: temp?.url ?? `sqlite:${join(dir, 'meta.db')}` });
    await migrate(database);
    leases = new KyselyLeaseStore(database);
  });
  afterAll(async () => {
    await database?.db.destroy();
    await temp?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.skipIf(Boolean(skip))('gives a name to one holder at a time, until it runs out or is released', async () => {
    expect(await leases.acquire('proxy:a', 'one', 2_000, 1_000)).toBe(true);
    expect(await leases.acquire('proxy:a', 'two', 2_500, 1_500)).toBe(false);
    // The holder renews its own lease.
    expect(await leases.acquire('proxy:a', 'one', 3_000, 1_900)).toBe(true);
    expect(await leases.acquire('proxy:a', 'two', 3_500, 2_500)).toBe(false);
    // Another name is free.
    expect(await leases.acquire('proxy:b', 'two', 3_500, 2_500)).toBe(true);
    // After it ran out (the holder died), another takes it over.
    expect(await leases.acquire('proxy:a', 'two', 5_000, 3_001)).toBe(true);
    expect(await leases.acquire('proxy:a', 'one', 5_500, 3_100)).toBe(false);
    // Only the holder's release frees it.
    await leases.release('proxy:a', 'one');
    expect(await leases.acquire('proxy:a', 'three', 6_000, 3_200)).toBe(false);
    await leases.release('proxy:a', 'two');
    expect(await leases.acquire('proxy:a', 'three', 6_000, 3_200)).toBe(true);
  });

  it.skipIf(Boolean(skip))('lets exactly one of many concurrent takers win', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => leases.acquire('proxy:race', `p${i}`, 10_000, 1_000)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});
