import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { sql, type Kysely } from 'kysely';
import { connect, type Database } from '../../src/adapters/db/connect.js';
import { inTransaction } from '../../src/adapters/db/transaction.js';
import { createTempDatabase, pgUnavailableReason, type TempDatabase } from '../helpers/pg.js';

const unavailable = await pgUnavailableReason();
if (unavailable) console.warn(`skipping prepared statements on PostgreSQL: ${unavailable}`);

/** The statements the connection running this query has prepared (one transaction: one connection). */
async function preparedOn(db: Kysely<never>, query: (trx: Kysely<never>) => Promise<unknown>): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    await query(trx);
    const { rows } = await sql<{ statement: string }>`select statement from pg_prepared_statements order by prepare_time`.execute(trx);
    return rows.map((r) => r.statement);
  });
}

describe.skipIf(Boolean(unavailable))('prepared statements on PostgreSQL', () => {
  let temp: TempDatabase;
  let admin: pg.Client;
  const opened: Database[] = [];
  const open = (preparedStatements?: boolean) => {
    const database = connect({ url: temp.url, poolSize: 2, preparedStatements });
    opened.push(database);
    return database.db as unknown as Kysely<never>;
  };

  beforeAll(async () => {
    temp = await createTempDatabase();
    admin = new pg.Client({ connectionString: temp.url });
    await admin.connect();
    await admin.query('create table item (id integer primary key, name text not null)');
    await admin.query("insert into item values (1, 'one'), (2, 'two')");
  });
  afterAll(async () => {
    for (const database of opened) await database.db.destroy();
    await admin?.end();
    await temp?.drop();
  });

  it('names each query with parameters, once per connection; others run unnamed', async () => {
    const db = open();
    const statements = await preparedOn(db, async (trx) => {
      for (const id of [1, 2, 1]) await sql`select name from item where id = ${id}`.execute(trx);
      await sql`select count(*) from item`.execute(trx);
      await sql`update item set name = ${'uno'} where id = ${1}`.execute(trx);
    });
    expect(statements).toEqual(['select name from item where id = $1', 'update item set name = $1 where id = $2']);
  });

  it('prepares nothing when turned off (a pooler in transaction mode)', async () => {
    const db = open(false);
    expect(await preparedOn(db, (trx) => sql`select name from item where id = ${2}`.execute(trx))).toEqual([]);
  });

  const byId = (id: number) => sql<Record<string, unknown>>`select * from item where id = ${id}`;
  /** A pool whose two connections have both prepared byId's query. */
  const preparedPool = async () => {
    const db = open();
    await Promise.all([db.transaction().execute((trx) => byId(1).execute(trx)), db.transaction().execute((trx) => byId(2).execute(trx))]);
    return db;
  };

  it('runs a query again at once when a schema change altered its result (a rolling upgrade adding a column)', async () => {
    const db = await preparedPool();
    await admin.query("alter table item add column note text default 'n'");
    expect((await byId(2).execute(db)).rows).toEqual([{ id: 2, name: 'two', note: 'n' }]);
    // Connections prepared before the change close when released; new ones prepare the query anew.
    for (let i = 0; i < 4; i++) expect((await byId(2).execute(db)).rows).toEqual([{ id: 2, name: 'two', note: 'n' }]);
    expect(await preparedOn(db, (trx) => byId(2).execute(trx))).toEqual(['select * from item where id = $1']);
  });

  it('runs a transaction again whole when a schema change altered the result of one of its queries', async () => {
    const db = await preparedPool();
    await admin.query("alter table item add column label text default 'l'");
    let attempts = 0;
    const rows = await inTransaction(db as never, async (trx) => {
      attempts++;
      return (await byId(2).execute(trx as never)).rows;
    });
    expect(rows).toEqual([{ id: 2, name: 'two', note: 'n', label: 'l' }]);
    expect(attempts).toBe(2);
  });
});
