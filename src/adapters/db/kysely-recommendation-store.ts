import type { Kysely, Selectable, Transaction } from 'kysely';
import { projectOf } from '../../domain/names.js';
import type { OutboxEvent } from '../../ports/event-store.js';
import type { SearchScope } from '../../ports/image-index-store.js';
import type { BaseTagMove, HeldImage, RecommendationStore, SlimImage } from '../../ports/recommendation-store.js';
import type { Database } from './connect.js';
import { advanceCursor, readAfterCursor } from './event-cursor.js';
import { insertEvents } from './kysely-metadata-store.js';
import type { BaseTagMoveTable, Schema } from './schema.js';
import { inTransaction } from './transaction.js';

const chunk = 500;

export class KyselyRecommendationStore implements RecommendationStore {
  constructor(private readonly database: Database) {}

  private get db(): Kysely<Schema> {
    return this.database.db;
  }

  async holders(digests: readonly string[], options: { scope?: SearchScope; project?: string; limit: number }): Promise<HeldImage[]> {
    const found = new Map<string, HeldImage & { repositoryId: number }>();
    const key = (repositoryId: number, digest: string) => `${repositoryId}\0${digest}`;
    const unique = [...new Set(digests)];
    for (let i = 0; i < unique.length; i += chunk) {
      const part = unique.slice(i, i + chunk);
      let query = this.db.selectFrom('manifest').innerJoin('repository', 'repository.id', 'manifest.repository_id').select(['repository.name', 'repository.id', 'manifest.digest']).where('manifest.digest', 'in', part);
      // A project's repositories are named `project/...`. LIKE narrows (a `_` in the name matches any
      // character, and SQLite folds case); the exact check below decides.
      if (options.project !== undefined) query = query.where('repository.name', 'like', `${options.project}/%`);
      for (const row of await query.execute()) {
        if (options.project !== undefined && projectOf(row.name) !== options.project) continue;
        if (options.scope !== undefined && options.scope !== 'all' && !options.scope.projects.includes(projectOf(row.name))) continue;
        found.set(key(row.id, row.digest), { repository: row.name, repositoryId: row.id, digest: row.digest, tags: [], indexTags: [] });
      }
      if (found.size === 0) continue;
      const tags = await this.db.selectFrom('tag').select(['repository_id', 'manifest_digest', 'name']).where('manifest_digest', 'in', part).execute();
      for (const t of tags) found.get(key(t.repository_id, t.manifest_digest))?.tags.push(t.name);
      const indexTags = await this.db
        .selectFrom('manifest_reference')
        .innerJoin('tag', (j) => j.onRef('tag.repository_id', '=', 'manifest_reference.repository_id').onRef('tag.manifest_digest', '=', 'manifest_reference.parent_digest'))
        .select(['manifest_reference.repository_id', 'manifest_reference.child_digest', 'tag.name'])
        .where('manifest_reference.child_digest', 'in', part)
        .where('manifest_reference.kind', '=', 'manifest')
        .execute();
      for (const t of indexTags) found.get(key(t.repository_id, t.child_digest))?.indexTags.push(t.name);
    }
    const rows = [...found.values()].map(({ repositoryId: _, ...h }) => ({ ...h, tags: [...new Set(h.tags)].sort(), indexTags: [...new Set(h.indexTags)].sort() }));
    const tagged = (h: HeldImage) => (h.tags.length > 0 ? 0 : h.indexTags.length > 0 ? 1 : 2);
    rows.sort((a, b) => tagged(a) - tagged(b) || a.repository.localeCompare(b.repository) || a.digest.localeCompare(b.digest));
    return rows.slice(0, options.limit);
  }

