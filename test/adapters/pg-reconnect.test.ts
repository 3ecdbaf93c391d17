import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { sql, type Kysely } from 'kysely';
import { connect, type Database } from '../../src/adapters/db/connect.js';
import { isConnectionLost } from '../../src/adapters/db/pg-reconnect.js';
import { inTransaction } from '../../src/adapters/db/transaction.js';
import type { Schema } from '../../src/adapters/db/schema.js';
import { pgUnavailableReason } from '../helpers/pg.js';
import { proxiedDatabase } from '../helpers/tcp-proxy.js';

const pgSkip = await pgUnavailableReason();
if (pgSkip) console.warn(`SKIPPING PostgreSQL reconnect tests: ${pgSkip}`);

interface Probe {
  probe: { n: number };
}

describe.skipIf(pgSkip !== undefined)(`statements whose PostgreSQL connection drops${pgSkip ? ` (skipped: ${pgSkip})` : ''}`, () => {
  let database: Awaited<ReturnType<typeof proxiedDatabase>>;
  let connection: Database;
  let db: Kysely<Probe>;
  /** Straight to the server, past the proxy: sees the statements the cut orphaned. */
  let direct: pg.Client;

  beforeAll(async () => {
    database = await proxiedDatabase();
    // New connections wait up to 5 s for the server to take them again, as Berth's default does 10 s.
    connection = connect({ url: database.url, connectRetryMs: 5000 });
    db = connection.db as unknown as Kysely<Probe>;
    await sql`create table probe (n integer not null)`.execute(db);
    const url = new URL(database.url);
    direct = new pg.Client({ connectionString: `postgres://${url.username}@127.0.0.1:5432${url.pathname}` });
    await direct.connect();
  });
  afterAll(async () => {
    await direct?.end();
    await connection?.db.destroy();
    await database?.drop();
  });

  /** Statements of this database other than `direct`'s that are sleeping in pg_sleep. */
  const sleepers = async () =>
    Number(
      (
        await direct.query(
          `select count(*) as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and state = 'active' and query like '%pg_sleep%'`,
        )
      ).rows[0].n,
    );
  const until = async (check: () => Promise<boolean>, what: string) => {
    const deadline = Date.now() + 10_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  /** Drops every connection once a statement is sleeping on the server, and takes new ones again 200 ms later. */
  const restartDuringSleep = async () => {
    await until(async () => (await sleepers()) > 0, 'the statement to start');
    await database.proxy.cut();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await database.proxy.start();
  };
  const count = async () => Number((await direct.query('select count(*) as n from probe')).rows[0].n);
  beforeEach(async () => {
    // A statement an earlier test orphaned may still be sleeping on the server.
    await until(async () => (await sleepers()) === 0, 'earlier statements to finish');
    await db.deleteFrom('probe').execute();
  });

  it('runs a read again on a fresh connection, which waits for the server to come back', async () => {
    await sql`select 1`.execute(db);
    const read = db.selectNoFrom(sql<number>`(select 7 from pg_sleep(1))`.as('n')).executeTakeFirstOrThrow();
    await restartDuringSleep();
    expect(await read).toEqual({ n: 7 });
  });

  it('does not run a write again: the server may have committed it before the answer was lost', async () => {
    await sql`select 1`.execute(db);
    const write = db
      .insertInto('probe')
      .values({ n: sql<number>`(select 1 from pg_sleep(1))` })
      .execute();
    const failure = write.then(
      () => undefined,
      (err: unknown) => err,
    );
    await restartDuringSleep();
    const err = await failure;
    expect(isConnectionLost(err)).toBe(true);
    // The orphaned statement finishes on the server and commits (nobody is left to hear it).
    await until(async () => (await sleepers()) === 0, 'the orphaned insert to finish');
    expect(await count()).toBe(1);
  });

  it('does not run a locking read again outside a transaction', async () => {
    await db.insertInto('probe').values({ n: 1 }).execute();
    const locking = db
      .selectFrom('probe')
      .select('n')
      .where(sql<boolean>`(select true from pg_sleep(1))`)
      .forUpdate()
      .execute()
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    await restartDuringSleep();
    expect(isConnectionLost(await locking)).toBe(true);
  });

  it('runs a transaction again when its connection dropped before COMMIT, and it commits once', async () => {
    await sql`select 1`.execute(db);
    let attempts = 0;
    const done = inTransaction(connection.db as unknown as Kysely<Schema>, async (trx) => {
      attempts++;
      const t = trx as unknown as Kysely<Probe>;
      await t.insertInto('probe').values({ n: 2 }).execute();
      await t.selectNoFrom(sql<number>`(select 1 from pg_sleep(1))`.as('s')).execute();
      return attempts;
    });
    await restartDuringSleep();
    expect(await done).toBe(2);
    // The first attempt's backend ends its transaction without COMMIT: rolled back.
    await until(async () => (await sleepers()) === 0, 'the orphaned transaction to end');
    expect(await count()).toBe(1);
  });

  it('recognises a dropped connection by its code or by node-postgres’s message, and nothing else', () => {
    expect(isConnectionLost(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isConnectionLost(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }))).toBe(true);
    expect(isConnectionLost(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isConnectionLost(Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' }))).toBe(false);
    expect(isConnectionLost(Object.assign(new Error('deadlock detected'), { code: '40P01' }))).toBe(false);
    expect(isConnectionLost(undefined)).toBe(false);
  });
});
