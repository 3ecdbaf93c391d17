import type { WebhookStore } from '../../ports/webhook-store.js';

export const webhookConsumer = 'webhooks';

/**
 * Reads the outbox and turns each event into deliveries for the webhooks that want it. Woken
 * at once by changes in this process; every `intervalMs` it also looks for events written by
 * other instances.
 */
export class WebhookDispatcher {
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private pending = false;

  constructor(
    private readonly webhooks: WebhookStore,
    private readonly options: { intervalMs: number; maxAttempts: number; onJobs: () => void; onError?: (err: unknown) => void; now?: () => number },
  ) {}

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

  /** Fans out everything pending now (also used by tests and shutdown). */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const { events, jobs } = await this.webhooks.fanOut({ consumer: webhookConsumer, batch: 200, maxAttempts: this.options.maxAttempts, now: (this.options.now ?? Date.now)() });
      total += events;
      // Wake the job runner only for deliveries it can run (not for every pull recorded).
      if (jobs > 0) this.options.onJobs();
      if (events < 200) return total;
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      this.pending = false;
      try {
        await this.drain();
      } catch (err) {
        this.options.onError?.(err);
      }
      if (!this.running || this.pending) continue;
      await new Promise<void>((resolve) => {
        if (!this.running) return resolve();
        const done = () => {
          clearTimeout(timer);
          this.wakeUp = undefined;
          resolve();
        };
        const timer = setTimeout(done, this.options.intervalMs);
        this.wakeUp = done;
      });
    }
  }
}
