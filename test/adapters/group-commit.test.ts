import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Transaction } from 'kysely';
import { connect, migrate, type Database } from '../../src/adapters/db/connect.js';
import { groupCommitOf, inTransaction } from '../../src/adapters/db/transaction.js';
import type { Schema } from '../../src/adapters/db/schema.js';
import { createTempDatabase, pgUnavailableReason } from '../helpers/pg.js';

describe('SQLite transactions of one turn share a commit', () => {
  let dir: string;
  let database: Database;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-group-commit-'));
    database = connect({ url: `sqlite:${join(dir, 'meta.db')}` });
    await migrate(database);
  });
  afterAll(async () => {
    await database?.db.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const create = (trx: Transaction<Schema>, name: string) => trx.insertInto('repository').values({ name, created_at: 1 }).execute();
  const names = async (prefix: string) =>
    (await database.db.selectFrom('repository').select('name').where('name', 'like', `${prefix}%`).orderBy('name').execute()).map((r) => r.name);

  it('commits them once; one that fails rolls back alone, and each sees what the ones before it wrote', async () => {
    const group = groupCommitOf(database.db)!;
    const before = { ...group.stats };
    const [a, b, c] = await Promise.allSettled([
      inTransaction(database.db, async (trx) => {
        await create(trx, 'one/a');
        return 'a';
      }),
      inTransaction(database.db, async (trx) => {
        await create(trx, 'one/b');
        throw new Error('b refused');
      }),
      inTransaction(database.db, async (trx) => {
        await create(trx, 'one/c');
        return (await trx.selectFrom('repository').select('name').where('name', '=', 'one/a').executeTakeFirst())?.name;
      }),
    ]);
    expect(a).toEqual({ status: 'fulfilled', value: 'a' });
    expect(b).toMatchObject({ status: 'rejected', reason: { message: 'b refused' } });
    expect(c).toEqual({ status: 'fulfilled', value: 'one/a' });
    expect(await names('one/')).toEqual(['one/a', 'one/c']);
    expect(group.stats).toEqual({ batches: before.batches + 1, transactions: before.transactions + 3 });
  });

  it('runs each again alone when one of them ends the shared transaction, committing nothing twice', async () => {
    const [a, b, c] = await Promise.allSettled([
      inTransaction(database.db, async (trx) => {
        await create(trx, 'two/a');
        return 'a';
      }),
      inTransaction(database.db, async (trx) => {
        await create(trx, 'two/b');
        // As an error SQLite answers by rolling the whole transaction back would.
        await sql`rollback`.execute(trx);
        throw new Error('b ended the transaction');
      }),
      inTransaction(database.db, async (trx) => {
        await create(trx, 'two/c');
        return 'c';
      }),
    ]);
    // 'two/a' is unique: had its first run been committed, its second would fail.
    expect(a).toEqual({ status: 'fulfilled', value: 'a' });
    expect(b).toMatchObject({ status: 'rejected', reason: { message: 'b ended the transaction' } });
    expect(c).toEqual({ status: 'fulfilled', value: 'c' });
    expect(await names('two/')).toEqual(['two/a', 'two/c']);
    // The connection is usable afterwards.
    expect(await inTransaction(database.db, async (trx) => (await create(trx, 'two/d'), 'd'))).toBe('d');
  });

  /** Three transactions, each begun in a turn of the event loop of its own. */
  const inThreeTurns = async (prefix: string) => {
    const begun: Promise<unknown>[] = [];
    for (const name of ['a', 'b', 'c']) {
      begun.push(inTransaction(database.db, (trx) => create(trx, `${prefix}/${name}`)));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(begun);
  };

  it('waits while other requests are in flight, so transactions of several turns share a commit', async () => {
    const group = groupCommitOf(database.db)!;
    let inFlight = 4;
    group.pace({ inFlight: () => inFlight, windowMs: 100 });
    try {
      // Four requests in flight, three transactions: the batch waits out its window.
      const windowed = { ...group.stats };
      await inThreeTurns('windowed');
      expect(group.stats).toEqual({ batches: windowed.batches + 1, transactions: windowed.transactions + 3 });

      // Three in flight: the batch goes as the third joins, long before its window ends.
      inFlight = 3;
      group.pace({ inFlight: () => inFlight, windowMs: 60_000 });
      const joined = { ...group.stats };
      const started = Date.now();
      await inThreeTurns('joined');
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(group.stats).toEqual({ batches: joined.batches + 1, transactions: joined.transactions + 3 });

      // Nothing else in flight: each commits in the turn after it began, on its own.
      inFlight = 1;
      const alone = { ...group.stats };
      await inThreeTurns('alone');
      expect(group.stats).toEqual({ batches: alone.batches + 3, transactions: alone.transactions + 3 });
      for (const prefix of ['windowed', 'joined', 'alone']) expect(await names(`${prefix}/`)).toEqual(['a', 'b', 'c'].map((n) => `${prefix}/${n}`));
    } finally {
      group.pace({ inFlight: () => 0, windowMs: 0 });
    }
  });

  it('does not wait once a batch is full', async () => {
    const group = groupCommitOf(database.db)!;
    group.pace({ inFlight: () => 1_000, windowMs: 60_000 });
    try {
      const before = { ...group.stats };
      const started = Date.now();
      await Promise.all(Array.from({ length: 64 }, (_, i) => inTransaction(database.db, (trx) => create(trx, `full/${String(i).padStart(2, '0')}`))));
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(group.stats).toEqual({ batches: before.batches + 1, transactions: before.transactions + 64 });
      expect(await names('full/')).toHaveLength(64);
    } finally {
      group.pace({ inFlight: () => 0, windowMs: 0 });
    }
  });
});

const pgSkip = await pgUnavailableReason();
describe.skipIf(pgSkip !== undefined)('PostgreSQL transactions', () => {
  it('run side by side on the pool, each with its own commit', async () => {
    const temp = await createTempDatabase();
    const database = connect({ url: temp.url });
    try {
      expect(groupCommitOf(database.db)).toBeUndefined();
    } finally {
      await database.db.destroy();
      await temp.drop();
    }
  });
});
