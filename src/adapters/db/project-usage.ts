import type { Transaction } from 'kysely';
import { projectOf } from '../../domain/names.js';
import type { OutboxEvent } from '../../ports/event-store.js';
import { QuotaExceededError, RepositoryGoneError, type ProjectUsage, type QuotaLimits } from '../../ports/metadata-store.js';
import type { Schema } from './schema.js';
import { CachedQuery } from './cached-query.js';

/**
 * A project's usage, kept exact by the transactions that add and remove manifests (docs/lifecycle.md,
 * "Quotas"). Storage counts every digest the project's manifests are or reference once, however
 * many manifests and repositories of the project use it; artifacts count manifests.
 *
 * Locks, in one order (docs/lifecycle.md, "One lock order"): a change locks the project's usage
 * row, then adds its counts to the digests' `project_blob` rows (in digest order), so "is this
 * digest new to the project" is never answered twice at once, then adds its sums to the usage
 * row. It does so at the end of its transaction, so concurrent pushes to one project wait for
 * each other over those last statements only, not for their whole transaction.
 */

const page = 500;

/** What changed, for the caller's checks and events. */
export interface UsageChange {
  project: string;
  before: ProjectUsage;
  after: ProjectUsage;
}

/**
 * Counts the manifests `parents` of a repository in: call after their rows and references are
 * written, and before a tag change of the same transaction (the usage rows are locked before the
 * repository row). With `limits`, a change that adds storage or artifacts beyond a limit is a
 * QuotaExceededError (the transaction then rolls back); crossing 80% or 100% adds a `quota`
 * event to `events`.
 */
export async function countIn(
  trx: Transaction<Schema>,
  repositoryId: number,
  parents: string[] | 'all',
  limits?: QuotaLimits,
  events?: OutboxEvent[],
): Promise<UsageChange> {
  const named = await projectOfRepository(trx, repositoryId);
  if (!named) throw new RepositoryGoneError(repositoryId);
  const artifacts = await manifestCount(trx, repositoryId, parents);
  await lockUsage(trx, named.project);
  let bytes = 0;
  await eachCounted(trx, repositoryId, parents, async (counts) => {
    bytes += await addedBytes(trx, named.project, counts);
  });
  return addIn(trx, named, bytes, artifacts, limits, events);
}

/**
 * countIn for one manifest of `repository` that this transaction has just created, with its
 * references (distinct digests) as written: the counts are known, so nothing is read first.
 */
export async function countInCreated(
  trx: Transaction<Schema>,
  repository: string,
  digest: string,
  references: string[],
  limits?: QuotaLimits,
  events?: OutboxEvent[],
): Promise<UsageChange> {
  const named = { project: projectOf(repository), repository };
  const counts = new Map<string, number>([[digest, 1]]);
  for (const d of references) counts.set(d, (counts.get(d) ?? 0) + 1);
  await lockUsage(trx, named.project);
  const bytes = await addedBytes(trx, named.project, counts);
  return addIn(trx, named, bytes, 1, limits, events);
}

/** Adds `counts` to the project's digests; the bytes of those new to the project. */
async function addedBytes(trx: Transaction<Schema>, project: string, counts: Map<string, number>): Promise<number> {
  const sizes = await sizesOf.rows(trx, { digests: [...counts.keys()] });
  const sizeOf = new Map(sizes.map((r) => [r.digest, Number(r.size)]));
  // A row's refs stay at 1 or more while it exists (countOut deletes it at 0), so a row that
  // comes back holding exactly this change's count was created by it: the digest is new to the project.
  const rows = await addRefs(trx, project, counts, sizeOf, 1);
  let bytes = 0;
  for (const row of rows) if (Number(row.refs) === counts.get(row.digest)) bytes += sizeOf.get(row.digest) ?? 0;
  return bytes;
}

/** Adds to the project's usage, last, and checks the quota. */
async function addIn(
  trx: Transaction<Schema>,
  named: { project: string; repository: string },
  bytes: number,
  artifacts: number,
  limits: QuotaLimits | undefined,
  events: OutboxEvent[] | undefined,
): Promise<UsageChange> {
  const after = await addUsage(trx, named.project, bytes, artifacts);
  return checkQuota(named, bytes, artifacts, after, limits, events);
}

