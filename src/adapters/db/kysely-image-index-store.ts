import { sql, type Insertable, type Kysely, type RawBuilder, type Selectable } from 'kysely';
import { berthError } from '../../domain/errors.js';
import { chainIds } from '../../domain/layer-chain.js';
import { hides, joinPath, maskKeys, normalizeIndexPath, parentDirectory, baseName } from '../../domain/layer-merge.js';
import type { OperatingSystem, Package } from '../../domain/packages/package.js';
import type {
  DerivedImage,
  DirectoryListing,
  ImageIndexRecord,
  ImageIndexStore,
  ImageSearchHit,
  ImageSearchPage,
  ImageSearchQuery,
  IndexedEntry,
  IndexedEntryType,
  IndexStatus,
  LayerIndexRecord,
  SearchScope,
  StoredLint,
} from '../../ports/image-index-store.js';
import { MediaType } from '../../domain/media-types.js';
import type { Database } from './connect.js';
import { likeContains } from './like.js';
import type { Engine } from './migrations.js';
import type { ImageIndexTable, ImagePackageTable, LayerEntryTable, LayerIndexTable, Schema } from './schema.js';
import { inOneStatement } from './one-statement.js';
import { inTransaction } from './transaction.js';

/** Rows per multi-row insert: 9 columns × 2,000 stays under SQLite's 32,766 and PostgreSQL's 65,535 bind parameters. */
const entryBatch = 2000;
/** Digests per `IN (…)` list. */
const chunk = 500;
/** (parent, name) pairs per mask lookup (two parameters each). */
const keyChunk = 1000;
/** Candidate entries findFiles reads at most before sorting (a one-letter search of a huge image is cut there). */
const maxFileCandidates = 50_000;
/** A layer record no image lists yet is kept this long: the indexer stores layers before the image that lists them. */
const orphanLayerGraceMs = 60 * 60 * 1000;

const imageMediaTypes = [MediaType.ociManifest, MediaType.dockerManifest];
/**
 * Entry types that can hide what lower layers have below them, listed (not `<> 'directory'`) so
 * the (parent, name, type) index skips directories: every application layer has an `app` directory.
 */

/**
 * The image index on SQLite and PostgreSQL (ports/image-index-store.ts).
 *
 * How entries are expected (the indexer writes them so): a path is split into `parent` and
 * `name` with no leading slash (`usr/bin` + `curl`; a top-level name has parent ''). A whiteout
 * (`.wh.NAME`) is stored as an entry of type `whiteout` at the path it deletes (parent + NAME);
 * an opaque marker (`.wh..wh..opq`) as an entry of type `opaque` with parent = the directory it
 * makes opaque and name ''. The marker files themselves are not stored. The merged filesystem
 * then follows domain/layer-merge.ts: search, merged listings and findFiles look up, for each
 * candidate path, the few entries of higher layers that could hide it (a whiteout of it,
 * a non-directory at an ancestor, an opaque ancestor) instead of walking whole layers.
 */
export class KyselyImageIndexStore implements ImageIndexStore {
  private readonly db: Kysely<Schema>;
  private readonly engine: Engine;

  /** Images having a path beyond which it is asked manifest by manifest (see search). */
  private readonly commonPathImages: number;
  private readonly maxBatchCandidates: number;
  /** Candidates a search with a per-candidate check (file name, common path) looks at per call at most. */
  private readonly maxExamined: number;

  /**
   * `batchCandidates`: copies of a file name a search reads at once before going image by image;
   * `examinedPerCall`: see maxExamined (tests lower both).
   */
  constructor(database: Database, options: { batchCandidates?: number; commonPathImages?: number; examinedPerCall?: number } = {}) {
    this.db = database.db;
    this.engine = database.engine;
    this.maxBatchCandidates = options.batchCandidates ?? 500;
    this.maxExamined = options.examinedPerCall ?? 2000;
    this.commonPathImages = options.commonPathImages ?? defaultCommonPathImages;
  }

  async getLayer(digest: string): Promise<LayerIndexRecord | undefined> {
    const row = await this.db.selectFrom('layer_index').selectAll().where('digest', '=', digest).executeTakeFirst();
    return row ? layerRecordOf(row) : undefined;
  }

  async getLayers(digests: readonly string[]): Promise<Map<string, LayerIndexRecord>> {
    const known = new Map<string, LayerIndexRecord>();
    for (const part of chunks([...new Set(digests)], chunk)) {
      const rows = await this.db.selectFrom('layer_index').selectAll().where('digest', 'in', part).execute();
      for (const r of rows) known.set(r.digest, layerRecordOf(r));
    }
    return known;
  }

  async putLayer(record: LayerIndexRecord, entries: Iterable<IndexedEntry>): Promise<void> {
    const row = {
      digest: record.digest,
      status: record.status,
      entries: record.entries,
      files: record.files,
      file_bytes: record.fileBytes,
      uncompressed_bytes: record.uncompressedBytes,
      truncated: record.truncated ? 1 : 0,
      error: record.error ?? null,
      indexed_at: record.indexedAt,
    };
    const { digest: _digest, ...update } = row;
    await inTransaction(this.db, async (trx) => {
      await trx.deleteFrom('layer_entry').where('layer_digest', '=', record.digest).execute();
      await trx
        .insertInto('layer_index')
        .values(row)
        .onConflict((oc) => oc.column('digest').doUpdateSet(update))
        .execute();
      // A batch holds each path once (the later entry); a path repeated across batches replaces the stored row.
      let batch = new Map<string, LayerEntryTable>();
      const flush = async () => {
        if (batch.size === 0) return;
        await trx
          .insertInto('layer_entry')
          .values([...batch.values()])
          .onConflict((oc) =>
            oc.columns(['layer_digest', 'parent', 'name']).doUpdateSet((eb) => ({
              type: eb.ref('excluded.type'),
              size: eb.ref('excluded.size'),
              mode: eb.ref('excluded.mode'),
              uid: eb.ref('excluded.uid'),
              gid: eb.ref('excluded.gid'),
              link_target: eb.ref('excluded.link_target'),
            })),
          )
          .execute();
        batch = new Map();
      };
      for (const e of entries) {
        batch.set(`${e.parent}\0${e.name}`, {
          layer_digest: record.digest,
          parent: e.parent,
          name: e.name,
          type: e.type,
          size: e.size,
          mode: e.mode,
          uid: e.uid,
          gid: e.gid,
          link_target: e.linkTarget ?? null,
        });
        if (batch.size >= entryBatch) await flush();
      }
      await flush();
    });
  }

