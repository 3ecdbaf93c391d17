import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createLogger } from './wiring/logger.js';
import { berthVersion } from './version.js';
import type { ResolvedConfig } from './config/load.js';
import { connect, migrate, type Database } from './adapters/db/connect.js';
import { KyselyMetadataStore } from './adapters/db/kysely-metadata-store.js';
import { paceGroupCommit } from './adapters/db/transaction.js';
import { createBlobStore } from './adapters/storage/index.js';
import { KyselyAuditStore } from './adapters/db/kysely-audit-store.js';
import { buildApp } from './http/app.js';
import type { ApiServices } from './http/api/index.js';
import { AuditLog } from './services/audit/audit-log.js';
import { Registry } from './services/registry/index.js';
import { RepositoryCache, repositoriesChannel } from './services/registry/repository-cache.js';
import { Metrics } from './http/metrics.js';
import type { OutboxEvent } from './ports/event-store.js';
import type { BlobStore } from './ports/blob-store.js';
import type { Invalidation, InvalidationBus, PublishedInvalidation } from './ports/invalidation-bus.js';
import type { BatchWriter } from './services/batch-writer.js';
import type { JobRunner } from './services/jobs/job-runner.js';
import type { Scheduler } from './services/jobs/scheduler.js';
import type { WebhookDispatcher } from './services/webhooks/webhook-dispatcher.js';
import { wireHardening, type Hardening } from './wiring/hardening.js';
import { wireIdentity, type Identity, type InitialAdmin } from './wiring/identity.js';
import { wireInvalidation } from './wiring/invalidation.js';
import { wireJobs, type Jobs } from './wiring/jobs.js';
import { touchIntervalMs } from './wiring/lifecycle.js';
import { wireFeatures, type Features } from './wiring/features.js';
import type { Lifecycle } from './services/lifecycle/index.js';
import { scannerAdapterApi } from './http/scanner-adapter/index.js';

export interface RunningBerth {
  app: FastifyInstance;
  registry: Registry;
  /** Base URL the server listens on, e.g. http://127.0.0.1:5000 */
  url: string;
  port: number;
  logger: Logger;
  /** The management services (users, projects, robots, audit, tokens). */
  api: ApiServices;
  /**
   * Forgets what a sibling process changed, as if the bus had carried it (cluster workers on
   * SQLite relay through their primary); resolves once what must be re-read is read or the read
   * failed (logged), never rejects.
   */
  apply(invalidation: PublishedInvalidation): Promise<void>;
  /** This process's id among the instances sharing the database (on every invalidation it sends). */
  instanceId: string;
  /** How this instance tells the others sharing its database what to forget, and hears them. */
  invalidation: InvalidationBus;
  /** Background machinery, exposed for tests and `berth worker`. */
  jobs: { runner: JobRunner; dispatcher: WebhookDispatcher; scheduler: Scheduler; pulls: BatchWriter<OutboxEvent> };
  metrics: Metrics;
  /** Set on the very first start: the administrator created, with its password to show once. */
  initialAdmin?: InitialAdmin;
  /** Stops accepting requests, lets in-flight ones finish, closes the database. */
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /**
   * Tells sibling processes what changed here (cluster workers on SQLite, whose bus reaches only
   * their own process): users, robots, projects, keys, settings, a repository's tags. The
   * response to the change waits for the promise it may return.
   */
  relay?: (invalidation: PublishedInvalidation) => Promise<void> | undefined;
  /**
   * Names the processes that `relay` reaches (cluster workers of one primary): the invalidation
   * bus neither waits for them nor confirms to them, since the relay already carries the change.
   */
  siblingGroup?: string;
  /** Replaces the bus chosen by engine (PostgreSQL: LISTEN/NOTIFY; SQLite: this process only). */
  invalidationBus?: InvalidationBus;
  /** Told when a large request body starts arriving (AppOptions.onLargeBody). */
  onLargeBody?: () => () => void;
}

