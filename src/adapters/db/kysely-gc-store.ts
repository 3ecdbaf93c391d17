import { sql, type ExpressionBuilder, type Kysely, type Selectable } from 'kysely';
import type { Digest } from '../../domain/digest.js';
import { BerthError } from '../../domain/errors.js';
import type { OutboxEvent } from '../../ports/event-store.js';
import type {
  BlobCandidate,
  GcCounts,
  GcOptions,
  GcPhase,
  GcPreview,
  GcRunRow,
  GcRunStatus,
  GcStore,
  LinkCandidate,
  ManifestCandidate,
} from '../../ports/gc-store.js';
import { maxManifestPasses } from '../../ports/gc-store.js';
import type { Database } from './connect.js';
import { inTransaction } from './transaction.js';
import { claimLeasedRun } from './run-lease.js';
import { insertEvents } from './kysely-metadata-store.js';
import { countOut } from './project-usage.js';
import type { GcRunTable, Schema } from './schema.js';

/**
 * Garbage collection's queries and guarded deletions. Every deletion first takes the row's
 * lock (PostgreSQL; SQLite runs one writing transaction at a time) and then re-checks the
 * candidate in a new statement, so it sees every reference committed before the lock was
 * granted, and every later push waits for it and then finds the row gone or marked.
 */
/** Candidates per statement on SQLite, whose statements run on the event loop. */
const sqliteSlice = 50;

export class KyselyGcStore implements GcStore {
  private readonly db: Kysely<Schema>;
  private readonly engine: Database['engine'];

  constructor(database: Database) {
    this.db = database.db;
    this.engine = database.engine;
  }

  async manifestCandidates(before: number, untagged: boolean, after: { repositoryId: number; digest: string } | undefined, limit: number): Promise<ManifestCandidate[]> {
    let query = this.db
      .selectFrom('manifest as m')
      .innerJoin('repository as r', 'r.id', 'm.repository_id')
      .select(['m.repository_id', 'r.name', 'm.digest', 'm.size'])
      .where((eb) => collectableManifest(eb, before, untagged))
      .orderBy('m.repository_id')
      .orderBy('m.digest')
      .limit(limit);
    if (after) {
      query = query.where((eb) => eb.or([eb('m.repository_id', '>', after.repositoryId), eb.and([eb('m.repository_id', '=', after.repositoryId), eb('m.digest', '>', after.digest)])]));
    }
    const rows = await query.execute();
    return rows.map((r) => ({ repositoryId: r.repository_id, repository: r.name, digest: r.digest as Digest, size: Number(r.size) }));
  }

  async deleteManifestIfCollectable(candidate: ManifestCandidate, before: number, untagged: boolean, events: OutboxEvent[]): Promise<boolean> {
    return inTransaction(this.db, async (trx) => {
      await this.lock(trx.selectFrom('manifest').select('digest').where('repository_id', '=', candidate.repositoryId).where('digest', '=', candidate.digest));
      const still = await trx
        .selectFrom('manifest as m')
        .select('m.digest')
        .where('m.repository_id', '=', candidate.repositoryId)
        .where('m.digest', '=', candidate.digest)
        .where((eb) => collectableManifest(eb, before, untagged))
        .executeTakeFirst();
      if (!still) return false;
      await countOut(trx, candidate.repositoryId, [candidate.digest]);
      await trx.deleteFrom('manifest_reference').where('repository_id', '=', candidate.repositoryId).where('parent_digest', '=', candidate.digest).execute();
      const tagged = await trx.selectFrom('tag').select('name').where('repository_id', '=', candidate.repositoryId).where('manifest_digest', '=', candidate.digest).limit(1).executeTakeFirst();
      await trx.deleteFrom('manifest').where('repository_id', '=', candidate.repositoryId).where('digest', '=', candidate.digest).execute();
      // An orphaned cosign signature's tags go with it (foreign key cascade): tag caches must hear of it.
      if (tagged) await trx.updateTable('repository').set((eb) => ({ tag_version: eb('tag_version', '+', 1) })).where('id', '=', candidate.repositoryId).execute();
      await insertEvents(trx, events, Date.now());
      return true;
    });
  }

