import type { Transaction } from 'kysely';
import { projectOf } from '../../domain/names.js';
import type { OutboxEvent } from '../../ports/event-store.js';
import { QuotaExceededError, RepositoryGoneError, type ProjectUsage, type QuotaLimits } from '../../ports/metadata-store.js';
import type { Database } from './connect.js';
import type { Schema } from './schema.js';

/**
 * A project's usage, kept exact by the transactions that add and remove manifests (docs/lifecycle.md,
 * "Quotas"). Storage counts every digest the project's manifests are or reference once, however
 * many manifests and repositories of the project use it; artifacts count manifests. Every change
 * first locks the project's usage row, so changes to one project are applied one at a time and
 * "is this digest new to the project" is never answered twice at once.
 */

const page = 500;

/** What changed, for the caller's checks and events. */
export interface UsageChange {
  project: string;
  before: ProjectUsage;
  after: ProjectUsage;
}

type Engine = Database['engine'];

/**
 * Counts the manifests `parents` of a repository (or all of them) in: call after their rows and
 * references are written. With `limits`, a change that adds storage or artifacts beyond a limit
 * is a QuotaExceededError (the transaction then rolls back); crossing 80% or 100% adds a `quota`
 * event to `events`.
 */
export async function countIn(
  trx: Transaction<Schema>,
  engine: Engine,
  repositoryId: number,
  parents: string[] | 'all',
  limits?: QuotaLimits,
  events?: OutboxEvent[],
): Promise<UsageChange> {
  const named = await projectOfRepository(trx, repositoryId);
  if (!named) throw new RepositoryGoneError(repositoryId);
  const { project, repository } = named;
  const before = await lockUsage(trx, engine, project);
  let bytes = 0;
  await eachCounted(trx, repositoryId, parents, async (counts) => {
    const digests = [...counts.keys()];
    const existing = new Set(
      (await trx.selectFrom('project_blob').select('digest').where('project', '=', project).where('digest', 'in', digests).execute()).map((r) => r.digest),
    );
    const fresh = digests.filter((d) => !existing.has(d));
    if (fresh.length > 0) {
      const sizes = await trx.selectFrom('blob').select(['digest', 'size']).where('digest', 'in', fresh).execute();
      const sizeOf = new Map(sizes.map((r) => [r.digest, Number(r.size)]));
      await trx
        .insertInto('project_blob')
        .values(fresh.map((d) => ({ project, digest: d, refs: counts.get(d)!, size: sizeOf.get(d) ?? 0 })))
        .execute();
      for (const d of fresh) bytes += sizeOf.get(d) ?? 0;
    }
    await addRefs(
      trx,
      project,
      digests.filter((d) => existing.has(d)),
      counts,
      1,
    );
  });
  const artifacts = await manifestCount(trx, repositoryId, parents);
  const after = { bytes: before.bytes + bytes, artifacts: before.artifacts + artifacts };
  if (limits) {
    if (bytes > 0 && limits.bytes !== null && after.bytes > limits.bytes) throw new QuotaExceededError(project, 'storage', before.bytes, bytes, limits.bytes);
    if (artifacts > 0 && limits.artifacts !== null && after.artifacts > limits.artifacts) {
      throw new QuotaExceededError(project, 'artifacts', before.artifacts, artifacts, limits.artifacts);
    }
    // Told to whoever the change's own events name (the pusher).
    if (events) events.push(...thresholdEvents(project, repository, events[0]?.data.operator ?? 'system', before, after, limits));
  }
  await saveUsage(trx, project, after);
  return { project, before, after };
}

/**
 * Counts the manifests `parents` of a repository (or all of them) out: call before their rows
 * and references are deleted. Nothing to count when a concurrent delete removed the repository
 * (and its manifests with it) first.
 */
export async function countOut(trx: Transaction<Schema>, engine: Engine, repositoryId: number, parents: string[] | 'all'): Promise<UsageChange | undefined> {
  const named = await projectOfRepository(trx, repositoryId);
  if (!named) return undefined;
  const { project } = named;
  const before = await lockUsage(trx, engine, project);
  let bytes = 0;
  await eachCounted(trx, repositoryId, parents, async (counts) => {
    const digests = [...counts.keys()];
    await addRefs(trx, project, digests, counts, -1);
    const gone = await trx.deleteFrom('project_blob').where('project', '=', project).where('digest', 'in', digests).where('refs', '<=', 0).returning('size').execute();
    for (const row of gone) bytes += Number(row.size);
  });
  const artifacts = await manifestCount(trx, repositoryId, parents);
  const after = { bytes: before.bytes - bytes, artifacts: before.artifacts - artifacts };
  await saveUsage(trx, project, after);
  return { project, before, after };
}