  async getImage(digest: string): Promise<ImageIndexRecord | undefined> {
    const row = await this.db.selectFrom('image_index').selectAll().where('digest', '=', digest).executeTakeFirst();
    if (!row) return undefined;
    const layers = await this.db.selectFrom('image_layer').select('layer_digest').where('image_digest', '=', digest).orderBy('position').execute();
    return imageRecordOf(
      row,
      layers.map((l) => l.layer_digest),
    );
  }

  async putImage(record: ImageIndexRecord): Promise<void> {
    const row = {
      digest: record.digest,
      status: record.status,
      error: record.error ?? null,
      config_digest: record.configDigest,
      platform: record.platform,
      layer_count: record.layers.length,
      compressed_bytes: record.compressedBytes,
      uncompressed_bytes: record.uncompressedBytes,
      os_id: record.os?.id ?? null,
      os_version: record.os?.versionId ?? null,
      os: record.os ? JSON.stringify(record.os) : null,
      packages: JSON.stringify(record.packages),
      labels: JSON.stringify(record.labels),
      annotations: JSON.stringify(record.annotations),
      created_at: record.createdAt,
      lint: record.lint ? JSON.stringify(record.lint) : null,
      indexed_at: record.indexedAt,
      format: record.format ?? 0,
    };
    const { digest, ...update } = row;
    const chain = chainIds(record.layers);
    const layers = record.layers.map((layer, position) => ({ image_digest: digest, position, layer_digest: layer, chain_id: chain[position]!, top: position === record.layers.length - 1 ? 1 : 0 }));
    const seen = new Set<string>();
    const packages: Array<Insertable<ImagePackageTable>> = [];
    for (const p of record.packages) {
      const key = `${p.type}\0${p.name}\0${p.version}\0${p.source ?? ''}\0${p.sourceVersion ?? ''}`;
      if (seen.has(key)) continue;
      seen.add(key);
      packages.push({
        image_digest: digest,
        type: p.type,
        name: p.name,
        version: p.version,
        source: p.source ?? null,
        source_version: p.source === undefined ? null : (p.sourceVersion ?? p.version),
      });
    }
    const labels = [
      ...Object.entries(record.labels).map(([key, value]) => ({ image_digest: digest, origin: 'label', key, value: String(value) })),
      ...Object.entries(record.annotations).map(([key, value]) => ({ image_digest: digest, origin: 'annotation', key, value: String(value) })),
    ];
    const upsert = (db: Kysely<Schema>) => db.insertInto('image_index').values(row).onConflict((oc) => oc.column('digest').doUpdateSet(update));
    if (this.engine === 'postgres' && layers.length <= entryBatch && packages.length <= entryBatch && labels.length <= entryBatch) {
      // Four round trips instead of ten (docs/performance.md, "Write paths on PostgreSQL"). The
      // record's upsert comes first, alone: it waits for a concurrent put of the same record to
      // commit, so the statement after it sees that put's rows and replaces them (one statement
      // reads the rows as they were when it began). Layer rows are keyed by position: those past
      // the new count go, the others are rewritten.
      await inTransaction(this.db, async (db) => {
        await upsert(db).execute();
        await inOneStatement(db, [
          db.deleteFrom('image_layer').where('image_digest', '=', digest).where('position', '>=', layers.length),
          ...(layers.length === 0
            ? []
            : [db.insertInto('image_layer').values(layers).onConflict((oc) => oc.columns(['image_digest', 'position']).doUpdateSet((eb) => ({ layer_digest: eb.ref('excluded.layer_digest'), chain_id: eb.ref('excluded.chain_id'), top: eb.ref('excluded.top') })))]),
          db.deleteFrom('image_package').where('image_digest', '=', digest),
          ...(packages.length === 0 ? [] : [db.insertInto('image_package').values(packages)]),
          db.deleteFrom('image_label').where('image_digest', '=', digest),
          ...(labels.length === 0 ? [] : [db.insertInto('image_label').values(labels)]),
        ]);
      });
      return;
    }
    await inTransaction(this.db, async (trx) => {
      await upsert(trx).execute();
      await trx.deleteFrom('image_layer').where('image_digest', '=', digest).execute();
      await trx.deleteFrom('image_package').where('image_digest', '=', digest).execute();
      await trx.deleteFrom('image_label').where('image_digest', '=', digest).execute();
      for (const part of chunks(layers, entryBatch)) await trx.insertInto('image_layer').values(part).execute();
      for (const part of chunks(packages, entryBatch)) await trx.insertInto('image_package').values(part).execute();
      for (const part of chunks(labels, entryBatch)) await trx.insertInto('image_label').values(part).execute();
    });
  }

