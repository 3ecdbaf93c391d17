import type { Digest } from '../../domain/digest.js';
import type { MetadataStore } from '../../ports/metadata-store.js';

/** How long a writer's pin holds a blob against collection if the writer dies (it is removed on success). */
export const pinTtlMs = 6 * 3_600_000;

export interface WritePinOptions {
  /**
   * Garbage collection's lease (lifecycle.gc.leaseSeconds): a removal older than this was left
   * by a collector that died, because a live one renews its lease with every batch.
   */
  removalLeaseMs: number;
  now: () => number;
}

/**
 * Pins `digest` for a writer that is about to store its bytes (an upload's commit, a
 * manifest's content), so garbage collection cannot delete them after they are written
 * (docs/lifecycle.md, "Why a push always wins"). When the collector is deleting an old copy of
 * the same digest at this moment, the writer waits for that to finish (a batch takes
 * milliseconds) and then writes anew; a removal its collector abandoned is dropped once the
 * collector's lease has run out. Resolves true when the stored copy is quarantined (the writer
 * replaces it).
 */
export async function pinForWrite(meta: MetadataStore, digest: Digest, token: string, options: WritePinOptions): Promise<boolean> {
  let waitMs = 5;
  for (;;) {
    const pin = await meta.pinBlob(digest, token, options.now() + pinTtlMs);
    if (pin.removingSince === undefined) return pin.quarantined;
    if (options.now() - pin.removingSince > options.removalLeaseMs) {
      await meta.abandonRemoval(digest, pin.removingSince);
      continue;
    }
    await new Promise((resolve) => setTimeout(resolve, waitMs));
    waitMs = Math.min(waitMs * 2, 250);
  }
}
