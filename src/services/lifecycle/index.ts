import type { GcOptions, GcRunRow } from '../../ports/gc-store.js';
import type { GarbageCollector } from './garbage-collector.js';

export { GarbageCollector } from './garbage-collector.js';

/** Storage lifecycle as the API and console use it (docs/lifecycle.md). */
export interface Lifecycle {
  gc: GarbageCollector;
  /** Queues a run and its job; resolves the queued run (CONFLICT while one is queued or running). */
  requestGc(options: Partial<GcOptions>, triggeredBy: string): Promise<GcRunRow>;
}
