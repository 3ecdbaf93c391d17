import { sql, type Kysely, type Selectable } from 'kysely';
import type { DeferredTypes, JobRow, JobStatus, JobStore, NewJob, ScheduleRow } from '../../ports/job-store.js';
import type { Database } from './connect.js';
import type { Engine } from './migrations.js';
import type { JobTable, Schema } from './schema.js';

export class KyselyJobStore implements JobStore {
  private readonly db: Kysely<Schema>;
  private readonly engine: Engine;

  constructor(database: Database) {
    this.db = database.db;
    this.engine = database.engine;
  }

  async enqueue(jobs: NewJob[], now: number): Promise<number[]> {
    if (jobs.length === 0) return [];
    const rows = await this.db.insertInto('job').values(jobs.map((j) => jobValues(j, now))).returning('id').execute();
    return rows.map((r) => r.id);
  }

  /**
   * One statement that picks the oldest runnable job and marks it running: atomic on SQLite
   * (single writer) and, with FOR UPDATE SKIP LOCKED, never handed to two workers on PostgreSQL.
   * A job with an ordering key waits while an older job with that key is queued or running.
   */
  async claim(worker: string, now: number, leaseMs: number, types: string[], deferred?: DeferredTypes): Promise<JobRow | undefined> {
    if (types.length === 0) return undefined;
    const lock = this.engine === 'postgres' ? sql`FOR UPDATE SKIP LOCKED` : sql``;
    const waited = deferred && deferred.types.length > 0 ? sql`AND (j.type NOT IN (${sql.join(deferred.types)}) OR j.run_at <= ${deferred.dueBy})` : sql``;
    const result = await sql<Selectable<JobTable>>`
      UPDATE job
         SET status = 'running', locked_by = ${worker}, locked_until = ${now + leaseMs},
             attempts = attempts + 1, updated_at = ${now}
       WHERE id = (
         SELECT j.id FROM job j
          WHERE j.status = 'queued' AND j.run_at <= ${now}
            AND j.type IN (${sql.join(types)})
            ${waited}
            AND (j.ordering_key IS NULL OR NOT EXISTS (
                  SELECT 1 FROM job p
                   WHERE p.ordering_key = j.ordering_key AND p.id < j.id AND p.status IN ('queued', 'running')))
          ORDER BY j.id
          LIMIT 1
          ${lock})
         AND status = 'queued'
      RETURNING *`.execute(this.db);
    const row = result.rows[0];
    return row && toJob(row);
  }

  async succeed(id: number, worker: string, now: number): Promise<void> {
    await this.db
      .updateTable('job')
      .set({ status: 'succeeded', locked_by: null, locked_until: null, updated_at: now, finished_at: now, last_error: null })
      .where('id', '=', id)
      .where('locked_by', '=', worker)
      .execute();
  }

  async fail(id: number, worker: string, error: string, retryAt: number | null, now: number): Promise<void> {
    await this.db
      .updateTable('job')
      .set(
        retryAt === null
          ? { status: 'failed', locked_by: null, locked_until: null, last_error: error.slice(0, 2000), updated_at: now, finished_at: now }
          : { status: 'queued', locked_by: null, locked_until: null, last_error: error.slice(0, 2000), run_at: retryAt, updated_at: now },
      )
      .where('id', '=', id)
      .where('locked_by', '=', worker)
      .execute();
  }

  async releaseExpired(now: number): Promise<number> {
    const exhausted = await this.db
      .updateTable('job')
      .set({ status: 'failed', locked_by: null, locked_until: null, last_error: 'the worker running it stopped', updated_at: now, finished_at: now })
      .where('status', '=', 'running')
      .where('locked_until', '<', now)
      .where((eb) => eb('attempts', '>=', eb.ref('max_attempts')))
      .executeTakeFirst();
    const requeued = await this.db
      .updateTable('job')
      .set({ status: 'queued', locked_by: null, locked_until: null, updated_at: now })
      .where('status', '=', 'running')
      .where('locked_until', '<', now)
      .executeTakeFirst();
    return Number(exhausted.numUpdatedRows) + Number(requeued.numUpdatedRows);
  }

