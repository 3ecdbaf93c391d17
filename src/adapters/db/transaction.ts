import { SqliteAdapter, type Kysely, type Transaction } from 'kysely';
import type { Schema } from './schema.js';
import { isStalePlan } from './pg-prepared.js';
import { GroupCommit, type GroupPacing } from './group-commit.js';
import { isConnectionLost } from './pg-reconnect.js';

/** PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled back whole and may simply run again. */
const retryable = new Set(['40P01', '40001']);

/**
 * Runs `work` in a transaction, again (up to three times) when PostgreSQL rolled it back to
 * break a deadlock. Transactions here take their locks in one order (repository, manifest,
 * references, blobs), so deadlocks are rare; when one happens anyway, the loser retries
 * instead of failing a client's push. So does a transaction that met a prepared statement a
 * schema change made stale (pg-prepared.ts: its connection runs unnamed from then on), and one
 * whose connection dropped before it sent COMMIT (PostgreSQL restarted, a network cut): the
 * server rolled it back, so it runs again on a fresh connection, which waits out the restart.
 * One that lost its connection while committing is not run again: it may have committed.
 */
export async function inTransaction<T>(db: Kysely<Schema>, work: (trx: Transaction<Schema>) => Promise<T>): Promise<T> {
  // SQLite: transactions begun in one turn of the event loop share a commit (group-commit.ts).
  const group = groupCommitOf(db);
  if (group) return group.run(work);
  let committing = false;
  return retried(
    () => {
      committing = false;
      return db.transaction().execute(async (trx) => {
        const result = await work(trx);
        committing = true;
        return result;
      });
    },
    (err) => !committing && isConnectionLost(err),
  );
}

/** Each database's group commit, or null for PostgreSQL (decided once per database). */
const groups = new WeakMap<Kysely<Schema>, GroupCommit | null>();

/** The group commit of a SQLite database (created on first use); undefined on PostgreSQL, whose transactions run side by side on a pool. */
export function groupCommitOf(db: Kysely<Schema>): GroupCommit | undefined {
  let group = groups.get(db);
  if (group === undefined) groups.set(db, (group = db.getExecutor().adapter instanceof SqliteAdapter ? new GroupCommit(db) : null));
  return group ?? undefined;
}

/** Lets the SQLite database's transactions wait a moment for others to share their commit (GroupCommit.pace); nothing on PostgreSQL. */
export function paceGroupCommit(db: Kysely<Schema>, pacing: GroupPacing): void {
  groupCommitOf(db)?.pace(pacing);
}

/**
 * Runs `work`, one statement or a whole transaction, again (up to three times) when PostgreSQL
 * rolled it back as inTransaction describes, or when `also` says its error may be retried.
 */
export async function retried<T>(work: () => Promise<T>, also?: (err: unknown) => boolean): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      const code = (err as { code?: string }).code;
      const again = (code !== undefined && (retryable.has(code) || isStalePlan(err))) || also?.(err) === true;
      if (attempt >= 3 || !again) throw err;
      await new Promise((resolve) => setTimeout(resolve, 5 * attempt + Math.random() * 20));
    }
  }
}

/** PostgreSQL's foreign_key_violation or SQLite's SQLITE_CONSTRAINT_FOREIGNKEY: a row refers to one another transaction deleted. */
export function isForeignKeyViolation(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code;
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

/** PostgreSQL's unique_violation or SQLite's SQLITE_CONSTRAINT_UNIQUE: another row holds the value. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}