  async linkCandidates(before: number, after: LinkCandidate | undefined, limit: number): Promise<LinkCandidate[]> {
    let query = this.db
      .selectFrom('repository_blob as l')
      .select(['l.repository_id', 'l.digest'])
      .where((eb) => danglingLink(eb, before))
      .orderBy('l.repository_id')
      .orderBy('l.digest')
      .limit(limit);
    if (after) {
      query = query.where((eb) => eb.or([eb('l.repository_id', '>', after.repositoryId), eb.and([eb('l.repository_id', '=', after.repositoryId), eb('l.digest', '>', after.digest)])]));
    }
    return (await query.execute()).map((r) => ({ repositoryId: r.repository_id, digest: r.digest as Digest }));
  }

  async deleteLinksIfCollectable(links: LinkCandidate[], before: number): Promise<number> {
    if (links.length === 0) return 0;
    const sorted = [...links].sort((a, b) => a.repositoryId - b.repositoryId || a.digest.localeCompare(b.digest));
    return inTransaction(this.db, async (trx) => {
      let deleted = 0;
      for (const link of sorted) {
        await this.lock(trx.selectFrom('repository_blob').select('digest').where('repository_id', '=', link.repositoryId).where('digest', '=', link.digest));
        const result = await trx
          .deleteFrom('repository_blob as l')
          .where('l.repository_id', '=', link.repositoryId)
          .where('l.digest', '=', link.digest)
          .where((eb) => danglingLink(eb, before))
          .executeTakeFirst();
        deleted += Number(result.numDeletedRows);
      }
      return deleted;
    });
  }

  async blobCandidates(before: number, after: string | undefined, limit: number): Promise<BlobCandidate[]> {
    // SQLite: in statements of a few dozen candidates, with requests served between them (each
    // statement holds the process's event loop while it runs).
    if (this.engine === 'sqlite' && limit > sqliteSlice) {
      const found: BlobCandidate[] = [];
      let from = after;
      while (found.length < limit) {
        const slice = await this.blobCandidates(before, from, Math.min(sqliteSlice, limit - found.length));
        found.push(...slice);
        if (slice.length < sqliteSlice) break;
        from = slice[slice.length - 1]!.digest;
        await new Promise((resolve) => setImmediate(resolve));
      }
      return found;
    }
    let query = this.db
      .selectFrom('blob as b')
      .select(['b.digest', 'b.size'])
      .where('b.deleting', '=', 0)
      .where((eb) => unreferencedBlob(eb, before, Date.now(), false, { after }))
      .orderBy('b.digest')
      .limit(limit);
    if (after !== undefined) query = query.where('b.digest', '>', after);
    return (await query.execute()).map((r) => ({ digest: r.digest as Digest, size: Number(r.size) }));
  }

  async markBlobsDeleting(digests: Digest[], before: number): Promise<BlobCandidate[]> {
    if (digests.length === 0) return [];
    const sorted = [...digests].sort();
    if (this.engine === 'sqlite' && sorted.length > sqliteSlice) {
      // Short transactions on SQLite, as above: each re-check holds the event loop while it runs.
      const marked: BlobCandidate[] = [];
      for (let i = 0; i < sorted.length; i += sqliteSlice) {
        marked.push(...(await this.markBlobsDeleting(sorted.slice(i, i + sqliteSlice), before)));
        await new Promise((resolve) => setImmediate(resolve));
      }
      return marked;
    }
    return inTransaction(this.db, async (trx) => {
      await this.lock(trx.selectFrom('blob').select('digest').where('digest', 'in', sorted).orderBy('digest'));
      const rows = await trx
        .updateTable('blob as b')
        .set({ deleting: 1 })
        .where('b.digest', 'in', sorted)
        .where('b.deleting', '=', 0)
        .where((eb) => unreferencedBlob(eb, before, Date.now()))
        // Unqualified: SQLite's RETURNING does not take the table's alias.
        .returning(['digest', 'size'])
        .execute();
      return rows.map((r) => ({ digest: r.digest as Digest, size: Number(r.size) }));
    });
  }