/** The change as a UsageChange; a QuotaExceededError when it breaks `limits`, else their threshold events added to `events`. */
export function checkQuota(
  named: { project: string; repository: string },
  bytes: number,
  artifacts: number,
  after: ProjectUsage,
  limits: QuotaLimits | undefined,
  events: OutboxEvent[] | undefined,
): UsageChange {
  const { project, repository } = named;
  const before = { bytes: after.bytes - bytes, artifacts: after.artifacts - artifacts };
  if (limits) {
    if (bytes > 0 && limits.bytes !== null && after.bytes > limits.bytes) throw new QuotaExceededError(project, 'storage', before.bytes, bytes, limits.bytes);
    if (artifacts > 0 && limits.artifacts !== null && after.artifacts > limits.artifacts) {
      throw new QuotaExceededError(project, 'artifacts', before.artifacts, artifacts, limits.artifacts);
    }
    // Told to whoever the change's own events name (the pusher).
    if (events) events.push(...thresholdEvents(project, repository, events[0]?.data.operator ?? 'system', before, after, limits));
  }
  return { project, before, after };
}

/**
 * Counts the manifests `parents` of a repository (or all of them) out: call before their rows
 * and references are deleted. Nothing to count when a concurrent delete removed the repository
 * (and its manifests with it) first.
 */
export async function countOut(trx: Transaction<Schema>, repositoryId: number, parents: string[] | 'all'): Promise<UsageChange | undefined> {
  const named = await projectOfRepository(trx, repositoryId);
  if (!named) return undefined;
  const { project } = named;
  const artifacts = await manifestCount(trx, repositoryId, parents);
  await lockUsage(trx, project);
  let bytes = 0;
  await eachCounted(trx, repositoryId, parents, async (counts) => {
    await addRefs(trx, project, counts, new Map(), -1);
    const gone = await deleteUnreferenced.rows(trx, { project, digests: [...counts.keys()] });
    for (const row of gone) bytes += Number(row.size);
  });
  const after = await addUsage(trx, project, -bytes, -artifacts);
  return { project, before: { bytes: after.bytes + bytes, artifacts: after.artifacts + artifacts }, after };
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
  const row = await repositoryNameOf.first(trx, { repositoryId });
  return row && { project: projectOf(row.name), repository: row.name };
}

/**
 * Locks the project's usage row (creating it when missing) before the change touches any of the
 * project's `project_blob` rows: one change of a project's digests at a time. Berth before
 * 2026-12-04 inserts new `project_blob` rows relying on this lock, so it is kept while
 * such instances may still run beside this one (a rolling upgrade).
 */
async function lockUsage(trx: Transaction<Schema>, project: string): Promise<void> {
  await lockUsageRow.execute(trx, { project });
}

const lockUsageRow = new CachedQuery((db, p: { project: string }) =>
  db
    .insertInto('project_usage')
    .values({ project: p.project, bytes: 0, artifacts: 0 })
    .onConflict((oc) => oc.column('project').doUpdateSet((eb) => ({ bytes: eb.ref('project_usage.bytes') }))),
);

const sizesOf = new CachedQuery((db, p: { digests: string[] }) => db.selectFrom('blob').select(['digest', 'size']).where('digest', 'in', p.digests));

/** Adds to the project's usage row (created when missing) and returns it as it is now, locked until the commit. */
async function addUsage(trx: Transaction<Schema>, project: string, bytes: number, artifacts: number): Promise<ProjectUsage> {
  const row = await addUsageRow.first(trx, { project, bytes, artifacts });
  if (!row) throw new Error(`project usage of ${project}: the upsert returned no row`);
  return { bytes: Number(row.bytes), artifacts: Number(row.artifacts) };
}

const addUsageRow = new CachedQuery((db, p: { project: string; bytes: number; artifacts: number }) =>
  db
    .insertInto('project_usage')
    .values({ project: p.project, bytes: p.bytes, artifacts: p.artifacts })
    .onConflict((oc) =>
      oc.column('project').doUpdateSet((eb) => ({
        bytes: eb('project_usage.bytes', '+', eb.ref('excluded.bytes')),
        artifacts: eb('project_usage.artifacts', '+', eb.ref('excluded.artifacts')),
      })),
    )
    .returning(['bytes', 'artifacts']),
);

