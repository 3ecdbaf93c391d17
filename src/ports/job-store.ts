export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface NewJob {
  type: string;
  payload: Record<string, unknown>;
  /** Jobs sharing a key run strictly one after another, in the order they were enqueued. */
  orderingKey?: string | null;
  maxAttempts: number;
  runAt: number;
}

export interface JobRow {
  id: number;
  type: string;
  payload: Record<string, unknown>;
  status: JobStatus;
  orderingKey: string | null;
  attempts: number;
  maxAttempts: number;
  runAt: number;
  lockedBy: string | null;
  lockedUntil: number | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

/** Job types a claim takes only once they have waited: due by `dueBy`, not merely by now. */
export interface DeferredTypes {
  types: string[];
  dueBy: number;
}

export interface ScheduleRow {
  name: string;
  cron: string;
  jobType: string;
  payload: Record<string, unknown>;
  nextRunAt: number;
  lastRunAt: number | null;
}

/**
 * A job queue in the database. `claim` hands each runnable job to exactly one worker, across
 * processes (SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite has one writer).
 */
export interface JobStore {
  enqueue(jobs: NewJob[], now: number): Promise<number[]>;
  /**
   * Takes the oldest runnable job of `types`. Jobs of `deferred.types` are taken only if they
   * were due by `deferred.dueBy` (background work that waits while the process is busy).
   */
  claim(worker: string, now: number, leaseMs: number, types: string[], deferred?: DeferredTypes): Promise<JobRow | undefined>;
  succeed(id: number, worker: string, now: number): Promise<void>;
  /** Records a failed attempt: back to the queue at `retryAt`, or failed for good when null. */
  fail(id: number, worker: string, error: string, retryAt: number | null, now: number): Promise<void>;
  /** Returns jobs whose worker vanished (lease expired) to the queue. */
  releaseExpired(now: number): Promise<number>;
  get(id: number): Promise<JobRow | undefined>;
  list(filter: { status?: JobStatus; type?: string }, page: { offset: number; limit: number }): Promise<{ items: JobRow[]; total: number }>;
  counts(): Promise<Record<JobStatus, number>>;
  /** Removes finished jobs older than `before`. */
  prune(before: number): Promise<number>;

  upsertSchedule(schedule: Omit<ScheduleRow, 'lastRunAt'>): Promise<void>;
  deleteSchedule(name: string): Promise<void>;
  dueSchedules(now: number): Promise<ScheduleRow[]>;
  /** Moves a schedule to its next run and enqueues its job, once across instances; false if another instance did. */
  fireSchedule(schedule: ScheduleRow, nextRunAt: number, job: NewJob, now: number): Promise<boolean>;
}
