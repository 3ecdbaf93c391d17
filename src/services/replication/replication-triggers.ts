import type { ReplicationStore } from '../../ports/replication-store.js';
import { OutboxLoop } from '../jobs/outbox-loop.js';

export const replicationConsumer = 'replication';

/**
 * Event-triggered push rules: reads the outbox and starts an execution for each tag pushed
 * that such a rule matches (ReplicationStore.fanOutEvents), so a push here reaches the other
 * site without waiting for a schedule.
 */
export class ReplicationTriggers extends OutboxLoop {
  constructor(
    private readonly store: ReplicationStore,
    private readonly options: { intervalMs: number; maxAttempts: number; onJobs: () => void; onError?: (err: unknown) => void; now?: () => number },
  ) {
    super(options);
  }

  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const { events, executions } = await this.store.fanOutEvents({ consumer: replicationConsumer, batch: 200, maxAttempts: this.options.maxAttempts, now: (this.options.now ?? Date.now)() });
      total += events;
      if (executions > 0) this.options.onJobs();
      if (events < 200) return total;
    }
  }
}