  async unindexed(limit: number, format = 0): Promise<Array<{ digest: string; repository: string }>> {
    const rows = await this.db
      .selectFrom('manifest')
      .innerJoin('repository', 'repository.id', 'manifest.repository_id')
      .select(['manifest.digest', (eb) => eb.fn.min('repository.name').as('repository'), (eb) => eb.fn.min('manifest.created_at').as('first')])
      .where('manifest.media_type', 'in', imageMediaTypes)
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('image_index').select('image_index.digest').whereRef('image_index.digest', '=', 'manifest.digest').where('image_index.format', '>=', format))),
      )
      .groupBy('manifest.digest')
      .orderBy('first')
      .orderBy('manifest.digest')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ digest: r.digest, repository: String(r.repository) }));
  }

  async search(query: ImageSearchQuery, scope: SearchScope, page: { limit: number; after?: string }): Promise<ImageSearchPage> {
    if (scope !== 'all' && scope.projects.length === 0) return { hits: [] };
    const conditions: RawBuilder<unknown>[] = [];
    let files: FileCriterion | undefined;
    // A path most images have, checked on each page of candidates instead of listed whole.
    let walked: FileCriterion | undefined;
    // Conditions a walk leaves out (common path or file name), applied once it has looked at maxExamined candidates.
    const deferred: RawBuilder<unknown>[] = [];

    if (query.digest !== undefined) {
      const prefix = query.digest.toLowerCase();
      const upper = prefixUpperBound(prefix);
      // A range the manifest_digest index serves on both engines, then the exact prefix test.
      conditions.push(sql`m.digest >= ${prefix}`);
      if (upper !== undefined) conditions.push(sql`m.digest < ${upper}`);
      conditions.push(sql`substr(m.digest, 1, ${prefix.length}) = ${prefix}`);
    }
    if (query.mediaType !== undefined) conditions.push(sql`(m.media_type = ${query.mediaType} OR m.artifact_type = ${query.mediaType})`);
    if (query.artifactType !== undefined) conditions.push(sql`m.artifact_type = ${query.artifactType}`);
    if (query.path !== undefined) {
      const path = normalizeIndexPath(query.path);
      if (path === '') return { hits: [] };
      files = await this.fileCriterion({ parent: parentDirectory(path) ?? '', name: baseName(path) });
      if (files.subquery === undefined) return { hits: [] };
      // A path most images have (usr/bin/bash) is checked on the manifests in push order, newest
      // first, a page of candidates at a time, until the page is full; a rarer one lists its
      // images first. (Left to PostgreSQL's planner, the common path listed all 10,000 images of
      // the benchmark before sorting: its estimate of images per base layer is the average, 5.)
      const listed = sql`m.digest IN (${this.fenced(files.subquery)})`;
      if (await this.atLeast(files.subquery, this.commonPathImages)) {
        walked = files;
        deferred.push(listed);
      } else conditions.push(listed);
    }
    const fileName = query.fileName;
    if (fileName !== undefined) {
      if (fileName === '' || fileName.includes('/')) return { hits: [] };
      // Necessary (a layer of the image lists the name); whether the merged filesystem still has it
      // is checked per candidate below. The layers listing it are found by one index seek per
      // layer (a loose index scan), not by reading every copy: a common name has tens of
      // thousands. A name most images have (copyright) is only checked per candidate, as a common path.
      const holders = sql`SELECT il.image_digest FROM image_layer il WHERE il.layer_digest IN (${layersListing(fileName)})`;
      const listed = sql`m.digest IN (${this.fenced(holders)})`;
      if (await this.atLeast(holders, this.commonPathImages)) deferred.push(listed);
      else conditions.push(listed);
    }
    if (query.package !== undefined) conditions.push(sql`m.digest IN (${this.fenced(sql`SELECT p.image_digest FROM image_package p WHERE ${packageCondition(query.package)}`)})`);
    if (query.vulnerability !== undefined) conditions.push(sql`m.digest IN (${this.fenced(sql`SELECT f.digest FROM scan_finding f WHERE f.vuln_id = ${query.vulnerability}`)})`);
    if (query.baseLayers !== undefined) {
      if (query.baseLayers.length === 0) return { hits: [] };
      const chain = chainIds(query.baseLayers).at(-1)!;
      conditions.push(
        sql`m.digest IN (${this.fenced(sql`SELECT bl.image_digest FROM image_layer bl JOIN image_index bi ON bi.digest = bl.image_digest WHERE bl.chain_id = ${chain} AND bl.position = ${query.baseLayers.length - 1} AND bl.top = 0 AND bi.layer_count > ${query.baseLayers.length}`)})`,
      );
    }
    if (query.label !== undefined) {
      const value = query.label.value === undefined ? sql`` : sql` AND l.value = ${query.label.value}`;
      conditions.push(sql`m.digest IN (${this.fenced(sql`SELECT l.image_digest FROM image_label l WHERE l.key = ${query.label.key}${value}`)})`);
    }
    if (scope !== 'all') conditions.push(sql`${projectOfName(this.engine)} IN (${sql.join([...new Set(scope.projects)])})`);
    const limit = Math.max(1, Math.floor(page.limit));

    // Pages of candidates in result order; with a file name, each candidate is kept only when a
    // file of that name survives the merge, and at most maxExamined candidates are looked at per
    // call (a short page then still carries `next`, after the last one looked at). A common path
    // is checked the same way; past maxExamined its images are listed instead, so pages stay full.
    let after = page.after === undefined ? undefined : decodeAfter(page.after);
    const accepted: SearchRow[] = [];
    const named = new Map<string, MatchedFile[]>();
    const atPaths = new Map<string, MatchedFile[]>();
    let examined = 0;
    let lastExamined: SearchRow | undefined;
    let exhausted = false;
    for (;;) {
      const want = limit + 1 - accepted.length;
      const fetch = fileName === undefined && walked === undefined ? want : Math.max(want + 10, 200);
      const rows = await this.candidates(conditions, after, fetch);
      const digests = [...new Set(rows.map((r) => r.digest))];
      const present = fileName === undefined ? undefined : await this.filesNamed(digests, fileName, want);
      const onPath = walked === undefined ? undefined : await this.matchedFiles(digests, walked);
      let undecided = false;
      for (const r of rows) {
        const found = present?.get(r.digest);
        if (present && found === undefined) {
          // Not looked at yet (enough were found before it): the next round starts here.
          undecided = true;
          break;
        }
        examined++;
        lastExamined = r;
        if (found?.length === 0) continue;
        const atPath = onPath?.get(r.digest);
        if (onPath && atPath === undefined) continue;
        if (found) named.set(r.digest, found);
        if (atPath) atPaths.set(r.digest, atPath);
        accepted.push(r);
        if (accepted.length > limit) break;
      }
      if (accepted.length > limit) break;
      if (!undecided && rows.length < fetch) {
        exhausted = true;
        break;
      }
      if (lastExamined === undefined) break;
      if (examined >= this.maxExamined) {
        if (deferred.length === 0) break;
        // Common, but not among the newest pushes: list its images for the rest (a path is then
        // decided by the listing; a file name still needs its check).
        conditions.push(...deferred.splice(0));
        walked = undefined;
        examined = 0;
      }
      after = keyOf(lastExamined);
    }
    const pageRows = accepted.slice(0, limit);
    const hits: ImageSearchHit[] = pageRows.map((r) => ({
      repository: r.repository,
      digest: r.digest,
      mediaType: r.media_type,
      artifactType: r.artifact_type,
      tags: [],
      indexes: [],
      pushedAt: Number(r.created_at),
      matched: {},
    }));
    await this.fillTagsAndIndexes(hits, pageRows);
    await this.fillMatched(hits, query, files, atPaths, named);
    const resumeAt = accepted.length > limit ? pageRows[pageRows.length - 1] : exhausted ? undefined : lastExamined;
    return resumeAt ? { hits, next: encodeAfter(keyOf(resumeAt)) } : { hits };
  }

  /**
   * A criterion's image digests, computed once. PostgreSQL otherwise may probe the criterion's
   * table once per manifest in scope (seen: a package search reading every package row of each
   * of thousands of images); OFFSET 0 keeps the subquery whole. SQLite already lists it once.
   */
  private fenced(subquery: RawBuilder<unknown>): RawBuilder<unknown> {
    return this.engine === 'postgres' ? sql`SELECT * FROM (${subquery} OFFSET 0) criterion` : subquery;
  }

  /** Whether `subquery` yields at least `n` rows (read no further than that). */
  private async atLeast(subquery: RawBuilder<unknown>, n: number): Promise<boolean> {
    const { rows } = await sql<{ n: number | string }>`SELECT count(*) AS n FROM (${subquery} LIMIT ${n}) enough`.execute(this.db);
    return Number(rows[0]?.n ?? 0) >= n;
  }

  /** Manifests meeting `conditions` in result order (newest push first), after a keyset position. */
  private async candidates(conditions: RawBuilder<unknown>[], after: [number, string, string] | undefined, limit: number): Promise<SearchRow[]> {
    const all = [...conditions];
    if (after !== undefined) {
      const [createdAt, repository, digest] = after;
      all.push(sql`(m.created_at < ${createdAt} OR (m.created_at = ${createdAt} AND (r.name > ${repository} OR (r.name = ${repository} AND m.digest > ${digest}))))`);
    }
    const where = all.length === 0 ? sql`` : sql`WHERE ${sql.join(all, sql` AND `)}`;
    const { rows } = await sql<SearchRow>`
      SELECT m.repository_id, r.name AS repository, m.digest, m.media_type, m.artifact_type, m.created_at
      FROM manifest m JOIN repository r ON r.id = m.repository_id
      ${where}
      ORDER BY m.created_at DESC, r.name, m.digest
      LIMIT ${limit}`.execute(this.db);
    return rows;
  }

  /**
   * For each image, up to 10 files named `name` its merged filesystem has (an empty list: none;
   * absent from the map: not looked at, because `need` images with the name came before it).
   * Copies are checked against what higher layers hide, so a name found in thousands of
   * directories costs a few lookups per image.
   */
  private async filesNamed(digests: string[], name: string, need: number): Promise<Map<string, MatchedFile[]>> {
    const found = new Map<string, MatchedFile[]>();
    if (digests.length === 0) return found;
    const layerRows = await this.db.selectFrom('image_layer').select(['image_digest', 'position', 'layer_digest']).where('image_digest', 'in', digests).orderBy('position').execute();
    const layersOf = new Map<string, string[]>();
    for (const l of layerRows) {
      const list = layersOf.get(l.image_digest) ?? [];
      list[Number(l.position)] = l.layer_digest;
      layersOf.set(l.image_digest, list);
    }
    // Few copies of the name among all these images' layers (the usual case): one read of them
    // and of what hides them, then each image decided in memory.
    const union = [...new Set(layerRows.map((l) => l.layer_digest))];
    const rows: Array<{ layer_digest: string; parent: string; type: string; size: number }> = [];
    for (const part of chunks(union, chunk)) {
      rows.push(...(await this.db.selectFrom('layer_entry').select(['layer_digest', 'parent', 'type', 'size']).where('name', '=', name).where('layer_digest', 'in', part).limit(this.maxBatchCandidates + 1 - rows.length).execute()));
      if (rows.length > this.maxBatchCandidates) break;
    }
    if (rows.length <= this.maxBatchCandidates) {
      const parents = [...new Set(rows.filter((r) => r.type !== 'whiteout' && r.type !== 'opaque').map((r) => r.parent))];
      const masks = await this.masksOf(union, parents.map((parent) => ({ parent, name })));
      const byLayer = new Map<string, typeof rows>();
      for (const r of rows) byLayer.set(r.layer_digest, [...(byLayer.get(r.layer_digest) ?? []), r]);
      for (const [digest, layers] of layersOf) {
        const positions = topPositions(layers);
        const top = new Map<string, { parent: string; type: string; size: number; layer: number }>();
        for (const [layer, position] of positions) {
          for (const r of byLayer.get(layer) ?? []) {
            const seen = top.get(r.parent);
            if (!seen || seen.layer < position) top.set(r.parent, { parent: r.parent, type: r.type, size: Number(r.size), layer: position });
          }
        }
        const levels = maskLevels(masks, positions);
        const files = [...top.values()]
          .filter((c) => c.type !== 'whiteout' && c.type !== 'opaque' && (levels.get(`${c.parent}\0${name}`) ?? -1) <= c.layer)
          .map((c) => ({ path: joinPath(c.parent, name), layer: c.layer, size: c.size }))
          .sort((a, b) => compare(a.path, b.path))
          .slice(0, 10);
        found.set(digest, files);
      }
      return found;
    }
    let have = 0;
    // A name in thousands of directories: image by image in result order, a few directories at a
    // time, until `need` images have it (the rest stay undecided: absent, and looked at again on
    // the next page). Images share base layers, so what is read of a layer serves them all.
    const walk: NameWalk = { name, holding: await this.layersHolding(union, name), copies: new Map(), masks: new Map() };
    for (const digest of digests) {
      const files = await this.presentNamed(layersOf.get(digest) ?? [], walk, 10);
      found.set(digest, files);
      if (files.length > 0 && ++have >= need) break;
    }
    return found;
  }

  /**
   * Up to `want` files named `name` in the merged filesystem of `layers`. Layers are read from
   * the top down, a few directories at a time in path order: a copy is the merged one unless a
   * higher layer had the path (seen already) or hides it, so the first survivors end the walk.
   */
  private async presentNamed(layers: readonly string[], walk: NameWalk, want: number): Promise<MatchedFile[]> {
    const { name } = walk;
    const order = [...topPositions(layers)].sort((a, b) => b[1] - a[1]);
    const seen = new Set<string>();
    const out: MatchedFile[] = [];
    const batch = want + 6;
    for (const [layer, position] of order) {
      if (!walk.holding.has(layer)) continue;
      const above = new Set(order.filter(([, p]) => p > position).map(([l]) => l));
      let afterParent: string | undefined;
      for (;;) {
        const key = `${layer}\0${afterParent ?? ''}`;
        let rows = walk.copies.get(key);
        if (rows === undefined) {
          let q = this.db.selectFrom('layer_entry').select(['parent', 'type', 'size']).where('name', '=', name).where('layer_digest', '=', layer);
          if (afterParent !== undefined) q = q.where('parent', '>', afterParent);
          rows = await q.orderBy('parent').limit(batch).execute();
          walk.copies.set(key, rows);
        }
        const fresh = rows.filter((r) => !seen.has(r.parent));
        for (const r of fresh) seen.add(r.parent);
        const candidates = fresh.filter((r) => r.type !== 'whiteout' && r.type !== 'opaque');
        const levels =
          above.size === 0 || candidates.length === 0
            ? new Map<string, number>()
            : maskLevels((await this.masksCached(walk, candidates.map((c) => c.parent))).filter((m) => above.has(m.layer)), topPositions(layers));
        for (const c of candidates) if (!levels.has(`${c.parent}\0${name}`)) out.push({ path: joinPath(c.parent, name), layer: position, size: Number(c.size) });
        if (out.length >= want) return out.sort((a, b) => compare(a.path, b.path)).slice(0, want);
        if (rows.length < batch) break;
        afterParent = rows[rows.length - 1]!.parent;
      }
    }
    return out.sort((a, b) => compare(a.path, b.path));
  }

  /** Of `layers`, those listing an entry named `name` (one index seek each). */
  private async layersHolding(layers: readonly string[], name: string): Promise<Set<string>> {
    const holding = new Set<string>();
    for (const part of chunks(layers, chunk)) {
      const { rows } = await sql<{ d: string }>`
        WITH l(d) AS (VALUES ${sql.join(part.map((d) => sql`(${d})`))})
        SELECT l.d FROM l WHERE EXISTS (SELECT 1 FROM layer_entry e WHERE e.name = ${name} AND e.layer_digest = l.d)`.execute(this.db);
      for (const r of rows) holding.add(r.d);
    }
    return holding;
  }

  /** What could hide `parent/name` for each parent, in any layer; read once per walk. */
  private async masksCached(walk: NameWalk, parents: readonly string[]) {
    const missing = parents.filter((p) => !walk.masks.has(p));
    if (missing.length > 0) {
      for (const p of missing) walk.masks.set(p, []);
      for (const m of await this.masksOf(undefined, missing.map((parent) => ({ parent, name: walk.name })))) walk.masks.get(m.target.parent)!.push(m);
    }
    return parents.flatMap((p) => walk.masks.get(p)!);
  }

  async listDirectory(layers: readonly string[], path: string, options: { layer?: number; limit: number; nameContains?: string }): Promise<DirectoryListing> {
    const dir = normalizeIndexPath(path);
    const limit = Math.max(0, Math.floor(options.limit));
    const filter = options.nameContains ? likeContains(this.engine, 'name', options.nameContains) : undefined;
    if (options.layer !== undefined) {
      const digest = layers[options.layer];
      if (digest === undefined) return { path: dir, entries: [], truncated: false };
      let q = this.db.selectFrom('layer_entry').selectAll().where('layer_digest', '=', digest).where('parent', '=', dir);
      if (filter) q = q.where(filter);
      const rows = await q.orderBy('name').limit(limit + 1).execute();
      return { path: dir, entries: rows.slice(0, limit).map(entryOf), truncated: rows.length > limit };
    }
    const positions = topPositions(layers);
    if (positions.size === 0) return { path: dir, entries: [], truncated: false };
    // Layers below the highest one that deleted or replaced the directory (or an ancestor) contribute nothing.
    let cutoff = 0;
    if (dir !== '') {
      const masks = await this.masksOf([...positions.keys()], [{ parent: parentDirectory(dir) ?? '', name: baseName(dir) }]);
      for (const m of masks) {
        // The directory itself replaced by a non-directory hides what lower layers had in it, as an ancestor would.
        if (m.kind === 'self' ? m.type !== 'directory' : hides(m.kind, m.type)) cutoff = Math.max(cutoff, positions.get(m.layer)!);
      }
    }
    let q = this.db.selectFrom('layer_entry').selectAll().where('layer_digest', 'in', [...positions.keys()]).where('parent', '=', dir);
    if (filter) q = q.where((eb) => eb.or([filter, eb('name', '=', '')]));
    const rows = await q.execute();
    for (const r of rows) if (r.type === 'opaque' && r.name === '') cutoff = Math.max(cutoff, positions.get(r.layer_digest)!);
    const top = new Map<string, { row: Selectable<LayerEntryTable>; layer: number }>();
    for (const r of rows) {
      if (r.name === '') continue;
      const layer = positions.get(r.layer_digest)!;
      if (layer < cutoff) continue;
      const seen = top.get(r.name);
      if (!seen || seen.layer < layer) top.set(r.name, { row: r, layer });
    }
    const present = [...top.values()].filter((t) => t.row.type !== 'whiteout' && t.row.type !== 'opaque').sort((a, b) => compare(a.row.name, b.row.name));
    return {
      path: dir,
      entries: present.slice(0, limit).map((t) => ({ ...entryOf(t.row), layer: t.layer })),
      truncated: present.length > limit,
    };
  }

  async findFiles(layers: readonly string[], text: string, limit: number): Promise<Array<{ path: string; layer: number; type: IndexedEntryType; size: number }>> {
    const positions = topPositions(layers);
    if (positions.size === 0 || limit <= 0) return [];
    const rows = await this.db
      .selectFrom('layer_entry')
      .select(['layer_digest', 'parent', 'name', 'type', 'size'])
      .where('layer_digest', 'in', [...positions.keys()])
      .where('name', '<>', '')
      .where(likeContains(this.engine, 'name', text))
      .limit(maxFileCandidates)
      .execute();
    const top = new Map<string, { parent: string; name: string; type: string; size: number; layer: number }>();
    for (const r of rows) {
      const layer = positions.get(r.layer_digest)!;
      const key = `${r.parent}\0${r.name}`;
      const seen = top.get(key);
      if (!seen || seen.layer < layer) top.set(key, { parent: r.parent, name: r.name, type: r.type, size: Number(r.size), layer });
    }
    const candidates = [...top.values()].filter((t) => t.type !== 'whiteout');
    const masks = await this.masksOf([...positions.keys()], candidates);
    const hiddenAbove = maskLevels(masks, positions);
    return candidates
      .filter((c) => (hiddenAbove.get(`${c.parent}\0${c.name}`) ?? -1) <= c.layer)
      .map((c) => ({ path: joinPath(c.parent, c.name), layer: c.layer, type: c.type as IndexedEntryType, size: c.size }))
      .sort((a, b) => compare(a.path, b.path))
      .slice(0, limit);
  }

  async derivedFrom(baseLayers: readonly string[], limit: number): Promise<DerivedImage[]> {
    if (baseLayers.length === 0 || limit <= 0) return [];
    const rows = await this.db
      .selectFrom('image_layer as il')
      .innerJoin('image_index as ii', 'ii.digest', 'il.image_digest')
      .select(['ii.digest', 'ii.layer_count', 'ii.created_at'])
      .where('il.chain_id', '=', chainIds(baseLayers).at(-1)!)
      .where('il.position', '=', baseLayers.length - 1)
      // The index walks only rows that are not their image's last; the layer count is checked
      // too, for rows an older Berth wrote (schema.ts, ImageLayerTable.top).
      .where('il.top', '=', 0)
      .where('ii.layer_count', '>', baseLayers.length)
      .where('ii.status', '=', 'indexed')
      .orderBy('ii.digest')
      .limit(limit)
      .execute();
    return rows.map(derivedOf);
  }

  async basesOf(layers: readonly string[], limit: number): Promise<DerivedImage[]> {
    const chain = chainIds(layers).slice(0, -1);
    if (chain.length === 0 || limit <= 0) return [];
    const rows = await this.db
      .selectFrom('image_layer as il')
      .innerJoin('image_index as ii', 'ii.digest', 'il.image_digest')
      .select(['ii.digest', 'ii.layer_count', 'ii.created_at'])
      .where('il.chain_id', 'in', chain)
      .where(sql<boolean>`ii.layer_count = il.position + 1`)
      .where('ii.status', '=', 'indexed')
      .orderBy('ii.layer_count', 'desc')
      .orderBy('ii.digest')
      .limit(limit)
      .execute();
    return rows.map(derivedOf);
  }

  async prune(): Promise<{ images: number; layers: number }> {
    let images = 0;
    for (;;) {
      const gone = await this.db
        .selectFrom('image_index')
        .select('digest')
        .where(({ not, exists, selectFrom }) => not(exists(selectFrom('manifest').select('manifest.digest').whereRef('manifest.digest', '=', 'image_index.digest'))))
        .limit(chunk)
        .execute();
      if (gone.length === 0) break;
      const digests = gone.map((g) => g.digest);
      await inTransaction(this.db, async (trx) => {
        await trx.deleteFrom('image_layer').where('image_digest', 'in', digests).execute();
        await trx.deleteFrom('image_package').where('image_digest', 'in', digests).execute();
        await trx.deleteFrom('image_label').where('image_digest', 'in', digests).execute();
        await trx.deleteFrom('image_index').where('digest', 'in', digests).execute();
      });
      images += digests.length;
    }
    let layers = 0;
    const before = Date.now() - orphanLayerGraceMs;
    for (;;) {
      const gone = await this.db
        .selectFrom('layer_index')
        .select('digest')
        .where('indexed_at', '<', before)
        .where(({ not, exists, selectFrom }) => not(exists(selectFrom('image_layer').select('image_layer.layer_digest').whereRef('image_layer.layer_digest', '=', 'layer_index.digest'))))
        .limit(50)
        .execute();
      if (gone.length === 0) break;
      // One layer per transaction: a layer may hold a quarter of a million entries.
      for (const { digest } of gone) {
        await inTransaction(this.db, async (trx) => {
          await trx.deleteFrom('layer_entry').where('layer_digest', '=', digest).execute();
          await trx.deleteFrom('layer_index').where('digest', '=', digest).execute();
        });
      }
      layers += gone.length;
    }
    return { images, layers };
  }

  /**
   * The path criterion: the layers holding something that hides the path (rare: whiteouts,
   * opaque ancestors, an ancestor replaced by a file), and the subquery of image digests having
   * the path in a layer no hiding layer sits above.
   */
  private async fileCriterion(target: { parent: string; name: string }): Promise<FileCriterion> {
    const defining = sql`e.type NOT IN ('whiteout', 'opaque')`;
    const paths = [target];
    const deleters = new Map<string, Set<string>>();
    for (const m of await this.masksOf(undefined, paths)) {
      if (!hides(m.kind, m.type)) continue;
      const key = `${m.target.parent}\0${m.target.name}`;
      let set = deleters.get(key);
      if (!set) deleters.set(key, (set = new Set()));
      set.add(m.layer);
    }
    const where = sql`e.parent = ${target.parent} AND e.name = ${target.name}`;
    const hidden =
      deleters.size === 0
        ? sql``
        : sql` AND NOT EXISTS (SELECT 1 FROM image_layer il2 WHERE il2.image_digest = il.image_digest AND il2.position > il.position AND (${sql.join(
            [...deleters].map(([key, layers]) => {
              const [parent, name] = key.split('\0') as [string, string];
              return sql`(e.parent = ${parent} AND e.name = ${name} AND il2.layer_digest IN (${sql.join([...layers])}))`;
            }),
            sql` OR `,
          )}))`;
    const subquery = sql`SELECT il.image_digest FROM layer_entry e JOIN image_layer il ON il.layer_digest = e.layer_digest WHERE ${where} AND ${defining}${hidden}`;
    return { paths, deleters, subquery, where };
  }

  /**
   * Entries that could hide the given paths (domain/layer-merge.ts), in `layers` or in any
   * layer; each with the path it concerns and how. Non-directories only: a directory hides nothing.
   */
  private async masksOf(layers: readonly string[] | undefined, paths: ReadonlyArray<{ parent: string; name: string }>) {
    const byKey = new Map<string, Array<{ target: { parent: string; name: string }; kind: 'self' | 'ancestor' | 'opaque' }>>();
    for (const target of paths) {
      for (const k of maskKeys(target.parent, target.name)) {
        const key = `${k.parent}\0${k.name}`;
        let list = byKey.get(key);
        if (!list) byKey.set(key, (list = []));
        list.push({ target, kind: k.kind });
      }
    }
    const found: Array<{ target: { parent: string; name: string }; kind: 'self' | 'ancestor' | 'opaque'; type: string; layer: string }> = [];
    const keys = [...byKey.keys()].map((k) => k.split('\0') as [string, string]);
    for (const part of chunks(keys, keyChunk)) {
      // The keys as a table joined to the (parent, name) index: a long OR of pairs would make
      // SQLite scan every entry of the layers instead.
      const inLayers = layers === undefined ? sql`` : sql` AND e.layer_digest IN (${sql.join([...layers])})`;
      const { rows } = await sql<{ layer_digest: string; parent: string; name: string; type: string }>`
        WITH k(parent, name) AS (VALUES ${sql.join(part.map(([parent, name]) => sql`(${parent}, ${name})`))})
        SELECT e.layer_digest, e.parent, e.name, e.type FROM k JOIN layer_entry e ON e.parent = k.parent AND e.name = k.name
        WHERE e.type <> 'directory'${inLayers}`.execute(this.db);
      for (const r of rows) for (const t of byKey.get(`${r.parent}\0${r.name}`) ?? []) found.push({ ...t, type: r.type, layer: r.layer_digest });
    }
    return found;
  }

  private async fillTagsAndIndexes(hits: ImageSearchHit[], rows: ReadonlyArray<{ repository_id: number; digest: string }>): Promise<void> {
    if (hits.length === 0) return;
    const repositoryIds = [...new Set(rows.map((r) => Number(r.repository_id)))];
    const digests = [...new Set(rows.map((r) => r.digest))];
    const parents = await this.db
      .selectFrom('manifest_reference')
      .select(['repository_id', 'parent_digest', 'child_digest'])
      .where('kind', '=', 'manifest')
      .where('child_digest', 'in', digests)
      .where('repository_id', 'in', repositoryIds)
      .orderBy('parent_digest')
      .execute();
    const tagged = [...new Set([...digests, ...parents.map((p) => p.parent_digest)])];
    const tags = await this.db
      .selectFrom('tag')
      .select(['repository_id', 'manifest_digest', 'name'])
      .where('repository_id', 'in', repositoryIds)
      .where('manifest_digest', 'in', tagged)
      .orderBy('name')
      .execute();
    const tagsOf = new Map<string, string[]>();
    for (const t of tags) {
      const key = `${Number(t.repository_id)}\0${t.manifest_digest}`;
      const list = tagsOf.get(key) ?? [];
      list.push(t.name);
      tagsOf.set(key, list);
    }
    rows.forEach((r, i) => {
      const repo = Number(r.repository_id);
      const hit = hits[i]!;
      hit.tags = tagsOf.get(`${repo}\0${r.digest}`) ?? [];
      hit.indexes = parents
        .filter((p) => Number(p.repository_id) === repo && p.child_digest === r.digest)
        .map((p) => ({ digest: p.parent_digest, tags: tagsOf.get(`${repo}\0${p.parent_digest}`) ?? [] }));
    });
  }

  /** `matched` of the page's hits only: what inside each image satisfied the criteria. */
  private async fillMatched(hits: ImageSearchHit[], query: ImageSearchQuery, files: FileCriterion | undefined, atPaths: Map<string, MatchedFile[]>, named: Map<string, MatchedFile[]>): Promise<void> {
    if (hits.length === 0) return;
    const digests = [...new Set(hits.map((h) => h.digest))];
    const per = <T>(rows: T[], digestOf: (r: T) => string) => {
      const map = new Map<string, T[]>();
      for (const r of rows) {
        const list = map.get(digestOf(r)) ?? [];
        list.push(r);
        map.set(digestOf(r), list);
      }
      return map;
    };
    if (files || named.size > 0) {
      // The path's files of images the walk looked at are known already.
      const unknown = digests.filter((d) => !atPaths.has(d));
      const found = files && unknown.length > 0 ? await this.matchedFiles(unknown, files) : new Map<string, MatchedFile[]>();
      for (const h of hits) {
        const list = [...(atPaths.get(h.digest) ?? found.get(h.digest) ?? []), ...(named.get(h.digest) ?? [])].filter((f, i, all) => all.findIndex((g) => g.path === f.path) === i);
        if (list.length > 0) h.matched.files = list.sort((a, b) => compare(a.path, b.path)).slice(0, 10);
      }
    }
    if (query.package) {
      const { rows } = await sql<{ image_digest: string; name: string; version: string; type: string }>`
        SELECT p.image_digest, p.name, p.version, p.type FROM image_package p
        WHERE p.image_digest IN (${sql.join(digests)}) AND ${packageCondition(query.package)}
        ORDER BY p.name, p.version, p.type`.execute(this.db);
      const map = per(rows, (r) => r.image_digest);
      for (const h of hits) h.matched.packages = (map.get(h.digest) ?? []).map((r) => ({ name: r.name, version: r.version, type: r.type }));
    }
    if (query.vulnerability) {
      const rows = await this.db
        .selectFrom('scan_finding')
        .select(['digest', 'finding_id', 'severity', 'package'])
        .where('digest', 'in', digests)
        .where('vuln_id', '=', query.vulnerability)
        .orderBy('package')
        .execute();
      const map = per(rows, (r) => r.digest);
      for (const h of hits) h.matched.vulnerabilities = (map.get(h.digest) ?? []).map((r) => ({ id: r.finding_id, severity: r.severity, package: r.package }));
    }
    if (query.label) {
      let q = this.db.selectFrom('image_label').select(['image_digest', 'key', 'value']).where('image_digest', 'in', digests).where('key', '=', query.label.key);
      if (query.label.value !== undefined) q = q.where('value', '=', query.label.value);
      const map = per(await q.execute(), (r) => r.image_digest);
      for (const h of hits) h.matched.labels = Object.fromEntries((map.get(h.digest) ?? []).map((r) => [r.key, r.value]));
    }
  }

  /**
   * For each image having the path, the file there with the layer it comes from (images without
   * it are absent). Two reads, both by primary key: the images' layers, then the path in each
   * distinct layer. (One join let PostgreSQL start from the path and read every image of each
   * base layer holding it: 10,000 rows for a page of 200 images.)
   */
  private async matchedFiles(digests: string[], files: FileCriterion): Promise<Map<string, MatchedFile[]>> {
    const result = new Map<string, MatchedFile[]>();
    if (files.where === undefined || digests.length === 0) return result;
    const layerRows: Array<{ image_digest: string; position: number; layer_digest: string }> = [];
    for (const part of chunks(digests, chunk)) {
      layerRows.push(...(await this.db.selectFrom('image_layer').select(['image_digest', 'position', 'layer_digest']).where('image_digest', 'in', part).execute()));
    }
    const entriesOf = new Map<string, Array<{ parent: string; name: string; size: number | string }>>();
    for (const part of chunks([...new Set(layerRows.map((l) => l.layer_digest))], chunk)) {
      const { rows } = await sql<{ layer_digest: string; parent: string; name: string; size: number | string }>`
        SELECT e.layer_digest, e.parent, e.name, e.size FROM layer_entry e
        WHERE e.layer_digest IN (${sql.join(part)}) AND e.type NOT IN ('whiteout', 'opaque') AND ${files.where}`.execute(this.db);
      for (const r of rows) entriesOf.set(r.layer_digest, [...(entriesOf.get(r.layer_digest) ?? []), r]);
    }
    const layersOf = new Map<string, Map<number, string>>();
    for (const l of layerRows) {
      const map = layersOf.get(l.image_digest) ?? new Map<number, string>();
      map.set(Number(l.position), l.layer_digest);
      layersOf.set(l.image_digest, map);
    }
    for (const [image, layers] of layersOf) {
      for (const [position, layer] of layers) {
        for (const r of entriesOf.get(layer) ?? []) {
          const hiders = files.deleters.get(`${r.parent}\0${r.name}`);
          if (hiders && [...layers].some(([p, l]) => p > position && hiders.has(l))) continue;
          const seen = result.get(image)?.[0];
          if (!seen || seen.layer < position) result.set(image, [{ path: joinPath(r.parent, r.name), layer: position, size: Number(r.size) }]);
        }
      }
    }
    return result;
  }
}

