/** How soon a batch that failed to write is tried again, at the earliest. */
const retryMs = 1000;

/**
 * Buffers items and writes them in batches (`intervalMs` after the first item of a batch, or at
 * `maxBatch` items), so a hot path such as pulls costs one insert per batch instead of one per
 * request. Items that fail to write are kept for the next attempt, up to `maxPending`. Nothing
 * runs while nothing is pending: an idle process is not woken.
 */
export class BatchWriter<T> {
  private pending: T[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    private readonly options: { intervalMs: number; maxBatch: number; maxPending: number; onError?: (err: unknown) => void; onWritten?: () => void },
  ) {}

  add(item: T): void {
    this.pending.push(item);
    // Once closed, nothing waits: the item is written at once.
    if (this.closed || this.pending.length >= this.options.maxBatch) void this.flush();
    else this.schedule();
  }

  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pending.length === 0) return;
      // This write takes what the timer was set for (a batch that filled up before it ran).
      clearTimeout(this.timer);
      this.timer = undefined;
      const batch = this.pending;
      this.pending = [];
      try {
        await this.write(batch);
        this.options.onWritten?.();
      } catch (err) {
        this.pending = [...batch, ...this.pending].slice(-this.options.maxPending);
        this.options.onError?.(err);
      }
      // A failed batch is tried again a second later at the soonest: a database that is down is
      // not asked, and its failure logged, 20 times a second.
      if (this.pending.length > 0) this.schedule(Math.max(this.options.intervalMs, retryMs));
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private schedule(delayMs = this.options.intervalMs): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delayMs);
    this.timer.unref();
  }
}
