import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connect, migrate, type Database } from '../../src/adapters/db/connect.js';
import { KyselyIdentityStore } from '../../src/adapters/db/kysely-identity-store.js';
import { createTempDatabase, pgUnavailableReason, type TempDatabase } from '../helpers/pg.js';

const pgSkip = await pgUnavailableReason();
if (pgSkip) console.warn(`SKIPPING PostgreSQL signing-key tests: ${pgSkip}`);

const key = (kid: string, createdAt: number) => ({ kid, privateJwk: '{}', publicJwk: '{}', createdAt, retiredAt: null });

for (const engine of ['sqlite', 'postgres'] as const) {
  describe.skipIf(engine === 'postgres' && pgSkip !== undefined)(`signing-key rotation by several instances at once (${engine})`, () => {
    let temp: TempDatabase | undefined;
    let dir: string | undefined;
    /**
     * Four instances. On PostgreSQL each has its own pool; SQLite instances are processes
     * (one connection each would block this one thread on the file lock), so here they share
     * one connection, whose transactions Kysely runs one at a time.
     */
    let databases: Database[] = [];
    let stores: KyselyIdentityStore[] = [];

    beforeAll(async () => {
      let url: string;
      if (engine === 'postgres') {
        temp = await createTempDatabase();
        url = temp.url;
      } else {
        dir = await mkdtemp(join(tmpdir(), 'berth-keys-'));
        url = `sqlite:${join(dir, 'berth.db')}`;
      }
      databases = engine === 'postgres' ? Array.from({ length: 4 }, () => connect({ url })) : [connect({ url })];
      await migrate(databases[0]!);
      stores = Array.from({ length: 4 }, (_, i) => new KyselyIdentityStore(databases[i % databases.length]!));
    });
    afterAll(async () => {
      for (const database of databases) await database.db.destroy();
      await temp?.drop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });
    beforeEach(async () => {
      await databases[0]!.db.deleteFrom('signing_key').execute();
    });

    const keys = () => stores[0]!.listSigningKeys();
    const active = async () => (await keys()).filter((k) => k.retiredAt === null).map((k) => k.kid);

    it('adds one key when instances start together on an empty database, and every instance finds that one', async () => {
      const added = await Promise.all(stores.map((store, i) => store.rotateSigningKey(key(`start-${i}`, 1000 + i), { unlessActiveAfter: 0 })));
      expect(added.filter(Boolean)).toHaveLength(1);
      const winner = `start-${added.indexOf(true)}`;
      expect(await active()).toEqual([winner]);
      expect((await keys()).map((k) => k.kid)).toEqual([winner]);
    });

    it('replaces a due key once when instances find it due together', async () => {
      await stores[0]!.rotateSigningKey(key('old', 100));
      const added = await Promise.all(stores.map((store, i) => store.rotateSigningKey(key(`due-${i}`, 2000 + i), { unlessActiveAfter: 500 })));
      expect(added.filter(Boolean)).toHaveLength(1);
      const winner = `due-${added.indexOf(true)}`;
      expect(await active()).toEqual([winner]);
      const all = await keys();
      expect(all.map((k) => k.kid).sort()).toEqual([winner, 'old'].sort());
      expect(all.find((k) => k.kid === 'old')?.retiredAt).toBe(2000 + added.indexOf(true));
    });

    it('leaves a fresh key alone', async () => {
      await stores[0]!.rotateSigningKey(key('fresh', 3000));
      expect(await stores[1]!.rotateSigningKey(key('not-needed', 3001), { unlessActiveAfter: 2999 })).toBe(false);
      expect((await keys()).map((k) => k.kid)).toEqual(['fresh']);
    });

    it('rotates unconditionally on request: the last rotation is the active key, the earlier ones retired when it came', async () => {
      await stores[0]!.rotateSigningKey(key('first', 4000));
      await stores[1]!.rotateSigningKey(key('second', 4010));
      const all = await keys();
      expect(all.map((k) => [k.kid, k.retiredAt])).toEqual([
        ['second', null],
        ['first', 4010],
      ]);
    });

    it('never leaves two keys active, or none, when instances rotate at the same moment', async () => {
      await Promise.all(stores.flatMap((store, i) => [store.rotateSigningKey(key(`par-${i}-a`, 5000)), store.rotateSigningKey(key(`par-${i}-b`, 5000))]));
      const all = await keys();
      expect(all).toHaveLength(8);
      expect(all.filter((k) => k.retiredAt === null)).toHaveLength(1);
    });
  });
}