  async get(id: number): Promise<JobRow | undefined> {
    const row = await this.db.selectFrom('job').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toJob(row);
  }

  async list(filter: { status?: JobStatus; type?: string }, page: { offset: number; limit: number }): Promise<{ items: JobRow[]; total: number }> {
    let base = this.db.selectFrom('job');
    if (filter.status) base = base.where('status', '=', filter.status);
    if (filter.type) base = base.where('type', '=', filter.type);
    const [rows, count] = await Promise.all([
      base.selectAll().orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute(),
      base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { items: rows.map(toJob), total: Number(count.n) };
  }

  async counts(): Promise<Record<JobStatus, number>> {
    const rows = await this.db.selectFrom('job').select(['status', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('status').execute();
    const out: Record<JobStatus, number> = { queued: 0, running: 0, succeeded: 0, failed: 0 };
    for (const row of rows) out[row.status as JobStatus] = Number(row.n);
    return out;
  }

  async prune(before: number): Promise<number> {
    const result = await this.db.deleteFrom('job').where('status', 'in', ['succeeded', 'failed']).where('finished_at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async deleteSchedule(name: string): Promise<void> {
    await this.db.deleteFrom('schedule').where('name', '=', name).execute();
  }

  async upsertSchedule(schedule: Omit<ScheduleRow, 'lastRunAt'>): Promise<void> {
    await this.db
      .insertInto('schedule')
      .values({ name: schedule.name, cron: schedule.cron, job_type: schedule.jobType, payload: JSON.stringify(schedule.payload), next_run_at: schedule.nextRunAt })
      .onConflict((oc) =>
        oc.column('name').doUpdateSet((eb) => ({
          cron: schedule.cron,
          job_type: schedule.jobType,
          payload: JSON.stringify(schedule.payload),
          // Keep the pending run unless the cron expression changed.
          next_run_at: sql<number>`CASE WHEN ${eb.ref('schedule.cron')} = ${schedule.cron} THEN ${eb.ref('schedule.next_run_at')} ELSE ${schedule.nextRunAt} END`,
        })),
      )
      .execute();
  }

  async dueSchedules(now: number): Promise<ScheduleRow[]> {
    const rows = await this.db.selectFrom('schedule').selectAll().where('next_run_at', '<=', now).execute();
    return rows.map((r) => ({
      name: r.name,
      cron: r.cron,
      jobType: r.job_type,
      payload: JSON.parse(r.payload) as Record<string, unknown>,
      nextRunAt: r.next_run_at,
      lastRunAt: r.last_run_at,
    }));
  }

  async fireSchedule(schedule: ScheduleRow, nextRunAt: number, job: NewJob, now: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const moved = await trx
        .updateTable('schedule')
        .set({ next_run_at: nextRunAt, last_run_at: now })
        .where('name', '=', schedule.name)
        .where('next_run_at', '=', schedule.nextRunAt)
        .executeTakeFirst();
      if (Number(moved.numUpdatedRows) !== 1) return false;
      await trx.insertInto('job').values(jobValues(job, now)).execute();
      return true;
    });
  }
}

export function jobValues(job: NewJob, now: number) {
  return {
    type: job.type,
    payload: JSON.stringify(job.payload),
    status: 'queued',
    ordering_key: job.orderingKey ?? null,
    attempts: 0,
    max_attempts: job.maxAttempts,
    run_at: job.runAt,
    created_at: now,
    updated_at: now,
  };
}

function toJob(row: Selectable<JobTable>): JobRow {
  return {
    id: Number(row.id),
    type: row.type,
    payload: JSON.parse(row.payload) as Record<string, unknown>,
    status: row.status as JobStatus,
    orderingKey: row.ordering_key,
    attempts: Number(row.attempts),
    maxAttempts: Number(row.max_attempts),
    runAt: Number(row.run_at),
    lockedBy: row.locked_by,
    lockedUntil: row.locked_until === null ? null : Number(row.locked_until),
    lastError: row.last_error,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
  };
}
