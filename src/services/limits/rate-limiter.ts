import type { RateCounterStore } from '../../ports/rate-counter-store.js';

export interface RateDecision {
  allowed: boolean;
  limit: number;
  /** Requests left in the window as far as this process knows (never more than really are). */
  remaining: number;
  windowMs: number;
  /** Until the window ends. */
  resetMs: number;
}

export interface RateLimiterOptions {
  /** Unused requests a process holds are given back after it has been idle this long. */
  releaseAfterMs?: number;
  /** Most requests claimed from the shared counter at once. */
  maxBatch?: number;
  /** A refused key asks the shared counter again after this long (others may have given some back). */
  recheckMs?: number;
  now?: () => number;
  onError?: (err: unknown) => void;
}

/** Requests this process has claimed from the shared counter of one key and window. */
interface Lease {
  windowStart: number;
  /** Claimed and not yet used. */
  held: number;
  /** The shared count after this process's last claim. */
  count: number;
  lastUsed: number;
  refusedAt?: number;
  claiming?: Promise<void>;
}

/**
 * Fixed-window counting shared through the database, without a database write per request:
 * a process claims a batch of requests from the shared counter (a sixteenth of what is left,
 * so at most 1 when little is left) and spends it locally, giving back what it has not used
 * when it goes idle. The total admitted never exceeds the limit, whichever process or
 * instance a request lands on; near the limit every request asks the database.
 */
export class RateLimiter {
  private readonly leases = new Map<string, Lease>();
  private readonly now: () => number;
  private readonly releaseAfterMs: number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: RateCounterStore,
    private readonly options: RateLimiterOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.releaseAfterMs = options.releaseAfterMs ?? 1000;
    this.timer = setInterval(() => void this.releaseIdle(), this.releaseAfterMs);
    this.timer.unref();
  }

  /** Counts one request against `key`, allowed while fewer than `limit` were counted in this window. */
  async take(key: string, limit: number, windowMs: number): Promise<RateDecision> {
    const now = this.now();
    const windowStart = Math.floor(now / windowMs) * windowMs;
    const decision = (allowed: boolean, lease?: Lease): RateDecision => ({
      allowed,
      limit,
      remaining: lease ? Math.max(0, Math.min(limit, limit - lease.count + lease.held)) : 0,
      windowMs,
      resetMs: windowStart + windowMs - now,
    });
    if (limit <= 0) return decision(false);
    let lease = this.leases.get(key);
    if (!lease || lease.windowStart !== windowStart) {
      lease = { windowStart, held: 0, count: 0, lastUsed: now };
      this.leases.set(key, lease);
    }
    lease.lastUsed = now;
    while (lease.held === 0) {
      if (lease.refusedAt !== undefined && now - lease.refusedAt < (this.options.recheckMs ?? 500)) return decision(false, lease);
      const current = lease;
      current.claiming ??= this.claim(key, current, limit).finally(() => (current.claiming = undefined));
      await current.claiming;
      if (lease.held === 0 && lease.refusedAt !== undefined) return decision(false, lease);
    }
    lease.held--;
    return decision(true, lease);
  }

  /** Gives back one request taken from `key` (a later check of the same request refused it). */
  refund(key: string): void {
    const lease = this.leases.get(key);
    if (lease) lease.held++;
  }

  /** Gives back everything held and stops. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.releaseIdle(true);
  }

  private async claim(key: string, lease: Lease, limit: number): Promise<void> {
    const left = Math.max(0, limit - lease.count);
    const batch = Math.max(1, Math.min(this.options.maxBatch ?? 100, Math.floor(left / 16)));
    let count = await this.store.claim(key, lease.windowStart, Math.min(batch, limit), limit);
    let granted = batch;
    if (count === undefined && batch > 1) {
      count = await this.store.claim(key, lease.windowStart, 1, limit);
      granted = 1;
    }
    if (count === undefined) {
      lease.refusedAt = this.now();
      lease.count = limit;
      return;
    }
    lease.refusedAt = undefined;
    lease.count = count;
    lease.held += granted;
  }

  private async releaseIdle(all = false): Promise<void> {
    const now = this.now();
    for (const [key, lease] of this.leases) {
      // A lease being topped up is in use; the next round looks at it again.
      if (lease.claiming || (!all && now - lease.lastUsed < this.releaseAfterMs)) continue;
      const held = lease.held;
      lease.held = 0;
      this.leases.delete(key);
      if (held > 0) {
        await this.store.release(key, lease.windowStart, held).catch((err: unknown) => this.options.onError?.(err));
      }
    }
  }
}
