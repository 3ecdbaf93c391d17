/**
 * Buffers items and writes them in batches (every `intervalMs`, or at `maxBatch` items), so a
 * hot path such as pulls costs one insert per batch instead of one per request. Items that
 * fail to write are kept for the next attempt, up to `maxPending`.
 */
export class BatchWriter<T> {
  private pending: T[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    private readonly options: { intervalMs: number; maxBatch: number; maxPending: number; onError?: (err: unknown) => void; onWritten?: () => void },
  ) {
    this.timer = setInterval(() => void this.flush(), options.intervalMs);
    this.timer.unref();
  }

  add(item: T): void {
    this.pending.push(item);
    if (this.pending.length >= this.options.maxBatch) void this.flush();
  }

  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pending.length === 0) return;
      const batch = this.pending;
      this.pending = [];
      try {
        await this.write(batch);
        this.options.onWritten?.();
      } catch (err) {
        this.pending = [...batch, ...this.pending].slice(-this.options.maxPending);
        this.options.onError?.(err);
      }
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
