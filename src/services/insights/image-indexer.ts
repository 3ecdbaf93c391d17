import { posix } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { ConcurrencyLimit } from '../../domain/concurrency-limit.js';
import { BerthError } from '../../domain/errors.js';
import { joinPath } from '../../domain/layer-merge.js';
import { parseManifest, type Descriptor, type ParsedManifest } from '../../domain/manifest.js';
import { maxIndexedEntriesPerLayer, type ImageIndexRecord, type ImageIndexStore, type IndexedEntry, type LayerIndexRecord, type StoredLint } from '../../ports/image-index-store.js';
import type { ManifestContent, Registry } from '../registry/index.js';
import { inventoryOf, type Inventory } from '../security/inventory.js';
import { LayerView } from '../security/layer-view.js';
import type { LayerWalk } from '../security/layer-walker.js';
import { isImage } from './image-insights-service.js';
import type { LayerRead, LayerReader, WalkedLayer } from './layer-reader.js';
import { factsOf, lintOf } from './lint-service.js';

/**
 * What the records this indexer writes hold, as a number: raise it whenever that changes (a new
 * package detector, a new field), and the backfill indexes every older record again (their
 * layers' entries are kept; only the image records are made anew).
 */
export const indexFormat = 1;

/** A config larger than this is read as empty (real ones are a few KiB), as the insights read it. */
const maxConfigBytes = 4 * 2 ** 20;

export interface ImageIndexerOptions {
  /** Images indexed at once in this process (more wait their turn). */
  concurrency?: number;
  /** Entries stored per layer at most (the rest counted, the layer marked truncated). */
  maxEntriesPerLayer?: number;
  now?: () => number;
}

/** What `index` did with a manifest: an image's record (indexed now, failed now, or known from before), an index's images, or nothing. */
export type IndexOutcome =
  | { kind: 'indexed' | 'failed' | 'known'; digest: string; record: ImageIndexRecord }
  | { kind: 'index'; digest: string; images: IndexOutcome[] }
  | { kind: 'skipped'; digest: string; reason: string };

/** The image records an outcome holds (an index's platform images'), for the `lint` events. */
export function recordsOf(outcome: IndexOutcome): ImageIndexRecord[] {
  if (outcome.kind === 'index') return outcome.images.flatMap(recordsOf);
  return outcome.kind === 'skipped' ? [] : [outcome.record];
}

/**
 * Fills the image index (ports/image-index-store.ts) from pushed images (issue 17): each layer
 * the index does not know yet is walked once through the shared LayerReader, which hands the
 * whole walk here to store its entries (`layerWalked`) while the inventory, lint and insights
 * take their parts of the same walk; then the image's record (packages, labels, annotations,
 * sizes, layers) and its lint result with no rule disabled are stored. A hostile layer is a
 * failed layer and a failed image, recorded with the walker's reason: never a crash, never a
 * retry loop. Another push of the same bytes costs one lookup.
 */
export class ImageIndexer {
  private readonly limit: ConcurrencyLimit;
  private readonly now: () => number;
  private readonly maxEntries: number;
  /** Layers walked whose storing failed (a database error), by digest, until an indexing run sees it. */
  private readonly unstored = new Map<string, unknown>();

  constructor(
    private readonly registry: Registry,
    private readonly store: ImageIndexStore,
    private readonly layers: LayerReader,
    private readonly options: ImageIndexerOptions = {},
  ) {
    this.limit = new ConcurrencyLimit(options.concurrency ?? 2);
    this.now = options.now ?? Date.now;
    this.maxEntries = options.maxEntriesPerLayer ?? maxIndexedEntriesPerLayer;
  }

