import type { Digest } from '../domain/digest.js';

/** A manifest that references an image's first layer, and how many of the image's layers it references. */
export interface BaseImageCandidate {
  repository: string;
  digest: Digest;
  /** Of the layers asked about, how many the manifest references (its own layer order is not stored: callers verify). */
  matched: number;
}

/** The queries base-image detection needs (services/insights/image-insights-service.ts). */
export interface BaseImageStore {
  /**
   * Manifests of any repository referencing `first` (the image's lowest layer), with how many of
   * `layers` each references, most first, at most `limit`.
   */
  candidates(first: Digest, layers: Digest[], limit: number): Promise<BaseImageCandidate[]>;
  /** Repositories holding the manifest `digest`, by name, at most `limit`. */
  repositoriesWith(digest: Digest, limit: number): Promise<string[]>;
}
