import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { DeferredTypes, JobRow, JobStore, NewJob } from '../../ports/job-store.js';

export interface JobHandler {
  run(job: JobRow): Promise<void>;
  maxAttempts: number;
  /** Delay before retry `attempt` (1-based), in ms. */
  backoff: (attempt: number) => number;
  /**
   * Work that can wait (indexing and scanning a pushed image): while the process is saturated
   * with requests, such jobs are claimed only once they have waited `backgroundMaxDelayMs`.
   */
  background?: boolean;
}

export interface JobRunnerOptions {
  concurrency: number;
  pollIntervalMs: number;
  leaseMs: number;
  onError?: (job: JobRow, err: unknown) => void;
  now?: () => number;
  /** Whether the process is saturated with requests now (RequestLoad); background jobs wait while it is. */
  saturated?: () => boolean;
  /** The longest a background job waits for the process to be less busy, in ms (0: never waits). */
  backgroundMaxDelayMs?: number;
}

/**
 * How soon the polling slot looks again after a claim that held background jobs back: they
 * start within this long once a burst of requests passes.
 */
export const deferredRecheckMs = 250;

/**
 * How far an idle poll timer backs off: up to this many poll intervals between looks while
 * nothing turns up (8 s by default), so an idle process hardly touches the database.
 */
export const idleBackoff = 8;

/** Exponential backoff with a cap and ±20% jitter, so retries of many jobs spread out. */
export function exponentialBackoff(baseMs: number, capMs: number): (attempt: number) => number {
  return (attempt) => {
    const raw = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
    return Math.round(raw * (0.8 + Math.random() * 0.4));
  };
}

/**
 * Runs jobs from the database queue: claims one at a time per slot (never the same job on two
 * workers, across processes), retries failures with backoff, gives up after `maxAttempts`,
 * and returns jobs of crashed workers to the queue when their lease runs out.
 */
export class JobRunner {
  readonly worker = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly handlers = new Map<string, JobHandler>();
  private running = false;
  /** Whether an idle slot is waiting on the poll timer (the others wait to be woken). */
  private polling = false;
  /** The poll timer's next wait: the interval, doubled after each empty look up to `idleBackoff` times it. */
  private pollWaitMs: number;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly waiters = new Set<() => void>();
  /** Loops that wake on their own schedule (the lease reaper); only stop() ends their wait early. */
  private readonly sleepers = new Set<() => void>();
  private loops: Promise<void>[] = [];
  private readonly now: () => number;

  constructor(
    private readonly store: JobStore,
    private readonly options: JobRunnerOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.pollWaitMs = options.pollIntervalMs;
  }

  register(type: string, handler: JobHandler): void {
    this.handlers.set(type, handler);
  }

  async enqueue(job: Omit<NewJob, 'maxAttempts' | 'runAt'> & Partial<Pick<NewJob, 'maxAttempts' | 'runAt'>>): Promise<number> {
    const handler = this.handlers.get(job.type);
    const [id] = await this.store.enqueue(
      [{ ...job, maxAttempts: job.maxAttempts ?? handler?.maxAttempts ?? 5, runAt: job.runAt ?? this.now() }],
      this.now(),
    );
    this.notify();
    return id!;
  }

  /**
   * Wakes one idle slot now: new work was queued, here or (told through the database) elsewhere.
   * A slot that finds a job wakes the next one, so a batch fills every slot, one claim after
   * another; waking every idle slot for each job cost 8-9 claims per job under a trickle of
   * pushes, every one a statement (test/events/jobs.test.ts).
   */
  notify(): void {
    const [wake] = this.waiters;
    wake?.();
  }

  private wakeAll(): void {
    for (const wake of [...this.waiters, ...this.sleepers]) wake();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loops = Array.from({ length: this.options.concurrency }, () => this.loop());
    this.loops.push(this.reaper());
  }