/** The composition root: config in, a listening registry out. */
export async function startBerth(config: ResolvedConfig, options: StartOptions = {}): Promise<RunningBerth> {
  const logger = options.logger ?? createLogger(config.log.level);
  const { database, store } = await openStores(config, logger);
  // eslint-disable-next-line prefer-const -- assigned once identity is wired; the registry and the jobs ask it only later
  let features: Features | undefined;
  const invalidations = await wireInvalidation(database, config, { logger, relay: options.relay, siblingGroup: options.siblingGroup, invalidationBus: options.invalidationBus });
  const { bus, announce } = invalidations;
  // PostgreSQL: pulls read repository rows from here, so a warm tag costs the database nothing;
  // every change of a repository's tags drops its row here, then on other instances and in
  // sibling workers. SQLite: the row is read in-process in microseconds, which keeps every
  // process on the file exact without being told.
  const repositories = database.engine === 'postgres' ? new RepositoryCache({ ttlMs: repositoryCacheTtlMs, trusted: () => bus.fresh() }) : undefined;
  const meta = new KyselyMetadataStore(database, {
    // A blob a client was told exists outlives its push: its grace period restarts at most this often, well within the GC's.
    touchIntervalMs: touchIntervalMs(config),
    onTagsChanged: repositories
      ? (repositoryId) => {
          repositories.forget(repositoryId);
          announce({ kind: 'cache', channel: repositoriesChannel, keys: [String(repositoryId)] });
        }
      : undefined,
  });
  // Rebuild hints hear of scans at once (a scanned base build may fix what images built on an older one carry).
  const jobs = wireJobs(database, config, { meta, logger, onBackgroundEvents: () => features?.recommendations.triggers.notify() });
  const { runner, dispatcher, scheduler, pulls } = jobs;
  // SQLite: while other requests are in flight, a transaction waits a moment for theirs to share its commit.
  paceGroupCommit(database.db, { inFlight: () => jobs.load.requests, windowMs: groupCommitWindowMs });
  const metrics = new Metrics({ meta, events: jobs.events, jobs: jobs.jobs });
  const registry = newRegistry(config, meta, store, {
    jobs,
    metrics,
    repositories,
    lifecycle: () => features!.lifecycle,
    // Scan on push hears of pushes at once (else within its poll interval).
    pushed: () => features?.pushed(),
  });
  const audit = new AuditLog(new KyselyAuditStore(database), {
    retentionDays: config.audit.retentionDays,
    onError: (err) => logger.error({ err }, 'writing the audit log failed; entries are kept for the next attempt'),
  });
  // Identity needs hardening's login back-off and settings; hardening asks identity's authorizer for projects later.
  // eslint-disable-next-line prefer-const -- assigned right after hardening, which asks it only later
  let access: Identity;
  // Settings changes reach other instances on the bus, and sibling workers through the cluster relay.
  const announceSettings = () => announce({ kind: 'cache', channel: 'settings' });
  const hardening = await wireHardening(database, config, { metrics, logger, version: berthVersion(), project: (name) => access.authorizer.project(name), onSettingsChange: announceSettings });
  access = await wireIdentity(database, config, { logger, meta, announce, loginThrottle: hardening.loginThrottle, newProjectQuota: () => hardening.settings.newProjectQuota(), outbound: hardening.outbound });
  const forget = forgetting({ access, hardening, repositories, policies: () => features?.lifecycle.policies, logger });
  // The sender's response waits until this has applied the message (and re-read what it must).
  // Subscribed before the first key load, so a sibling rotating at the same moment is heard.
  bus.subscribe((invalidation) => forget(invalidation));
  const initialAdmin = await access.init();
  let listeningPort = config.server.port;
  features = await wireFeatures(database, config, {
    store,
    registry,
    jobs,
    access,
    hardening,
    audit,
    metrics,
    logger,
    announceSettings,
    registryUrl: () => config.server.publicUrl ?? `http://localhost:${listeningPort}`,
    registryHost: () => (config.server.publicUrl ? new URL(config.server.publicUrl).host : `localhost:${listeningPort}`),
  });
  const api = apiServices(config, { registry, features, access, hardening, audit, jobs });
  const app = await buildApp({
    beforeReply: invalidations.beforeReply,
    onLargeBody: options.onLargeBody,
    onRequest: () => jobs.load.begin(),
    registry,
    logger,
    maxManifestBytes: config.registry.maxManifestBytes,
    keepAliveTimeoutMs: config.server.keepAliveTimeoutMs,
    headersTimeoutMs: config.server.headersTimeoutMs,
    idleTimeoutMs: config.server.idleTimeoutMs,
    maxConnections: config.server.maxConnections,
    trustProxy: config.server.trustProxy,
    publicUrl: api.publicUrl,
    logPulls: config.audit.logPulls,
    mirrorProject: config.registry.mirrorProject,
    api,
    metrics: config.metrics.enabled ? metrics : undefined,
    invalidation: () => bus.status(),
  });
  // Berth as a scanner for Harbor (docs/scanners.md), when configured.
  const adapter = features.security.adapter;
  if (adapter) await app.register(scannerAdapterApi, { prefix: '/scanner-adapter/api/v1', adapter, apiKey: config.security.scannerAdapter.apiKey! });
  await app.listen({ host: config.server.host, port: config.server.port, backlog: listenBacklog });
  const address = app.server.address() as AddressInfo;
  listeningPort = address.port;
  const hostForUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  if (config.jobs.enabled) {
    dispatcher.start();
    features.start();
    runner.start();
    scheduler.start();
  }

  let closing: Promise<void> | undefined;
  return {
    app,
    registry,
    logger,
    port: address.port,
    url: `http://${hostForUrl}:${address.port}`,
    api,
    initialAdmin,
    jobs: { runner, dispatcher, scheduler, pulls },
    metrics,
    apply: (invalidation) => forget(invalidation),
    instanceId: bus.instanceId,
    invalidation: bus,
    close() {
      closing ??= (async () => {
        scheduler.stop();
        await app.close();
        await pulls.close();
        await dispatcher.stop();
        await features.stop();
        await runner.stop();
        await jobs.background.close();
        await audit.close();
        await hardening.close();
        await bus.close();
        await meta.close();
        await store.close?.();
      })();
      return closing;
    },
  };
}

