import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { Digest } from '../../domain/digest.js';
import type {
  ArtifactSummary,
  BlobRow,
  GroupedReferrer,
  ParentReference,
  ManifestReference,
  RepositorySummary,
  ManifestRow,
  MetadataStore,
  NewManifest,
  Page,
  PinState,
  RepositoryRow,
  TagRow,
  UploadRow,
} from '../../ports/metadata-store.js';
import { MissingReferencesError, RepositoryGoneError, TagMovedError, type ProjectUsage, type PushState, type Quarantine, type QuotaLimits } from '../../ports/metadata-store.js';
import type { ManifestTable, Schema } from './schema.js';
import type { OutboxEvent } from '../../ports/event-store.js';
import type { Database } from './connect.js';
import { inTransaction, isForeignKeyViolation, retried } from './transaction.js';
import { deleteManifestOnPostgres, mountBlobOnPostgres, pinBlobOnPostgres, pushHeldOnPostgres, pushStateOnPostgres, putManifestOnPostgres, tagMovedState, type ManifestColumns, type PutOutcome } from './pg-push.js';
import { likeContains } from './like.js';
import { CachedQuery } from './cached-query.js';
import { projectOf } from '../../domain/names.js';
import { checkQuota, countIn, countInCreated, countOut } from './project-usage.js';
import { sortArtifactsBySemver } from '../../domain/tag-order.js';
import { cosignTagsFor } from '../../domain/artifact-kind.js';

/** SQLite's default limit on bound parameters is far higher; PostgreSQL's is 65535. Stay well below. */
const inListChunk = 500;

/**
 * A manifest of `manifest` that is an artifact of its own (MetadataStore.listArtifacts): not a
 * referrer of a manifest in its repository, not an untagged child of an index there, and not a
 * cosign `sha256-<hex>.sig|.att|.sbom` tag of a manifest there.
 */
const topLevelManifest = sql<boolean>`(
  NOT EXISTS (SELECT 1 FROM manifest s WHERE s.repository_id = manifest.repository_id AND s.digest = manifest.subject_digest)
  AND (
    NOT EXISTS (SELECT 1 FROM manifest_reference r WHERE r.repository_id = manifest.repository_id AND r.child_digest = manifest.digest AND r.kind = 'manifest')
    OR EXISTS (SELECT 1 FROM tag t WHERE t.repository_id = manifest.repository_id AND t.manifest_digest = manifest.digest)
  )
  AND NOT EXISTS (
    SELECT 1 FROM tag c WHERE c.repository_id = manifest.repository_id AND c.manifest_digest = manifest.digest
      AND c.name LIKE 'sha256-%' AND (c.name LIKE '%.sig' OR c.name LIKE '%.att' OR c.name LIKE '%.sbom') AND length(c.name) IN (75, 76)
      AND EXISTS (SELECT 1 FROM manifest n WHERE n.repository_id = c.repository_id AND n.digest = 'sha256:' || substr(c.name, 8, 64))
  )
)`;

export interface MetadataStoreOptions {
  /**
   * A blob's grace period restarts when a client is told it exists, but its row is written at
   * most this often (must be well below the garbage collector's grace period).
   */
  touchIntervalMs?: number;
  /**
   * Told after every transaction that changed (or may have changed) a repository's tags, or
   * deleted it, has ended: caches of repository rows drop it (RepositoryCache).
   */
  onTagsChanged?: (repositoryId: number) => void;
  now?: () => number;
}

export class KyselyMetadataStore implements MetadataStore {
  readonly engine: 'sqlite' | 'postgres';
  private readonly db: Kysely<Schema>;
  private readonly touchIntervalMs: number;
  private readonly now: () => number;
  private readonly onTagsChanged: (repositoryId: number) => void;

  constructor(database: Database, options: MetadataStoreOptions = {}) {
    this.db = database.db;
    this.engine = database.engine;
    this.touchIntervalMs = options.touchIntervalMs ?? 3_600_000;
    this.now = options.now ?? Date.now;
    this.onTagsChanged = options.onTagsChanged ?? (() => undefined);
  }

  /** Whether a row touched at `touchedAt` is due to have its grace period restarted (at most once per touchIntervalMs). */
  private touchDue(touchedAt: number | string, now: number): boolean {
    return Number(touchedAt) < now - this.touchIntervalMs;
  }

  /** Runs a transaction that may change a repository's tags, then says so, committed or not (a spare notice costs one reload). */
  private async changingTags<T>(repositoryId: number, transaction: () => Promise<T>): Promise<T> {
    try {
      return await transaction();
    } finally {
      this.onTagsChanged(repositoryId);
    }
  }

  /**
   * Row locks against garbage collection, on PostgreSQL (SQLite runs one writing transaction at
   * a time, which orders everything already). Shared: a push holding a blob it references;
   * exclusive: the collector marking or deleting it.
   */
  private shared<Q extends { forShare(): Q }>(query: Q): Q {
    return this.engine === 'postgres' ? query.forShare() : query;
  }

  async getRepository(name: string): Promise<RepositoryRow | undefined> {
    const row = await repositoryByName.first(this.db, { name });
    return row && { id: row.id, name: row.name, createdAt: row.created_at, tagVersion: row.tag_version };
  }

