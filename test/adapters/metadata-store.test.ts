import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'vitest';
import { connect, migrate } from '../../src/adapters/db/connect.js';
import { KyselyMetadataStore } from '../../src/adapters/db/kysely-metadata-store.js';
import { KyselyEventStore } from '../../src/adapters/db/kysely-event-store.js';
import { createTempDatabase, pgUnavailableReason, type TempDatabase } from '../helpers/pg.js';
import { metadataStoreContract } from './metadata-store.contract.js';

const dirs = new Map<KyselyMetadataStore, string>();
const outboxes = new Map<KyselyMetadataStore, KyselyEventStore>();
metadataStoreContract('sqlite', {
  async create() {
    const dir = await mkdtemp(join(tmpdir(), 'berth-meta-'));
    const database = connect({ url: `sqlite:${join(dir, 'berth.db')}` });
    await migrate(database);
    const store = new KyselyMetadataStore(database);
    dirs.set(store, dir);
    outboxes.set(store, new KyselyEventStore(database));
    return store;
  },
  events: (store) => outboxes.get(store as KyselyMetadataStore)!,
  async destroy(store) {
    await store.close();
    await rm(dirs.get(store as KyselyMetadataStore)!, { recursive: true, force: true });
  },
});

const pgSkip = await pgUnavailableReason();
if (pgSkip) {
  console.warn(`SKIPPING PostgreSQL metadata contract: ${pgSkip}`);
  describe.skip(`MetadataStore contract: postgres (skipped: ${pgSkip})`, () => undefined);
} else {
  const databases = new Map<KyselyMetadataStore, TempDatabase>();
  metadataStoreContract('postgres', {
    async create() {
      const temp = await createTempDatabase();
      const database = connect({ url: temp.url });
      // Two migrators at once, as two instances starting together would run them.
      const other = connect({ url: temp.url });
      await Promise.all([migrate(database), migrate(other)]);
      await other.db.destroy();
      const store = new KyselyMetadataStore(database);
      databases.set(store, temp);
      outboxes.set(store, new KyselyEventStore(database));
      return store;
    },
    events: (store) => outboxes.get(store as KyselyMetadataStore)!,
    async destroy(store) {
      await store.close();
      await databases.get(store as KyselyMetadataStore)!.drop();
    },
  });
}
