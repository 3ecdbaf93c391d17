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
      // A and B each add a key, then each retires all but the newest.
      await store.addSigningKey(key('from-a', 10));
      await store.addSigningKey(key('from-b', 20));
      await store.retireAllButNewestSigningKey(30);
      await store.retireAllButNewestSigningKey(31);
      expect(await active()).toEqual(['from-b']);
      expect((await store.listSigningKeys()).find((k) => k.kid === 'old')?.retiredAt).toBe(30);
    });

    it('keeps one key when the later insert carries the earlier time (A retired before B inserted)', async () => {
      await store.addSigningKey(key('late-a', 200));
      await store.retireAllButNewestSigningKey(201);
      // B read the clock before A did, but its insert lands after A's retire.
      await store.addSigningKey(key('late-b', 190));
      await store.retireAllButNewestSigningKey(202);
      expect(await active()).toEqual(['late-a']);
    });

    it('keeps exactly one of two keys created in the same millisecond', async () => {
      await store.addSigningKey(key('kid-2', 300));
      await store.addSigningKey(key('kid-1', 300));
      await store.retireAllButNewestSigningKey(301);
      await store.retireAllButNewestSigningKey(301);
      expect(await active()).toEqual(['kid-2']);
    });

    it('never leaves no key active when many instances rotate at once', async () => {
      await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          await store.addSigningKey(key(`par-${i}`, 400 + (i % 3)));
          await store.retireAllButNewestSigningKey(500);
        }),
      );
      expect(await active()).toEqual(['par-5']);
    });
  });
}
