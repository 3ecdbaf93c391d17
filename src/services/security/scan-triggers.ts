import type { ScanStore } from '../../ports/scan-store.js';
import { OutboxLoop } from '../jobs/outbox-loop.js';

export const scanConsumer = 'scan';

/** Scan on push: each manifest pushed becomes a `scan.artifact` job (the job skips projects that switched it off). */
export class ScanTriggers extends OutboxLoop {
  constructor(
    private readonly store: ScanStore,
    private readonly options: { intervalMs: number; maxAttempts: number; onJobs: () => void; onError?: (err: unknown) => void },
  ) {
    super(options);
  }

  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const { events, jobs } = await this.store.fanOutPushes({ consumer: scanConsumer, batch: 200, maxAttempts: this.options.maxAttempts, now: Date.now() });
      total += events;
      if (jobs > 0) this.options.onJobs();
      if (events < 200) return total;
    }
  }
}