  /**
   * Indexes the manifest `digest` of `repository`: an image, or each platform image of an index
   * (not BuildKit's `unknown/unknown` attestations); anything else (signatures, SBOMs) has
   * nothing to index. A manifest that is gone is MANIFEST_UNKNOWN. `read`: its content, when the
   * caller has just read it.
   */
  async index(repository: string, digest: string, read?: ManifestContent): Promise<IndexOutcome> {
    const manifest = read?.digest === digest ? read : await this.registry.manifests.get(repository, digest);
    const parsed = parseManifest(manifest.body, manifest.mediaType);
    if (parsed.manifests.length > 0) {
      const images: IndexOutcome[] = [];
      for (const child of parsed.manifests) {
        if (child.platform?.os === 'unknown') continue;
        try {
          images.push(await this.index(repository, child.digest));
        } catch (err) {
          // A platform manifest the index names but this repository lacks: the others still count.
          if (err instanceof BerthError && err.key === 'MANIFEST_UNKNOWN') images.push({ kind: 'skipped', digest: child.digest, reason: 'manifest unknown' });
          else throw err;
        }
      }
      return { kind: 'index', digest: manifest.digest, images };
    }
    if (!isImage(parsed) || !parsed.config || !parsed.layers.every((l) => /tar/.test(l.mediaType))) return this.limit.once(manifest.digest, () => this.indexArtifact(manifest.digest, parsed));
    return this.limit.once(manifest.digest, () => this.indexImage(repository, manifest.digest, { ...parsed, config: parsed.config! }));
  }

  /**
   * A manifest that is not a container image (a signature, an SBOM, a Helm chart): nothing to
   * walk, but a record all the same, with its annotations and no layers, so that search finds
   * it by annotation and the backfill does not ask for it again.
   */
  private async indexArtifact(digest: string, parsed: ParsedManifest): Promise<IndexOutcome> {
    if (((await this.store.getImage(digest))?.format ?? -1) >= indexFormat) return { kind: 'skipped', digest, reason: 'not a container image' };
    await this.store.putImage({
      digest,
      status: 'indexed',
      configDigest: parsed.config?.digest ?? '',
      platform: '',
      layers: [],
      compressedBytes: parsed.layers.reduce((n, l) => n + l.size, 0),
      uncompressedBytes: 0,
      packages: [],
      labels: {},
      annotations: parsed.annotations ?? {},
      createdAt: null,
      indexedAt: this.now(),
      format: indexFormat,
    });
    return { kind: 'skipped', digest, reason: `not a container image (${parsed.artifactType ?? 'unknown type'})` };
  }

  /**
   * Stores the layer a LayerReader just walked (its `onWalked` hook): every walk of a layer the
   * index lacks fills it, whoever asked (a scan, a lint request), so it is never walked again
   * for the index. A layer already known is left as it is.
   */
  async layerWalked(walked: WalkedLayer): Promise<void> {
    this.unstored.delete(walked.digest);
    try {
      if ((await this.store.getLayer(walked.digest)) !== undefined) return;
      if ('error' in walked) {
        await this.store.putLayer(failedLayer(walked.digest, walked.error, this.now()), []);
        return;
      }
      const { record, entries } = indexedLayer(walked.digest, walked.walk, this.maxEntries, this.now());
      await this.store.putLayer(record, entries);
    } catch (err) {
      this.unstored.set(walked.digest, err);
      throw err;
    }
  }