  async slimmerImages(os: { id: string; versionId?: string }, platform: string, maxBytes: number, limit: number): Promise<SlimImage[]> {
    let query = this.db
      .selectFrom('image_index')
      .select(['digest', 'uncompressed_bytes'])
      .where('status', '=', 'indexed')
      .where('os_id', '=', os.id)
      .where('platform', '=', platform)
      .where('uncompressed_bytes', '<=', maxBytes);
    query = os.versionId === undefined ? query.where('os_version', 'is', null) : query.where('os_version', '=', os.versionId);
    const rows = await query.orderBy('uncompressed_bytes').orderBy('digest').limit(limit).execute();
    if (rows.length === 0) return [];
    const layers = await this.db
      .selectFrom('image_layer')
      .select(['image_digest', 'layer_digest'])
      .where(
        'image_digest',
        'in',
        rows.map((r) => r.digest),
      )
      .orderBy('image_digest')
      .orderBy('position')
      .execute();
    return rows.map((r) => ({ digest: r.digest, uncompressedBytes: Number(r.uncompressed_bytes), layers: layers.filter((l) => l.image_digest === r.digest).map((l) => l.layer_digest) }));
  }

  async tagsNaming(repository: string, digest: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('tag')
      .innerJoin('repository', 'repository.id', 'tag.repository_id')
      .select('tag.name')
      .where('repository.name', '=', repository)
      .where((eb) =>
        eb.or([
          eb('tag.manifest_digest', '=', digest),
          eb(
            'tag.manifest_digest',
            'in',
            eb.selectFrom('manifest_reference').select('manifest_reference.parent_digest').whereRef('manifest_reference.repository_id', '=', 'repository.id').where('manifest_reference.child_digest', '=', digest).where('manifest_reference.kind', '=', 'manifest'),
          ),
        ]),
      )
      .limit(1000)
      .execute();
    return [...new Set(rows.map((r) => r.name))].sort();
  }

  async tagsOf(repository: string): Promise<Array<{ name: string; digest: string }>> {
    const rows = await this.db
      .selectFrom('tag')
      .innerJoin('repository', 'repository.id', 'tag.repository_id')
      .select(['tag.name', 'tag.manifest_digest'])
      .where('repository.name', '=', repository)
      .orderBy('tag.name')
      .limit(10_000)
      .execute();
    return rows.map((r) => ({ name: r.name, digest: r.manifest_digest }));
  }

  async recordMoves(options: { consumer: string; batch: number; now: number }): Promise<{ events: number; recorded: number }> {
    return inTransaction(this.db, async (trx) => {
      const events = await readAfterCursor(trx, this.database.engine, options);
      if (events.length === 0) return { events: 0, recorded: 0 };
      const moves = [];
      for (const event of events) {
        if ((event.type !== 'push' && event.type !== 'tag' && event.type !== 'scan') || event.repository === null) continue;
        const data = JSON.parse(event.payload) as { tag?: unknown; digest?: unknown; previousDigest?: unknown; operator?: unknown; details?: { status?: unknown } };
        if (event.type === 'scan') {
          if (typeof data.digest !== 'string' || data.details?.status !== 'succeeded') continue;
          moves.push({ kind: 'scan', repository: event.repository, tag: '', previous_digest: '', digest: data.digest, operator: 'scanner', moved_at: options.now, done: 0, previous_layers: null });
          continue;
        }
        if (typeof data.tag !== 'string' || typeof data.digest !== 'string' || typeof data.previousDigest !== 'string' || data.previousDigest === data.digest) continue;
        moves.push({
          kind: 'move',
          repository: event.repository,
          tag: data.tag,
          previous_digest: data.previousDigest,
          digest: data.digest,
          operator: typeof data.operator === 'string' ? data.operator : 'system',
          moved_at: options.now,
          done: 0,
          previous_layers: null,
        });
      }
      if (moves.length > 0) await trx.insertInto('base_tag_move').values(moves).execute();
      await advanceCursor(trx, options.consumer, events[events.length - 1]!.id, options.now);
      return { events: events.length, recorded: moves.length };
    });
  }

  async pendingMoves(limit: number): Promise<BaseTagMove[]> {
    const rows = await this.db.selectFrom('base_tag_move').selectAll().where('done', '=', 0).orderBy('id').limit(limit).execute();
    return rows.map(moveOf);
  }

