import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import type { Database } from '../adapters/db/connect.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { AuditLog } from '../services/audit/audit-log.js';
import type { Registry } from '../services/registry/index.js';
import type { Lifecycle } from '../services/lifecycle/index.js';
import type { WebhookService } from '../services/webhooks/webhook-service.js';
import type { Metrics } from '../http/metrics.js';
import { berthVersion } from '../version.js';
import { wireBackup } from './backup.js';
import type { Hardening } from './hardening.js';
import { wireHousekeeping } from './housekeeping.js';
import type { Identity } from './identity.js';
import { wireInsights, type Insights } from './insights.js';
import type { Jobs } from './jobs.js';
import { wireLifecycle } from './lifecycle.js';
import { wirePreheat, type Preheat } from './preheat.js';
import { wireRecommendations, type Recommendations } from './rebuild-hints.js';
import { wireReplication, type Replication } from './replication.js';
import { wireSearch, type Search } from './search.js';
import { wireSecurity, type Security } from './security.js';
import { wireWebhooks } from './webhooks.js';

export interface FeatureDependencies {
  store: BlobStore;
  registry: Registry;
  jobs: Jobs;
  access: Identity;
  hardening: Hardening;
  audit: AuditLog;
  metrics: Metrics;
  logger: Logger;
  /** Tells the other processes that settings or project policies changed. */
  announceSettings: () => void;
  /** The registry's own URL (the configured public one, or where it listens once it does). */
  registryUrl: () => string;
  /** Its host and port, as clients name it in a pull (webhook payloads). */
  registryHost: () => string;
}

/** What is built on the registry and identity: lifecycle, events out, replication, supply-chain security, insights. */
export interface Features {
  webhooks: WebhookService;
  lifecycle: Lifecycle;
  replication: Replication;
  preheat: Preheat;
  insights: Insights;
  security: Security;
  search: Search;
  recommendations: Recommendations;
  /** Tells the features that react to pushes at once (scan on push, rebuild hints) of new pushes. */
  pushed(): void;
  /** Starts their triggers (with the job runner's, when jobs run in this process). */
  start(): void;
  /** Stops their triggers and the proxy cache's upstream connections. */
  stop(): Promise<void>;
}

/** Wires the features in the order their dependencies ask for; each module loads its own parts. */
export async function wireFeatures(database: Database, config: ResolvedConfig, deps: FeatureDependencies): Promise<Features> {
  const { registry, jobs, access, hardening, metrics, logger } = deps;
  const { runner, scheduler, dispatcher, queuedEvents } = jobs;
  const { identity, authorizer } = access;
  const project = (name: string) => authorizer.project(name);
  const webhooks = wireWebhooks(config, { jobs, identity, outbound: hardening.outbound, metrics, logger, registryHost: deps.registryHost });
  await wireHousekeeping(config, { jobs, registry, audit: deps.audit, hardening, tokens: access.tokens, logger });
  const lifecycle = await wireLifecycle(database, config, {
    registry,
    store: deps.store,
    identity,
    project,
    onPoliciesChange: deps.announceSettings,
    onProjectChange: access.onIdentityChange,
    events: jobs.events,
    runner,
    scheduler,
    metrics,
    logger,
    onEvents: () => dispatcher.notify(),
  });
  const replication = await wireReplication(database, config, {
    outbound: hardening.outbound,
    logger,
    registry,
    runner,
    scheduler,
    events: jobs.events,
    onEvents: () => dispatcher.notify(),
    metrics,
    project,
  });
  const preheat = await wirePreheat(database, config, {
    outbound: hardening.outbound,
    box: replication.box,
    logger,
    registry,
    identity,
    robots: access.robots,
    runner,
    scheduler,
    metrics,
    registryUrl: deps.registryUrl,
  });
  // Their events are queued (jobs.background), whose writes wake the consumers.
  const insights = await wireInsights(database, config, { registry, runner, scheduler, events: queuedEvents, onEvents: () => undefined, logger });
  const indexing = config.insights.index.enabled;
  const security = await wireSecurity(database, config, {
    registry,
    runner,
    scheduler,
    events: queuedEvents,
    onEvents: () => undefined,
    metrics,
    logger,
    project,
    version: berthVersion(),
    outbound: hardening.outbound,
    box: replication.box,
    robots: access.robots,
    registryUrl: deps.registryUrl,
    layers: insights.layers,
    indexImage: indexing ? insights.indexPushed : undefined,
    storedInventory: insights.storedInventory,
    pushedManifest: indexing ? insights.pushedManifest : undefined,
  });
  // A file tree asked of an image its push job has not indexed yet indexes it at once (the job's lint event still follows, from the stored record).
  const indexer = insights.indexer;
  const search = wireSearch(database, { registry, authorizer, index: insights.index, indexNow: indexer ? async (repository, digest) => void (await indexer.index(repository, digest)) : undefined });
  const recommendations = await wireRecommendations(database, {
    registry,
    authorizer,
    onEvents: () => dispatcher.notify(),
    onError: (err) => logger.warn({ err }, 'working out rebuild hints failed; retried at the next push'),
    runner,
    scheduler,
    logger,
    indexing,
  });
  await wireBackup(config, { runner, scheduler, store: deps.store, audit: deps.audit, logger, berthVersion: berthVersion() });
  return {
    webhooks,
    lifecycle,
    replication,
    preheat,
    insights,
    security,
    search,
    recommendations,
    pushed() {
      security.triggers.notify();
      recommendations.triggers.notify();
    },
    start() {
      replication.triggers.start();
      preheat.triggers.start();
      // Each push's job indexes it (insights.index) and then scans it (security.scanning).
      if (config.security.scanning || indexing) security.triggers.start();
      recommendations.triggers.start();
    },
    async stop() {
      await replication.triggers.stop();
      await replication.proxy.close();
      await preheat.triggers.stop();
      await security.triggers.stop();
      await recommendations.triggers.stop();
    },
  };
}
