import type { Kysely, SelectQueryBuilder, Selectable } from 'kysely';
import type { AuditEntry, AuditFilter, AuditRow, AuditStore } from '../../ports/audit-store.js';
import type { Database } from './connect.js';
import { likeContains } from './like.js';
import type { Engine } from './migrations.js';
import type { AuditLogTable, Schema } from './schema.js';

export class KyselyAuditStore implements AuditStore {
  private readonly db: Kysely<Schema>;
  private readonly engine: Engine;

  constructor(database: Database) {
    this.db = database.db;
    this.engine = database.engine;
  }

  async append(entries: AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    for (let i = 0; i < entries.length; i += 200) {
      await this.db
        .insertInto('audit_log')
        .values(
          entries.slice(i, i + 200).map((e) => ({
            time: e.time,
            actor: e.actor,
            actor_type: e.actorType,
            action: e.action,
            resource_type: e.resourceType,
            resource: e.resource,
            project: e.project,
            source_ip: e.sourceIp,
            result: e.result,
            detail: e.detail ? JSON.stringify(e.detail) : null,
            request_id: e.requestId,
          })),
        )
        .execute();
    }
  }

  async list(filter: AuditFilter, page: { offset: number; limit: number }): Promise<{ items: AuditRow[]; total: number }> {
    const base = this.filtered(this.db.selectFrom('audit_log'), filter);
    const [rows, count] = await Promise.all([
      base.selectAll().orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute(),
      base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { items: rows.map(toRow), total: Number(count.n) };
  }

  async batch(filter: AuditFilter, afterId: number, limit: number): Promise<AuditRow[]> {
    const rows = await this.filtered(this.db.selectFrom('audit_log'), filter).selectAll().where('id', '>', afterId).orderBy('id').limit(limit).execute();
    return rows.map(toRow);
  }

  async deleteBefore(time: number): Promise<number> {
    const result = await this.db.deleteFrom('audit_log').where('time', '<', time).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  private filtered<O>(query: SelectQueryBuilder<Schema, 'audit_log', O>, filter: AuditFilter): SelectQueryBuilder<Schema, 'audit_log', O> {
    let q = query;
    if (filter.project !== undefined) q = q.where('project', '=', filter.project);
    if (filter.actor !== undefined) q = q.where('actor', '=', filter.actor);
    if (filter.action !== undefined) q = q.where('action', '=', filter.action);
    if (filter.resourceType !== undefined) q = q.where('resource_type', '=', filter.resourceType);
    if (filter.resource !== undefined) q = q.where(likeContains(this.engine, 'resource', filter.resource));
    if (filter.result !== undefined) q = q.where('result', '=', filter.result);
    if (filter.from !== undefined) q = q.where('time', '>=', filter.from);
    if (filter.to !== undefined) q = q.where('time', '<', filter.to);
    return q;
  }
}

function toRow(row: Selectable<AuditLogTable>): AuditRow {
  return {
    id: row.id,
    time: row.time,
    actor: row.actor,
    actorType: row.actor_type as AuditRow['actorType'],
    action: row.action,
    resourceType: row.resource_type,
    resource: row.resource,
    project: row.project,
    sourceIp: row.source_ip,
    result: row.result as AuditRow['result'],
    detail: row.detail ? (JSON.parse(row.detail) as Record<string, unknown>) : null,
    requestId: row.request_id,
  };
}
