import type { Kysely, Selectable } from 'kysely';
import type { Digest } from '../../domain/digest.js';
import { BerthError } from '../../domain/errors.js';
import type { Quarantine } from '../../domain/quarantine.js';
import type { QuarantinedObject, ScrubCounts, ScrubDependent, ScrubProblem, ScrubRunRow, ScrubRunStatus, ScrubStore, StoredObject } from '../../ports/scrub-store.js';
import type { Database } from './connect.js';
import { inTransaction } from './transaction.js';
import { claimLeasedRun } from './run-lease.js';
import type { Schema, ScrubRunTable } from './schema.js';

/** Rows per `in (…)` list when looking up what depends on an object. */
const inListChunk = 500;

/** Scrub runs, the objects they check and the quarantine they set (docs/lifecycle.md, "Scrub"). */
export class KyselyScrubStore implements ScrubStore {
  private readonly db: Kysely<Schema>;
  private readonly engine: Database['engine'];

  constructor(database: Database) {
    this.db = database.db;
    this.engine = database.engine;
  }

  async createRun(triggeredBy: string, now: number): Promise<ScrubRunRow> {
    return inTransaction(this.db, async (trx) => {
      // Serialises run creation across instances (PostgreSQL); SQLite transactions already are.
      await trx.insertInto('lifecycle_lock').values({ name: 'scrub' }).onConflict((oc) => oc.column('name').doNothing()).execute();
      const lock = trx.selectFrom('lifecycle_lock').select('name').where('name', '=', 'scrub');
      await (this.engine === 'postgres' ? lock.forUpdate() : lock).execute();
      const active = await trx
        .selectFrom('scrub_run')
        .select(['id', 'status'])
        .where((eb) => eb.or([eb('status', '=', 'queued'), eb.and([eb('status', '=', 'running'), eb('lease_until', '>', now)])]))
        .orderBy('id')
        .executeTakeFirst();
      if (active) throw new BerthError('CONFLICT', { message: `scrub run ${active.id} is already ${active.status}; one run at a time`, detail: { run: Number(active.id) } });
      await trx.updateTable('scrub_run').set({ status: 'interrupted', finished_at: now, lease_until: null }).where('status', '=', 'running').where('lease_until', '<=', now).execute();
      // A run that stopped midway is continued, not started over.
      const last = await trx.selectFrom('scrub_run').select(['id', 'status', 'cursor']).orderBy('id', 'desc').limit(1).executeTakeFirst();
      const resume = last && (last.status === 'interrupted' || last.status === 'failed') && last.cursor !== null ? last : undefined;
      const row = await trx
        .insertInto('scrub_run')
        .values({ status: 'queued', triggered_by: triggeredBy, resumed_from: resume?.id ?? null, cursor: resume?.cursor ?? null, created_at: now })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toRun(row);
    });
  }

  async claimRun(id: number, owner: string, leaseMs: number, now: number): Promise<ScrubRunRow | undefined> {
    const row = await claimLeasedRun(this.db, 'scrub_run', id, owner, leaseMs, now);
    return row && toRun(row);
  }