  private async indexImage(repository: string, digest: string, parsed: ParsedManifest & { config: Descriptor }): Promise<IndexOutcome> {
    const known = await this.store.getImage(digest);
    if (known && (known.format ?? 0) >= indexFormat) return { kind: 'known', digest, record: known };
    const config = await this.configOf(repository, parsed.config);
    const base = {
      digest,
      configDigest: parsed.config.digest,
      platform: platformOf(config),
      layers: parsed.layers.map((l) => l.digest),
      compressedBytes: parsed.layers.reduce((n, l) => n + l.size, 0),
      labels: labelsOf(config),
      annotations: parsed.annotations ?? {},
      createdAt: createdOf(config),
    };
    let reads: LayerRead[];
    try {
      reads = await this.read(repository, parsed.layers);
    } catch (err) {
      if (!(err instanceof BerthError) || err.key !== 'LAYER_UNREADABLE') throw err;
      const record: ImageIndexRecord = { ...base, status: 'failed', error: describe(err), uncompressedBytes: 0, packages: [], indexedAt: this.now(), format: indexFormat };
      await this.store.putImage(record);
      return { kind: 'failed', digest, record };
    }
    const inventory: Inventory = inventoryOf(new LayerView(reads.map((r) => r.inventory)));
    const summaries = reads.map((r) => r.summary);
    // Stored with no tags: tags move, and the tag rule runs when the result is read (lint-service.ts appliedLint).
    const linted = lintOf(factsOf(config, parsed.annotations ?? {}, [], summaries), []);
    const lint: StoredLint = { findings: linted.findings, omitted: linted.omitted, summary: linted.summary };
    const record: ImageIndexRecord = {
      ...base,
      status: 'indexed',
      uncompressedBytes: summaries.reduce((n, s) => n + s.uncompressedBytes, 0),
      ...(inventory.os ? { os: inventory.os } : {}),
      packages: inventory.packages,
      lint,
      indexedAt: this.now(),
      format: indexFormat,
    };
    // The record carries its lint result: one write.
    await this.store.putImage(record);
    return { kind: 'indexed', digest, record };
  }

  /**
   * The layers' reads, lowest first: a layer the index lacks is walked afresh (its entries are
   * stored from that walk), a known one read from the reader's cache (walked only if evicted);
   * a layer recorded as failed fails the image without being walked again.
   */
  private async read(repository: string, layers: readonly Descriptor[]): Promise<LayerRead[]> {
    const known = await this.store.getLayers(layers.map((l) => l.digest));
    const reads: LayerRead[] = [];
    for (const [index, layer] of layers.entries()) {
      const stored = known.get(layer.digest);
      const isKnown = stored !== undefined;
      if (isKnown) {
        if (stored.status === 'failed') throw new BerthError('LAYER_UNREADABLE', { message: `layer ${index} (${layer.digest}) was unreadable before: ${stored.error ?? 'no reason recorded'}`, detail: { layer: index, digest: layer.digest } });
      }
      try {
        reads.push(await this.layers.read(repository, layer.digest, { fresh: !isKnown }));
        // The reader's hook stored it (layerWalked); a store that failed there fails this run, to be retried.
        const failed = this.unstored.get(layer.digest);
        if (!isKnown && failed !== undefined) {
          this.unstored.delete(layer.digest);
          throw new Error(`storing the index of layer ${layer.digest} failed`, { cause: failed });
        }
      } catch (err) {
        if (err instanceof BerthError && err.key === 'LAYER_UNREADABLE') {
          throw new BerthError('LAYER_UNREADABLE', { message: `layer ${index} (${layer.digest}) could not be read: ${err.message}`, detail: { ...((err.detail ?? {}) as object), layer: index, digest: layer.digest }, cause: err });
        }
        throw err;
      }
    }
    return reads;
  }

  private async configOf(repository: string, config: Descriptor): Promise<Record<string, unknown>> {
    if (config.size > maxConfigBytes) return {};
    try {
      const blob = await this.registry.blobs.openQuietly(repository, config.digest);
      const parsed: unknown = JSON.parse((await buffer(blob.stream)).toString('utf8'));
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
    } catch {
      return {};
    }
  }
}

/**
 * A layer's index record and entries from its walk: opaque directories and whiteouts first, then
 * the entries in tar order, the first `maxEntries` stored; then the directories those lie in
 * that were not stored (past the limit: the tar's own entry; not in the tar at all, as some image
 * builders write layers: 0755 and owned by root, as the runtime creates them), so the file tree
 * can be browsed down to every stored entry. The record's counts are of what the tar lists.
 */
