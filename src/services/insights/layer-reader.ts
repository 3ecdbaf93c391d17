import { SecretMarkerProbe, secretPath } from '../../domain/lint/index.js';
import { BerthError } from '../../domain/errors.js';
import { LruCache } from '../../domain/lru-cache.js';
import { inventoryLayer, inventoryWeight, type InventoryLayers, type LayerBlobs } from '../security/inventory-service.js';
import { inventoryProbe, inventoryWants } from '../security/inventory.js';
import { walkLayer, type FileProbe, type LayerEntry, type LayerWalk, type WalkLimits } from '../security/layer-walker.js';
import { fileIndexWants, summarise, summaryWeight, type LayerSummary } from './file-index.js';

/** What one walk of a layer leaves in memory: the inventory's part of it and the file index's summary. */
export interface LayerRead {
  /** The walk as the inventory needs it (package databases, probed files, symlinks, whiteouts). */
  inventory: LayerWalk;
  summary: LayerSummary;
}

/** A layer just walked, whole (every entry), or the reason it could not be: for the persistent index. */
export type WalkedLayer = { digest: string; walk: LayerWalk } | { digest: string; error: BerthError };

export interface LayerReaderOptions {
  /** Bytes of layer reads kept in memory. */
  cacheBytes?: number;
  limits?: Partial<WalkLimits>;
  /**
   * Hears every layer this reader walks, before the callers waiting for it: the image index
   * stores its entries from this one walk (image-indexer.ts), so no caller walks it again for
   * that. A hook that fails is the hook's problem: the callers still get the layer.
   */
  onWalked?: (walked: WalkedLayer) => Promise<void>;
}

/**
 * The one walk of a layer (DESIGN.md, "One layer walker"): the package inventory, lint, the
 * image insights and the persistent file index all read a layer through here, by digest. The
 * walk keeps the union of what they want (the inventory's files and probes, the file index's
 * package databases and secret-marker probes), and is split after it into each one's part;
 * concurrent requests for one digest share the walk, and what is kept stays within a memory
 * bound (an LRU by weight). Another registry's layers (`berth inspect`, the scanner adapter)
 * come through RemoteLayers as `blobs`, keyed the same way: by the digest their bytes were
 * checked against.
 */
export class LayerReader implements InventoryLayers {
  private readonly cache: LruCache<string, LayerRead>;
  private readonly reading = new Map<string, Promise<LayerRead>>();

  constructor(
    private readonly source: { blobs: LayerBlobs },
    private readonly options: LayerReaderOptions = {},
  ) {
    this.cache = new LruCache(options.cacheBytes ?? 64 * 2 ** 20, (read) => summaryWeight(read.summary) + inventoryWeight(read.inventory));
  }

  /** The layer `digest` of `repository`, walked now unless kept or being walked; `fresh` walks it again whatever is kept. */
  read(repository: string, digest: string, options: { fresh?: boolean } = {}): Promise<LayerRead> {
    const cached = options.fresh ? undefined : this.cache.get(digest);
    if (cached) return Promise.resolve(cached);
    let pending = this.reading.get(digest);
    if (!pending) {
      pending = this.walk(repository, digest).finally(() => this.reading.delete(digest));
      this.reading.set(digest, pending);
    }
    return pending;
  }

  /** The inventory's part of a layer (InventoryService over the shared walk). */
  async inventoryLayer(repository: string, digest: string): Promise<LayerWalk> {
    return (await this.read(repository, digest)).inventory;
  }

  /** The file index's summary of layer `index` (0 = the lowest, named in the error) of an image in `repository`. */
  async summary(repository: string, digest: string, index: number): Promise<LayerSummary> {
    try {
      return (await this.read(repository, digest)).summary;
    } catch (err) {
      if (err instanceof BerthError && err.key === 'LAYER_UNREADABLE') {
        const detail = (err.detail ?? {}) as Record<string, unknown>;
        throw new BerthError('LAYER_UNREADABLE', { message: `layer ${index} (${digest}) could not be read: ${err.message}`, detail: { ...detail, layer: index, digest }, cause: err });
      }
      throw err;
    }
  }

