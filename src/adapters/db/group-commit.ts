import { sql, type Kysely, type Transaction } from 'kysely';
import type { Schema } from './schema.js';

interface Job {
  work: (trx: Transaction<Schema>) => Promise<unknown>;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/** How many transactions one commit carries at most. */
const maxJobs = 64;

export interface GroupPacing {
  /** How many requests are in flight: a batch waits while fewer transactions than these are queued. */
  inFlight: () => number;
  /** How long a batch waits at most, in ms. */
  windowMs: number;
}

/**
 * SQLite transactions of one process that begin in the same turn of the event loop, committed
 * together: one `BEGIN IMMEDIATE … COMMIT`, each transaction in a savepoint of its own. A commit
 * appends every page its transaction changed to the write-ahead log; pushes to one repository
 * change the same pages (its manifests' and tags' index pages, the project's usage row), so
 * one commit for several writes them once. Commits were half of SQLite's time in a push
 * (docs/performance.md, "One commit for several").
 *
 * While more requests are in flight than transactions are queued (`pace`), a batch waits up to
 * `windowMs` for theirs before it begins: under a burst of pushes a transaction rarely begins in
 * the same turn as another (docs/performance.md, "Commits a moment apart"). A request alone, or
 * a batch every request in flight has joined, commits in the next turn, as before.
 *
 * Each transaction still sees what the ones before it in the batch wrote, as it would had they
 * committed first; one that fails rolls back to its savepoint alone, and its caller gets its
 * error. Callers hear of success only after the shared commit. Should the batch's transaction
 * itself fail (its commit, or an error that ended it), the transactions it carried run again,
 * each on its own, as they would have without batching: nothing of them was committed.
 */
export class GroupCommit {
  private queue: Job[] = [];
  private scheduled = false;
  /** The timer a batch waits on for others to join, if it waits. */
  private waiting: NodeJS.Timeout | undefined;
  private pacing: GroupPacing | undefined;
  /** Batches committed and transactions they carried, for tests and the performance notes. */
  readonly stats = { batches: 0, transactions: 0 };

  constructor(private readonly db: Kysely<Schema>) {}

  /** From now on a batch waits up to `windowMs` for the transactions of other requests in flight. */
  pace(pacing: GroupPacing): void {
    this.pacing = pacing;
  }

  run<T>(work: (trx: Transaction<Schema>) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        if (this.othersMayJoin()) this.waiting = setTimeout(() => void this.flush(), this.pacing!.windowMs);
        else setImmediate(() => void this.flush());
      } else if (this.waiting && !this.othersMayJoin()) {
        // Every request in flight has its transaction queued, or the batch is full: it waits no longer.
        clearTimeout(this.waiting);
        this.waiting = undefined;
        setImmediate(() => void this.flush());
      }
    });
  }

  private othersMayJoin(): boolean {
    return this.pacing !== undefined && this.pacing.windowMs > 0 && this.queue.length < maxJobs && this.queue.length < this.pacing.inFlight();
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    this.waiting = undefined;
    const jobs = this.queue.splice(0, maxJobs);
    if (this.queue.length > 0) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
    if (jobs.length === 1) {
      const job = jobs[0]!;
      await this.alone(job);
      return;
    }
    const done: { job: Job; value: unknown }[] = [];
    const failed: { job: Job; err: unknown }[] = [];
    let unrun: Job[] = [];
    try {
      await this.db.transaction().execute(async (trx) => {
        for (const [index, job] of jobs.entries()) {
          await sql`savepoint berth_batch`.execute(trx);
          try {
            const value = await job.work(trx);
            await sql`release berth_batch`.execute(trx);
            done.push({ job, value });
          } catch (err) {
            failed.push({ job, err });
            // Throws when the error ended the whole transaction: the batch stops here.
            try {
              await sql`rollback to berth_batch`.execute(trx);
              await sql`release berth_batch`.execute(trx);
            } catch (broken) {
              unrun = jobs.slice(index + 1);
              throw broken;
            }
          }
        }
      });
    } catch {
      // Nothing of the batch was committed: what ran in it runs again alone, as does what did not run.
      for (const { job, err } of failed) job.reject(err);
      for (const job of [...done.map((d) => d.job), ...unrun]) await this.alone(job);
      return;
    }
    this.stats.batches++;
    this.stats.transactions += jobs.length;
    for (const { job, value } of done) job.resolve(value);
    for (const { job, err } of failed) job.reject(err);
  }

  private async alone(job: Job): Promise<void> {
    try {
      const value = await this.db.transaction().execute(job.work);
      this.stats.batches++;
      this.stats.transactions++;
      job.resolve(value);
    } catch (err) {
      job.reject(err);
    }
  }
}
