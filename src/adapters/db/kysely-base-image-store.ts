import type { Kysely } from 'kysely';
import type { Digest } from '../../domain/digest.js';
import type { BaseImageCandidate, BaseImageStore } from '../../ports/base-image-store.js';
import type { Database } from './connect.js';
import type { Schema } from './schema.js';

/** Base-image queries over manifest_reference (one row per manifest and referenced blob; order is not kept). */
export class KyselyBaseImageStore implements BaseImageStore {
  private readonly db: Kysely<Schema>;

  constructor(database: Database) {
    this.db = database.db;
  }

  async candidates(first: Digest, layers: Digest[], limit: number): Promise<BaseImageCandidate[]> {
    if (layers.length === 0) return [];
    const rows = await this.db
      .selectFrom('manifest_reference as r')
      .innerJoin('repository as repo', 'repo.id', 'r.repository_id')
      .select((eb) => ['repo.name as repository', 'r.parent_digest as digest', eb.fn.countAll<number | string>().as('matched')])
      .where('r.child_digest', 'in', layers)
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom('manifest_reference as f')
            .select('f.child_digest')
            .whereRef('f.repository_id', '=', 'r.repository_id')
            .whereRef('f.parent_digest', '=', 'r.parent_digest')
            .where('f.child_digest', '=', first),
        ),
      )
      .groupBy(['repo.name', 'r.parent_digest'])
      .orderBy('matched', 'desc')
      .orderBy('repo.name')
      .orderBy('r.parent_digest')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ repository: r.repository, digest: r.digest as Digest, matched: Number(r.matched) }));
  }

  async repositoriesWith(digest: Digest, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('manifest as m')
      .innerJoin('repository as repo', 'repo.id', 'm.repository_id')
      .select('repo.name')
      .where('m.digest', '=', digest)
      .orderBy('repo.name')
      .limit(limit)
      .execute();
    return rows.map((r) => r.name);
  }
}
