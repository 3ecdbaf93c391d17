import { LruCache } from '../../domain/lru-cache.js';
import type { Readable } from 'node:stream';
import { inventoryOf, inventoryProbe, inventoryProbes, inventoryWants, type Inventory } from './inventory.js';
import { LayerView } from './layer-view.js';
import { walkLayer, type LayerWalk, type WalkLimits } from './layer-walker.js';

/** Where layers are read: this registry's blobs (BlobService), or another registry's (Berth as a scanner adapter). */
export interface LayerBlobs {
  open(repository: string, digest: string): Promise<{ stream: Readable }>;
}

/**
 * Layers already walked, by digest, as the inventory needs them (insights' LayerReader: one walk
 * per layer shared with the file index).
 */
export interface InventoryLayers {
  inventoryLayer(repository: string, digest: string): Promise<LayerWalk>;
}

export interface InventoryServiceOptions {
  /** Bytes of layer summaries kept in memory (each: the package databases, symlinks and probe results of one layer). */
  cacheBytes?: number;
  limits?: Partial<WalkLimits>;
}

/**
 * The package inventory of an image (issue 16). Each layer is read once, by digest, and only
 * what the inventory needs from it is kept (the package databases, os-release, symlinks,
 * whiteouts): an image sharing layers with one already read reads only its own, and images
 * asked for at the same time share one read of a common layer. This registry's layers come
 * through the walk shared with the file index (`InventoryLayers`); another registry's (the
 * scanner adapter) through `LayerBlobs` and a cache of this service's own.
 */
export class InventoryService {
  private readonly summaries: LruCache<string, LayerWalk>;
  private readonly reading = new Map<string, Promise<LayerWalk>>();

  constructor(
    private readonly blobs: LayerBlobs | InventoryLayers,
    private readonly options: InventoryServiceOptions = {},
  ) {
    this.summaries = new LruCache(options.cacheBytes ?? 32 * 2 ** 20, inventoryWeight);
  }

  /** The inventory of an image whose layers (lowest first) are in `repository`. */
  async ofImage(repository: string, layers: ReadonlyArray<{ digest: string }>): Promise<Inventory> {
    const walks = await Promise.all(layers.map((layer) => this.summary(repository, layer.digest)));
    return inventoryOf(new LayerView(walks));
  }

  private summary(repository: string, digest: string): Promise<LayerWalk> {
    if ('inventoryLayer' in this.blobs) return this.blobs.inventoryLayer(repository, digest);
    const cached = this.summaries.get(digest);
    if (cached) return Promise.resolve(cached);
    let pending = this.reading.get(digest);
    if (!pending) {
      pending = this.read(repository, digest).finally(() => this.reading.delete(digest));
      this.reading.set(digest, pending);
    }
    return pending;
  }

  private async read(repository: string, digest: string): Promise<LayerWalk> {
    const blob = await (this.blobs as LayerBlobs).open(repository, digest);
    const summary = inventoryLayer(await walkLayer(blob.stream, { wanted: inventoryWants, probe: inventoryProbe, limits: this.options.limits }));
    this.summaries.set(digest, summary);
    return summary;
  }
}

/** Only what inventoryOf looks at of a walk, to keep in memory: and the entries of files it probes (a later layer's may replace a lower one's). */
export function inventoryLayer(walk: LayerWalk): LayerWalk {
  return { ...walk, entries: walk.entries.filter((e) => e.type === 'symlink' || inventoryWants(e.path) || inventoryProbes(e) || walk.probes.has(e.path)) };
}

/** Bytes a walk kept for the inventory takes in memory, roughly, for the caches' bounds. */
export function inventoryWeight(walk: LayerWalk): number {
  let bytes = 256 + walk.entries.length * 128 + (walk.whiteouts.length + walk.opaqueDirs.length) * 96;
  for (const content of walk.contents.values()) bytes += content.length;
  // Probe results are small plain objects (build info, manifests): their JSON, twice over for UTF-16 strings.
  for (const found of walk.probes.values()) bytes += 64 + 2 * (JSON.stringify(found)?.length ?? 0);
  return bytes;
}