  async completeMove(id: number, previousLayers: string[][], events: readonly OutboxEvent[], now: number, keep: boolean): Promise<boolean> {
    return inTransaction(this.db, async (trx: Transaction<Schema>) => {
      const changed = keep
        ? Number((await trx.updateTable('base_tag_move').set({ done: 1, previous_layers: JSON.stringify(previousLayers) }).where('id', '=', id).where('done', '=', 0).executeTakeFirst()).numUpdatedRows)
        : Number((await trx.deleteFrom('base_tag_move').where('id', '=', id).where('done', '=', 0).executeTakeFirst()).numDeletedRows);
      if (changed === 0) return false;
      await insertEvents(trx, [...events], now);
      return true;
    });
  }

  async keptMoves(afterId: number, limit: number): Promise<BaseTagMove[]> {
    const rows = await this.db.selectFrom('base_tag_move').selectAll().where('kind', '=', 'move').where('done', '=', 1).where('id', '>', afterId).orderBy('id').limit(limit).execute();
    return rows.map(moveOf);
  }

  async deleteMoves(ids: readonly number[]): Promise<number> {
    if (ids.length === 0) return 0;
    const result = await this.db.deleteFrom('base_tag_move').where('id', 'in', [...ids]).where('done', '=', 1).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async movedOn(limit: number): Promise<BaseTagMove[]> {
    const rows = await this.db
      .selectFrom('base_tag_move')
      .innerJoin('repository', 'repository.name', 'base_tag_move.repository')
      .innerJoin('tag', (j) => j.onRef('tag.repository_id', '=', 'repository.id').onRef('tag.name', '=', 'base_tag_move.tag'))
      .selectAll('base_tag_move')
      .where('base_tag_move.kind', '=', 'move')
      .where('base_tag_move.done', '=', 1)
      .whereRef('tag.manifest_digest', '<>', 'base_tag_move.previous_digest')
      .orderBy('base_tag_move.id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(moveOf);
  }

  async movesTo(repository: string, digest: string, limit: number): Promise<BaseTagMove[]> {
    // One query: a scan of any image asks it, and most have no move at all.
    const rows = await this.db
      .selectFrom('base_tag_move')
      .selectAll()
      .where('kind', '=', 'move')
      .where('repository', '=', repository)
      .where((eb) =>
        eb.or([
          eb('digest', '=', digest),
          eb(
            'digest',
            'in',
            eb
              .selectFrom('manifest_reference')
              .innerJoin('repository', 'repository.id', 'manifest_reference.repository_id')
              .select('manifest_reference.parent_digest')
              .where('repository.name', '=', repository)
              .where('manifest_reference.child_digest', '=', digest)
              .where('manifest_reference.kind', '=', 'manifest'),
          ),
        ]),
      )
      .where('done', '=', 1)
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(moveOf);
  }

  /** Indexes of `repository` listing `digest` (a platform of a multi-platform image). */
  private async indexesOf(repository: string, digest: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('manifest_reference')
      .innerJoin('repository', 'repository.id', 'manifest_reference.repository_id')
      .select('manifest_reference.parent_digest')
      .where('repository.name', '=', repository)
      .where('manifest_reference.child_digest', '=', digest)
      .where('manifest_reference.kind', '=', 'manifest')
      .limit(100)
      .execute();
    return rows.map((r) => r.parent_digest);
  }

  async lastMoveFrom(repository: string, digest: string): Promise<BaseTagMove | undefined> {
    // The tag may have named an index listing the image (a platform of a multi-platform base).
    const row = await this.db
      .selectFrom('base_tag_move')
      .selectAll()
      .where('kind', '=', 'move')
      .where('repository', '=', repository)
      .where('previous_digest', 'in', [digest, ...(await this.indexesOf(repository, digest))])
      .where('done', '=', 1)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? moveOf(row) : undefined;
  }
}

function moveOf(row: Selectable<BaseTagMoveTable>): BaseTagMove {
  const move: BaseTagMove = {
    id: Number(row.id),
    kind: row.kind === 'scan' ? 'scan' : 'move',
    repository: row.repository,
    tag: row.tag,
    previousDigest: row.previous_digest,
    digest: row.digest,
    operator: row.operator,
    movedAt: Number(row.moved_at),
  };
  if (row.previous_layers !== null) move.previousLayers = JSON.parse(row.previous_layers) as string[][];
  return move;
}