/** One file-name search's reads of copies (by layer and position) and of masks (by parent), shared by the images it checks. */
interface NameWalk {
  name: string;
  /** The layers listing the name at all. */
  holding: Set<string>;
  copies: Map<string, Array<{ parent: string; type: string; size: number }>>;
  masks: Map<string, Array<{ target: { parent: string; name: string }; kind: 'self' | 'ancestor' | 'opaque'; type: string; layer: string }>>;
}

type SearchRow = { repository_id: number; repository: string; digest: string; media_type: string; artifact_type: string | null; created_at: number | string };
type MatchedFile = { path: string; layer: number; size: number };


function keyOf(row: SearchRow): [number, string, string] {
  return [Number(row.created_at), row.repository, row.digest];
}

/** Images having a path beyond which it is asked manifest by manifest in push order (a page fills long before the list would be read). */
const defaultCommonPathImages = 1_000;

interface FileCriterion {
  paths: Array<{ parent: string; name: string }>;
  /** Per candidate path (`parent\0name`), the layers that hide it from the layers below them. */
  deleters: Map<string, Set<string>>;
  /** Image digests having a candidate not hidden; absent when no candidate exists at all. */
  subquery?: RawBuilder<unknown>;
  /** The candidate entries' condition on `e` (layer_entry). */
  where?: RawBuilder<unknown>;
}

