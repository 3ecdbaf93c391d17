import type { GcOptions, GcRunRow } from '../../ports/gc-store.js';
import type { ProjectRow } from '../../ports/identity-store.js';
import type { RetentionRunRow } from '../../ports/policy-store.js';
import type { GarbageCollector } from './garbage-collector.js';
import type { ProjectPolicies } from './policies.js';
import type { RetentionService } from './retention.js';
import type { QuotaService } from './quotas.js';
import type { Scrubber } from './scrubber.js';
import type { ScrubRunRow } from '../../ports/scrub-store.js';

export { GarbageCollector } from './garbage-collector.js';
export { ProjectPolicies, type RetentionPolicy } from './policies.js';
export { RetentionService } from './retention.js';
export { QuotaService, type ProjectQuota } from './quotas.js';
export { Scrubber } from './scrubber.js';

/** Storage lifecycle as the API and console use it (docs/lifecycle.md). */
export interface Lifecycle {
  gc: GarbageCollector;
  /** Queues a run and its job; resolves the queued run (CONFLICT while one is queued or running). */
  requestGc(options: Partial<GcOptions>, triggeredBy: string): Promise<GcRunRow>;
  policies: ProjectPolicies;
  retention: RetentionService;
  /** Queues a retention run (or dry run) of the project and its job. */
  requestRetention(project: ProjectRow, dryRun: boolean, triggeredBy: string): Promise<RetentionRunRow>;
  quotas: QuotaService;
  scrub: Scrubber;
  /** Queues a scrub run and its job (CONFLICT while one is queued or running). */
  requestScrub(triggeredBy: string): Promise<ScrubRunRow>;
}
