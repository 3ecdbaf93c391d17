import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from './connect.js';
import type { Schema } from './schema.js';

/** An outbox event as a consumer that fans events out reads it. */
export interface CursorEvent {
  id: number;
  type: string;
  repository: string | null;
  payload: string;
}

/**
 * The next `batch` events after `consumer`'s cursor, inside the caller's transaction. A new
 * consumer starts at the end (events from before it existed start nothing). On PostgreSQL the
 * cursor row is locked, so one instance reads a batch at a time; SQLite's write lock does that.
 * The caller moves the cursor with `advanceCursor` in the same transaction.
 */
export async function readAfterCursor(trx: Transaction<Schema> | Kysely<Schema>, engine: Database['engine'], options: { consumer: string; batch: number; now: number }): Promise<CursorEvent[]> {
  await trx
    .insertInto('event_cursor')
    .values({ consumer: options.consumer, last_id: sql<number>`coalesce((select max(id) from event_outbox), 0)`, updated_at: options.now })
    .onConflict((oc) => oc.column('consumer').doNothing())
    .execute();
  const lock = engine === 'postgres' ? sql`FOR UPDATE` : sql``;
  const cursor = await sql<{ last_id: number }>`SELECT last_id FROM event_cursor WHERE consumer = ${options.consumer} ${lock}`.execute(trx);
  const after = Number(cursor.rows[0]?.last_id ?? 0);
  const rows = await trx.selectFrom('event_outbox').select(['id', 'type', 'repository', 'payload']).where('id', '>', after).orderBy('id').limit(options.batch).execute();
  return rows.map((r) => ({ id: Number(r.id), type: r.type, repository: r.repository, payload: r.payload }));
}

export async function advanceCursor(trx: Transaction<Schema> | Kysely<Schema>, consumer: string, lastId: number, now: number): Promise<void> {
  await trx.updateTable('event_cursor').set({ last_id: lastId, updated_at: now }).where('consumer', '=', consumer).execute();
}
