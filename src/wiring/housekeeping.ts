import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import type { AuditLog } from '../services/audit/audit-log.js';
import type { TokenService } from '../services/identity/token-service.js';
import { exponentialBackoff } from '../services/jobs/job-runner.js';
import type { Registry } from '../services/registry/index.js';
import type { Hardening } from './hardening.js';
import type { Jobs } from './jobs.js';

export interface HousekeepingDependencies {
  jobs: Jobs;
  registry: Registry;
  audit: AuditLog;
  hardening: Hardening;
  tokens: TokenService;
  logger: Logger;
}

/**
 * The hourly housekeeping job: stale uploads, the audit log's retention, old events and jobs,
 * old login failures and rate counters, and the signing keys' rotation.
 */
export async function wireHousekeeping(config: ResolvedConfig, deps: HousekeepingDependencies): Promise<void> {
  const { jobs } = deps;
  jobs.runner.register('housekeeping', {
    maxAttempts: 3,
    backoff: exponentialBackoff(60_000, 600_000),
    run: async () => {
      const now = Date.now();
      const uploads = await deps.registry.uploads.purgeStale(now - config.registry.uploadTtlHours * 3600_000);
      const auditRows = await deps.audit.applyRetention();
      const events = await jobs.events.prune(now - config.events.retentionDays * 86_400_000);
      const pruned = await jobs.jobs.prune(now - config.events.retentionDays * 86_400_000);
      const { loginFailures, rateCounters } = await deps.hardening.housekeeping();
      await deps.tokens.init();
      deps.logger.info({ uploads, auditRows, events, jobs: pruned, loginFailures, rateCounters }, 'housekeeping done');
    },
  });
  await jobs.scheduler.define({ name: 'housekeeping', cron: '7 * * * *', jobType: 'housekeeping' });
}
