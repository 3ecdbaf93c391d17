import type { Kysely } from 'kysely';
import type { LeaseStore } from '../../ports/lease-store.js';
import type { Database } from './connect.js';
import type { Schema } from './schema.js';

export class KyselyLeaseStore implements LeaseStore {
  private readonly db: Kysely<Schema>;

  constructor(database: Database) {
    this.db = database.db;
  }

  async acquire(name: string, owner: string, until: number, now: number): Promise<boolean> {
    // One statement on both engines: the insert takes a free name; the conflict update takes
    // it over only when the lease ran out or is the owner's own (a refused update returns no row).
    const row = await this.db
      .insertInto('lease')
      .values({ name, owner, until })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet({ owner, until })
          .where((eb) => eb.or([eb('lease.until', '<', now), eb('lease.owner', '=', owner)])),
      )
      .returning('owner')
      .executeTakeFirst();
    return row !== undefined;
  }

  async release(name: string, owner: string): Promise<void> {
    await this.db.deleteFrom('lease').where('name', '=', name).where('owner', '=', owner).execute();
  }
}
