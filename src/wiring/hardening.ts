import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import type { Database } from '../adapters/db/connect.js';
import { KyselyLoginFailureStore } from '../adapters/db/kysely-login-failure-store.js';
import { KyselyRateCounterStore } from '../adapters/db/kysely-rate-counter-store.js';
import { KyselySettingsStore } from '../adapters/db/kysely-settings-store.js';
import { OutboundClient } from '../adapters/outbound/outbound-client.js';
import type { Metrics } from '../http/metrics.js';
import type { ProjectRow } from '../ports/identity-store.js';
import { LoginThrottle } from '../services/identity/login-throttle.js';
import { RateLimiter } from '../services/limits/rate-limiter.js';
import { RequestLimits } from '../services/limits/request-limits.js';
import { SystemSettings } from '../services/settings/system-settings.js';

/** What the hardening features give the rest of the server. */
export interface Hardening {
  settings: SystemSettings;
  /** The one client for requests to other hosts (DESIGN.md, "Outbound requests"). */
  outbound: OutboundClient;
  loginThrottle: LoginThrottle;
  limits: RequestLimits;
  /** Forgets old login failures and rate counters (the hourly housekeeping job). */
  housekeeping(): Promise<{ loginFailures: number; rateCounters: number }>;
  close(): Promise<void>;
}

export interface HardeningDependencies {
  metrics: Metrics;
  logger: Logger;
  version: string;
  /** A project by name, as the authorizer caches it (for project rate limits). */
  project: (name: string) => Promise<ProjectRow | undefined>;
  /** Tells other processes and instances that settings changed. */
  onSettingsChange: () => void;
}

/**
 * Wires the outbound-request policy, the login back-off, rate limits and the runtime settings
 * they read (docs/hardening.md).
 */
export async function wireHardening(database: Database, config: ResolvedConfig, deps: HardeningDependencies): Promise<Hardening> {
  const settings = new SystemSettings(new KyselySettingsStore(database), {
    file: {
      outbound: config.outbound,
      rateLimits: config.rateLimits,
      quotaDefaults: { storageBytes: config.lifecycle.quota.defaultStorageBytes, artifacts: config.lifecycle.quota.defaultArtifacts },
    },
    onChange: deps.onSettingsChange,
  });
  await settings.reload();
  const outbound = new OutboundClient({
    allowed: (feature) => settings.allowedCidrs(feature),
    timeoutMs: config.outbound.timeoutMs,
    maxResponseBytes: config.outbound.maxResponseBytes,
    maxRedirects: config.outbound.maxRedirects,
    userAgent: `Berth/${deps.version}`,
  });
  const { lockout } = config.auth;
  const loginThrottle = new LoginThrottle(new KyselyLoginFailureStore(database), {
    attempts: lockout.attempts,
    delayMs: lockout.delaySeconds * 1000,
    maxDelayMs: lockout.maxDelaySeconds * 1000,
    sourceAttempts: lockout.sourceAttempts,
    forgetMs: lockout.forgetHours * 3_600_000,
  }, { onRefused: () => deps.metrics.loginBackoff.inc() });
  const counters = new KyselyRateCounterStore(database);
  const limiter = new RateLimiter(counters, { onError: (err) => deps.logger.warn({ err }, 'giving back unused rate-limit counts failed; they return when the window ends') });
  const limits = new RequestLimits(limiter, {
    settings: () => settings.limits(),
    project: deps.project,
    onDecision: (category, _subject, allowed) => deps.metrics.rateLimited.inc({ category, result: allowed ? 'allowed' : 'refused' }),
  });
  return {
    settings,
    outbound,
    loginThrottle,
    limits,
    async housekeeping() {
      const loginFailures = await loginThrottle.prune();
      // Counters of windows that ended are never read again.
      const rateCounters = await counters.prune(Date.now() - settings.limits().windowSeconds * 1000);
      return { loginFailures, rateCounters };
    },
    async close() {
      await limiter.close();
      await outbound.close();
    },
  };
}