  async ensureRepository(name: string): Promise<RepositoryRow> {
    const existing = await this.getRepository(name);
    if (existing) return existing;
    const row = await this.db
      .insertInto('repository')
      .values({ name, created_at: Date.now() })
      .onConflict((oc) => oc.column('name').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (row) return { id: row.id, name: row.name, createdAt: row.created_at, tagVersion: row.tag_version };
    // Created by a concurrent push a moment ago.
    const created = await this.getRepository(name);
    if (!created) throw new Error(`repository ${name} vanished right after it was created`);
    return created;
  }

  async listRepositories(page: Page): Promise<string[]> {
    let query = this.db.selectFrom('repository').select('name').orderBy('name').limit(page.limit);
    if (page.last !== undefined) query = query.where('name', '>', page.last);
    return (await query.execute()).map((r) => r.name);
  }

  async getBlob(digest: Digest): Promise<BlobRow | undefined> {
    const row = await this.db.selectFrom('blob').select(['digest', 'size']).where('digest', '=', digest).where('deleting', '=', 0).where('quarantine', 'is', null).executeTakeFirst();
    return row && { digest: row.digest as Digest, size: row.size };
  }

  async getRepositoryBlob(repositoryId: number, digest: Digest, touch = true): Promise<BlobRow | undefined> {
    const row = await this.db
      .selectFrom('repository_blob')
      .innerJoin('blob', 'blob.digest', 'repository_blob.digest')
      .select(['blob.digest', 'blob.size', 'blob.touched_at', 'blob.quarantine', 'repository_blob.created_at as linked_at'])
      .where('repository_blob.repository_id', '=', repositoryId)
      .where('repository_blob.digest', '=', digest)
      .where('blob.deleting', '=', 0)
      .executeTakeFirst();
    if (!row) return undefined;
    if (row.quarantine !== null) return { digest: row.digest as Digest, size: row.size, quarantine: row.quarantine as Quarantine };
    const now = this.now();
    if (touch && (this.touchDue(row.touched_at, now) || this.touchDue(row.linked_at, now))) {
      // The client may now skip uploading it: the grace periods of the blob and of this
      // repository's link to it start again. Each update wins only while the collector has not
      // taken the row (it marks or deletes under the same row lock), so a "yes" here is never
      // followed by the collector taking what it said yes to.
      const kept = await inTransaction(this.db, async (trx) => {
        const blob = await trx.updateTable('blob').set({ touched_at: now }).where('digest', '=', digest).where('deleting', '=', 0).executeTakeFirst();
        const link = await trx.updateTable('repository_blob').set({ created_at: now }).where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
        return Number(blob.numUpdatedRows) === 1 && Number(link.numUpdatedRows) === 1;
      });
      if (!kept) return undefined;
    }
    return { digest: row.digest as Digest, size: row.size };
  }

  async mountBlob(repositoryId: number, digest: Digest): Promise<BlobRow | undefined> {
    if (this.engine === 'postgres') {
      // One round trip (berth_mount_blob runs the statements below).
      const now = this.now();
      const size = await onRepository(repositoryId, () => retried(() => mountBlobOnPostgres(this.db, { repositoryId, digest, now, touchBefore: now - this.touchIntervalMs })));
      return size === undefined ? undefined : { digest, size };
    }
    return onRepository(repositoryId, () => inTransaction(this.db, async (trx) => {
      const now = this.now();
      // SQLite only (one writing transaction at a time orders it against the collector). Its
      // grace period restarts at most every `touchIntervalMs`, so mounts of one blob into many
      // repositories do not queue on its row.
      const blob = await trx.selectFrom('blob').select(['digest', 'size', 'touched_at']).where('digest', '=', digest).where('deleting', '=', 0).where('quarantine', 'is', null).executeTakeFirst();
      if (!blob) return undefined;
      if (this.touchDue(blob.touched_at, now)) await trx.updateTable('blob').set({ touched_at: now }).where('digest', '=', digest).execute();
      await linkNow(trx, repositoryId, digest, now);
      return { digest: blob.digest as Digest, size: blob.size };
    }));
  }

  async pinBlob(digest: Digest, token: string, until: number): Promise<PinState> {
    // One round trip on PostgreSQL (berth_pin_blob runs the same three statements).
    if (this.engine === 'postgres') return retried(() => pinBlobOnPostgres(this.db, digest, token, until, this.now()));
    return inTransaction(this.db, async (trx) => {
      await insertPin.execute(trx, { digest, token, until });
      // A deletion marked but not carried out is called off: the collector deletes only rows
      // still marked, under the same row lock (docs/lifecycle.md, "Why a push always wins").
      // One being carried out (deleting = 2) is not: its bytes are going now, and the writer waits.
      await callOffDeletion.execute(trx, { digest, now: this.now() });
      const row = await blobState.first(trx, { digest });
      if (row?.deleting === 2) return { quarantined: false, removingSince: Number(row.touched_at) };
      return { quarantined: row !== undefined && row.quarantine !== null };
    });
  }

  async abandonRemoval(digest: Digest, since: number): Promise<boolean> {
    const result = await this.db.deleteFrom('blob').where('digest', '=', digest).where('deleting', '=', 2).where('touched_at', '=', since).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async quarantineBlob(digest: Digest, kind: Quarantine, now: number): Promise<void> {
    await this.db.updateTable('blob').set({ quarantine: kind, quarantined_at: now }).where('digest', '=', digest).where('quarantine', 'is', null).execute();
  }

  async unpinBlob(digest: Digest, token: string): Promise<void> {
    await this.db.deleteFrom('blob_pin').where('digest', '=', digest).where('token', '=', token).execute();
  }

  async linkBlob(repositoryId: number, blob: BlobRow): Promise<void> {
    await onRepository(repositoryId, () =>
      inTransaction(this.db, async (trx) => {
        const now = this.now();
        await trx
          .insertInto('blob')
          .values({ digest: blob.digest, size: blob.size, created_at: now, touched_at: now })
          .onConflict((oc) => oc.column('digest').doUpdateSet({ touched_at: now }))
          .execute();
        await linkNow(trx, repositoryId, blob.digest, now);
      }),
    );
  }

  async unlinkBlob(repositoryId: number, digest: Digest): Promise<boolean> {
    const result = await this.db
      .deleteFrom('repository_blob')
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async missingBlobs(repositoryId: number, digests: Digest[]): Promise<Digest[]> {
    return missingBlobsIn(this.db, repositoryId, digests);
  }

  async createUpload(upload: UploadRow): Promise<void> {
    await onRepository(upload.repositoryId, () =>
      this.db
        .insertInto('upload')
        .values({
          id: upload.id,
          repository_id: upload.repositoryId,
          received: upload.offset,
          started_at: upload.startedAt,
          updated_at: upload.updatedAt,
        })
        .execute(),
    );
  }

  async getUpload(id: string): Promise<UploadRow | undefined> {
    const row = await this.db.selectFrom('upload').selectAll().where('id', '=', id).executeTakeFirst();
    return row && { id: row.id, repositoryId: row.repository_id, offset: row.received, startedAt: row.started_at, updatedAt: row.updated_at };
  }

  async advanceUpload(id: string, from: number, to: number, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('upload')
      .set({ received: to, updated_at: now })
      .where('id', '=', id)
      .where('received', '=', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async deleteUpload(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('upload').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async completeUpload(id: string, repositoryId: number, blob: BlobRow): Promise<void> {
    const linked = await inTransaction(this.db, async (trx) => {
      const now = this.now();
      // Held until commit, so a repository delete waits for this link (and then removes it) or
      // ran before: then the blob is recorded unlinked, for the collector, and never orphaned.
      const exists = trx.selectFrom('repository').select('id').where('id', '=', repositoryId);
      const repository = await (this.engine === 'postgres' ? exists.forKeyShare() : exists).executeTakeFirst();
      // The bytes were just written under the upload's pin, so the row is live (again).
      await trx
        .insertInto('blob')
        .values({ digest: blob.digest, size: blob.size, created_at: now, touched_at: now })
        .onConflict((oc) => oc.column('digest').doUpdateSet({ touched_at: now, deleting: 0, quarantine: null, quarantined_at: null }))
        .execute();
      await trx.deleteFrom('blob_pin').where('digest', '=', blob.digest).where('token', '=', id).execute();
      if (repository) await linkNow(trx, repositoryId, blob.digest, now);
      await trx.deleteFrom('upload').where('id', '=', id).execute();
      return repository !== undefined;
    });
    if (!linked) throw new RepositoryGoneError(repositoryId);
  }

  async staleUploads(before: number, limit: number): Promise<UploadRow[]> {
    const rows = await this.db.selectFrom('upload').selectAll().where('updated_at', '<', before).orderBy('updated_at').limit(limit).execute();
    return rows.map((row) => ({ id: row.id, repositoryId: row.repository_id, offset: row.received, startedAt: row.started_at, updatedAt: row.updated_at }));
  }

  async getManifest(repositoryId: number, digest: Digest): Promise<ManifestRow | undefined> {
    const row = await this.db
      .selectFrom('manifest')
      .selectAll()
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return row && toManifestRow(row);
  }

  async getTaggedManifest(repositoryId: number, tag: string): Promise<ManifestRow | undefined> {
    const row = await this.db
      .selectFrom('tag')
      .innerJoin('manifest', (join) =>
        join.onRef('manifest.repository_id', '=', 'tag.repository_id').onRef('manifest.digest', '=', 'tag.manifest_digest'),
      )
      .selectAll('manifest')
      .where('tag.repository_id', '=', repositoryId)
      .where('tag.name', '=', tag)
      .executeTakeFirst();
    return row && toManifestRow(row);
  }

  async pushState(
    repositoryId: number,
    digest: Digest,
    tag: string | undefined,
    references: { blobs: Digest[]; manifests: Digest[] },
    pin?: { token: string; until: number },
  ): Promise<PushState> {
    if (this.engine === 'postgres') {
      return retried(() => pushStateOnPostgres(this.db, { repositoryId, digest, tag, blobs: references.blobs, manifests: references.manifests, pin, now: this.now() }));
    }
    const state = await this.readPushState(repositoryId, digest, tag, references);
    if (pin && !state.held && state.missingBlobs.length === 0 && state.missingManifests.length === 0) state.pinned = await this.pinBlob(digest, pin.token, pin.until);
    return state;
  }

  private async readPushState(repositoryId: number, digest: Digest, tag: string | undefined, references: { blobs: Digest[]; manifests: Digest[] }): Promise<PushState> {
    const [blobs, moreBlobs] = [references.blobs.slice(0, inListChunk), references.blobs.slice(inListChunk)];
    const [manifests, moreManifests] = [references.manifests.slice(0, inListChunk), references.manifests.slice(inListChunk)];
    const rows = await pushStateRows.rows(this.db, { repositoryId, digest, tag, blobs, manifests });
    const present = (what: string) => new Set(rows.filter((r) => r.what === what).map((r) => r.digest));
    const [blobsPresent, manifestsPresent] = [present('blob'), present('manifest')];
    return {
      held: rows.some((r) => r.what === 'held'),
      tagged: rows.find((r) => r.what === 'tag')?.digest as Digest | undefined,
      missingBlobs: [...blobs.filter((d) => !blobsPresent.has(d)), ...(moreBlobs.length > 0 ? await this.missingBlobs(repositoryId, moreBlobs) : [])],
      missingManifests: [...manifests.filter((d) => !manifestsPresent.has(d)), ...(moreManifests.length > 0 ? await this.missingManifests(repositoryId, moreManifests) : [])],
    };
  }

  async missingManifests(repositoryId: number, digests: Digest[]): Promise<Digest[]> {
    const present = new Set<string>();
    for (const chunk of chunks(digests)) {
      const rows = await this.db
        .selectFrom('manifest')
        .select('digest')
        .where('repository_id', '=', repositoryId)
        .where('digest', 'in', chunk)
        .execute();
      for (const row of rows) present.add(row.digest);
    }
    return digests.filter((d) => !present.has(d));
  }

  async putManifest(
    manifest: NewManifest,
    tag: string | undefined,
    now: number,
    events: OutboxEvent[] = [],
    options: { pin?: string; tagMustNotMove?: boolean; quota?: QuotaLimits; repositoryName?: string } = {},
  ): Promise<void> {
    const { pin } = options;
    if (this.engine === 'postgres' && options.repositoryName !== undefined) {
      const repositoryName = options.repositoryName;
      const put = () => onRepository(manifest.repositoryId, () => this.putManifestOnPostgres(manifest, repositoryName, tag, now, events, options));
      await (tag === undefined ? put() : this.changingTags(manifest.repositoryId, put));
      return;
    }
    const write = () => onRepository(manifest.repositoryId, () => inTransaction(this.db, async (trx) => {
      // Rows every push to the project or repository shares (the project's usage row, the digests'
      // project_blob rows, the repository row) are locked last, in that order, so concurrent
      // pushes wait for each other over the last few statements only (docs/lifecycle.md, "One lock order").
      await this.holdReferences(trx, manifest);
      await this.recordContent(trx, manifest.digest, manifest.size, now);
      if (pin !== undefined) await deletePin.execute(trx, { digest: manifest.digest, token: pin });
      // Pushed again: its grace period starts again (it may be untagged, and about to be referenced).
      const inserted = await insertManifest.first(trx, { ...manifestColumns(manifest), now });
      // Created by this statement (an existing row keeps its earlier created_at): its references are new too.
      const isNew = inserted !== undefined && Number(inserted.created_at) === now;
      if (isNew && manifest.references.length > 0) {
        for (const chunk of chunks(manifest.references, 200)) {
          await insertReferences.execute(trx, { repositoryId: manifest.repositoryId, parent: manifest.digest, children: chunk.map((r) => r.digest), kinds: chunk.map((r) => r.kind) });
        }
      }
      events = markCreated(events, manifest.digest, isNew);
      await insertEvents(trx, events, now);
      const referenced = [...new Set(manifest.references.map((r) => r.digest))];
      if (isNew) {
        // Quota events (80% and 100% reached) follow the push's own.
        const counted = [...events];
        if (options.repositoryName === undefined) await countIn(trx, manifest.repositoryId, [manifest.digest], options.quota, counted);
        else await countInCreated(trx, options.repositoryName, manifest.digest, referenced, options.quota, counted);
        await insertEvents(trx, counted.slice(events.length), now);
      }
      await this.pointTag(trx, manifest.repositoryId, manifest.digest, tag, now, options);
    }));
    await (tag === undefined ? write() : this.changingTags(manifest.repositoryId, write));
  }

  /**
   * putManifest on PostgreSQL: one call of berth_put_manifest (pg-push.ts), on its own when the
   * project has no quota, else in a transaction that checks the quota and adds its threshold
   * events, or rolls the push back.
   */
  private async putManifestOnPostgres(
    manifest: NewManifest,
    repositoryName: string,
    tag: string | undefined,
    now: number,
    events: OutboxEvent[],
    options: { pin?: string; tagMustNotMove?: boolean; quota?: QuotaLimits },
  ): Promise<void> {
    const distinct = (kind: 'blob' | 'manifest') => [...new Set(manifest.references.filter((r) => r.kind === kind).map((r) => r.digest))].sort();
    const project = projectOf(repositoryName);
    const push = {
      ...manifestColumns(manifest),
      project,
      blobs: distinct('blob'),
      manifests: distinct('manifest'),
      references: manifest.references,
      counted: [...new Set([manifest.digest, ...manifest.references.map((r) => r.digest)])].sort(),
      pin: options.pin ?? null,
      now,
      touchBefore: now - this.touchIntervalMs,
      tag: tag ?? null,
      tagMustNotMove: options.tagMustNotMove === true,
      events: { created: markCreated(events, manifest.digest, true), existing: markCreated(events, manifest.digest, false) },
    };
    const check = (outcome: PutOutcome) => {
      if (outcome.missingBlobs.length > 0 || outcome.missingManifests.length > 0) throw new MissingReferencesError(outcome.missingBlobs, outcome.missingManifests);
    };
    try {
      const limits = options.quota;
      if (limits === undefined) {
        check(await retried(() => putManifestOnPostgres(this.db, push)));
        return;
      }
      await inTransaction(this.db, async (trx) => {
        const outcome = await putManifestOnPostgres(trx, push);
        check(outcome);
        if (!outcome.usage) return;
        const counted = [...events];
        checkQuota({ project, repository: repositoryName }, outcome.usage.added, 1, outcome.usage, limits, counted);
        await insertEvents(trx, counted.slice(events.length), now);
      });
    } catch (err) {
      throw tagMovedFrom(err, tag);
    }
  }

  async pushHeldManifest(
    repositoryId: number,
    digest: Digest,
    tag: string | undefined,
    now: number,
    events: OutboxEvent[] = [],
    options: { tagMustNotMove?: boolean; repositoryName?: string } = {},
  ): Promise<boolean> {
    if (this.engine === 'postgres') {
      const push = () =>
        onRepository(repositoryId, () =>
          retried(() =>
            pushHeldOnPostgres(this.db, {
              repositoryId,
              digest,
              now,
              touchBefore: now - this.touchIntervalMs,
              tag: tag ?? null,
              tagMustNotMove: options.tagMustNotMove === true,
              events: markCreated(events, digest, false),
            }),
          ),
        ).catch((err: unknown) => {
          throw tagMovedFrom(err, tag);
        });
      return tag === undefined ? push() : this.changingTags(repositoryId, push);
    }
    const write = () => onRepository(repositoryId, () => inTransaction(this.db, async (trx) => {
      // SQLite only (PostgreSQL runs berth_push_held): one writing transaction at a time orders it against the collector.
      const content = await trx.selectFrom('blob').select(['touched_at', 'deleting', 'quarantine']).where('digest', '=', digest).executeTakeFirst();
      if (!content || content.deleting !== 0 || content.quarantine !== null) return false;
      // Pushed again: its grace period starts again, as in putManifest.
      const held = await trx.updateTable('manifest').set({ touched_at: now }).where('repository_id', '=', repositoryId).where('digest', '=', digest).returning('digest').executeTakeFirst();
      if (!held) return false;
      if (this.touchDue(content.touched_at, now)) await trx.updateTable('blob').set({ touched_at: now }).where('digest', '=', digest).execute();
      await insertEvents(trx, markCreated(events, digest, false), now);
      await this.pointTag(trx, repositoryId, digest, tag, now, options);
      return true;
    }));
    return tag === undefined ? write() : this.changingTags(repositoryId, write);
  }

  /**
   * Points `tag` (when given) at a manifest the transaction did not create; with `tagMustNotMove`,
   * a TagMovedError when it points at another.
   */
  private async pointTag(
    trx: Transaction<Schema>,
    repositoryId: number,
    digest: Digest,
    tag: string | undefined,
    now: number,
    options: { tagMustNotMove?: boolean },
  ): Promise<void> {
    if (tag === undefined) return;
    await bumpTagVersion(trx, repositoryId);
    if (options.tagMustNotMove) {
      const current = await trx.selectFrom('tag').select('manifest_digest').where('repository_id', '=', repositoryId).where('name', '=', tag).executeTakeFirst();
      if (current && current.manifest_digest !== digest) throw new TagMovedError(tag, current.manifest_digest as Digest);
    }
    await upsertTag.execute(trx, { repositoryId, tag, digest, now });
  }

  /** A manifest row's lock, taken before the repository row's (PostgreSQL; SQLite orders writers already). */
  private async lockManifest(trx: Transaction<Schema>, repositoryId: number, digest: Digest): Promise<void> {
    if (this.engine === 'postgres') await trx.selectFrom('manifest').select('digest').where('repository_id', '=', repositoryId).where('digest', '=', digest).forUpdate().execute();
  }

  /**
   * The repository row's lock, taken by every transaction that changes tags, after the manifest
   * and usage rows it changes (PostgreSQL). `FOR NO KEY UPDATE`, as the tag version bump takes it:
   * it waits for other tag changes, not for pushes that merely insert rows referring to the
   * repository (their foreign keys hold `FOR KEY SHARE` from their first insert on). Deleting the
   * repository takes `FOR UPDATE` (`whole`), which waits for those too.
   */
  private async lockRepository(trx: Transaction<Schema>, repositoryId: number, whole = false): Promise<void> {
    if (this.engine !== 'postgres') return;
    const row = trx.selectFrom('repository').select('id').where('id', '=', repositoryId);
    await (whole ? row.forUpdate() : row.forNoKeyUpdate()).execute();
  }

  /**
   * Inside putManifest's transaction: the manifest's own content row, created, or held (shared)
   * against the collector when it exists. It is written (an exclusive lock every push of the same
   * content would queue on) only when new, not touched for `touchIntervalMs`, marked for
   * deletion or quarantined.
   */
  private async recordContent(trx: Transaction<Schema>, digest: Digest, size: number, now: number): Promise<void> {
    const created = await insertContent.first(trx, { digest, size, now });
    if (created) return;
    const row = await this.shared(trx.selectFrom('blob').select(['touched_at', 'deleting', 'quarantine']).where('digest', '=', digest)).executeTakeFirst();
    if (row && row.deleting === 0 && row.quarantine === null && !this.touchDue(row.touched_at, now)) return;
    await trx
      .insertInto('blob')
      .values({ digest, size, created_at: now, touched_at: now })
      .onConflict((oc) => oc.column('digest').doUpdateSet({ touched_at: now, deleting: 0, quarantine: null, quarantined_at: null }))
      .execute();
  }

  /**
   * Inside putManifest's transaction: every referenced blob is linked into the repository and
   * not being deleted, every referenced manifest is in it; each row held (shared lock) so the
   * collector cannot mark it until this commits, and sees the new reference when it does.
   */
  private async holdReferences(trx: Transaction<Schema>, manifest: NewManifest): Promise<void> {
    const blobs = [...new Set(manifest.references.filter((r) => r.kind === 'blob').map((r) => r.digest))].sort();
    const manifests = [...new Set(manifest.references.filter((r) => r.kind === 'manifest').map((r) => r.digest))].sort();
    const missingBlobs = await missingBlobsIn(trx, manifest.repositoryId, blobs, (q) => this.shared(q));
    const present = new Set<string>();
    for (const chunk of chunks(manifests)) {
      const rows = await this.shared(trx.selectFrom('manifest').select('digest').where('repository_id', '=', manifest.repositoryId).where('digest', 'in', chunk)).execute();
      for (const row of rows) present.add(row.digest);
    }
    const missingManifests = manifests.filter((d) => !present.has(d));
    if (missingBlobs.length > 0 || missingManifests.length > 0) throw new MissingReferencesError(missingBlobs, missingManifests);
  }

  async deleteManifest(repositoryId: number, digest: Digest, events: OutboxEvent[] = []): Promise<boolean> {
    // One round trip on PostgreSQL (berth_delete_manifest).
    if (this.engine === 'postgres') return this.changingTags(repositoryId, () => retried(() => deleteManifestOnPostgres(this.db, { repositoryId, digest, now: Date.now(), events })));
    return this.changingTags(repositoryId, () => inTransaction(this.db, async (trx) => {
      // SQLite only: one writing transaction at a time, so no row locks to order.
      await countOut(trx, repositoryId, [digest]);
      const untagged = await deleteTagsOf.execute(trx, { repositoryId, digest });
      if (Number(untagged.numAffectedRows ?? 0) > 0) await bumpTagVersion(trx, repositoryId);
      await deleteReferencesOf.execute(trx, { repositoryId, digest });
      const result = await deleteManifestRow.execute(trx, { repositoryId, digest });
      const deleted = Number(result.numAffectedRows ?? 0) > 0;
      if (deleted) await insertEvents(trx, events, Date.now());
      return deleted;
    }));
  }

  async deleteTag(repositoryId: number, tag: string, events: OutboxEvent[] = []): Promise<boolean> {
    return this.changingTags(repositoryId, () => inTransaction(this.db, async (trx) => {
      await this.lockRepository(trx, repositoryId);
      const result = await trx.deleteFrom('tag').where('repository_id', '=', repositoryId).where('name', '=', tag).executeTakeFirst();
      const deleted = Number(result.numDeletedRows) > 0;
      if (deleted) {
        await bumpTagVersion(trx, repositoryId);
        await insertEvents(trx, events, Date.now());
      }
      return deleted;
    }));
  }

  async listTags(repositoryId: number, page: Page): Promise<string[]> {
    let query = this.db.selectFrom('tag').select('name').where('repository_id', '=', repositoryId).orderBy('name').limit(page.limit);
    if (page.last !== undefined) query = query.where('name', '>', page.last);
    return (await query.execute()).map((r) => r.name);
  }

  async allTags(repositoryId: number): Promise<TagRow[]> {
    const rows = await this.db.selectFrom('tag').select(['name', 'manifest_digest', 'updated_at']).where('repository_id', '=', repositoryId).orderBy('name').execute();
    return rows.map((r) => ({ name: r.name, digest: r.manifest_digest as Digest, updatedAt: Number(r.updated_at) }));
  }

  async tagsOf(repositoryId: number, digest: Digest): Promise<TagRow[]> {
    const rows = await this.db
      .selectFrom('tag')
      .select(['name', 'manifest_digest', 'updated_at'])
      .where('repository_id', '=', repositoryId)
      .where('manifest_digest', '=', digest)
      .orderBy('name')
      .execute();
    return rows.map((r) => ({ name: r.name, digest: r.manifest_digest as Digest, updatedAt: r.updated_at }));
  }

  async listReferrers(repositoryId: number, subject: Digest, artifactType?: string): Promise<ManifestRow[]> {
    let query = this.db
      .selectFrom('manifest')
      .selectAll()
      .where('repository_id', '=', repositoryId)
      .where('subject_digest', '=', subject)
      .orderBy('created_at')
      .orderBy('digest');
    if (artifactType !== undefined) query = query.where('artifact_type', '=', artifactType);
    return (await query.execute()).map(toManifestRow);
  }

  async listParents(repositoryId: number, child: Digest, limit: number): Promise<Digest[]> {
    const rows = await this.db
      .selectFrom('manifest_reference')
      .select('parent_digest')
      .where('repository_id', '=', repositoryId)
      .where('child_digest', '=', child)
      .orderBy('parent_digest')
      .limit(limit)
      .execute();
    return rows.map((r) => r.parent_digest as Digest);
  }

  async listProjectRepositories(
    project: string,
    page: { offset: number; limit: number; nameContains?: string },
  ): Promise<{ items: RepositorySummary[]; total: number }> {
    // '/' is 0x2F and '0' is 0x30: names in [project/, project0) are exactly those under project/.
    let base = this.db
      .selectFrom('repository')
      .where((eb) => eb.or([eb('name', '=', project), eb.and([eb('name', '>=', `${project}/`), eb('name', '<', `${project}0`)])]));
    if (page.nameContains) base = base.where(likeContains(this.engine, 'repository.name', page.nameContains));
    const [rows, count] = await Promise.all([
      base
        .select((eb) => [
          'repository.id',
          'repository.name',
          'repository.created_at',
          eb.selectFrom('manifest').whereRef('manifest.repository_id', '=', 'repository.id').where(topLevelManifest).select((m) => m.fn.countAll<number>().as('n')).as('artifacts'),
          eb.selectFrom('tag').whereRef('tag.repository_id', '=', 'repository.id').select((t) => t.fn.countAll<number>().as('n')).as('tags'),
          eb.selectFrom('manifest').whereRef('manifest.repository_id', '=', 'repository.id').select((m) => m.fn.max('created_at').as('t')).as('pushed'),
          eb.selectFrom('tag').whereRef('tag.repository_id', '=', 'repository.id').select((t) => t.fn.max('updated_at').as('t')).as('tagged'),
        ])
        .orderBy('repository.name')
        .limit(page.limit)
        .offset(page.offset)
        .execute(),
      base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return {
      items: rows.map((r) => ({
        id: r.id,
        name: r.name,
        createdAt: r.created_at,
        artifactCount: Number(r.artifacts ?? 0),
        tagCount: Number(r.tags ?? 0),
        updatedAt: Math.max(Number(r.pushed ?? 0), Number(r.tagged ?? 0), r.created_at),
      })),
      total: Number(count.n),
    };
  }

  async deleteRepository(repositoryId: number, events: OutboxEvent[] = []): Promise<string[]> {
    return this.changingTags(repositoryId, () => inTransaction(this.db, async (trx) => {
      // Repository, manifests, then links, in the order the collector and pushes take them.
      await this.lockRepository(trx, repositoryId, true);
      if (this.engine === 'postgres') {
        await trx.selectFrom('manifest').select('digest').where('repository_id', '=', repositoryId).orderBy('digest').forUpdate().execute();
        await trx.selectFrom('repository_blob').select('digest').where('repository_id', '=', repositoryId).orderBy('digest').forUpdate().execute();
      }
      await insertEvents(trx, events, Date.now());
      await countOut(trx, repositoryId, 'all');
      await trx.deleteFrom('tag').where('repository_id', '=', repositoryId).execute();
      await trx.deleteFrom('manifest_reference').where('repository_id', '=', repositoryId).execute();
      await trx.deleteFrom('manifest').where('repository_id', '=', repositoryId).execute();
      await trx.deleteFrom('repository_blob').where('repository_id', '=', repositoryId).execute();
      const uploads = await trx.deleteFrom('upload').where('repository_id', '=', repositoryId).returning('id').execute();
      await trx.deleteFrom('repository').where('id', '=', repositoryId).execute();
      return uploads.map((u) => u.id);
    }));
  }

  async listArtifacts(
    repositoryId: number,
    page: { offset: number; limit: number; taggedOnly?: boolean; order?: 'pushed' | 'semver' },
  ): Promise<{ items: ArtifactSummary[]; total: number }> {
    let base = this.db.selectFrom('manifest').where('manifest.repository_id', '=', repositoryId).where(topLevelManifest);
    if (page.taggedOnly) {
      base = base.where((eb) =>
        eb.exists(eb.selectFrom('tag').select('tag.name').whereRef('tag.repository_id', '=', 'manifest.repository_id').whereRef('tag.manifest_digest', '=', 'manifest.digest')),
      );
    }
    if (page.order === 'semver') {
      // Semver precedence is no SQL order: digests, push times and tag names are read once (a few
      // hundred kilobytes at 10,000 tags), ordered in memory, and only the page's rows read in full.
      const [heads, tagRows] = await Promise.all([
        base.select(['manifest.digest', 'manifest.created_at']).execute(),
        this.db.selectFrom('tag').select(['name', 'manifest_digest']).where('repository_id', '=', repositoryId).execute(),
      ]);
      const tagsByDigest = new Map<string, string[]>();
      for (const t of tagRows) {
        const names = tagsByDigest.get(t.manifest_digest);
        if (names) names.push(t.name);
        else tagsByDigest.set(t.manifest_digest, [t.name]);
      }
      const ordered = sortArtifactsBySemver(heads.map((h) => ({ digest: h.digest, pushedAt: Number(h.created_at), tags: tagsByDigest.get(h.digest) ?? [] })));
      const wanted = ordered.slice(page.offset, page.offset + page.limit);
      const rows = wanted.length
        ? await this.db.selectFrom('manifest').selectAll().where('repository_id', '=', repositoryId).where('digest', 'in', wanted.map((w) => w.digest)).execute()
        : [];
      const byDigest = new Map(rows.map((r) => [r.digest, r]));
      const items = wanted.flatMap((w) => {
        const row = byDigest.get(w.digest);
        return row ? [{ ...toManifestRow(row), tags: [...w.tags].sort() }] : []; // deleted between the two reads
      });
      return { items, total: heads.length };
    }
    const [rows, count] = await Promise.all([
      base.selectAll('manifest').orderBy('manifest.created_at', 'desc').orderBy('manifest.digest').limit(page.limit).offset(page.offset).execute(),
      base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    const tags = new Map<string, string[]>();
    if (rows.length > 0) {
      const tagRows = await this.db
        .selectFrom('tag')
        .select(['name', 'manifest_digest'])
        .where('repository_id', '=', repositoryId)
        .where(
          'manifest_digest',
          'in',
          rows.map((r) => r.digest),
        )
        .orderBy('name')
        .execute();
      for (const t of tagRows) {
        const names = tags.get(t.manifest_digest);
        if (names) names.push(t.name); // not a copy per tag: one artifact may carry 10,000 tags
        else tags.set(t.manifest_digest, [t.name]);
      }
    }
    return { items: rows.map((r) => ({ ...toManifestRow(r), tags: tags.get(r.digest) ?? [] })), total: Number(count.n) };
  }

  async referencesOf(repositoryId: number, parents: Digest[]): Promise<ParentReference[]> {
    const out: ParentReference[] = [];
    for (const chunk of chunks([...new Set(parents)])) {
      const rows = await this.db
        .selectFrom('manifest_reference')
        .leftJoin('blob', 'blob.digest', 'manifest_reference.child_digest')
        .select(['manifest_reference.parent_digest', 'manifest_reference.child_digest', 'manifest_reference.kind', 'blob.size'])
        .where('manifest_reference.repository_id', '=', repositoryId)
        .where('manifest_reference.parent_digest', 'in', chunk)
        .execute();
      for (const r of rows) out.push({ parent: r.parent_digest as Digest, digest: r.child_digest as Digest, kind: r.kind, size: r.size === null ? null : Number(r.size) });
    }
    return out;
  }

  async groupedReferrers(repositoryId: number, subjects: Digest[]): Promise<GroupedReferrer[]> {
    const found = new Map<string, GroupedReferrer>();
    for (const chunk of chunks([...new Set(subjects)])) {
      const rows = await this.db.selectFrom('manifest').selectAll().where('repository_id', '=', repositoryId).where('subject_digest', 'in', chunk).execute();
      for (const row of rows) found.set(`${row.subject_digest}@${row.digest}`, { subject: row.subject_digest as Digest, manifest: toManifestRow(row) });
    }
    const byTag = new Map(subjects.flatMap((subject) => cosignTagsFor(subject).map((tag) => [tag, subject] as const)));
    for (const chunk of chunks([...byTag.keys()])) {
      const rows = await this.db
        .selectFrom('tag')
        .innerJoin('manifest', (join) => join.onRef('manifest.repository_id', '=', 'tag.repository_id').onRef('manifest.digest', '=', 'tag.manifest_digest'))
        .selectAll('manifest')
        .select('tag.name as tag_name')
        .where('tag.repository_id', '=', repositoryId)
        .where('tag.name', 'in', chunk)
        .execute();
      for (const { tag_name, ...row } of rows) {
        const subject = byTag.get(tag_name)!;
        const key = `${subject}@${row.digest}`;
        if (!found.has(key)) found.set(key, { subject, manifest: toManifestRow(row), cosignTag: tag_name });
      }
    }
    return [...found.values()].sort((a, b) => a.manifest.createdAt - b.manifest.createdAt || (a.manifest.digest < b.manifest.digest ? -1 : 1));
  }

  async manifestReferences(repositoryId: number, digest: Digest): Promise<Array<ManifestReference & { size: number | null }>> {
    const rows = await this.db
      .selectFrom('manifest_reference')
      .leftJoin('blob', 'blob.digest', 'manifest_reference.child_digest')
      .select(['manifest_reference.child_digest', 'manifest_reference.kind', 'blob.size'])
      .where('manifest_reference.repository_id', '=', repositoryId)
      .where('manifest_reference.parent_digest', '=', digest)
      .execute();
    return rows.map((r) => ({ digest: r.child_digest as Digest, kind: r.kind, size: r.size ?? null }));
  }

  async recordPulls(pulls: Array<{ repository: string; digest: Digest; at: number }>): Promise<void> {
    if (pulls.length === 0) return;
    // One UPDATE per manifest pulled in the batch, however often it was pulled.
    const latest = new Map<string, { repository: string; digest: Digest; at: number; count: number }>();
    for (const pull of pulls) {
      const key = `${pull.repository}@${pull.digest}`;
      const seen = latest.get(key);
      latest.set(key, { ...pull, at: Math.max(seen?.at ?? pull.at, pull.at), count: (seen?.count ?? 0) + 1 });
    }
    await inTransaction(this.db, async (trx) => {
      for (const pull of latest.values()) {
        const at = sql<number>`CAST(${pull.at} AS bigint)`;
        await trx
          .updateTable('manifest')
          .set((eb) => ({
            pull_count: eb('pull_count', '+', pull.count),
            // Another instance's batch may have recorded a later pull already.
            pulled_at: sql<number>`CASE WHEN pulled_at IS NULL OR pulled_at < ${at} THEN ${at} ELSE pulled_at END`,
          }))
          .where('repository_id', '=', (eb) => eb.selectFrom('repository').select('id').where('name', '=', pull.repository))
          .where('digest', '=', pull.digest)
          .execute();
      }
    });
  }

  async deleteManifestIfTagged(repositoryId: number, digest: Digest, tags: string[], events: OutboxEvent[] = []): Promise<boolean> {
    const expected = [...tags].sort();
    const tagsOf = async (trx: Transaction<Schema>) => (await trx.selectFrom('tag').select('name').where('repository_id', '=', repositoryId).where('manifest_digest', '=', digest).execute()).map((t) => t.name).sort();
    const asExpected = (now: string[]) => now.length === expected.length && now.every((t, i) => t === expected[i]);
    try {
      return await this.changingTags(repositoryId, () => inTransaction(this.db, async (trx) => {
        // The manifest row, the usage rows, then the repository row (docs/lifecycle.md, "One lock order").
        await this.lockManifest(trx, repositoryId, digest);
        if (!asExpected(await tagsOf(trx))) return false;
        await countOut(trx, repositoryId, [digest]);
        await this.lockRepository(trx, repositoryId);
        // Looked at again under the repository row's lock, which every tag change takes.
        const now = await tagsOf(trx);
        if (!asExpected(now)) throw new TagsChangedMeanwhile();
        if (now.length > 0) {
          await trx.deleteFrom('tag').where('repository_id', '=', repositoryId).where('manifest_digest', '=', digest).execute();
          await bumpTagVersion(trx, repositoryId);
        }
        await trx.deleteFrom('manifest_reference').where('repository_id', '=', repositoryId).where('parent_digest', '=', digest).execute();
        const result = await trx.deleteFrom('manifest').where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
        const deleted = Number(result.numDeletedRows) > 0;
        if (deleted) await insertEvents(trx, events, Date.now());
        return deleted;
      }));
    } catch (err) {
      if (err instanceof TagsChangedMeanwhile) return false;
      throw err;
    }
  }

  async projectUsage(projects: string[]): Promise<Map<string, ProjectUsage>> {
    const usage = new Map<string, ProjectUsage>();
    for (const chunk of chunks(projects)) {
      const rows = await this.db.selectFrom('project_usage').select(['project', 'bytes', 'artifacts']).where('project', 'in', chunk).execute();
      for (const r of rows) usage.set(r.project, { bytes: Number(r.bytes), artifacts: Number(r.artifacts) });
    }
    return usage;
  }

  async projectHasBlob(project: string, digest: Digest): Promise<boolean> {
    return (await this.db.selectFrom('project_blob').select('digest').where('project', '=', project).where('digest', '=', digest).executeTakeFirst()) !== undefined;
  }

  async stats(): Promise<{ repositories: number; manifests: number; blobs: number; blobBytes: number; uploads: number; quarantined: number }> {
    const count = async (table: 'repository' | 'manifest' | 'upload') =>
      Number((await this.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    const blobs = await this.db
      .selectFrom('blob')
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.sum<number>('size').as('bytes')])
      .executeTakeFirstOrThrow();
    return {
      repositories: await count('repository'),
      manifests: await count('manifest'),
      blobs: Number(blobs.n),
      blobBytes: Number(blobs.bytes ?? 0),
      uploads: await count('upload'),
      quarantined: Number((await this.db.selectFrom('blob').select((eb) => eb.fn.countAll<number>().as('n')).where('quarantine', 'is not', null).executeTakeFirstOrThrow()).n),
    };
  }

  async ping(): Promise<void> {
    await this.db.selectFrom('repository').select('id').limit(1).execute();
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}

/** Runs a write that inserts rows of a repository; RepositoryGoneError when a concurrent delete removed the repository first. */
/** Rolls back a deleteManifestIfTagged whose tags changed after it counted the manifest out. */
class TagsChangedMeanwhile extends Error {}

async function onRepository<T>(repositoryId: number, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    throw isForeignKeyViolation(err) ? new RepositoryGoneError(repositoryId) : err;
  }
}

/**
 * Links a blob into a repository, or, when linked already, starts the link's grace period
 * again (the collector deletes links no manifest uses once they are older than it).
 */
async function linkNow(trx: Transaction<Schema>, repositoryId: number, digest: string, now: number): Promise<void> {
  await trx
    .insertInto('repository_blob')
    .values({ repository_id: repositoryId, digest, created_at: now })
    .onConflict((oc) => oc.columns(['repository_id', 'digest']).doUpdateSet({ created_at: now }))
    .execute();
}

/** Marks the repository's tags as changed (see RepositoryRow.tagVersion), in the caller's transaction. */
async function bumpTagVersion(trx: Transaction<Schema>, repositoryId: number): Promise<void> {
  await bumpTagVersionOf.execute(trx, { repositoryId });
}

/** The events with the push event of `digest` saying whether the push created the manifest in its repository. */
function markCreated(events: OutboxEvent[], digest: Digest, created: boolean): OutboxEvent[] {
  return events.map((e) => (e.type === 'push' && e.data.digest === digest ? { ...e, data: { ...e.data, created } } : e));
}

/** berth_put_manifest's or berth_push_held's refusal to move an immutable tag, as a TagMovedError; other errors as they are. */
function tagMovedFrom(err: unknown, tag: string | undefined): unknown {
  const e = err as { code?: string; detail?: string };
  return e.code === tagMovedState && tag !== undefined && e.detail !== undefined ? new TagMovedError(tag, e.detail as Digest) : err;
}

export async function insertEvents(trx: Transaction<Schema>, events: OutboxEvent[], now: number): Promise<void> {
  if (events.length === 0) return;
  await insertOutbox.execute(trx, {
    types: events.map((e) => e.type),
    projects: events.map((e) => e.project),
    repositories: events.map((e) => e.repository),
    payloads: events.map((e) => JSON.stringify(e.data)),
    now,
  });
}

function toManifestRow(row: Selectable<ManifestTable>): ManifestRow {
  return {
    repositoryId: row.repository_id,
    digest: row.digest as Digest,
    mediaType: row.media_type,
    artifactType: row.artifact_type,
    subjectDigest: row.subject_digest as Digest | null,
    configDigest: row.config_digest as Digest | null,
    size: row.size,
    annotations: row.annotations ? (JSON.parse(row.annotations) as Record<string, string>) : null,
    createdAt: row.created_at,
    pulledAt: row.pulled_at === null ? null : Number(row.pulled_at),
    pullCount: Number(row.pull_count ?? 0),
  };
}

/** The links of `digests` into the repository whose blobs can be used (not being deleted, not quarantined). */
function linkedBlobs(db: Kysely<Schema>, repositoryId: number, digests: Digest[]) {
  return db
    .selectFrom('repository_blob')
    .innerJoin('blob', 'blob.digest', 'repository_blob.digest')
    .where('repository_blob.repository_id', '=', repositoryId)
    .where('repository_blob.digest', 'in', digests)
    .where('blob.deleting', '=', 0)
    .where('blob.quarantine', 'is', null);
}

/**
 * The subset of `digests` not linked into the repository or being deleted; `lock` adds the
 * row lock a caller's transaction needs.
 */
async function missingBlobsIn(
  db: Kysely<Schema>,
  repositoryId: number,
  digests: Digest[],
  lock: <Q extends { forShare(): Q }>(query: Q) => Q = noLock,
): Promise<Digest[]> {
  const present = new Set<string>();
  for (const chunk of chunks(digests)) {
    const rows = lock === noLock ? await linkedDigests.rows(db, { repositoryId, digests: chunk }) : await lock(linkedBlobs(db, repositoryId, chunk).select('blob.digest')).execute();
    for (const row of rows) present.add(row.digest);
  }
  return digests.filter((d) => !present.has(d));
}

function chunks<T>(items: T[], size = inListChunk): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** missingBlobsIn's default: no row lock (SQLite, and reads outside a transaction). */
function noLock<Q>(query: Q): Q {
  return query;
}

// The statements of a push on SQLite, built once (cached-query.ts); PostgreSQL runs its push as functions (pg-push.ts).
const repositoryByName = new CachedQuery((db, p: { name: string }) => db.selectFrom('repository').selectAll().where('name', '=', p.name));

/** Rows of (what, digest): the manifest when the repository holds it, the tag's, the references present. */
const pushStateRows = new CachedQuery((db, p: { repositoryId: number; digest: string; tag: string | undefined; blobs: Digest[]; manifests: string[] }) => {
  let query = db.selectFrom('manifest').select([sql.lit('held').as('what'), 'digest']).where('repository_id', '=', p.repositoryId).where('digest', '=', p.digest);
  if (p.tag !== undefined) {
    query = query.unionAll(db.selectFrom('tag').select([sql.lit('tag').as('what'), 'manifest_digest as digest']).where('repository_id', '=', p.repositoryId).where('name', '=', p.tag));
  }
  if (p.blobs.length > 0) query = query.unionAll(linkedBlobs(db, p.repositoryId, p.blobs).select([sql.lit('blob').as('what'), 'blob.digest']));
  if (p.manifests.length > 0) {
    query = query.unionAll(db.selectFrom('manifest').select([sql.lit('manifest').as('what'), 'digest']).where('repository_id', '=', p.repositoryId).where('digest', 'in', p.manifests));
  }
  return query;
});

const linkedDigests = new CachedQuery((db, p: { repositoryId: number; digests: Digest[] }) => linkedBlobs(db, p.repositoryId, p.digests).select('blob.digest'));

const insertPin = new CachedQuery((db, p: { digest: string; token: string; until: number }) =>
  db
    .insertInto('blob_pin')
    .values({ digest: p.digest, token: p.token, until: p.until })
    .onConflict((oc) => oc.columns(['digest', 'token']).doUpdateSet({ until: p.until })),
);

const callOffDeletion = new CachedQuery((db, p: { digest: string; now: number }) =>
  db.updateTable('blob').set({ deleting: 0, touched_at: p.now }).where('digest', '=', p.digest).where('deleting', '=', 1),
);

const blobState = new CachedQuery((db, p: { digest: string }) => db.selectFrom('blob').select(['quarantine', 'deleting', 'touched_at']).where('digest', '=', p.digest));

const deletePin = new CachedQuery((db, p: { digest: string; token: string }) => db.deleteFrom('blob_pin').where('digest', '=', p.digest).where('token', '=', p.token));

const insertContent = new CachedQuery((db, p: { digest: string; size: number; now: number }) =>
  db
    .insertInto('blob')
    .values({ digest: p.digest, size: p.size, created_at: p.now, touched_at: p.now })
    .onConflict((oc) => oc.column('digest').doNothing())
    .returning('digest'),
);

/** A new manifest's own columns, as both engines' push statements take them. */
function manifestColumns(manifest: NewManifest): ManifestColumns {
  const { repositoryId, digest, mediaType, artifactType, subjectDigest, configDigest, size } = manifest;
  return { repositoryId, digest, mediaType, artifactType, subjectDigest, configDigest, size, annotations: manifest.annotations ? JSON.stringify(manifest.annotations) : null };
}

const insertManifest = new CachedQuery(
  (db, p: ManifestColumns & { now: number }) =>
    db
      .insertInto('manifest')
      .values({
        repository_id: p.repositoryId,
        digest: p.digest,
        media_type: p.mediaType,
        artifact_type: p.artifactType,
        subject_digest: p.subjectDigest,
        config_digest: p.configDigest,
        size: p.size,
        annotations: p.annotations,
        created_at: p.now,
        touched_at: p.now,
      })
      .onConflict((oc) => oc.columns(['repository_id', 'digest']).doUpdateSet({ touched_at: p.now }))
      .returning('created_at'),
);

const insertReferences = new CachedQuery((db, p: { repositoryId: number; parent: string; children: string[]; kinds: ('blob' | 'manifest')[] }) =>
  db
    .insertInto('manifest_reference')
    .values(p.children.map((child, i) => ({ repository_id: p.repositoryId, parent_digest: p.parent, child_digest: child, kind: p.kinds[i]! })))
    .onConflict((oc) => oc.columns(['repository_id', 'parent_digest', 'child_digest']).doNothing()),
);

const insertOutbox = new CachedQuery((db, p: { types: string[]; projects: (string | null)[]; repositories: (string | null)[]; payloads: string[]; now: number }) =>
  db
    .insertInto('event_outbox')
    .values(p.types.map((type, i) => ({ type, project: p.projects[i] as string | null, repository: p.repositories[i] as string | null, payload: p.payloads[i]!, created_at: p.now }))),
);

const bumpTagVersionOf = new CachedQuery((db, p: { repositoryId: number }) =>
  db
    .updateTable('repository')
    .set((eb) => ({ tag_version: eb('tag_version', '+', 1) }))
    .where('id', '=', p.repositoryId),
);

const upsertTag = new CachedQuery((db, p: { repositoryId: number; tag: string; digest: string; now: number }) =>
  db
    .insertInto('tag')
    .values({ repository_id: p.repositoryId, name: p.tag, manifest_digest: p.digest, updated_at: p.now })
    .onConflict((oc) => oc.columns(['repository_id', 'name']).doUpdateSet({ manifest_digest: p.digest, updated_at: p.now })),
);

const deleteTagsOf = new CachedQuery((db, p: { repositoryId: number; digest: string }) => db.deleteFrom('tag').where('repository_id', '=', p.repositoryId).where('manifest_digest', '=', p.digest));

const deleteReferencesOf = new CachedQuery((db, p: { repositoryId: number; digest: string }) =>
  db.deleteFrom('manifest_reference').where('repository_id', '=', p.repositoryId).where('parent_digest', '=', p.digest),
);

const deleteManifestRow = new CachedQuery((db, p: { repositoryId: number; digest: string }) => db.deleteFrom('manifest').where('repository_id', '=', p.repositoryId).where('digest', '=', p.digest));
