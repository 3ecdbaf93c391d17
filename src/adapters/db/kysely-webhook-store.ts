import { type Kysely, type Selectable, type Updateable } from 'kysely';
import type { EventType } from '../../ports/event-store.js';
import type { DeliveryRow, DeliveryStatus, FanOutOptions, WebhookFormat, WebhookRow, WebhookStore } from '../../ports/webhook-store.js';
import { lockCursor } from './event-cursor.js';
import type { Database } from './connect.js';
import { jobValues } from './kysely-job-store.js';
import type { Engine } from './migrations.js';
import type { Schema, WebhookDeliveryTable, WebhookTable } from './schema.js';

export class KyselyWebhookStore implements WebhookStore {
  private readonly db: Kysely<Schema>;
  private readonly engine: Engine;

  constructor(database: Database) {
    this.db = database.db;
    this.engine = database.engine;
  }

  async create(webhook: Omit<WebhookRow, 'id' | 'createdAt' | 'updatedAt'>, now: number): Promise<WebhookRow> {
    const row = await this.db
      .insertInto('webhook')
      .values({
        project_id: webhook.projectId,
        name: webhook.name,
        url: webhook.url,
        event_types: JSON.stringify(webhook.eventTypes),
        format: webhook.format,
        auth_header: webhook.authHeader,
        secret: webhook.secret,
        enabled: webhook.enabled ? 1 : 0,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toWebhook(row);
  }

  async get(id: number): Promise<WebhookRow | undefined> {
    const row = await this.db.selectFrom('webhook').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toWebhook(row);
  }

  async update(id: number, patch: Partial<Omit<WebhookRow, 'id' | 'projectId' | 'createdAt' | 'updatedAt'>>, now: number): Promise<WebhookRow | undefined> {
    const values: Updateable<WebhookTable> = { updated_at: now };
    if (patch.name !== undefined) values.name = patch.name;
    if (patch.url !== undefined) values.url = patch.url;
    if (patch.eventTypes !== undefined) values.event_types = JSON.stringify(patch.eventTypes);
    if (patch.format !== undefined) values.format = patch.format;
    if (patch.authHeader !== undefined) values.auth_header = patch.authHeader;
    if (patch.secret !== undefined) values.secret = patch.secret;
    if (patch.enabled !== undefined) values.enabled = patch.enabled ? 1 : 0;
    const row = await this.db.updateTable('webhook').set(values).where('id', '=', id).returningAll().executeTakeFirst();
    return row && toWebhook(row);
  }

  async delete(id: number): Promise<boolean> {
    const result = await this.db.deleteFrom('webhook').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async list(projectId: number): Promise<WebhookRow[]> {
    const rows = await this.db.selectFrom('webhook').selectAll().where('project_id', '=', projectId).orderBy('id').execute();
    return rows.map(toWebhook);
  }

  async fanOut(options: FanOutOptions): Promise<{ events: number; jobs: number }> {
    return this.db.transaction().execute(async (trx) => {
      // The cursor row is the lock: one instance fans out a batch at a time.
      const after = await lockCursor(trx, this.engine, options.consumer, options.now, 'beginning');
      const events = await trx.selectFrom('event_outbox').selectAll().where('id', '>', after).orderBy('id').limit(options.batch).execute();
      if (events.length === 0) return { events: 0, jobs: 0 };

      const projects = [...new Set(events.map((e) => e.project).filter((p): p is string => p !== null))];
      const hooks =
        projects.length === 0
          ? []
          : await trx
              .selectFrom('webhook')
              .innerJoin('project', 'project.id', 'webhook.project_id')
              .selectAll('webhook')
              .select('project.name as project_name')
              .where('project.name', 'in', projects)
              .where('webhook.enabled', '=', 1)
              .orderBy('webhook.id')
              .execute();
      let jobs = 0;
      for (const event of events) {
        for (const hook of hooks) {
          if (hook.project_name !== event.project) continue;
          if (!(JSON.parse(hook.event_types) as string[]).includes(event.type)) continue;
          const delivery = await trx
            .insertInto('webhook_delivery')
            .values({
              webhook_id: hook.id,
              event_id: event.id,
              event_type: event.type,
              status: 'pending',
              attempts: 0,
              created_at: options.now,
              updated_at: options.now,
            })
            .returning('id')
            .executeTakeFirstOrThrow();
          await trx
            .insertInto('job')
            .values(
              jobValues(
                {
                  type: 'webhook.deliver',
                  payload: { deliveryId: delivery.id },
                  // In order per webhook and repository (issue: "in order per repository").
                  orderingKey: `webhook:${hook.id}:${event.repository ?? ''}`,
                  maxAttempts: options.maxAttempts,
                  runAt: options.now,
                },
                options.now,
              ),
            )
            .execute();
          jobs++;
        }
      }
      await trx
        .updateTable('event_cursor')
        .set({ last_id: events[events.length - 1]!.id, updated_at: options.now })
        .where('consumer', '=', options.consumer)
        .execute();
      return { events: events.length, jobs };
    });
  }

  async createDelivery(delivery: { webhookId: number; eventId: number | null; eventType: string; status: DeliveryStatus }, now: number): Promise<DeliveryRow> {
    const row = await this.db
      .insertInto('webhook_delivery')
      .values({ webhook_id: delivery.webhookId, event_id: delivery.eventId, event_type: delivery.eventType, status: delivery.status, attempts: 0, created_at: now, updated_at: now })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toDelivery(row);
  }

  async getDelivery(id: number): Promise<DeliveryRow | undefined> {
    const row = await this.db.selectFrom('webhook_delivery').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toDelivery(row);
  }

  async recordAttempt(id: number, attempt: { status: DeliveryStatus; responseCode: number | null; latencyMs: number | null; error: string | null }, now: number): Promise<void> {
    await this.db
      .updateTable('webhook_delivery')
      .set((eb) => ({
        status: attempt.status,
        attempts: eb('attempts', '+', 1),
        response_code: attempt.responseCode,
        latency_ms: attempt.latencyMs,
        last_error: attempt.error?.slice(0, 2000) ?? null,
        updated_at: now,
      }))
      .where('id', '=', id)
      .execute();
  }

  async listDeliveries(webhookId: number, page: { offset: number; limit: number }): Promise<{ items: DeliveryRow[]; total: number }> {
    const base = this.db.selectFrom('webhook_delivery').where('webhook_id', '=', webhookId);
    const [rows, count] = await Promise.all([
      base.selectAll().orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute(),
      base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { items: rows.map(toDelivery), total: Number(count.n) };
  }
}

function toWebhook(row: Selectable<WebhookTable>): WebhookRow {
  return {
    id: row.id,
    projectId: row.project_id,
    name: row.name,
    url: row.url,
    eventTypes: JSON.parse(row.event_types) as EventType[],
    format: row.format as WebhookFormat,
    authHeader: row.auth_header,
    secret: row.secret,
    enabled: row.enabled === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toDelivery(row: Selectable<WebhookDeliveryTable>): DeliveryRow {
  return {
    id: row.id,
    webhookId: row.webhook_id,
    eventId: row.event_id,
    eventType: row.event_type,
    status: row.status as DeliveryStatus,
    attempts: row.attempts,
    responseCode: row.response_code,
    latencyMs: row.latency_ms,
    lastError: row.last_error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