interface RegistryParts {
  jobs: Jobs;
  metrics: Metrics;
  repositories: RepositoryCache | undefined;
  /** Immutability rules and quotas, which live with the lifecycle features (wired after the registry; asked only later). */
  lifecycle: () => Lifecycle;
  /** Tells the features that react to pushes of one. */
  pushed: () => void;
}

/** The registry (OCI distribution) on the metadata and blob stores, its pulls recorded in batches and its events dispatched at once. */
function newRegistry(config: ResolvedConfig, meta: KyselyMetadataStore, store: BlobStore, parts: RegistryParts): Registry {
  const { jobs, metrics, lifecycle } = parts;
  return new Registry(meta, store, {
    maxManifestBytes: config.registry.maxManifestBytes,
    maxBlobBytes: config.registry.maxBlobBytes,
    automaticMount: config.registry.automaticMount,
    manifestCacheBytes: config.registry.manifestCacheBytes,
    maxPageSize: config.registry.maxPageSize,
    defaultPageSize: config.registry.catalogPageSize,
    recordPull: (event) => jobs.pulls.add(event),
    onEvents: () => {
      jobs.dispatcher.notify();
      parts.pushed();
    },
    onBytesReceived: (bytes) => metrics.bytesReceived.inc(bytes),
    guard: {
      immutableTag: (repository, tag) => lifecycle().policies.immutableTag(repository, tag),
      mayHaveImmutableTags: (repository) => lifecycle().policies.mayHaveImmutableTags(repository),
      quota: (repository) => lifecycle().quotas.limitsFor(repository),
    },
    admitBlob: (repository, size, digest) => lifecycle().quotas.admitBlob(repository, size, digest),
    gcLeaseMs: config.lifecycle.gc.leaseSeconds * 1000,
    repositories: parts.repositories,
  });
}

/** Connects to the database, migrates it, and opens the blob store (the database closed again when that fails). */
async function openStores(config: ResolvedConfig, logger: Logger): Promise<{ database: Database; store: BlobStore }> {
  const database = connect({ url: config.database.url, poolSize: config.database.poolSize, connectRetryMs: config.database.connectRetryMs, preparedStatements: config.database.preparedStatements });
  try {
    const applied = await migrate(database);
    if (applied.length > 0) logger.info({ migrations: applied, engine: database.engine }, 'database migrated');
    return { database, store: await createBlobStore(config.storage) };
  } catch (err) {
    await database.db.destroy();
    throw err;
  }
}

