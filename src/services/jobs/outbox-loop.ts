/**
 * A consumer of the event outbox that drains in a loop: woken at once by `notify` (changes in
 * this process), and every `intervalMs` for events other instances wrote.
 */
export abstract class OutboxLoop {
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private pending = false;

  constructor(private readonly loopOptions: { intervalMs: number; onError?: (err: unknown) => void }) {}

  /** Consumes everything pending now; resolves how many events it read. */
  abstract drain(): Promise<number>;

  notify(): void {
    this.pending = true;
    this.wakeUp?.();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wakeUp?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      this.pending = false;
      try {
        await this.drain();
      } catch (err) {
        this.loopOptions.onError?.(err);
      }
      if (!this.running || this.pending) continue;
      await new Promise<void>((resolve) => {
        if (!this.running) return resolve();
        const done = () => {
          clearTimeout(timer);
          this.wakeUp = undefined;
          resolve();
        };
        const timer = setTimeout(done, this.loopOptions.intervalMs);
        this.wakeUp = done;
      });
    }
  }
}
