import type { Kysely, Selectable } from 'kysely';
import { globMatch } from '../../domain/glob.js';
import { destinationRepository } from '../../domain/replication-naming.js';
import { advanceCursor, readAfterCursor } from './event-cursor.js';
import { jobValues } from './kysely-job-store.js';
import { BerthError } from '../../domain/errors.js';
import type {
  ExecutionRow,
  ExecutionStatus,
  NewReplicationRule,
  PlannedTask,
  ReplicationDirection,
  ReplicationRuleRow,
  ReplicationStore,
  ReplicationTrigger,
  TaskOperation,
  TaskRow,
  TaskStatus,
} from '../../ports/replication-store.js';
import type { Database } from './connect.js';
import type { ReplicationExecutionTable, ReplicationRuleTable, ReplicationTaskTable, Schema } from './schema.js';
import { inTransaction, isUniqueViolation } from './transaction.js';

function ruleOf(r: Selectable<ReplicationRuleTable>): ReplicationRuleRow {
  return {
    id: Number(r.id),
    name: r.name,
    description: r.description,
    endpointId: Number(r.endpoint_id),
    direction: r.direction as ReplicationDirection,
    repositories: r.repositories,
    tags: r.tags,
    destinationNamespace: r.destination_namespace,
    flatten: Number(r.flatten),
    trigger: r.trigger as ReplicationTrigger,
    cron: r.cron,
    copyReferrers: Number(r.copy_referrers) === 1,
    bandwidthKiB: r.bandwidth_kib === null ? null : Number(r.bandwidth_kib),
    replicateDeletion: Number(r.replicate_deletion) === 1,
    artifactTypes: r.artifact_types === null ? null : (JSON.parse(r.artifact_types) as string[]),
    labels: r.labels === null ? null : (JSON.parse(r.labels) as string[]),
    enabled: Number(r.enabled) === 1,
    createdBy: r.created_by,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function ruleColumns(rule: Partial<NewReplicationRule>) {
  const values = {
    name: rule.name,
    description: rule.description,
    endpoint_id: rule.endpointId,
    direction: rule.direction,
    repositories: rule.repositories,
    tags: rule.tags,
    destination_namespace: rule.destinationNamespace,
    flatten: rule.flatten,
    trigger: rule.trigger,
    cron: rule.cron,
    copy_referrers: rule.copyReferrers === undefined ? undefined : rule.copyReferrers ? 1 : 0,
    bandwidth_kib: rule.bandwidthKiB,
    replicate_deletion: rule.replicateDeletion === undefined ? undefined : rule.replicateDeletion ? 1 : 0,
    artifact_types: rule.artifactTypes === undefined ? undefined : rule.artifactTypes === null ? null : JSON.stringify(rule.artifactTypes),
    labels: rule.labels === undefined ? undefined : rule.labels === null ? null : JSON.stringify(rule.labels),
    enabled: rule.enabled === undefined ? undefined : rule.enabled ? 1 : 0,
    created_by: rule.createdBy,
    created_at: rule.createdAt,
    updated_at: rule.updatedAt,
  };
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
}

function taskOf(r: Selectable<ReplicationTaskTable>): TaskRow {
  return {
    id: Number(r.id),
    executionId: Number(r.execution_id),
    source: r.source,
    destination: r.destination,
    reference: r.reference,
    operation: r.operation as TaskOperation,
    status: r.status as TaskStatus,
    digest: r.digest,
    bytes: Number(r.bytes),
    manifests: Number(r.manifests),
    blobs: Number(r.blobs),
    error: r.error,
    startedAt: r.started_at === null ? null : Number(r.started_at),
    finishedAt: r.finished_at === null ? null : Number(r.finished_at),
  };
}

export class KyselyReplicationStore implements ReplicationStore {
  private readonly db: Kysely<Schema>;
  private readonly engine: Database['engine'];

  constructor(database: Database) {
    this.db = database.db;
    this.engine = database.engine;
  }

  async listRules(): Promise<ReplicationRuleRow[]> {
    return (await this.db.selectFrom('replication_rule').selectAll().orderBy('name').execute()).map(ruleOf);
  }

  async getRule(id: number): Promise<ReplicationRuleRow | undefined> {
    const row = await this.db.selectFrom('replication_rule').selectAll().where('id', '=', id).executeTakeFirst();
    return row && ruleOf(row);
  }

  async createRule(rule: NewReplicationRule): Promise<ReplicationRuleRow> {
    try {
      return ruleOf(await this.db.insertInto('replication_rule').values(ruleColumns(rule) as never).returningAll().executeTakeFirstOrThrow());
    } catch (err) {
      if (isUniqueViolation(err)) throw new BerthError('CONFLICT', { message: `a replication rule named ${rule.name} already exists` });
      throw err;
    }
  }

  async updateRule(id: number, patch: Partial<NewReplicationRule>): Promise<ReplicationRuleRow | undefined> {
    const set = ruleColumns(patch);
    if (Object.keys(set).length === 0) return this.getRule(id);
    try {
      const row = await this.db.updateTable('replication_rule').set(set).where('id', '=', id).returningAll().executeTakeFirst();
      return row && ruleOf(row);
    } catch (err) {
      if (isUniqueViolation(err)) throw new BerthError('CONFLICT', { message: `a replication rule named ${patch.name} already exists` });
      throw err;
    }
  }

  async deleteRule(id: number): Promise<boolean> {
    return inTransaction(this.db, async (trx) => {
      // SQLite enforces ON DELETE CASCADE only with foreign keys on, which Berth sets; explicit anyway.
      const executions = trx.selectFrom('replication_execution').select('id').where('rule_id', '=', id);
      await trx.deleteFrom('replication_task').where('execution_id', 'in', executions).execute();
      await trx.deleteFrom('replication_execution').where('rule_id', '=', id).execute();
      const result = await trx.deleteFrom('replication_rule').where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  async createExecution(ruleId: number, trigger: string, now: number, retryOf?: number): Promise<ExecutionRow> {
    const row = await this.db
      .insertInto('replication_execution')
      .values({ rule_id: ruleId, status: 'queued', trigger, planned: 0, retry_of: retryOf ?? null, created_at: now })
      .returningAll()
      .executeTakeFirstOrThrow();
    return (await this.withCounts([row]))[0]!;
  }

  async getExecution(id: number): Promise<ExecutionRow | undefined> {
    const row = await this.db.selectFrom('replication_execution').selectAll().where('id', '=', id).executeTakeFirst();
    return row && (await this.withCounts([row]))[0];
  }

  async listExecutions(ruleId: number | undefined, page: { offset: number; limit: number }): Promise<{ items: ExecutionRow[]; total: number }> {
    let query = this.db.selectFrom('replication_execution');
    if (ruleId !== undefined) query = query.where('rule_id', '=', ruleId);
    const rows = await query.selectAll().orderBy('id', 'desc').offset(page.offset).limit(page.limit).execute();
    const total = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return { items: await this.withCounts(rows), total: Number(total.n) };
  }

  async setExecutionStatus(id: number, from: ExecutionStatus[], to: ExecutionStatus, now: number, error?: string | null): Promise<boolean> {
    const finished = to === 'succeeded' || to === 'failed' || to === 'stopped';
    const result = await this.db
      .updateTable('replication_execution')
      .set((eb) => ({
        status: to,
        ...(to === 'running' ? { started_at: eb.fn.coalesce('started_at', eb.val(now)) } : {}),
        ...(finished ? { finished_at: now } : {}),
        ...(error === undefined ? {} : { error }),
      }))
      .where('id', '=', id)
      .where('status', 'in', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async planTasks(executionId: number, tasks: PlannedTask[]): Promise<void> {
    await inTransaction(this.db, async (trx) => {
      const marked = await trx.updateTable('replication_execution').set({ planned: 1 }).where('id', '=', executionId).where('planned', '=', 0).executeTakeFirst();
      // Planned already (by a process that died after): its tasks stand.
      if (Number(marked.numUpdatedRows) === 0) return;
      for (let i = 0; i < tasks.length; i += 200) {
        await trx
          .insertInto('replication_task')
          .values(tasks.slice(i, i + 200).map((t) => ({ execution_id: executionId, source: t.source, destination: t.destination, reference: t.reference, operation: t.operation ?? 'copy', status: 'pending' })))
          .execute();
      }
    });
  }

  async tasks(executionId: number, status?: TaskStatus): Promise<TaskRow[]> {
    let query = this.db.selectFrom('replication_task').selectAll().where('execution_id', '=', executionId);
    if (status) query = query.where('status', '=', status);
    return (await query.orderBy('id').execute()).map(taskOf);
  }

  async fanOutEvents(options: { consumer: string; batch: number; now: number; maxAttempts: number }): Promise<{ events: number; executions: number }> {
    return inTransaction(this.db, async (trx) => {
      const events = await readAfterCursor(trx, this.engine, options);
      if (events.length === 0) return { events: 0, executions: 0 };
      const rules = (
        await trx.selectFrom('replication_rule').selectAll().where('trigger', '=', 'event').where('direction', '=', 'push').where('enabled', '=', 1).orderBy('id').execute()
      ).map(ruleOf);
      let executions = 0;
      for (const event of rules.length === 0 ? [] : events) {
        if ((event.type !== 'push' && event.type !== 'tag' && event.type !== 'delete') || event.repository === null) continue;
        const data = JSON.parse(event.payload) as { tag?: unknown; digest?: unknown };
        const tag = typeof data.tag === 'string' ? data.tag : undefined;
        const deleted = event.type === 'delete';
        // A push names its tag; a delete its tag (a tag removed) or only its digest (the manifest removed).
        const reference = deleted ? (tag ?? (typeof data.digest === 'string' ? data.digest : undefined)) : tag;
        if (reference === undefined) continue;
        for (const rule of rules) {
          if (deleted && !rule.replicateDeletion) continue;
          if (!globMatch(rule.repositories, event.repository) || (tag !== undefined && !globMatch(rule.tags, tag))) continue;
          const execution = await trx
            .insertInto('replication_execution')
            .values({ rule_id: rule.id, status: 'queued', trigger: 'event', planned: 1, retry_of: null, created_at: options.now })
            .returning('id')
            .executeTakeFirstOrThrow();
          await trx
            .insertInto('replication_task')
            .values({
              execution_id: execution.id,
              source: event.repository,
              destination: destinationRepository(event.repository, rule.destinationNamespace, rule.flatten),
              reference,
              operation: deleted ? 'delete' : 'copy',
              status: 'pending',
            })
            .execute();
          await trx
            .insertInto('job')
            .values(jobValues({ type: 'replication.run', payload: { executionId: Number(execution.id) }, orderingKey: `replication:${rule.id}`, maxAttempts: options.maxAttempts, runAt: options.now }, options.now))
            .execute();
          executions++;
        }
      }
      await advanceCursor(trx, options.consumer, events[events.length - 1]!.id, options.now);
      return { events: events.length, executions };
    });
  }

  async finishTask(id: number, result: Pick<TaskRow, 'status' | 'digest' | 'bytes' | 'manifests' | 'blobs' | 'error'>, startedAt: number, now: number): Promise<void> {
    await this.db
      .updateTable('replication_task')
      .set({ status: result.status, digest: result.digest, bytes: result.bytes, manifests: result.manifests, blobs: result.blobs, error: result.error, started_at: startedAt, finished_at: now })
      .where('id', '=', id)
      .execute();
  }

  private async withCounts(rows: Array<Selectable<ReplicationExecutionTable>>): Promise<ExecutionRow[]> {
    if (rows.length === 0) return [];
    const counts = await this.db
      .selectFrom('replication_task')
      .select((eb) => ['execution_id', 'status', eb.fn.countAll<number>().as('n'), eb.fn.sum<number>('bytes').as('bytes')])
      .where(
        'execution_id',
        'in',
        rows.map((r) => r.id),
      )
      .groupBy(['execution_id', 'status'])
      .execute();
    return rows.map((r) => {
      const tasks: Record<TaskStatus, number> = { pending: 0, succeeded: 0, failed: 0, skipped: 0 };
      let bytes = 0;
      for (const c of counts) {
        if (Number(c.execution_id) !== Number(r.id)) continue;
        tasks[c.status as TaskStatus] = Number(c.n);
        bytes += Number(c.bytes ?? 0);
      }
      return {
        id: Number(r.id),
        ruleId: Number(r.rule_id),
        status: r.status as ExecutionStatus,
        trigger: r.trigger,
        planned: Number(r.planned) === 1,
        retryOf: r.retry_of === null ? null : Number(r.retry_of),
        error: r.error,
        createdAt: Number(r.created_at),
        startedAt: r.started_at === null ? null : Number(r.started_at),
        finishedAt: r.finished_at === null ? null : Number(r.finished_at),
        tasks,
        bytes,
      };
    });
  }
}
