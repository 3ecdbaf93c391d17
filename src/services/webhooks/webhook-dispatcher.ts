import type { WebhookStore } from '../../ports/webhook-store.js';
import { OutboxLoop } from '../jobs/outbox-loop.js';

export const webhookConsumer = 'webhooks';

/**
 * Reads the outbox and turns each event into deliveries for the webhooks that want it. Woken
 * at once by changes in this process; every `intervalMs` it also looks for events written by
 * other instances.
 */
export class WebhookDispatcher extends OutboxLoop {
  constructor(
    private readonly webhooks: WebhookStore,
    private readonly options: { intervalMs: number; maxAttempts: number; onJobs: () => void; onError?: (err: unknown) => void; now?: () => number },
  ) {
    super(options);
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
}
