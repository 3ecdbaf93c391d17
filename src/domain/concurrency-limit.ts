/**
 * Runs at most `limit` pieces of work at once; more wait their turn, first come first served.
 * Work asked for by key while the same key runs joins it instead of running again.
 */
export class ConcurrencyLimit {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly running = new Map<string, Promise<unknown>>();

  constructor(private readonly limit: number) {}

  /** Runs `work` when a slot is free. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await work();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }

  /** Runs `work` for `key`, or joins the run of `key` already under way. */
  once<T>(key: string, work: () => Promise<T>): Promise<T> {
    let pending = this.running.get(key) as Promise<T> | undefined;
    if (!pending) {
      pending = this.run(work).finally(() => this.running.delete(key));
      this.running.set(key, pending);
    }
    return pending;
  }
}