  async progress(id: number, owner: string, leaseMs: number, now: number, cursor: string | null, counts: ScrubCounts): Promise<boolean> {
    const result = await this.db
      .updateTable('scrub_run')
      .set({ lease_until: now + leaseMs, cursor, ...countColumns(counts) })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async finishRun(id: number, owner: string, now: number, status: 'succeeded' | 'failed', counts: ScrubCounts, error: string | null, report: ScrubProblem[]): Promise<void> {
    await this.db
      .updateTable('scrub_run')
      .set({ status, finished_at: now, lease_until: null, error, report: JSON.stringify(report), ...countColumns(counts) })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .execute();
  }

  async getRun(id: number): Promise<ScrubRunRow | undefined> {
    const row = await this.db.selectFrom('scrub_run').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRun(row);
  }

  async runReport(id: number): Promise<ScrubProblem[] | null> {
    const row = await this.db.selectFrom('scrub_run').select('report').where('id', '=', id).executeTakeFirst();
    return row?.report ? (JSON.parse(row.report) as ScrubProblem[]) : null;
  }

  async listRuns(page: { offset: number; limit: number }): Promise<{ items: ScrubRunRow[]; total: number }> {
    const [rows, count] = await Promise.all([
      this.db.selectFrom('scrub_run').selectAll().orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute(),
      this.db.selectFrom('scrub_run').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { items: rows.map(toRun), total: Number(count.n) };
  }

  async objects(after: string | undefined, limit: number): Promise<StoredObject[]> {
    let query = this.db.selectFrom('blob').select(['digest', 'size', 'touched_at', 'quarantine']).where('deleting', '=', 0).orderBy('digest').limit(limit);
    if (after !== undefined) query = query.where('digest', '>', after);
    const rows = await query.execute();
    return rows.map((r) => ({ digest: r.digest as Digest, size: Number(r.size), touchedAt: Number(r.touched_at), quarantine: r.quarantine as Quarantine | null }));
  }

  async quarantine(object: StoredObject, kind: Quarantine, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('blob')
      .set({ quarantine: kind, quarantined_at: now })
      .where('digest', '=', object.digest)
      .where('touched_at', '=', object.touchedAt)
      .where('deleting', '=', 0)
      .where('quarantine', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async release(digest: Digest): Promise<boolean> {
    const result = await this.db.updateTable('blob').set({ quarantine: null, quarantined_at: null }).where('digest', '=', digest).where('quarantine', 'is not', null).executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async quarantined(page: { offset: number; limit: number }): Promise<{ items: QuarantinedObject[]; total: number }> {
    const base = this.db.selectFrom('blob').where('quarantine', 'is not', null);
    const [rows, count] = await Promise.all([
      base.select(['digest', 'size', 'quarantine', 'quarantined_at']).orderBy('quarantined_at', 'desc').orderBy('digest').limit(page.limit).offset(page.offset).execute(),
      base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return {
      items: rows.map((r) => ({ digest: r.digest as Digest, size: Number(r.size), kind: r.quarantine as Quarantine, quarantinedAt: Number(r.quarantined_at) })),
      total: Number(count.n),
    };
  }

  async dependents(digest: Digest, limit: number): Promise<ScrubDependent[]> {
    // The manifest itself, the manifests that list it (as a layer, config or platform manifest),
    // and the indexes that list those: what a pull of a tag would need.
    const found = new Map<string, { repositoryId: number; digest: string }>();
    const add = (rows: Array<{ repository_id: number; digest: string }>) => {
      for (const r of rows) if (found.size < limit) found.set(`${r.repository_id} ${r.digest}`, { repositoryId: Number(r.repository_id), digest: r.digest });
    };
    add(await this.db.selectFrom('manifest').select(['repository_id', 'digest']).where('digest', '=', digest).limit(limit).execute());
    add(await this.db.selectFrom('manifest_reference').select(['repository_id', 'parent_digest as digest']).where('child_digest', '=', digest).limit(limit).execute());
    const level = [...found.values()];
    for (let i = 0; i < level.length && found.size < limit; i += inListChunk) {
      const chunk = level.slice(i, i + inListChunk);
      const rows = await this.db
        .selectFrom('manifest_reference')
        .select(['repository_id', 'parent_digest as digest', 'child_digest'])
        .where('kind', '=', 'manifest')
        .where(
          'child_digest',
          'in',
          chunk.map((m) => m.digest),
        )
        .limit(limit)
        .execute();
      const wanted = new Set(chunk.map((m) => `${m.repositoryId} ${m.digest}`));
      add(rows.filter((r) => wanted.has(`${r.repository_id} ${r.child_digest}`)));
    }
    const manifests = [...found.values()];
    if (manifests.length === 0) return [];
    const repositoryIds = [...new Set(manifests.map((m) => m.repositoryId))];
    const names = new Map<number, string>();
    const tags = new Map<string, string[]>();
    for (let i = 0; i < repositoryIds.length; i += inListChunk) {
      const ids = repositoryIds.slice(i, i + inListChunk);
      for (const r of await this.db.selectFrom('repository').select(['id', 'name']).where('id', 'in', ids).execute()) names.set(Number(r.id), r.name);
      const rows = await this.db
        .selectFrom('tag')
        .select(['repository_id', 'name', 'manifest_digest'])
        .where('repository_id', 'in', ids)
        .where('manifest_digest', 'in', [...new Set(manifests.map((m) => m.digest))].slice(0, inListChunk))
        .orderBy('name')
        .execute();
      for (const t of rows) {
        const key = `${t.repository_id} ${t.manifest_digest}`;
        tags.set(key, [...(tags.get(key) ?? []), t.name]);
      }
    }
    return manifests
      .map((m) => ({ repository: names.get(m.repositoryId) ?? '', digest: m.digest as Digest, tags: tags.get(`${m.repositoryId} ${m.digest}`) ?? [] }))
      .filter((d) => d.repository !== '')
      .sort((a, b) => a.repository.localeCompare(b.repository) || a.digest.localeCompare(b.digest));
  }
}

function countColumns(counts: ScrubCounts) {
  return { objects_checked: counts.objectsChecked, bytes_checked: counts.bytesChecked, corrupt: counts.corrupt, missing: counts.missing, released: counts.released };
}

function toRun(row: Selectable<ScrubRunTable>): ScrubRunRow {
  return {
    id: Number(row.id),
    status: row.status as ScrubRunStatus,
    triggeredBy: row.triggered_by,
    resumedFrom: row.resumed_from === null ? null : Number(row.resumed_from),
    cursor: row.cursor,
    objectsChecked: Number(row.objects_checked),
    bytesChecked: Number(row.bytes_checked),
    corrupt: Number(row.corrupt),
    missing: Number(row.missing),
    released: Number(row.released),
    error: row.error,
    createdAt: Number(row.created_at),
    startedAt: row.started_at === null ? null : Number(row.started_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
  };
}