  /** Stops claiming; resolves when running jobs have finished. */
  async stop(): Promise<void> {
    this.running = false;
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    this.wakeAll();
    await Promise.all(this.loops);
  }

  private async loop(): Promise<void> {
    while (this.running) {
      let job: JobRow | undefined;
      const now = this.now();
      const deferred = this.deferred(now);
      try {
        job = await this.store.claim(this.worker, now, this.options.leaseMs, [...this.handlers.keys()], deferred);
      } catch {
        job = undefined;
      }
      if (!job) {
        // One idle slot looks again on a timer (for jobs other processes queued, or whose
        // retry time came); the others wait to be woken, so an idle process asks the
        // database once per interval, not once per slot.
        // The timer backs off while the queue stays empty (to `idleBackoff` times the
        // interval): work queued in this process, and retries it scheduled, wake it at once.
        // Background jobs held back look again soon, without backing off: they start once the
        // burst of requests passes.
        if (this.polling) {
          await this.idle(undefined);
        } else {
          this.polling = true;
          await this.idle(deferred ? Math.min(this.pollWaitMs, deferredRecheckMs) : this.pollWaitMs);
          if (!deferred) this.pollWaitMs = Math.min(this.pollWaitMs * 2, this.options.pollIntervalMs * idleBackoff);
          this.polling = false;
        }
        continue;
      }
      this.pollWaitMs = this.options.pollIntervalMs;
      // There may be more: another idle slot looks too (and takes over the timer if this one had it).
      this.notify();
      await this.execute(job);
    }
  }

  /** The background types a claim now holds back: those not waiting their longest yet, while the process is saturated. */
  private deferred(now: number): DeferredTypes | undefined {
    const maxDelayMs = this.options.backgroundMaxDelayMs ?? 0;
    if (maxDelayMs <= 0 || !this.options.saturated?.()) return undefined;
    const types = [...this.handlers].filter(([, handler]) => handler.background).map(([type]) => type);
    return types.length > 0 ? { types, dueBy: now - maxDelayMs } : undefined;
  }

  private async execute(job: JobRow): Promise<void> {
    const handler = this.handlers.get(job.type)!;
    try {
      await handler.run(job);
      await this.store.succeed(job.id, this.worker, this.now());
    } catch (err) {
      this.options.onError?.(job, err);
      const retryAt = job.attempts < job.maxAttempts ? this.now() + handler.backoff(job.attempts) : null;
      await this.store.fail(job.id, this.worker, (err as Error)?.message ?? String(err), retryAt, this.now()).catch(() => undefined);
      if (retryAt !== null) this.wakeAt(retryAt);
    }
    // This slot looks for the next job at once, which takes one that waited for this one's
    // ordering key too.
  }

  /** Wakes idle slots at `at` (a retry this process scheduled), whatever the poll timer says. */
  private wakeAt(at: number): void {
    if (!this.running) return;
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      // A timer can fire early by the clock the jobs are due by: it counts from the event loop's
      // time, taken when the loop's turn began, which lags after a long synchronous stretch (SQLite
      // work under load). Woken early, the slots would find the job not due yet and go back to
      // their backed-off poll timer, seconds away. So it waits out the rest first.
      if (this.now() < at) this.wakeAt(at);
      else this.notify();
    }, Math.max(1, at - this.now()));
    timer.unref();
    this.retryTimers.add(timer);
  }

  private async reaper(): Promise<void> {
    while (this.running) {
      await this.store.releaseExpired(this.now()).catch(() => undefined);
      // Not woken by notify(): expired leases come with time, not with new work.
      await this.idle(Math.max(1000, this.options.leaseMs / 2), this.sleepers);
    }
  }

  /** Waits `ms`, or (undefined) until woken. */
  private idle(ms: number | undefined, waiters = this.waiters): Promise<void> {
    // stop() may have come while this loop was busy: never start a wait it cannot end.
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      waiters.add(done);
    });
  }
}