  private async walk(repository: string, digest: string): Promise<LayerRead> {
    const blob = await this.source.blobs.open(repository, digest);
    // A storage read that fails midway reads as a broken tar to the walker: that is not the
    // layer's fault, so it is the storage's error (a retry may succeed), never a recorded failure.
    let storageError: unknown;
    blob.stream.once('error', (err) => (storageError ??= err));
    let walk: LayerWalk;
    try {
      walk = await walkLayer(blob.stream, { wanted: inventoryWants, probe: bothProbes, limits: this.options.limits });
    } catch (err) {
      if (storageError !== undefined) throw storageError;
      if (err instanceof BerthError && err.key === 'LAYER_UNREADABLE') await this.tell({ digest, error: err });
      throw err;
    }
    const read = split(walk);
    await this.tell({ digest, walk: { ...walk, probes: read.inventory.probes } });
    this.cache.set(digest, read);
    return read;
  }

  private async tell(walked: WalkedLayer): Promise<void> {
    try {
      await this.options.onWalked?.(walked);
    } catch {
      // The index retries on its own (the image stays unindexed); readers still get the layer.
    }
  }
}

/** What the two probes of one file found (when both the inventory and the file index read it). */
class BothFound {
  constructor(
    readonly inventory: unknown,
    readonly markers: unknown,
  ) {}
}

/**
 * The inventory's probe and the secret-marker probe (either may be absent) fed the same bytes,
 * each until it has enough; what they found stays apart, for `split`.
 */
class BothProbes implements FileProbe {
  private inventoryDone: boolean;
  private markersDone: boolean;
  private inventoryFound: unknown;
  private markersFound: unknown;

  constructor(
    private readonly inventory: FileProbe | undefined,
    private readonly markers: FileProbe | undefined,
  ) {
    this.inventoryDone = !inventory;
    this.markersDone = !markers;
  }

  update(chunk: Buffer): boolean {
    if (!this.inventoryDone) this.inventoryDone = settle(this.inventory!, chunk, (found) => (this.inventoryFound = found));
    if (!this.markersDone) this.markersDone = settle(this.markers!, chunk, (found) => (this.markersFound = found));
    return this.inventoryDone && this.markersDone;
  }

  finish(): unknown {
    if (!this.inventoryDone) this.inventoryFound = finished(this.inventory!);
    if (!this.markersDone) this.markersFound = finished(this.markers!);
    return new BothFound(this.inventoryFound, this.markersFound);
  }
}

/** Feeds `probe` a chunk; once it has enough, keeps what it found. True when it is done (a probe that throws is done, having found nothing). */
function settle(probe: FileProbe, chunk: Buffer, keep: (found: unknown) => void): boolean {
  try {
    if (!probe.update(chunk)) return false;
  } catch {
    return true;
  }
  keep(finished(probe));
  return true;
}

function finished(probe: FileProbe): unknown {
  try {
    return probe.finish();
  } catch {
    return undefined;
  }
}

/** The walk's probe: the inventory's (Go binaries, Java archives), the file index's (secret markers), or both for one file. */
function bothProbes(entry: LayerEntry): FileProbe | undefined {
  const inventory = inventoryProbe(entry);
  const markers = secretPath(entry.path)?.needs ? new SecretMarkerProbe() : undefined;
  return inventory || markers ? new BothProbes(inventory, markers) : undefined;
}

/** The one walk split into the inventory's part and the file index's summary, as if each had walked with its own options. */
function split(walk: LayerWalk): LayerRead {
  const inventoryProbes = new Map<string, unknown>();
  const markerProbes = new Map<string, unknown>();
  for (const [path, found] of walk.probes) {
    if (!(found instanceof BothFound)) continue;
    const { inventory, markers } = found;
    if (inventory !== undefined) inventoryProbes.set(path, inventory);
    if (markers !== undefined) markerProbes.set(path, markers);
  }
  const indexContents = new Map([...walk.contents].filter(([path]) => fileIndexWants(path)));
  const summary = summarise({ ...walk, contents: indexContents, probes: markerProbes });
  return { inventory: inventoryLayer({ ...walk, probes: inventoryProbes }), summary };
}