/** The distinct layers having an entry named `name`, each found by one seek on layer_entry_name (name, layer_digest, parent). */
function layersListing(name: string): RawBuilder<unknown> {
  return sql`WITH RECURSIVE named(layer) AS (
      SELECT (SELECT min(layer_digest) FROM layer_entry WHERE name = ${name})
      UNION ALL
      SELECT (SELECT min(layer_digest) FROM layer_entry WHERE name = ${name} AND layer_digest > named.layer) FROM named WHERE named.layer IS NOT NULL
    ) SELECT layer FROM named WHERE layer IS NOT NULL`;
}

function packageCondition(pkg: NonNullable<ImageSearchQuery['package']>): RawBuilder<unknown> {
  const version = (column: string) => (pkg.version === undefined ? sql`` : sql` AND ${sql.ref(column)} = ${pkg.version}`);
  const type = pkg.type === undefined ? sql`` : sql` AND p.type = ${pkg.type}`;
  return sql`((p.name = ${pkg.name}${version('p.version')}) OR (p.source = ${pkg.name}${version('p.source_version')}))${type}`;
}

/** The project of `r.name` (its first path component, domain/names.ts projectOf) in the engine's SQL. */
function projectOfName(engine: Engine): RawBuilder<unknown> {
  return engine === 'postgres' ? sql`split_part(r.name, '/', 1)` : sql`CASE WHEN instr(r.name, '/') > 0 THEN substr(r.name, 1, instr(r.name, '/') - 1) ELSE r.name END`;
}

