import type { ScanReport, ScanStore } from '../../ports/scan-store.js';

type Head = Pick<ScanReport, 'digest' | 'status' | 'dbVersion' | 'summary' | 'scannedAt'>;

export interface ScanHeadCacheOptions {
  /** How long a head read from the database stands (a report another instance stores shows after at most this long). */
  ttlMs?: number;
  /** Digests remembered at most (the oldest are dropped first). */
  maxEntries?: number;
  now?: () => number;
}

/**
 * Report heads (status, version, counts) kept for a few seconds, so pulls of an image in a
 * project with a pull policy do not read its report on every GET (issue 19: pulls that cost the
 * database almost nothing). "No report yet" is remembered too. Reports stored through this
 * store (every scan of this instance) replace the cached head at once; another instance's
 * reports show within the TTL, the same staleness the cached policies themselves have.
 */
export class ScanHeadCache implements ScanStore {
  private readonly cached = new Map<string, { head: Head | undefined; expires: number }>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** Bumped by every put: a read that began before it is answered but not kept. */
  private generation = 0;

  constructor(
    private readonly inner: ScanStore,
    options: ScanHeadCacheOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 5_000;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  async put(report: ScanReport): Promise<void> {
    this.generation++;
    this.cached.delete(report.digest);
    try {
      await this.inner.put(report);
    } finally {
      this.generation++;
      this.cached.delete(report.digest);
    }
  }

  get(digest: string): Promise<ScanReport | undefined> {
    return this.inner.get(digest);
  }

  async heads(digests: readonly string[]): Promise<Map<string, Head>> {
    const now = this.now();
    const found = new Map<string, Head>();
    const missing: string[] = [];
    for (const digest of digests) {
      const cached = this.cached.get(digest);
      if (cached && cached.expires > now) {
        if (cached.head) found.set(digest, cached.head);
      } else missing.push(digest);
    }
    if (missing.length === 0) return found;
    const generation = this.generation;
    const read = await this.inner.heads(missing);
    const keep = generation === this.generation;
    for (const digest of missing) {
      const head = read.get(digest);
      if (head) found.set(digest, head);
      if (!keep) continue;
      this.cached.delete(digest);
      if (this.cached.size >= this.maxEntries) this.cached.delete(this.cached.keys().next().value!);
      this.cached.set(digest, { head, expires: now + this.ttlMs });
    }
    return found;
  }

  due(version: number, limit: number, unscanned: boolean): ReturnType<ScanStore['due']> {
    return this.inner.due(version, limit, unscanned);
  }

  async prune(): Promise<number> {
    const removed = await this.inner.prune();
    if (removed > 0) {
      this.generation++;
      this.cached.clear();
    }
    return removed;
  }

  fanOutPushes(options: Parameters<ScanStore['fanOutPushes']>[0]): ReturnType<ScanStore['fanOutPushes']> {
    return this.inner.fanOutPushes(options);
  }
}
