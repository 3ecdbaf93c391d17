import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, migrate, type Database } from '../../src/adapters/db/connect.js';
import { KyselyIdentityStore } from '../../src/adapters/db/kysely-identity-store.js';
import { createTempDatabase, pgUnavailableReason, type TempDatabase } from '../helpers/pg.js';

const pgSkip = await pgUnavailableReason();
if (pgSkip) console.warn(`SKIPPING PostgreSQL signing-key tests: ${pgSkip}`);

const key = (kid: string, createdAt: number) => ({ kid, privateJwk: '{}', publicJwk: '{}', createdAt, retiredAt: null });

for (const engine of ['sqlite', 'postgres'] as const) {
  describe.skipIf(engine === 'postgres' && pgSkip !== undefined)(`signing-key rotation by two instances at once (${engine})`, () => {
    let database: Database;
    let temp: TempDatabase | undefined;
    let dir: string | undefined;
    let store: KyselyIdentityStore;

    beforeAll(async () => {
      if (engine === 'postgres') {
        temp = await createTempDatabase();
        database = connect({ url: temp.url });
      } else {
        dir = await mkdtemp(join(tmpdir(), 'berth-keys-'));
        database = connect({ url: `sqlite:${join(dir, 'berth.db')}` });
      }
      await migrate(database);
      store = new KyselyIdentityStore(database);
    });
    afterAll(async () => {
      await database?.db.destroy();
      await temp?.drop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    const active = async () => (await store.listSigningKeys()).filter((k) => k.retiredAt === null).map((k) => k.kid);

    it('keeps the newer key when both insert before either retires', async () => {
      await store.addSigningKey(key('old', 1));
      // A and B each add a key, then each retires "the others".
      await store.addSigningKey(key('from-a', 10));
      await store.addSigningKey(key('from-b', 20));
      await store.retireSigningKeys('from-a', 30);
      await store.retireSigningKeys('from-b', 31);
      expect(await active()).toEqual(['from-b']);
    });

    it('keeps exactly one of two keys created in the same millisecond', async () => {
      await store.addSigningKey(key('kid-2', 100));
      await store.addSigningKey(key('kid-1', 100));
      await store.retireSigningKeys('kid-2', 101);
      await store.retireSigningKeys('kid-1', 101);
      expect(await active()).toEqual(['kid-2']);
    });
  });
}