/**
 * The smallest string above every digest starting with `prefix`: its last hex digit raised by
 * one (`…a9` → `…aa`, `…af` → `…b`), so the bound holds under any collation of hex digits.
 * Undefined when the prefix is all `f`s (no hex bound exists; the exact prefix test remains).
 */
function prefixUpperBound(prefix: string): string | undefined {
  const hex = '0123456789abcdef';
  for (let i = prefix.length - 1; i >= 0; i--) {
    const at = hex.indexOf(prefix[i]!);
    if (at === -1) return undefined;
    if (at < 15) return prefix.slice(0, i) + hex[at + 1];
  }
  return undefined;
}

function encodeAfter(key: [number, string, string]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decodeAfter(after: string): [number, string, string] {
  try {
    const key = JSON.parse(Buffer.from(after, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(key) && key.length === 3 && Number.isSafeInteger(key[0]) && typeof key[1] === 'string' && typeof key[2] === 'string') return key as [number, string, string];
  } catch {
    // Not base64url JSON: answered below.
  }
  throw berthError('BAD_REQUEST', 'the search cursor `after` is not one a search returned');
}

/** Each layer digest's highest position in `layers` (a layer listed twice acts at its higher place). */
function topPositions(layers: readonly string[]): Map<string, number> {
  const positions = new Map<string, number>();
  layers.forEach((l, i) => positions.set(l, i));
  return positions;
}

/** For each candidate path, the highest layer that hides it (paths of lower layers are gone). */
function maskLevels(masks: Array<{ target: { parent: string; name: string }; kind: 'self' | 'ancestor' | 'opaque'; type: string; layer: string }>, positions: Map<string, number>): Map<string, number> {
  const levels = new Map<string, number>();
  for (const m of masks) {
    const position = positions.get(m.layer);
    if (position === undefined || !hides(m.kind, m.type)) continue;
    const key = `${m.target.parent}\0${m.target.name}`;
    levels.set(key, Math.max(levels.get(key) ?? -1, position));
  }
  return levels;
}

/** Byte order, as SQLite's BINARY and PostgreSQL's "C" collation sort. */
function compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function entryOf(row: Selectable<LayerEntryTable>): IndexedEntry {
  const entry: IndexedEntry = {
    parent: row.parent,
    name: row.name,
    type: row.type as IndexedEntryType,
    size: Number(row.size),
    mode: Number(row.mode),
    uid: Number(row.uid),
    gid: Number(row.gid),
  };
  if (row.link_target !== null) entry.linkTarget = row.link_target;
  return entry;
}

function layerRecordOf(row: Selectable<LayerIndexTable>): LayerIndexRecord {
  const record: LayerIndexRecord = {
    digest: row.digest,
    status: row.status as IndexStatus,
    entries: Number(row.entries),
    files: Number(row.files),
    fileBytes: Number(row.file_bytes),
    uncompressedBytes: Number(row.uncompressed_bytes),
    truncated: Number(row.truncated) === 1,
    indexedAt: Number(row.indexed_at),
  };
  if (row.error !== null) record.error = row.error;
  return record;
}

function imageRecordOf(row: Selectable<ImageIndexTable>, layers: string[]): ImageIndexRecord {
  const record: ImageIndexRecord = {
    digest: row.digest,
    status: row.status as IndexStatus,
    configDigest: row.config_digest,
    platform: row.platform,
    layers,
    compressedBytes: Number(row.compressed_bytes),
    uncompressedBytes: Number(row.uncompressed_bytes),
    packages: JSON.parse(row.packages) as Package[],
    labels: JSON.parse(row.labels) as Record<string, string>,
    annotations: JSON.parse(row.annotations) as Record<string, string>,
    createdAt: row.created_at === null ? null : Number(row.created_at),
    indexedAt: Number(row.indexed_at),
    format: Number(row.format),
  };
  if (row.error !== null) record.error = row.error;
  if (row.os !== null) record.os = JSON.parse(row.os) as OperatingSystem;
  if (row.lint !== null) record.lint = JSON.parse(row.lint) as StoredLint;
  return record;
}

function derivedOf(row: { digest: string; layer_count: number; created_at: number | null }): DerivedImage {
  return { digest: row.digest, layers: Number(row.layer_count), createdAt: row.created_at === null ? null : Number(row.created_at) };
}
