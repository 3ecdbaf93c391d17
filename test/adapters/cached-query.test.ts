import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CachedQuery } from '../../src/adapters/db/cached-query.js';
import { connect, migrate, type Database } from '../../src/adapters/db/connect.js';
import { engineMatrix } from '../helpers/berth.js';
import { createTempDatabase, type TempDatabase } from '../helpers/pg.js';

const engines = await engineMatrix();

describe.each(engines)('queries built once, on $engine', ({ engine, skip }) => {
  let dir: string;
  let temp: TempDatabase | undefined;
  let database: Database;

  beforeAll(async () => {
    if (skip) return;
    dir = await mkdtemp(join(tmpdir(), 'berth-cached-query-'));
    if (engine === 'postgres') temp = await createTempDatabase();
    database = connect({ url: temp?.url ?? `sqlite:${join(dir, 'meta.db')}` });
    await migrate(database);
  });
  afterAll(async () => {
    await database?.db.destroy();
    await temp?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // A query with a constant of its own, an optional part and a list: three shapes below.
  const build = (db: Database['db'], p: { name: string; createdAfter: number | undefined; ids: number[] }) => {
    let query = db.selectFrom('repository').select(['id', 'name']).where('name', '>=', p.name).where('tag_version', '>=', 0);
    if (p.createdAfter !== undefined) query = query.where('created_at', '>', p.createdAfter);
    if (p.ids.length > 0) query = query.where('id', 'in', p.ids);
    return query.orderBy('name');
  };

  it.skipIf(Boolean(skip))('sends what the builder builds, for each shape, with each run’s values', () => {
    const cached = new CachedQuery(build);
    const runs = [
      { name: 'a', createdAfter: undefined, ids: [] },
      { name: 'b', createdAfter: 5, ids: [1, 2, 3] },
      { name: 'c', createdAfter: undefined, ids: [7] },
      // The shapes again, with other values: taken from the compiled forms kept.
      { name: 'd', createdAfter: 9, ids: [4, 5, 6] },
      { name: 'e', createdAfter: undefined, ids: [] },
    ];
    for (const params of runs) {
      const direct = build(database.db, params).compile();
      expect(cached.compile(database.db, params)).toEqual({ sql: direct.sql, parameters: [...direct.parameters] });
    }
    // The constant 0 stays a bound constant; the values are the run's.
    expect(cached.compile(database.db, runs[3]!).parameters).toEqual(['d', 0, 9, 4, 5, 6]);
  });

  it.skipIf(Boolean(skip))('runs inside and outside transactions, inserts and reads back', async () => {
    const insert = new CachedQuery((db, p: { names: string[]; now: number }) =>
      db
        .insertInto('repository')
        .values(p.names.map((name) => ({ name, created_at: p.now })))
        .returning(['id', 'name']),
    );
    const byName = new CachedQuery((db, p: { name: string }) => db.selectFrom('repository').select(['name', 'created_at']).where('name', '=', p.name));
    const made = await insert.rows(database.db, { names: ['library/x', 'library/y'], now: 1_000 });
    expect(made.map((r) => r.name)).toEqual(['library/x', 'library/y']);
    await database.db.transaction().execute(async (trx) => {
      expect((await insert.rows(trx, { names: ['library/z'], now: 2_000 })).map((r) => r.name)).toEqual(['library/z']);
      expect(await byName.first(trx, { name: 'library/z' })).toEqual({ name: 'library/z', created_at: 2_000 });
    });
    expect(await byName.first(database.db, { name: 'library/y' })).toEqual({ name: 'library/y', created_at: 1_000 });
    expect(await byName.first(database.db, { name: 'library/none' })).toBeUndefined();
    const listed = new CachedQuery(build);
    expect((await listed.rows(database.db, { name: 'library/', createdAfter: 1_500, ids: [] })).map((r) => r.name)).toEqual(['library/z']);
  });
});