  async deletingBlobs(after: string | undefined, limit: number): Promise<BlobCandidate[]> {
    let query = this.db.selectFrom('blob').select(['digest', 'size']).where('deleting', '<>', 0).orderBy('digest').limit(limit);
    if (after !== undefined) query = query.where('digest', '>', after);
    return (await query.execute()).map((r) => ({ digest: r.digest as Digest, size: Number(r.size) }));
  }

  async claimForRemoval(digests: Digest[], now: number): Promise<BlobCandidate[]> {
    if (digests.length === 0) return [];
    const sorted = [...digests].sort();
    return inTransaction(this.db, async (trx) => {
      await this.lock(trx.selectFrom('blob').select('digest').where('digest', 'in', sorted).orderBy('digest'));
      // Still marked (a writer's pin calls a deletion off) and not pinned by a writer now; or
      // left being removed by a run that died (its writers are waiting for it).
      const rows = await trx
        .updateTable('blob as b')
        .set({ deleting: 2, touched_at: now })
        .where('b.digest', 'in', sorted)
        .where((eb) =>
          eb.or([
            eb('b.deleting', '=', 2),
            eb.and([
              eb('b.deleting', '=', 1),
              eb.not(eb.exists(eb.selectFrom('blob_pin as p').select('p.digest').whereRef('p.digest', '=', 'b.digest').where('p.until', '>', now))),
            ]),
          ]),
        )
        // Unqualified: SQLite's RETURNING does not take the table's alias.
        .returning(['digest', 'size'])
        .execute();
      return rows.map((r) => ({ digest: r.digest as Digest, size: Number(r.size) }));
    });
  }

  async deleteRemoved(digests: Digest[], since: number): Promise<BlobCandidate[]> {
    if (digests.length === 0) return [];
    const rows = await this.db
      .deleteFrom('blob')
      .where('digest', 'in', [...digests].sort())
      .where('deleting', '=', 2)
      .where('touched_at', '=', since)
      .returning(['digest', 'size'])
      .execute();
    return rows.map((r) => ({ digest: r.digest as Digest, size: Number(r.size) }));
  }

