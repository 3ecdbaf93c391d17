import type { Kysely, Selectable } from 'kysely';
import { BerthError } from '../../domain/errors.js';
import { globMatch } from '../../domain/glob.js';
import type {
  NewPreheatPolicy,
  NewPreheatProvider,
  PreheatExecutionRow,
  PreheatExecutionStatus,
  PreheatPolicyRow,
  PreheatProviderRow,
  PreheatScope,
  PreheatStore,
  PreheatTaskRow,
  PreheatTaskStatus,
  PreheatTrigger,
} from '../../ports/preheat-store.js';
import type { Database } from './connect.js';
import { advanceCursor, readAfterCursor } from './event-cursor.js';
import { jobValues } from './kysely-job-store.js';
import type { PreheatExecutionTable, PreheatPolicyTable, PreheatProviderTable, PreheatTaskTable, Schema } from './schema.js';
import { inTransaction, isForeignKeyViolation, isUniqueViolation } from './transaction.js';

const orNull = (n: number | null) => (n === null ? null : Number(n));

function providerOf(r: Selectable<PreheatProviderTable>): PreheatProviderRow {
  return {
    id: Number(r.id),
    name: r.name,
    url: r.url,
    authMode: r.auth_mode as PreheatProviderRow['authMode'],
    username: r.username,
    secretSealed: r.secret_sealed,
    insecure: Number(r.insecure) === 1,
    enabled: Number(r.enabled) === 1,
    createdBy: r.created_by,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function providerColumns(p: Partial<NewPreheatProvider>) {
  const values = {
    name: p.name,
    url: p.url,
    auth_mode: p.authMode,
    username: p.username,
    secret_sealed: p.secretSealed,
    insecure: p.insecure === undefined ? undefined : p.insecure ? 1 : 0,
    enabled: p.enabled === undefined ? undefined : p.enabled ? 1 : 0,
    created_by: p.createdBy,
    created_at: p.createdAt,
    updated_at: p.updatedAt,
  };
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
}

function policyOf(r: Selectable<PreheatPolicyTable>): PreheatPolicyRow {
  return {
    id: Number(r.id),
    projectId: Number(r.project_id),
    name: r.name,
    providerId: Number(r.provider_id),
    repositories: r.repositories,
    tags: r.tags,
    trigger: r.trigger as PreheatTrigger,
    cron: r.cron,
    scope: r.scope as PreheatScope,
    clusterIds: r.cluster_ids === null ? null : (JSON.parse(r.cluster_ids) as number[]),
    enabled: Number(r.enabled) === 1,
    createdBy: r.created_by,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function policyColumns(p: Partial<NewPreheatPolicy>) {
  const values = {
    project_id: p.projectId,
    name: p.name,
    provider_id: p.providerId,
    repositories: p.repositories,
    tags: p.tags,
    trigger: p.trigger,
    cron: p.cron,
    scope: p.scope,
    cluster_ids: p.clusterIds === undefined ? undefined : p.clusterIds === null ? null : JSON.stringify(p.clusterIds),
    enabled: p.enabled === undefined ? undefined : p.enabled ? 1 : 0,
    created_by: p.createdBy,
    created_at: p.createdAt,
    updated_at: p.updatedAt,
  };
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
}

function taskOf(r: Selectable<PreheatTaskTable>): PreheatTaskRow {
  return {
    id: Number(r.id),
    executionId: Number(r.execution_id),
    repository: r.repository,
    tag: r.tag,
    digest: r.digest,
    jobId: r.job_id,
    status: r.status as PreheatTaskStatus,
    message: r.message,
    startedAt: orNull(r.started_at),
    finishedAt: orNull(r.finished_at),
  };
}

export class KyselyPreheatStore implements PreheatStore {
  private readonly db: Kysely<Schema>;
  private readonly engine: Database['engine'];

  constructor(database: Database) {
    this.db = database.db;
    this.engine = database.engine;
  }

  async listProviders(): Promise<PreheatProviderRow[]> {
    return (await this.db.selectFrom('preheat_provider').selectAll().orderBy('name').execute()).map(providerOf);
  }

  async getProvider(id: number): Promise<PreheatProviderRow | undefined> {
    const row = await this.db.selectFrom('preheat_provider').selectAll().where('id', '=', id).executeTakeFirst();
    return row && providerOf(row);
  }

  async createProvider(provider: NewPreheatProvider): Promise<PreheatProviderRow> {
    try {
      return providerOf(await this.db.insertInto('preheat_provider').values(providerColumns(provider) as never).returningAll().executeTakeFirstOrThrow());
    } catch (err) {
      if (isUniqueViolation(err)) throw new BerthError('CONFLICT', { message: `a preheat provider named ${provider.name} already exists` });
      throw err;
    }
  }

  async updateProvider(id: number, patch: Partial<NewPreheatProvider>): Promise<PreheatProviderRow | undefined> {
    const set = providerColumns(patch);
    if (Object.keys(set).length === 0) return this.getProvider(id);
    try {
      const row = await this.db.updateTable('preheat_provider').set(set).where('id', '=', id).returningAll().executeTakeFirst();
      return row && providerOf(row);
    } catch (err) {
      if (isUniqueViolation(err)) throw new BerthError('CONFLICT', { message: `a preheat provider named ${patch.name} already exists` });
      throw err;
    }
  }

  async deleteProvider(id: number): Promise<boolean> {
    try {
      return Number((await this.db.deleteFrom('preheat_provider').where('id', '=', id).executeTakeFirst()).numDeletedRows) > 0;
    } catch (err) {
      if (isForeignKeyViolation(err)) throw new BerthError('CONFLICT', { message: 'preheat policies use this provider: delete or change them first' });
      throw err;
    }
  }

  async listPolicies(projectId: number): Promise<PreheatPolicyRow[]> {
    return (await this.db.selectFrom('preheat_policy').selectAll().where('project_id', '=', projectId).orderBy('name').execute()).map(policyOf);
  }

  async getPolicy(id: number): Promise<PreheatPolicyRow | undefined> {
    const row = await this.db.selectFrom('preheat_policy').selectAll().where('id', '=', id).executeTakeFirst();
    return row && policyOf(row);
  }

  async createPolicy(policy: NewPreheatPolicy): Promise<PreheatPolicyRow> {
    try {
      return policyOf(await this.db.insertInto('preheat_policy').values(policyColumns(policy) as never).returningAll().executeTakeFirstOrThrow());
    } catch (err) {
      if (isUniqueViolation(err)) throw new BerthError('CONFLICT', { message: `a preheat policy named ${policy.name} already exists in this project` });
      throw err;
    }
  }

  async updatePolicy(id: number, patch: Partial<NewPreheatPolicy>): Promise<PreheatPolicyRow | undefined> {
    const set = policyColumns(patch);
    if (Object.keys(set).length === 0) return this.getPolicy(id);
    try {
      const row = await this.db.updateTable('preheat_policy').set(set).where('id', '=', id).returningAll().executeTakeFirst();
      return row && policyOf(row);
    } catch (err) {
      if (isUniqueViolation(err)) throw new BerthError('CONFLICT', { message: `a preheat policy named ${patch.name} already exists in this project` });
      throw err;
    }
  }

  async deletePolicy(id: number): Promise<boolean> {
    return Number((await this.db.deleteFrom('preheat_policy').where('id', '=', id).executeTakeFirst()).numDeletedRows) > 0;
  }

  async createExecution(policyId: number, trigger: string, now: number): Promise<PreheatExecutionRow> {
    const row = await this.db.insertInto('preheat_execution').values({ policy_id: policyId, status: 'queued', trigger, planned: 0, created_at: now }).returningAll().executeTakeFirstOrThrow();
    return (await this.withCounts([row]))[0]!;
  }

  async getExecution(id: number): Promise<PreheatExecutionRow | undefined> {
    const row = await this.db.selectFrom('preheat_execution').selectAll().where('id', '=', id).executeTakeFirst();
    return row && (await this.withCounts([row]))[0];
  }

  async listExecutions(policyId: number, page: { offset: number; limit: number }): Promise<{ items: PreheatExecutionRow[]; total: number }> {
    const query = this.db.selectFrom('preheat_execution').where('policy_id', '=', policyId);
    const rows = await query.selectAll().orderBy('id', 'desc').offset(page.offset).limit(page.limit).execute();
    const total = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return { items: await this.withCounts(rows), total: Number(total.n) };
  }

  async setExecutionStatus(id: number, from: PreheatExecutionStatus[], to: PreheatExecutionStatus, now: number, error?: string | null): Promise<boolean> {
    const finished = to === 'succeeded' || to === 'failed';
    const result = await this.db
      .updateTable('preheat_execution')
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

  async planTasks(executionId: number, tasks: Array<{ repository: string; tag: string }>): Promise<void> {
    await inTransaction(this.db, async (trx) => {
      const marked = await trx.updateTable('preheat_execution').set({ planned: 1 }).where('id', '=', executionId).where('planned', '=', 0).executeTakeFirst();
      if (Number(marked.numUpdatedRows) === 0) return;
      for (let i = 0; i < tasks.length; i += 200) {
        await trx
          .insertInto('preheat_task')
          .values(tasks.slice(i, i + 200).map((t) => ({ execution_id: executionId, repository: t.repository, tag: t.tag, status: 'pending' })))
          .execute();
      }
    });
  }

  async tasks(executionId: number, status?: PreheatTaskStatus): Promise<PreheatTaskRow[]> {
    let query = this.db.selectFrom('preheat_task').selectAll().where('execution_id', '=', executionId);
    if (status) query = query.where('status', '=', status);
    return (await query.orderBy('id').execute()).map(taskOf);
  }

  async updateTask(id: number, patch: Partial<Pick<PreheatTaskRow, 'digest' | 'jobId' | 'status' | 'message' | 'startedAt' | 'finishedAt'>>): Promise<void> {
    const values = { digest: patch.digest, job_id: patch.jobId, status: patch.status, message: patch.message, started_at: patch.startedAt, finished_at: patch.finishedAt };
    const set = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
    if (Object.keys(set).length > 0) await this.db.updateTable('preheat_task').set(set).where('id', '=', id).execute();
  }

  async fanOutEvents(options: { consumer: string; batch: number; now: number; maxAttempts: number }): Promise<{ events: number; executions: number }> {
    return inTransaction(this.db, async (trx) => {
      const events = await readAfterCursor(trx, this.engine, options);
      if (events.length === 0) return { events: 0, executions: 0 };
      const policies = await trx
        .selectFrom('preheat_policy')
        .innerJoin('project', 'project.id', 'preheat_policy.project_id')
        .selectAll('preheat_policy')
        .select('project.name as project_name')
        .where('preheat_policy.trigger', '=', 'event')
        .where('preheat_policy.enabled', '=', 1)
        .orderBy('preheat_policy.id')
        .execute();
      let executions = 0;
      for (const event of policies.length === 0 ? [] : events) {
        if ((event.type !== 'push' && event.type !== 'tag') || event.repository === null) continue;
        const tag = (JSON.parse(event.payload) as { tag?: unknown }).tag;
        if (typeof tag !== 'string') continue;
        for (const row of policies) {
          const prefix = `${row.project_name}/`;
          if (!event.repository.startsWith(prefix)) continue;
          const policy = policyOf(row);
          if (!globMatch(policy.repositories, event.repository.slice(prefix.length)) || !globMatch(policy.tags, tag)) continue;
          const execution = await trx
            .insertInto('preheat_execution')
            .values({ policy_id: policy.id, status: 'queued', trigger: 'event', planned: 1, created_at: options.now })
            .returning('id')
            .executeTakeFirstOrThrow();
          await trx.insertInto('preheat_task').values({ execution_id: execution.id, repository: event.repository, tag, status: 'pending' }).execute();
          await trx
            .insertInto('job')
            .values(jobValues({ type: 'preheat.run', payload: { executionId: Number(execution.id) }, orderingKey: `preheat:${policy.id}`, maxAttempts: options.maxAttempts, runAt: options.now }, options.now))
            .execute();
          executions++;
        }
      }
      await advanceCursor(trx, options.consumer, events[events.length - 1]!.id, options.now);
      return { events: events.length, executions };
    });
  }

  private async withCounts(rows: Array<Selectable<PreheatExecutionTable>>): Promise<PreheatExecutionRow[]> {
    if (rows.length === 0) return [];
    const counts = await this.db
      .selectFrom('preheat_task')
      .select((eb) => ['execution_id', 'status', eb.fn.countAll<number>().as('n')])
      .where(
        'execution_id',
        'in',
        rows.map((r) => r.id),
      )
      .groupBy(['execution_id', 'status'])
      .execute();
    return rows.map((r) => {
      const tasks: Record<PreheatTaskStatus, number> = { pending: 0, running: 0, succeeded: 0, failed: 0 };
      for (const c of counts) if (Number(c.execution_id) === Number(r.id)) tasks[c.status as PreheatTaskStatus] = Number(c.n);
      return {
        id: Number(r.id),
        policyId: Number(r.policy_id),
        status: r.status as PreheatExecutionStatus,
        trigger: r.trigger,
        planned: Number(r.planned) === 1,
        tasks,
        error: r.error,
        createdAt: Number(r.created_at),
        startedAt: orNull(r.started_at),
        finishedAt: orNull(r.finished_at),
      };
    });
  }
}
