import type { Kysely, Selectable } from 'kysely';
import type { EventStore, OutboxEvent, StoredEvent } from '../../ports/event-store.js';
import type { Database } from './connect.js';
import type { EventOutboxTable, Schema } from './schema.js';

export class KyselyEventStore implements EventStore {
  private readonly db: Kysely<Schema>;

  constructor(database: Database) {
    this.db = database.db;
  }

  async append(events: OutboxEvent[], now: number): Promise<void> {
    if (events.length === 0) return;
    await this.db
      .insertInto('event_outbox')
      .values(events.map((e) => ({ type: e.type, project: e.project, repository: e.repository, payload: JSON.stringify(e.data), created_at: now })))
      .execute();
  }

  async get(id: number): Promise<StoredEvent | undefined> {
    const row = await this.db.selectFrom('event_outbox').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toEvent(row);
  }

  async positions(consumer: string): Promise<{ newest: number; consumed: number; oldestUnconsumedAt: number | null }> {
    const newest = await this.db.selectFrom('event_outbox').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst();
    const cursor = await this.db.selectFrom('event_cursor').select('last_id').where('consumer', '=', consumer).executeTakeFirst();
    const consumed = cursor?.last_id ?? 0;
    const oldest = await this.db
      .selectFrom('event_outbox')
      .select('created_at')
      .where('id', '>', consumed)
      .orderBy('id')
      .limit(1)
      .executeTakeFirst();
    return { newest: Number(newest?.id ?? 0), consumed, oldestUnconsumedAt: oldest?.created_at ?? null };
  }

  async prune(before: number): Promise<number> {
    const slowest = await this.db.selectFrom('event_cursor').select((eb) => eb.fn.min('last_id').as('id')).executeTakeFirst();
    const upTo = Number(slowest?.id ?? 0);
    const result = await this.db.deleteFrom('event_outbox').where('id', '<=', upTo).where('created_at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

export function toEvent(row: Selectable<EventOutboxTable>): StoredEvent {
  return {
    id: row.id,
    type: row.type as StoredEvent['type'],
    project: row.project,
    repository: row.repository,
    data: JSON.parse(row.payload) as StoredEvent['data'],
    createdAt: row.created_at,
  };
}