  async dryRun(before: number, untagged: boolean, now: number, listLimit: number): Promise<GcPreview> {
    // One connection throughout: the temporary tables live in its session.
    return this.db.connection().execute(async (connection) => {
      const conn = connection as unknown as Kysely<GcSchema>;
      const bigint = this.engine === 'postgres' ? sql`bigint` : sql`integer`;
      for (const table of ['gc_doomed_manifest', 'gc_doomed_link']) {
        await sql`DROP TABLE IF EXISTS ${sql.table(table)}`.execute(conn);
        await sql`CREATE TEMPORARY TABLE ${sql.table(table)} (repository_id ${bigint} NOT NULL, digest text NOT NULL, PRIMARY KEY (repository_id, digest))`.execute(conn);
      }
      try {
        // Pass after pass, as the real run: an index going frees its children for the next pass.
        for (let pass = 0; pass < maxManifestPasses; pass++) {
          const added = await conn
            .insertInto('gc_doomed_manifest')
            .columns(['repository_id', 'digest'])
            .expression((eb) => eb.selectFrom('manifest as m').select(['m.repository_id', 'm.digest']).where((e) => collectableManifest(e, before, untagged, true)))
            .executeTakeFirst();
          if (Number(added.numInsertedOrUpdatedRows ?? 0) === 0) break;
        }
        // Links and blobs in slices of the table on SQLite, where every statement holds the event
        // loop and requests are served between slices. PostgreSQL runs each as one statement on
        // the run's own connection: its hash anti-joins over whole tables beat many bounded ones.
        const sliced = this.engine === 'sqlite';
        let afterLink: { repositoryId: number; digest: string } | undefined;
        for (;;) {
          let page = conn.selectFrom('repository_blob as l').select(['l.repository_id', 'l.digest']).orderBy('l.repository_id').orderBy('l.digest').offset(dryRunSlice - 1).limit(1);
          if (afterLink) page = page.where(sql<boolean>`(l.repository_id, l.digest) > (${afterLink.repositoryId}, ${afterLink.digest})`);
          const end = sliced ? await page.executeTakeFirst() : undefined;
          const from = afterLink;
          await conn
            .insertInto('gc_doomed_link')
            .columns(['repository_id', 'digest'])
            .expression((eb) => {
              let q = eb.selectFrom('repository_blob as l').select(['l.repository_id', 'l.digest']).where((e) => danglingLink(e, before, true));
              if (from) q = q.where(sql<boolean>`(l.repository_id, l.digest) > (${from.repositoryId}, ${from.digest})`);
              if (end) q = q.where(sql<boolean>`(l.repository_id, l.digest) <= (${end.repository_id}, ${end.digest})`);
              return q;
            })
            .execute();
          if (!end) break;
          afterLink = { repositoryId: Number(end.repository_id), digest: end.digest };
          await new Promise((resolve) => setImmediate(resolve));
        }
        const count = async (table: 'gc_doomed_manifest' | 'gc_doomed_link') =>
          Number((await conn.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
        // Marked ones go too (a run that crashed left them): few, counted apart, so the scan below
        // is a plain conjunction PostgreSQL can answer with anti-joins.
        const marked = await conn
          .selectFrom('blob')
          .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.sum<number>('size').as('bytes')])
          .where('deleting', '<>', 0)
          .executeTakeFirstOrThrow();
        let blobs = Number(marked.n);
        let bytes = Number(marked.bytes ?? 0);
        let afterBlob: string | undefined;
        for (;;) {
          let page = conn.selectFrom('blob').select('digest').orderBy('digest').offset(dryRunSlice - 1).limit(1);
          if (afterBlob !== undefined) page = page.where('digest', '>', afterBlob);
          const end = sliced ? await page.executeTakeFirst() : undefined;
          let q = conn
            .selectFrom('blob as b')
            .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.sum<number>('b.size').as('bytes')])
            .where('b.deleting', '=', 0)
            .where((eb) => unreferencedBlob(eb, before, now, true, { after: afterBlob, upTo: end?.digest }));
          if (afterBlob !== undefined) q = q.where('b.digest', '>', afterBlob);
          if (end) q = q.where('b.digest', '<=', end.digest);
          const slice = await q.executeTakeFirstOrThrow();
          blobs += Number(slice.n);
          bytes += Number(slice.bytes ?? 0);
          if (!end) break;
          afterBlob = end.digest;
          await new Promise((resolve) => setImmediate(resolve));
        }
        const list = await conn
          .selectFrom('gc_doomed_manifest as d')
          .innerJoin('manifest as m', (j) => j.onRef('m.repository_id', '=', 'd.repository_id').onRef('m.digest', '=', 'd.digest'))
          .innerJoin('repository as r', 'r.id', 'd.repository_id')
          .select(['d.repository_id', 'r.name', 'd.digest', 'm.size'])
          .orderBy('d.repository_id')
          .orderBy('d.digest')
          .limit(listLimit)
          .execute();
        return {
          manifests: await count('gc_doomed_manifest'),
          manifestList: list.map((r) => ({ repositoryId: Number(r.repository_id), repository: r.name, digest: r.digest as Digest, size: Number(r.size) })),
          links: await count('gc_doomed_link'),
          blobs,
          bytes,
        };
      } finally {
        for (const table of ['gc_doomed_manifest', 'gc_doomed_link']) await sql`DROP TABLE IF EXISTS ${sql.table(table)}`.execute(conn);
      }
    });
  }

  async prunePins(now: number): Promise<number> {
    const result = await this.db.deleteFrom('blob_pin').where('until', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async createRun(options: GcOptions, triggeredBy: string, now: number): Promise<GcRunRow> {
    return inTransaction(this.db, async (trx) => {
      // Serialises run creation across instances (PostgreSQL); SQLite transactions already are.
      await trx.insertInto('lifecycle_lock').values({ name: 'gc' }).onConflict((oc) => oc.column('name').doNothing()).execute();
      await this.lock(trx.selectFrom('lifecycle_lock').select('name').where('name', '=', 'gc'));
      const active = await trx
        .selectFrom('gc_run')
        .selectAll()
        .where((eb) => eb.or([eb('status', '=', 'queued'), eb.and([eb('status', '=', 'running'), eb('lease_until', '>', now)])]))
        .orderBy('id')
        .executeTakeFirst();
      if (active) {
        throw new BerthError('CONFLICT', { message: `garbage collection run ${active.id} is already ${active.status}; one run at a time`, detail: { run: active.id } });
      }
      // A run whose process died: this one carries on from what the database says (marked blobs first).
      await trx.updateTable('gc_run').set({ status: 'interrupted', finished_at: now, lease_until: null }).where('status', '=', 'running').where('lease_until', '<=', now).execute();
      const row = await trx
        .insertInto('gc_run')
        .values({ status: 'queued', dry_run: options.dryRun ? 1 : 0, options: JSON.stringify(options), triggered_by: triggeredBy, created_at: now })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toRun(row);
    });
  }

  async claimRun(id: number, owner: string, leaseMs: number, now: number): Promise<GcRunRow | undefined> {
    const row = await claimLeasedRun(this.db, 'gc_run', id, owner, leaseMs, now);
    return row && toRun(row);
  }

  async progress(id: number, owner: string, leaseMs: number, now: number, phase: GcPhase, counts: GcCounts): Promise<boolean> {
    const result = await this.db
      .updateTable('gc_run')
      .set({ lease_until: now + leaseMs, phase, ...countColumns(counts) })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async finishRun(id: number, owner: string, now: number, status: 'succeeded' | 'failed', counts: GcCounts, error: string | null, preview?: ManifestCandidate[]): Promise<void> {
    await this.db
      .updateTable('gc_run')
      .set({
        status,
        finished_at: now,
        lease_until: null,
        phase: status === 'succeeded' ? 'done' : undefined,
        error,
        preview: preview === undefined ? undefined : JSON.stringify(preview),
        ...countColumns(counts),
      })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .execute();
  }

  async getRun(id: number): Promise<GcRunRow | undefined> {
    const row = await this.db.selectFrom('gc_run').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRun(row);
  }

  async listRuns(page: { offset: number; limit: number }): Promise<{ items: GcRunRow[]; total: number }> {
    const [rows, count] = await Promise.all([
      this.db.selectFrom('gc_run').selectAll().orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute(),
      this.db.selectFrom('gc_run').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { items: rows.map(toRun), total: Number(count.n) };
  }

  async abandonedRuns(now: number): Promise<GcRunRow[]> {
    const rows = await this.db.selectFrom('gc_run').selectAll().where('status', '=', 'running').where('lease_until', '<', now).orderBy('id').execute();
    return rows.map(toRun);
  }

  /** Takes the rows' locks in the caller's transaction (PostgreSQL; on SQLite the transaction already excludes other writers). */
  private async lock(query: { forUpdate(): { execute(): Promise<unknown> }; execute(): Promise<unknown> }): Promise<void> {
    if (this.engine === 'postgres') await query.forUpdate().execute();
  }
}

/** Rows per statement of a dry run's scans of links and blobs. */
const dryRunSlice = 20_000;

/**
 * A manifest garbage collection may take: untouched since `before`; no tag; no index of its
 * repository lists it; and, as a referrer, its subject gone from the repository. Without
 * `untagged`, only such orphaned referrers (a signature whose image was deleted).
 */
function collectableManifest(eb: ExpressionBuilder<GcSchema & { m: Schema['manifest'] }, 'm'>, before: number, untagged: boolean, dryRun = false) {
  const subjectGone = eb.and([
    eb('m.subject_digest', 'is not', null),
    eb.not(
      eb.exists(
        eb
          .selectFrom('manifest as s')
          .select('s.digest')
          .whereRef('s.repository_id', '=', 'm.repository_id')
          .whereRef('s.digest', '=', 'm.subject_digest')
          .where((e) => alive(e, 's', dryRun)),
      ),
    ),
  ]);
  // cosign's tag scheme: a signature (attestation, SBOM) of image sha256:<hex> is tagged sha256-<hex>.sig
  // (.att, .sbom) in the image's repository; once that image is gone, the tag holds nothing up.
  const orphanedCosignTag = (e: ExpressionBuilder<GcSchema & { m: Schema['manifest']; t: Schema['tag'] }, 'm' | 't'>) =>
    e.and([
      e('t.name', 'like', 'sha256-%'),
      e.or([
        e.and([e(sql`length(t.name)`, '=', 75), e.or([e('t.name', 'like', '%.sig'), e('t.name', 'like', '%.att')])]),
        e.and([e(sql`length(t.name)`, '=', 76), e('t.name', 'like', '%.sbom')]),
      ]),
      e.not(
        e.exists(
          e
            .selectFrom('manifest as s')
            .select('s.digest')
            .whereRef('s.repository_id', '=', 'm.repository_id')
            .where('s.digest', '=', sql<string>`'sha256:' || substr(t.name, 8, 64)`)
            .where((x) => alive(x, 's', dryRun)),
        ),
      ),
    ]);
  const tags = () => eb.selectFrom('tag as t').select('t.name').whereRef('t.repository_id', '=', 'm.repository_id').whereRef('t.manifest_digest', '=', 'm.digest');
  const cosignOrphan = eb.exists(tags().where((e) => orphanedCosignTag(e)));
  return eb.and([
    eb('m.touched_at', '<', before),
    alive(eb, 'm', dryRun),
    eb.not(eb.exists(tags().where((e) => e.not(orphanedCosignTag(e))))),
    eb.not(
      eb.exists(
        eb
          .selectFrom('manifest_reference as p')
          .select('p.parent_digest')
          .whereRef('p.repository_id', '=', 'm.repository_id')
          .whereRef('p.child_digest', '=', 'm.digest')
          .where((e) => parentAlive(e, dryRun)),
      ),
    ),
    untagged ? eb.or([eb('m.subject_digest', 'is', null), subjectGone, cosignOrphan]) : eb.or([subjectGone, cosignOrphan]),
  ]);
}

/** A repository's link to a blob no manifest of that repository uses (nor is), linked before `before`. */
function danglingLink(eb: ExpressionBuilder<GcSchema & { l: Schema['repository_blob'] }, 'l'>, before: number, dryRun = false) {
  return eb.and([
    eb('l.created_at', '<', before),
    eb.not(
      eb.exists(
        eb
          .selectFrom('manifest_reference as p')
          .select('p.child_digest')
          .whereRef('p.repository_id', '=', 'l.repository_id')
          .whereRef('p.child_digest', '=', 'l.digest')
          .where((e) => parentAlive(e, dryRun)),
      ),
    ),
    eb.not(
      eb.exists(
        eb
          .selectFrom('manifest as s')
          .select('s.digest')
          .whereRef('s.repository_id', '=', 'l.repository_id')
          .whereRef('s.digest', '=', 'l.digest')
          .where((e) => alive(e, 's', dryRun)),
      ),
    ),
  ]);
}

/** Digests a scan of the blob table is confined to: after `after`, up to `upTo`. */
interface DigestRange {
  after?: string;
  upTo?: string;
}

/**
 * A blob nothing holds: no manifest lists it or is it, no repository links it, no live writer's
 * pin, untouched since `before`. `range` repeats the scan's bounds inside each look-up:
 * PostgreSQL may answer a look-up with a merge join, and without the bound its side of the
 * merge starts at the first digest of the whole table rather than where the scan is.
 */
function unreferencedBlob(eb: ExpressionBuilder<GcSchema & { b: Schema['blob'] }, 'b'>, before: number, now: number, dryRun = false, range: DigestRange = {}) {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the same bound on the digest column of each looked-up table
  const within = <Q extends { where(...args: any[]): Q }>(query: Q, column: string): Q => {
    let bounded = query;
    if (range.after !== undefined) bounded = bounded.where(column, '>', range.after);
    if (range.upTo !== undefined) bounded = bounded.where(column, '<=', range.upTo);
    return bounded;
  };
  return eb.and([
    eb('b.touched_at', '<', before),
    eb.not(eb.exists(within(eb.selectFrom('manifest_reference as p').select('p.child_digest').whereRef('p.child_digest', '=', 'b.digest').where((e) => parentAlive(e, dryRun)), 'p.child_digest'))),
    eb.not(eb.exists(within(eb.selectFrom('manifest as s').select('s.digest').whereRef('s.digest', '=', 'b.digest').where((e) => alive(e, 's', dryRun)), 's.digest'))),
    eb.not(
      eb.exists(
        within(
          eb
            .selectFrom('repository_blob as l')
            .select('l.digest')
            .whereRef('l.digest', '=', 'b.digest')
            .where((e) =>
              dryRun
                ? e.not(e.exists(e.selectFrom('gc_doomed_link as d').select('d.digest').whereRef('d.repository_id', '=', 'l.repository_id').whereRef('d.digest', '=', 'l.digest')))
                : e.lit(true),
            ),
          'l.digest',
        ),
      ),
    ),
    eb.not(eb.exists(eb.selectFrom('blob_pin as pin').select('pin.digest').whereRef('pin.digest', '=', 'b.digest').where('pin.until', '>', now))),
  ]);
}

/**
 * The tables a dry run adds on its own connection: what it has decided would go, so each
 * later step sees the registry as the real run would leave it.
 */
interface GcSchema extends Schema {
  gc_doomed_manifest: { repository_id: number; digest: string };
  gc_doomed_link: { repository_id: number; digest: string };
}

/** In a dry run, a manifest counts only while it is not among those that would go. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- called from queries over different tables; the alias names the manifest
function alive(eb: ExpressionBuilder<any, any>, alias: 'm' | 's', dryRun: boolean) {
  if (!dryRun) return eb.lit(true);
  const e = eb as unknown as ExpressionBuilder<GcSchema, never>;
  return e.not(
    e.exists(
      e
        .selectFrom('gc_doomed_manifest as d')
        .select('d.digest')
        .whereRef('d.repository_id', '=', sql.ref(`${alias}.repository_id`))
        .whereRef('d.digest', '=', sql.ref(`${alias}.digest`)),
    ),
  );
}

/** In a dry run, a reference counts only while its parent manifest is not among those that would go. */
function parentAlive(eb: ExpressionBuilder<GcSchema & { p: Schema['manifest_reference'] }, 'p'>, dryRun: boolean) {
  if (!dryRun) return eb.lit(true);
  return eb.not(eb.exists(eb.selectFrom('gc_doomed_manifest as d').select('d.digest').whereRef('d.repository_id', '=', 'p.repository_id').whereRef('d.digest', '=', 'p.parent_digest')));
}

function countColumns(counts: GcCounts) {
  return {
    manifests_deleted: counts.manifestsDeleted,
    links_deleted: counts.linksDeleted,
    blobs_deleted: counts.blobsDeleted,
    bytes_freed: counts.bytesFreed,
    uploads_expired: counts.uploadsExpired,
  };
}

function toRun(row: Selectable<GcRunTable>): GcRunRow {
  return {
    id: Number(row.id),
    status: row.status as GcRunStatus,
    dryRun: row.dry_run === 1,
    options: JSON.parse(row.options) as GcOptions,
    triggeredBy: row.triggered_by,
    phase: row.phase as GcPhase | null,
    error: row.error,
    preview: row.preview === null ? null : (JSON.parse(row.preview) as ManifestCandidate[]),
    manifestsDeleted: Number(row.manifests_deleted),
    linksDeleted: Number(row.links_deleted),
    blobsDeleted: Number(row.blobs_deleted),
    bytesFreed: Number(row.bytes_freed),
    uploadsExpired: Number(row.uploads_expired),
    createdAt: Number(row.created_at),
    startedAt: row.started_at === null ? null : Number(row.started_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
  };
}