interface Forgetting {
  access: Identity;
  hardening: Hardening;
  repositories: RepositoryCache | undefined;
  /** Project policies, once lifecycle is wired. */
  policies: () => { invalidate(): void } | undefined;
  logger: Logger;
}

/** Forgets what another instance or a sibling worker changed; each call resolves once what must be re-read is read. */
function forgetting(deps: Forgetting): (invalidation: Invalidation) => Promise<void> {
  const { access, repositories } = deps;
  const reloadSettings = () => {
    // Settings and project policies share the announcement (rare changes, cheap to re-read).
    deps.policies()?.invalidate();
    return deps.hardening.settings.reload().catch((err: unknown) => deps.logger.warn({ err }, 'reloading settings failed; retried within 30 s'));
  };
  return async (invalidation) => {
    const resync = invalidation.kind === 'resync';
    const rereads: Array<Promise<unknown>> = [];
    if (invalidation.kind === 'identity' || resync) access.invalidate();
    if ((invalidation.kind === 'cache' && invalidation.channel === 'settings') || resync) rereads.push(reloadSettings());
    if (invalidation.kind === 'signing-keys' || resync) rereads.push(access.reloadKeys());
    if (invalidation.kind === 'cache' && invalidation.channel === repositoriesChannel && invalidation.keys) {
      for (const key of invalidation.keys) repositories?.forget(Number(key));
    } else if ((invalidation.kind === 'cache' && invalidation.channel === repositoriesChannel) || resync) {
      repositories?.clear();
    }
    await Promise.all(rereads);
  };
}

interface ApiParts {
  registry: Registry;
  features: Features;
  access: Identity;
  hardening: Hardening;
  audit: AuditLog;
  jobs: Jobs;
}

/** The management API's services (/api), gathered from the parts wired above. */
function apiServices(config: ResolvedConfig, parts: ApiParts): ApiServices {
  const { features, access, hardening } = parts;
  return {
    version: berthVersion(),
    registry: parts.registry,
    security: features.security,
    insights: features.insights,
    search: features.search,
    recommendations: features.recommendations,
    identity: access.identity,
    users: access.users,
    robots: access.robots,
    preheat: features.preheat.service,
    projects: access.projects,
    authenticator: access.authenticator,
    loginThrottle: hardening.loginThrottle,
    authorizer: access.authorizer,
    tokens: access.tokens,
    audit: parts.audit,
    settings: hardening.settings,
    limits: hardening.limits,
    lifecycle: features.lifecycle,
    replication: features.replication,
    webhooks: features.webhooks,
    jobs: parts.jobs.jobs,
    oidc: access.oidc,
    ldapEnabled: config.auth.ldap.enabled,
    onIdentityChange: access.onIdentityChange,
    publicUrl: config.server.publicUrl?.replace(/\/$/, ''),
    secureCookies: config.server.publicUrl?.startsWith('https://') ?? false,
  };
}

/**
 * How long a pull trusts a repository row whose change it was not told of (PostgreSQL: a
 * notification lost before the bus noticed it was cut). Announced changes take effect at once.
 */
const repositoryCacheTtlMs = 5_000;

/**
 * Connections the kernel queues, handshake done, until the process accepts them; the kernel caps
 * it at net.core.somaxconn (4096 on Linux since 5.4). Node's default of 511 overflowed in a burst
 * of 1,000 connects while the process was busy: the kernel then drops the client's handshake ACK,
 * and the client, already connected, waits for a SYN-ACK resent 1, 3, 7 s later before Berth sees
 * it at all (docs/hardening.md, "Connection bursts"). Go's listeners, distribution's among them,
 * take somaxconn as well.
 */
const listenBacklog = 4096;

/**
 * How long a SQLite transaction waits for those of other requests in flight to share its commit
 * (GroupCommit.pace). 3,000 new pushes from 10 clients on one worker: 3,118 and 3,290 commits
 * and 2.6 s of SQLite without waiting; 1,116 and 1,101 commits and 1.8 s waiting up to 2 ms
 * (docs/performance.md, "Commits a moment apart"). A request alone does not wait.
 */
const groupCommitWindowMs = 2;
