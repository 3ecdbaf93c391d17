import type { Kysely } from 'kysely';
import type { SettingsStore, StoredSetting } from '../../ports/settings-store.js';
import type { Database } from './connect.js';
import type { Schema } from './schema.js';

export class KyselySettingsStore implements SettingsStore {
  private readonly db: Kysely<Schema>;

  constructor(database: Database) {
    this.db = database.db;
  }

  async list(): Promise<StoredSetting[]> {
    const rows = await this.db.selectFrom('system_setting').selectAll().execute();
    return rows.map((row) => ({ name: row.name, value: JSON.parse(row.value) as unknown, updatedAt: Number(row.updated_at), updatedBy: row.updated_by }));
  }

  async put(name: string, value: unknown, updatedBy: string | null, now: number): Promise<void> {
    const json = JSON.stringify(value);
    await this.db
      .insertInto('system_setting')
      .values({ name, value: json, updated_at: now, updated_by: updatedBy })
      .onConflict((oc) => oc.column('name').doUpdateSet({ value: json, updated_at: now, updated_by: updatedBy }))
      .execute();
  }

  async delete(name: string): Promise<boolean> {
    const result = await this.db.deleteFrom('system_setting').where('name', '=', name).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