export function indexedLayer(digest: string, walk: LayerWalk, maxEntries: number, now: number): { record: LayerIndexRecord; entries: IndexedEntry[] } {
  const all: IndexedEntry[] = [];
  let count = 0;
  const add = (entry: IndexedEntry) => {
    count++;
    if (all.length < maxEntries) all.push(entry);
  };
  for (const dir of walk.opaqueDirs) add({ parent: dir, name: '', type: 'opaque', size: 0, mode: 0, uid: 0, gid: 0 });
  for (const path of walk.whiteouts) add({ ...split(path), type: 'whiteout', size: 0, mode: 0, uid: 0, gid: 0 });
  let files = 0;
  let fileBytes = 0;
  const directories = new Map<string, IndexedEntry>();
  for (const entry of walk.entries) {
    // The root's own entry (`./`) names nothing.
    if (entry.path === '') continue;
    if (entry.type === 'file') {
      files++;
      fileBytes += entry.size;
    }
    const indexed: IndexedEntry = { ...split(entry.path), type: entry.type, size: entry.size, mode: entry.mode, uid: entry.uid, gid: entry.gid };
    if (entry.linkTarget !== undefined) indexed.linkTarget = entry.linkTarget;
    if (entry.type === 'directory') directories.set(entry.path, indexed);
    add(indexed);
  }
  return {
    record: { digest, status: 'indexed', entries: count, files, fileBytes, uncompressedBytes: walk.uncompressedBytes, truncated: count > all.length, indexedAt: now },
    entries: [...all, ...containingDirectories(all, directories)],
  };
}

/** The directories `stored` entries lie in (an opaque marker's: its own) that are not stored themselves, parents first. */
function containingDirectories(stored: readonly IndexedEntry[], listed: ReadonlyMap<string, IndexedEntry>): IndexedEntry[] {
  // An opaque marker (parent = its directory, name '') does not stand for the directory itself.
  const present = new Set(stored.filter((e) => e.name !== '').map((e) => joinPath(e.parent, e.name)));
  const out: IndexedEntry[] = [];
  for (const e of stored) {
    const chain: string[] = [];
    for (let dir = e.parent; dir !== '' && !present.has(dir); dir = split(dir).parent) chain.push(dir);
    for (const dir of chain.reverse()) {
      present.add(dir);
      out.push(listed.get(dir) ?? { ...split(dir), type: 'directory', size: 0, mode: 0o755, uid: 0, gid: 0 });
    }
  }
  return out;
}

function failedLayer(digest: string, error: BerthError, now: number): LayerIndexRecord {
  return { digest, status: 'failed', entries: 0, files: 0, fileBytes: 0, uncompressedBytes: 0, truncated: false, error: describe(error), indexedAt: now };
}

/** `CODE (reason): message`, as a failed layer or image records it. */
function describe(err: BerthError): string {
  const reason = (err.detail as { reason?: unknown } | undefined)?.reason;
  return `${err.code}${typeof reason === 'string' ? ` (${reason})` : ''}: ${err.message}`.slice(0, 2000);
}

function split(path: string): { parent: string; name: string } {
  const dir = posix.dirname(path);
  return { parent: dir === '.' ? '' : dir, name: posix.basename(path) };
}

function runConfig(config: Record<string, unknown>): Record<string, unknown> {
  return typeof config.config === 'object' && config.config !== null ? (config.config as Record<string, unknown>) : {};
}

function labelsOf(config: Record<string, unknown>): Record<string, string> {
  const labels: Record<string, string> = {};
  const raw = runConfig(config).Labels;
  if (typeof raw === 'object' && raw !== null) for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') labels[k] = v;
  return labels;
}

function platformOf(config: Record<string, unknown>): string {
  const part = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
  const os = part(config.os) ?? 'unknown';
  const arch = part(config.architecture) ?? 'unknown';
  const variant = part(config.variant);
  return variant ? `${os}/${arch}/${variant}` : `${os}/${arch}`;
}

function createdOf(config: Record<string, unknown>): number | null {
  if (typeof config.created !== 'string') return null;
  const at = Date.parse(config.created);
  return Number.isFinite(at) ? at : null;
}
