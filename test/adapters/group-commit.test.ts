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
