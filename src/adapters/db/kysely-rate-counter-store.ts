import type { Kysely } from 'kysely';
import type { RateCounterStore } from '../../ports/rate-counter-store.js';
import type { Database } from './connect.js';
import type { Schema } from './schema.js';

export class KyselyRateCounterStore implements RateCounterStore {
  private readonly db: Kysely<Schema>;

  constructor(database: Database) {
    this.db = database.db;
  }

  async claim(key: string, windowStart: number, want: number, limit: number): Promise<number | undefined> {
    // One statement: the first claim of a window inserts, later ones add only while the sum
    // stays within the limit (a refused update returns no row).
    const row = await this.db
      .insertInto('rate_counter')
      .values({ key, window_start: windowStart, count: want })
      .onConflict((oc) =>
        oc
          .columns(['key', 'window_start'])
          .doUpdateSet((eb) => ({ count: eb('rate_counter.count', '+', want) }))
          .where('rate_counter.count', '<=', limit - want),
      )
      .returning('count')
      .executeTakeFirst();
    return row === undefined ? undefined : Number(row.count);
  }

  async release(key: string, windowStart: number, count: number): Promise<void> {
    await this.db
      .updateTable('rate_counter')
      .set((eb) => ({ count: eb('count', '-', count) }))
      .where('key', '=', key)
      .where('window_start', '=', windowStart)
      .where('count', '>=', count)
      .execute();
  }

  async prune(before: number): Promise<number> {
    const result = await this.db.deleteFrom('rate_counter').where('window_start', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
