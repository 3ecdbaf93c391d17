import type { PreheatStore } from '../../ports/preheat-store.js';
import { OutboxLoop } from '../jobs/outbox-loop.js';

export const preheatConsumer = 'preheat';

/** Event-triggered preheat policies: each tag pushed that one matches starts an execution for that image. */
export class PreheatTriggers extends OutboxLoop {
  constructor(
    private readonly store: PreheatStore,
    private readonly options: { intervalMs: number; maxAttempts: number; onJobs: () => void; onError?: (err: unknown) => void },
  ) {
    super(options);
  }

  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const { events, executions } = await this.store.fanOutEvents({ consumer: preheatConsumer, batch: 200, maxAttempts: this.options.maxAttempts, now: Date.now() });
      total += events;
      if (executions > 0) this.options.onJobs();
      if (events < 200) return total;
    }
  }
}
