import { sql, type Kysely, type Selectable } from 'kysely';
import type { Schema } from './schema.js';

/** Tables of runs that one process at a time carries out under a lease (garbage collection, scrub). */
type LeasedRunTable = 'gc_run' | 'scrub_run';

/**
 * Takes a run for `owner`: a queued run, a running one whose lease ran out (its process died),
 * or one it holds already; undefined when another process holds it. The row as it is now.
 */
export async function claimLeasedRun<T extends LeasedRunTable>(db: Kysely<Schema>, table: T, id: number, owner: string, leaseMs: number, now: number): Promise<Selectable<Schema[T]> | undefined> {
  // The columns used here are the same in both tables; Kysely types one table at a time.
  const runs = db as unknown as Kysely<Pick<Schema, 'gc_run'>>;
  const row = await runs
    .updateTable(table as 'gc_run')
    .set((eb) => ({ status: 'running', lease_owner: owner, lease_until: now + leaseMs, started_at: eb.fn.coalesce('started_at', sql.lit(now)), error: null }))
    .where('id', '=', id)
    .where((eb) => eb.or([eb('status', '=', 'queued'), eb.and([eb('status', '=', 'running'), eb('lease_until', '<', now)]), eb('lease_owner', '=', owner)]))
    .where('status', 'in', ['queued', 'running'])
    .returningAll()
    .executeTakeFirst();
  return row as unknown as Selectable<Schema[T]> | undefined;
}
