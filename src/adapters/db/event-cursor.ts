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
  const after = await lockCursor(trx, engine, options.consumer, options.now, 'end');
  const rows = await trx.selectFrom('event_outbox').select(['id', 'type', 'repository', 'payload']).where('id', '>', after).orderBy('id').limit(options.batch).execute();
  return rows.map((r) => ({ id: Number(r.id), type: r.type, repository: r.repository, payload: r.payload }));
}

/**
 * The id `consumer` has read up to, its cursor row locked on PostgreSQL (the caller's
 * transaction serializes it with other instances). A consumer's first call makes the row,
 * starting at the outbox's `end` or at its `beginning`: two statements more, once.
 */
export async function lockCursor(trx: Transaction<Schema> | Kysely<Schema>, engine: Database['engine'], consumer: string, now: number, startAt: 'end' | 'beginning'): Promise<number> {
  const lock = engine === 'postgres' ? sql`FOR UPDATE` : sql``;
  const read = () => sql<{ last_id: number }>`SELECT last_id FROM event_cursor WHERE consumer = ${consumer} ${lock}`.execute(trx);
  let cursor = await read();
  if (cursor.rows.length === 0) {
    const start = startAt === 'end' ? sql<number>`coalesce((select max(id) from event_outbox), 0)` : sql<number>`0`;
    await trx.insertInto('event_cursor').values({ consumer, last_id: start, updated_at: now }).onConflict((oc) => oc.column('consumer').doNothing()).execute();
    cursor = await read();
  }
  return Number(cursor.rows[0]?.last_id ?? 0);
}

export async function advanceCursor(trx: Transaction<Schema> | Kysely<Schema>, consumer: string, lastId: number, now: number): Promise<void> {
  await trx.updateTable('event_cursor').set({ last_id: lastId, updated_at: now }).where('consumer', '=', consumer).execute();
}
