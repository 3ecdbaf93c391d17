import type { Kysely, Selectable } from 'kysely';
import type { Digest } from '../../domain/digest.js';
import type { PolicyName, PolicyStore, RepositoryArtifacts, RetentionReportEntry, RetentionRunRow, RetentionRunStatus, StoredPolicy } from '../../ports/policy-store.js';
import type { Database } from './connect.js';
import type { RetentionRunTable, Schema } from './schema.js';

export class KyselyPolicyStore implements PolicyStore {
  private readonly db: Kysely<Schema>;

  constructor(database: Database) {
    this.db = database.db;
  }

  async getPolicy(projectId: number, name: PolicyName): Promise<StoredPolicy | undefined> {
    const row = await this.db.selectFrom('project_policy').selectAll().where('project_id', '=', projectId).where('name', '=', name).executeTakeFirst();
    return row && { value: JSON.parse(row.value) as unknown, updatedAt: Number(row.updated_at), updatedBy: row.updated_by };
  }

  async putPolicy(projectId: number, name: PolicyName, value: unknown, by: string, now: number): Promise<void> {
    const json = JSON.stringify(value);
    await this.db
      .insertInto('project_policy')
      .values({ project_id: projectId, name, value: json, updated_at: now, updated_by: by })
      .onConflict((oc) => oc.columns(['project_id', 'name']).doUpdateSet({ value: json, updated_at: now, updated_by: by }))
      .execute();
  }

  async retentionArtifacts(project: string): Promise<RepositoryArtifacts[]> {
    // Repositories named `project` or under `project/` (see listProjectRepositories).
    const rows = await this.db
      .selectFrom('manifest as m')
      .innerJoin('repository as r', 'r.id', 'm.repository_id')
      .leftJoin('tag as t', (j) => j.onRef('t.repository_id', '=', 'm.repository_id').onRef('t.manifest_digest', '=', 'm.digest'))
      .select(['r.id', 'r.name', 'm.digest', 'm.created_at', 'm.pulled_at', 't.name as tag', 't.updated_at as tag_updated_at'])
      .where((eb) => eb.or([eb('r.name', '=', project), eb.and([eb('r.name', '>=', `${project}/`), eb('r.name', '<', `${project}0`)])]))
      .where((eb) => eb.not(eb.exists(eb.selectFrom('manifest_reference as p').select('p.parent_digest').whereRef('p.repository_id', '=', 'm.repository_id').whereRef('p.child_digest', '=', 'm.digest'))))
      .where((eb) =>
        eb.or([
          eb('m.subject_digest', 'is', null),
          eb.not(eb.exists(eb.selectFrom('manifest as s').select('s.digest').whereRef('s.repository_id', '=', 'm.repository_id').whereRef('s.digest', '=', 'm.subject_digest'))),
        ]),
      )
      .orderBy('r.name')
      .orderBy('m.digest')
      .execute();
    const byRepository = new Map<number, RepositoryArtifacts>();
    const byDigest = new Map<string, RepositoryArtifacts['artifacts'][number]>();
    for (const row of rows) {
      let repository = byRepository.get(row.id);
      if (!repository) byRepository.set(row.id, (repository = { repositoryId: row.id, repository: row.name, artifacts: [] }));
      const key = `${row.id}@${row.digest}`;
      let artifact = byDigest.get(key);
      if (!artifact) {
        artifact = { digest: row.digest, tags: [], createdAt: Number(row.created_at), pulledAt: row.pulled_at === null ? null : Number(row.pulled_at) };
        byDigest.set(key, artifact);
        repository.artifacts.push(artifact);
      }
      if (row.tag !== null) artifact.tags.push({ name: row.tag, updatedAt: Number(row.tag_updated_at) });
    }
    return [...byRepository.values()];
  }

  async createRetentionRun(projectId: number, dryRun: boolean, triggeredBy: string, now: number): Promise<RetentionRunRow> {
    const row = await this.db
      .insertInto('retention_run')
      .values({ project_id: projectId, status: 'queued', dry_run: dryRun ? 1 : 0, triggered_by: triggeredBy, created_at: now })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toRun(row);
  }

  async startRetentionRun(id: number, now: number): Promise<boolean> {
    const result = await this.db.updateTable('retention_run').set({ status: 'running', started_at: now }).where('id', '=', id).where('status', '=', 'queued').executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async interruptRetentionRun(id: number, now: number): Promise<void> {
    await this.db
      .updateTable('retention_run')
      .set({ status: 'interrupted', finished_at: now, error: 'the process running it stopped; run it again' })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .execute();
  }

  async finishRetentionRun(
    id: number,
    now: number,
    outcome: { status: 'succeeded' | 'failed'; kept: number; deleted: number; report: RetentionReportEntry[]; error: string | null },
  ): Promise<void> {
    await this.db
      .updateTable('retention_run')
      .set({ status: outcome.status, finished_at: now, kept: outcome.kept, deleted: outcome.deleted, report: JSON.stringify(outcome.report.slice(0, 5000)), error: outcome.error })
      .where('id', '=', id)
      .execute();
  }

  async getRetentionRun(id: number): Promise<RetentionRunRow | undefined> {
    const row = await this.db.selectFrom('retention_run').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRun(row);
  }

  async listRetentionRuns(projectId: number, page: { offset: number; limit: number }): Promise<{ items: RetentionRunRow[]; total: number }> {
    const base = this.db.selectFrom('retention_run').where('project_id', '=', projectId);
    const [rows, count] = await Promise.all([
      base.selectAll().orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute(),
      base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    // The list leaves out the reports (large); a run's own page has it.
    return { items: rows.map((r) => ({ ...toRun(r), report: null })), total: Number(count.n) };
  }
}

function toRun(row: Selectable<RetentionRunTable>): RetentionRunRow {
  return {
    id: Number(row.id),
    projectId: Number(row.project_id),
    status: row.status as RetentionRunStatus,
    dryRun: row.dry_run === 1,
    triggeredBy: row.triggered_by,
    kept: Number(row.kept),
    deleted: Number(row.deleted),
    report: row.report === null ? null : (JSON.parse(row.report) as RetentionReportEntry[]).map((e) => ({ ...e, digest: e.digest as Digest })),
    error: row.error,
    createdAt: Number(row.created_at),
    startedAt: row.started_at === null ? null : Number(row.started_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
  };
}