/** `quota` events for each of 80% and 100% of a limit that this change reached from below. */
function thresholdEvents(project: string, repository: string, operator: string, before: ProjectUsage, after: ProjectUsage, limits: QuotaLimits): OutboxEvent[] {
  const events: OutboxEvent[] = [];
  const check = (kind: 'storage' | 'artifacts', was: number, now: number, limit: number | null) => {
    if (limit === null || limit <= 0) return;
    for (const percent of [100, 80]) {
      const mark = (limit * percent) / 100;
      if (was < mark && now >= mark) {
        events.push({ type: 'quota', project, repository, data: { operator, repository, details: { project, kind, percent, used: now, limit } } });
        return;
      }
    }
  };
  check('storage', before.bytes, after.bytes, limits.bytes);
  check('artifacts', before.artifacts, after.artifacts, limits.artifacts);
  return events;
}

async function projectOfRepository(trx: Transaction<Schema>, repositoryId: number): Promise<{ project: string; repository: string } | undefined> {
  const row = await trx.selectFrom('repository').select('name').where('id', '=', repositoryId).executeTakeFirst();
  return row && { project: projectOf(row.name), repository: row.name };
}

/** The project's usage row, created when missing and locked (PostgreSQL; SQLite runs one writer at a time). */
async function lockUsage(trx: Transaction<Schema>, engine: Engine, project: string): Promise<ProjectUsage> {
  await trx
    .insertInto('project_usage')
    .values({ project, bytes: 0, artifacts: 0 })
    .onConflict((oc) => oc.column('project').doNothing())
    .execute();
  let query = trx.selectFrom('project_usage').select(['bytes', 'artifacts']).where('project', '=', project);
  if (engine === 'postgres') query = query.forUpdate();
  const row = await query.executeTakeFirstOrThrow();
  return { bytes: Number(row.bytes), artifacts: Number(row.artifacts) };
}

async function saveUsage(trx: Transaction<Schema>, project: string, usage: ProjectUsage): Promise<void> {
  await trx.updateTable('project_usage').set({ bytes: usage.bytes, artifacts: usage.artifacts }).where('project', '=', project).execute();
}

/** Adds (sign 1) or removes (sign -1) each digest's count to its row; rows grouped by count, one statement each. */
async function addRefs(trx: Transaction<Schema>, project: string, digests: string[], counts: Map<string, number>, sign: 1 | -1): Promise<void> {
  const byCount = new Map<number, string[]>();
  for (const d of digests) byCount.set(counts.get(d)!, [...(byCount.get(counts.get(d)!) ?? []), d]);
  for (const [n, group] of byCount) {
    await trx
      .updateTable('project_blob')
      .set((eb) => ({ refs: eb('refs', '+', sign * n) }))
      .where('project', '=', project)
      .where('digest', 'in', group)
      .execute();
  }
}

/**
 * Each digest the manifests are or reference, with how many times, in pages ordered by digest
 * (memory stays bounded however large the repository).
 */
async function eachCounted(trx: Transaction<Schema>, repositoryId: number, parents: string[] | 'all', visit: (counts: Map<string, number>) => Promise<void>): Promise<void> {
  if (parents !== 'all' && parents.length === 0) return;
  let own = trx.selectFrom('manifest').select('digest').where('repository_id', '=', repositoryId);
  let refs = trx.selectFrom('manifest_reference').select('child_digest as digest').where('repository_id', '=', repositoryId);
  if (parents !== 'all') {
    own = own.where('digest', 'in', parents);
    refs = refs.where('parent_digest', 'in', parents);
  }
  let after: string | undefined;
  for (;;) {
    let query = trx
      .selectFrom(own.unionAll(refs).as('x'))
      .select(['x.digest', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('x.digest')
      .orderBy('x.digest')
      .limit(page);
    if (after !== undefined) query = query.where('x.digest', '>', after);
    const rows = await query.execute();
    if (rows.length === 0) return;
    await visit(new Map(rows.map((r) => [r.digest, Number(r.n)])));
    if (rows.length < page) return;
    after = rows[rows.length - 1]!.digest;
  }
}

async function manifestCount(trx: Transaction<Schema>, repositoryId: number, parents: string[] | 'all'): Promise<number> {
  let query = trx.selectFrom('manifest').select((eb) => eb.fn.countAll<number>().as('n')).where('repository_id', '=', repositoryId);
  if (parents !== 'all') query = query.where('digest', 'in', parents);
  return Number((await query.executeTakeFirstOrThrow()).n);
}
