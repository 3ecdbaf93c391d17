import { BerthError } from '../../domain/errors.js';
import { LruCache } from '../../domain/lru-cache.js';
import type { LayerBlobs } from '../security/inventory-service.js';
import { walkLayer, type WalkLimits } from '../security/layer-walker.js';
import { fileIndexWalk, summarise, summaryWeight, type LayerSummary } from './file-index.js';

export interface LayerSummariesOptions {
  /** Bytes of layer summaries kept in memory. */
  cacheBytes?: number;
  limits?: Partial<WalkLimits>;
}

/**
 * Layer summaries by layer digest, shared by lint and the image insights: each layer is walked
 * once (DESIGN.md, "One layer walker"), concurrent requests for one digest share the walk, and
 * the summaries are kept within a memory bound. A hostile layer is a LAYER_UNREADABLE error
 * naming the layer, for this request only. Layers come from this registry's blobs (the
 * Registry), or from another registry's through RemoteLayers (`berth inspect`).
 */
export class LayerSummaries {
  private readonly cache: LruCache<string, LayerSummary>;
  private readonly reading = new Map<string, Promise<LayerSummary>>();

  constructor(
    private readonly source: { blobs: LayerBlobs },
    private readonly options: LayerSummariesOptions = {},
  ) {
    this.cache = new LruCache(options.cacheBytes ?? 32 * 2 ** 20, summaryWeight);
  }

  /** The summary of layer `index` (0 = the lowest, for the error message) of an image in `repository`. */
  get(repository: string, digest: string, index: number): Promise<LayerSummary> {
    const cached = this.cache.get(digest);
    if (cached) return Promise.resolve(cached);
    let pending = this.reading.get(digest);
    if (!pending) {
      pending = this.read(repository, digest).finally(() => this.reading.delete(digest));
      this.reading.set(digest, pending);
    }
    return pending.catch((err: unknown) => {
      if (err instanceof BerthError && err.key === 'LAYER_UNREADABLE') {
        const detail = (err.detail ?? {}) as Record<string, unknown>;
        throw new BerthError('LAYER_UNREADABLE', { message: `layer ${index} (${digest}) could not be read: ${err.message}`, detail: { ...detail, layer: index, digest }, cause: err });
      }
      throw err;
    });
  }

  private async read(repository: string, digest: string): Promise<LayerSummary> {
    const blob = await this.source.blobs.open(repository, digest);
    const summary = summarise(await walkLayer(blob.stream, { ...fileIndexWalk, limits: this.options.limits }));
    this.cache.set(digest, summary);
    return summary;
  }
}
