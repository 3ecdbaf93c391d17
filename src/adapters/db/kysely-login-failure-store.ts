import type { Kysely, Selectable } from 'kysely';
import type { LoginFailureRow, LoginFailureStore } from '../../ports/login-failure-store.js';
import type { Database } from './connect.js';
import type { LoginFailureTable, Schema } from './schema.js';

export class KyselyLoginFailureStore implements LoginFailureStore {
  private readonly db: Kysely<Schema>;

  constructor(database: Database) {
    this.db = database.db;
  }

  async get(keys: Array<{ account: string; source: string }>): Promise<LoginFailureRow[]> {
    if (keys.length === 0) return [];
    const rows = await this.db
      .selectFrom('login_failure')
      .selectAll()
      .where((eb) => eb.or(keys.map((k) => eb.and([eb('account', '=', k.account), eb('source', '=', k.source)]))))
      .execute();
    return rows.map(toRow);
  }

  recordFailure(account: string, source: string, now: number, forgetBefore: number, block: (failures: number) => number | null): Promise<LoginFailureRow> {
    return this.db.transaction().execute(async (trx) => {
      const counted = await trx
        .insertInto('login_failure')
        .values({ account, source, failures: 1, blocked_until: null, updated_at: now })
        .onConflict((oc) =>
          oc.columns(['account', 'source']).doUpdateSet((eb) => ({
            failures: eb.case().when('login_failure.updated_at', '<', forgetBefore).then(1).else(eb('login_failure.failures', '+', 1)).end(),
            updated_at: now,
          })),
        )
        .returningAll()
        .executeTakeFirstOrThrow();
      const blockedUntil = block(counted.failures);
      if (blockedUntil === counted.blocked_until) return toRow(counted);
      const row = await trx
        .updateTable('login_failure')
        .set({ blocked_until: blockedUntil })
        .where('account', '=', account)
        .where('source', '=', source)
        .returningAll()
        .executeTakeFirstOrThrow();
      return toRow(row);
    });
  }

  async clear(account: string, source: string): Promise<void> {
    await this.db.deleteFrom('login_failure').where('account', '=', account).where('source', '=', source).execute();
  }

  async clearAccount(account: string): Promise<number> {
    const result = await this.db.deleteFrom('login_failure').where('account', '=', account).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async blockedAccounts(now: number): Promise<string[]> {
    const rows = await this.db.selectFrom('login_failure').select('account').distinct().where('blocked_until', '>', now).where('account', '!=', '*').execute();
    return rows.map((r) => r.account);
  }

  async prune(before: number): Promise<number> {
    const result = await this.db.deleteFrom('login_failure').where('updated_at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function toRow(row: Selectable<LoginFailureTable>): LoginFailureRow {
  return {
    account: row.account,
    source: row.source,
    failures: Number(row.failures),
    blockedUntil: row.blocked_until === null ? null : Number(row.blocked_until),
    updatedAt: Number(row.updated_at),
  };
}