/**
 * Adds (sign 1) or removes (sign -1) each digest's count to its `project_blob` row, in one
 * statement whose rows are in digest order (the order every change locks them in). A row
 * missing on the way in is created with the digest's size; the rows as they are now come back.
 */
async function addRefs(trx: Transaction<Schema>, project: string, counts: Map<string, number>, sizeOf: Map<string, number>, sign: 1 | -1): Promise<{ digest: string; refs: number }[]> {
  if (counts.size === 0) return [];
  const digests = [...counts.keys()].sort();
  return addRefRows.rows(trx, { project, digests, refs: digests.map((d) => sign * counts.get(d)!), sizes: digests.map((d) => sizeOf.get(d) ?? 0) });
}

const addRefRows = new CachedQuery((db, p: { project: string; digests: string[]; refs: number[]; sizes: number[] }) =>
  db
    .insertInto('project_blob')
    .values(p.digests.map((digest, i) => ({ project: p.project, digest, refs: p.refs[i]!, size: p.sizes[i]! })))
    .onConflict((oc) => oc.columns(['project', 'digest']).doUpdateSet((eb) => ({ refs: eb('project_blob.refs', '+', eb.ref('excluded.refs')) })))
    .returning(['digest', 'refs']),
);

/**
 * Each digest the manifests are or reference, with how many times, in pages ordered by digest
 * (memory stays bounded however large the repository).
 */
async function eachCounted(trx: Transaction<Schema>, repositoryId: number, parents: string[] | 'all', visit: (counts: Map<string, number>) => Promise<void>): Promise<void> {
  if (parents !== 'all' && parents.length === 0) return;
  let after: string | undefined;
  for (;;) {
    const rows = await countedPage.rows(trx, { repositoryId, parents: parents === 'all' ? undefined : parents, after, page });
    if (rows.length === 0) return;
    await visit(new Map(rows.map((r) => [r.digest, Number(r.n)])));
    if (rows.length < page) return;
    after = rows[rows.length - 1]!.digest;
  }
}

async function manifestCount(trx: Transaction<Schema>, repositoryId: number, parents: string[] | 'all'): Promise<number> {
  return Number((await manifestCountOf.first(trx, { repositoryId, parents: parents === 'all' ? undefined : parents }))?.n ?? 0);
}

// Statements of a push and a delete on SQLite, built once (cached-query.ts).
const repositoryNameOf = new CachedQuery((db, p: { repositoryId: number }) => db.selectFrom('repository').select('name').where('id', '=', p.repositoryId));

const manifestCountOf = new CachedQuery((db, p: { repositoryId: number; parents: string[] | undefined }) => {
  let query = db.selectFrom('manifest').select((eb) => eb.fn.countAll<number>().as('n')).where('repository_id', '=', p.repositoryId);
  if (p.parents !== undefined) query = query.where('digest', 'in', p.parents);
  return query;
});

/** One page of eachCounted: each digest the manifests (all of the repository's without `parents`) are or reference, with how many times. */
const countedPage = new CachedQuery((db, p: { repositoryId: number; parents: string[] | undefined; after: string | undefined; page: number }) => {
  let own = db.selectFrom('manifest').select('digest').where('repository_id', '=', p.repositoryId);
  let refs = db.selectFrom('manifest_reference').select('child_digest as digest').where('repository_id', '=', p.repositoryId);
  if (p.parents !== undefined) {
    own = own.where('digest', 'in', p.parents);
    refs = refs.where('parent_digest', 'in', p.parents);
  }
  let query = db
    .selectFrom(own.unionAll(refs).as('x'))
    .select(['x.digest', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('x.digest')
    .orderBy('x.digest')
    .limit(p.page);
  if (p.after !== undefined) query = query.where('x.digest', '>', p.after);
  return query;
});

const deleteUnreferenced = new CachedQuery((db, p: { project: string; digests: string[] }) =>
  db.deleteFrom('project_blob').where('project', '=', p.project).where('digest', 'in', p.digests).where('refs', '<=', 0).returning('size'),
);

