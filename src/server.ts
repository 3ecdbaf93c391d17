import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createLogger } from './wiring/logger.js';
import { berthVersion } from './version.js';
import type { ResolvedConfig } from './config/load.js';
import { connect, migrate, type Database } from './adapters/db/connect.js';
import { KyselyMetadataStore } from './adapters/db/kysely-metadata-store.js';
import { createBlobStore } from './adapters/storage/index.js';
import { KyselyAuditStore } from './adapters/db/kysely-audit-store.js';
import { KyselyIdentityStore } from './adapters/db/kysely-identity-store.js';
import { LocalInvalidationBus } from './adapters/bus/local-invalidation-bus.js';
import { PgInvalidationBus } from './adapters/bus/pg-invalidation-bus.js';
import { buildApp } from './http/app.js';
import type { ApiServices } from './http/api/index.js';
import { Authorizer } from './services/access/authorizer.js';
import { AuditLog } from './services/audit/audit-log.js';
import { Authenticator } from './services/identity/authenticator.js';
import { RobotService } from './services/identity/robot-service.js';
import { TokenService } from './services/identity/token-service.js';
import { UserService } from './services/identity/user-service.js';
import { ProjectService } from './services/projects/project-service.js';
import { Registry } from './services/registry/index.js';
import { RepositoryCache, repositoriesChannel } from './services/registry/repository-cache.js';
import { KyselyEventStore } from './adapters/db/kysely-event-store.js';
import { KyselyJobStore } from './adapters/db/kysely-job-store.js';
import { KyselyWebhookStore } from './adapters/db/kysely-webhook-store.js';
import { Metrics } from './http/metrics.js';
import type { OutboxEvent } from './ports/event-store.js';
import type { BlobStore } from './ports/blob-store.js';
import type { Digest } from './domain/digest.js';
import type { Invalidation, InvalidationBus, PublishedInvalidation } from './ports/invalidation-bus.js';
import { BatchWriter } from './services/batch-writer.js';
import { JobRunner, exponentialBackoff } from './services/jobs/job-runner.js';
import { Scheduler } from './services/jobs/scheduler.js';
import { WebhookDispatcher } from './services/webhooks/webhook-dispatcher.js';
import { WebhookSender } from './services/webhooks/webhook-sender.js';
import { WebhookService } from './services/webhooks/webhook-service.js';
import { wireHardening } from './wiring/hardening.js';
import { touchIntervalMs, wireLifecycle } from './wiring/lifecycle.js';
import { wireReplication } from './wiring/replication.js';
import { wirePreheat } from './wiring/preheat.js';
import { wireSecurity } from './wiring/security.js';
import { scannerAdapterApi } from './http/scanner-adapter/index.js';
import { wireInsights } from './wiring/insights.js';
import { wireSearch } from './wiring/search.js';
import { wireBackup } from './wiring/backup.js';
import { wireRecommendations } from './wiring/rebuild-hints.js';
import type { Lifecycle } from './services/lifecycle/index.js';

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
  initialAdmin?: { username: string; password: string; generated: boolean };
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

/**
 * First-start work: the first administrator and the public `library` project. In cluster mode
 * the first worker does it (after the migrations) before the primary starts the others.
 */
async function bootstrapIdentity(config: ResolvedConfig, identity: KyselyIdentityStore, onChange: () => void, logger: Logger): Promise<RunningBerth['initialAdmin']> {
  const users = new UserService(identity, { passwordPolicy: { minLength: config.auth.passwordMinLength }, onChange });
  const initialAdmin = await users.ensureInitialAdmin(config.auth.initialAdminPassword);
  if (initialAdmin) {
    if (!(await identity.getProject('library'))) await identity.createProject({ name: 'library', public: true, createdBy: 'admin' }, Date.now());
    logger.info({ username: initialAdmin.username, generated: initialAdmin.generated }, 'created the first system administrator');
  }
  return initialAdmin;
}

/** The composition root: config in, a listening registry out. */
export async function startBerth(config: ResolvedConfig, options: StartOptions = {}): Promise<RunningBerth> {
  const logger = options.logger ?? createLogger(config.log.level);

  const database = connect({ url: config.database.url, poolSize: config.database.poolSize, connectRetryMs: config.database.connectRetryMs });
  let store: BlobStore | undefined;
  try {
    const applied = await migrate(database);
    if (applied.length > 0) logger.info({ migrations: applied, engine: database.engine }, 'database migrated');
    store = await createBlobStore(config.storage);
  } catch (err) {
    await database.db.destroy();
    throw err;
  }
  // A blob a client was told exists outlives its push: its grace period restarts at most this often, well within the GC's.
  // eslint-disable-next-line prefer-const -- assigned once the job runner and scheduler exist; the registry's guard asks it later
  let lifecycle: Lifecycle;
  // PostgreSQL: pulls read repository rows from here, so a warm tag costs the database nothing;
  // every change of a repository's tags drops its row here, then on other instances and in
  // sibling workers (announceTags, once the bus exists). SQLite: the row is read in-process in
  // microseconds, which keeps every process on the file exact without being told.
  let busFresh = () => true;
  const repositories = database.engine === 'postgres' ? new RepositoryCache({ ttlMs: repositoryCacheTtlMs, trusted: () => busFresh() }) : undefined;
  let announceTags = (_repositoryId: number): void => undefined;
  const meta = new KyselyMetadataStore(database, {
    touchIntervalMs: touchIntervalMs(config),
    onTagsChanged: repositories
      ? (repositoryId) => {
          repositories.forget(repositoryId);
          announceTags(repositoryId);
        }
      : undefined,
  });
  const eventStore = new KyselyEventStore(database);
  const jobStore = new KyselyJobStore(database);
  const webhookStore = new KyselyWebhookStore(database);
  const metrics = new Metrics({ meta, events: eventStore, jobs: jobStore });

  // Events flow: a change writes its events in its own transaction, then wakes the dispatcher,
  // which turns them into webhook deliveries run by the job runner.
  const runner = new JobRunner(jobStore, {
    concurrency: config.jobs.concurrency,
    pollIntervalMs: config.jobs.pollIntervalMs,
    leaseMs: config.jobs.leaseSeconds * 1000,
    onError: (job, err) => logger.warn({ job: { id: job.id, type: job.type, attempt: job.attempts }, err: { message: (err as Error)?.message } }, 'job attempt failed'),
  });
  const dispatcher = new WebhookDispatcher(webhookStore, {
    intervalMs: config.jobs.pollIntervalMs,
    maxAttempts: config.webhooks.maxAttempts,
    onJobs: () => runner.notify(),
    onError: (err) => logger.warn({ err }, 'dispatching events to webhooks failed; will retry'),
  });
  // Pull events, and with them each manifest's last-pulled time (retention's "most recently pulled").
  const pulls = new BatchWriter<OutboxEvent>(
    async (events) => {
      const now = Date.now();
      await eventStore.append(events, now);
      // The events are written: a failure here must not write them again.
      await meta
        .recordPulls(events.flatMap((e) => (e.type === 'pull' && e.repository && e.data.digest ? [{ repository: e.repository, digest: e.data.digest as Digest, at: now }] : [])))
        .catch((err: unknown) => logger.warn({ err }, 'recording last-pulled times failed'));
    },
    {
    // Once a second or every 500 pulls: a steady stream of pulls costs PostgreSQL a few
    // transactions a second, whatever its rate (test/http/pull-transactions.test.ts).
    intervalMs: 1000,
    maxBatch: 500,
    maxPending: 50_000,
    onWritten: () => dispatcher.notify(),
    onError: (err) => logger.warn({ err }, 'recording pull events failed; kept for the next attempt'),
    },
  );
  // Scan on push hears of pushes at once (else within its poll interval); wired once security is.
  let pushedNotice = (): void => undefined;
  // Rebuild hints hear of scans at once (a scanned base build may fix what images built on an older one carry).
  let scannedNotice = (): void => undefined;
  const registry = new Registry(meta, store, {
    maxManifestBytes: config.registry.maxManifestBytes,
    maxBlobBytes: config.registry.maxBlobBytes,
    automaticMount: config.registry.automaticMount,
    manifestCacheBytes: config.registry.manifestCacheBytes,
    maxPageSize: config.registry.maxPageSize,
    defaultPageSize: config.registry.catalogPageSize,
    recordPull: (event) => pulls.add(event),
    onEvents: () => {
      dispatcher.notify();
      pushedNotice();
    },
    onBytesReceived: (bytes) => metrics.bytesReceived.inc(bytes),
    // Immutability rules and quotas live with the lifecycle features, wired below.
    guard: {
      immutableTag: (repository, tag) => lifecycle.policies.immutableTag(repository, tag),
      quota: (repository) => lifecycle.quotas.limitsFor(repository),
    },
    admitBlob: (repository, size, digest) => lifecycle.quotas.admitBlob(repository, size, digest),
    gcLeaseMs: config.lifecycle.gc.leaseSeconds * 1000,
    repositories,
  });

  const identity = new KyselyIdentityStore(database);
  const audit = new AuditLog(new KyselyAuditStore(database), {
    retentionDays: config.audit.retentionDays,
    onError: (err) => logger.error({ err }, 'writing the audit log failed; entries are kept for the next attempt'),
  });
  const { ldap, oidc: oidcSettings } = config.auth;
  const newProjectQuota = () => hardening.settings.newProjectQuota();
  const authorizer = new Authorizer(identity, { projectCreation: config.auth.projectCreation, newProjectQuota });
  // Settings changes reach other instances on the bus, and sibling workers through the cluster relay.
  let announceSettings = () => undefined as void;
  const hardening = await wireHardening(database, config, {
    metrics,
    logger,
    version: berthVersion(),
    project: (name) => authorizer.project(name),
    onSettingsChange: () => announceSettings(),
  });
  const authenticator = new Authenticator(identity, {
    throttle: hardening.loginThrottle,
    // LDAP and OIDC client libraries load only when configured (memory of every process).
    ldap: ldap.enabled ? new (await import('./services/identity/ldap-directory.js')).LdapDirectory({ ...ldap, baseDn: ldap.baseDn }) : undefined,
    ldapAdminGroupDn: ldap.adminGroupDn,
  });
  const invalidateIdentity = () => {
    authenticator.invalidate();
    authorizer.invalidate();
  };
  const reloadSettings = () => {
    // Settings and project policies share the announcement (rare changes, cheap to re-read).
    lifecycle?.policies.invalidate();
    return hardening.settings.reload().catch((err: unknown) => logger.warn({ err }, 'reloading settings failed; retried within 30 s'));
  };
  const bus = options.invalidationBus ?? (await startInvalidationBus(config, database, logger, options.relay ? options.siblingGroup : undefined));
  const tell = (invalidation: PublishedInvalidation) =>
    bus.publish(invalidation).catch((err: unknown) => logger.warn({ err, invalidation: invalidation.kind }, 'telling other instances failed; their caches expire on their own (2-60 s)'));
  // Telling others is under way while the change's response is prepared; the response
  // leaves when they are done (see buildApp's beforeReply), so a client's next request sees
  // the change on whichever process or instance it lands.
  const telling = new Set<Promise<unknown>>();
  const track = (work: Promise<unknown> | undefined) => {
    if (!work) return;
    telling.add(work);
    void work.finally(() => telling.delete(work));
  };
  /** Tells other instances (bus) and sibling workers (relay) what changed here; the change's response waits for both. */
  const announce = (invalidation: PublishedInvalidation) => {
    track(tell(invalidation));
    track(options.relay?.(invalidation));
  };
  const onIdentityChange = () => {
    invalidateIdentity();
    announce({ kind: 'identity' });
  };
  announceSettings = () => announce({ kind: 'cache', channel: 'settings' });
  announceTags = (repositoryId) => announce({ kind: 'cache', channel: repositoriesChannel, keys: [String(repositoryId)] });
  busFresh = () => bus.fresh();
  const tokens = new TokenService(
    identity,
    {
      issuer: config.auth.issuer,
      service: config.auth.service,
      accessTtlSeconds: config.auth.tokenTtlSeconds,
      refreshTtlSeconds: config.auth.refreshTokenTtlSeconds,
      sessionTtlSeconds: config.auth.sessionTtlSeconds,
      keyRotationDays: config.auth.keyRotationDays,
    },
    {
      // Instances hear it on the bus; cluster workers on SQLite through the primary's relay
      // (their bus is local), which re-reads keys with every identity change it passes on.
      onKeysChanged: () => announce({ kind: 'signing-keys' }),
    },
  );
  /** Re-reads the signing keys a sibling changed; a failure is logged, and the next unknown key retries. */
  const reloadKeys = () => tokens.reload().catch((err: unknown) => logger.warn({ err }, 'reloading token signing keys failed; retried on the next unknown key'));
  // Subscribed before the first key load, so a sibling rotating at the same moment is heard.
  /** Forgets what another instance or a sibling worker changed; resolves once what must be re-read is read. */
  const forget = async (invalidation: Invalidation): Promise<void> => {
    const resync = invalidation.kind === 'resync';
    const rereads: Array<Promise<unknown>> = [];
    if (invalidation.kind === 'identity' || resync) invalidateIdentity();
    if ((invalidation.kind === 'cache' && invalidation.channel === 'settings') || resync) rereads.push(reloadSettings());
    if (invalidation.kind === 'signing-keys' || resync) rereads.push(reloadKeys());
    if (invalidation.kind === 'cache' && invalidation.channel === repositoriesChannel && invalidation.keys) {
      for (const key of invalidation.keys) repositories?.forget(Number(key));
    } else if ((invalidation.kind === 'cache' && invalidation.channel === repositoriesChannel) || resync) {
      repositories?.clear();
    }
    await Promise.all(rereads);
  };
  // The sender's response waits until this has applied the message (and re-read what it must).
  bus.subscribe((invalidation) => forget(invalidation));
  await tokens.init();
  const users = new UserService(identity, { passwordPolicy: { minLength: config.auth.passwordMinLength }, onChange: onIdentityChange });
  const projects = new ProjectService(identity, meta, { onChange: onIdentityChange, newProjectQuota });
  const initialAdmin = await bootstrapIdentity(config, identity, onIdentityChange, logger);
  let listeningPort = config.server.port;
  const sender = new WebhookSender(webhookStore, eventStore, identity, hardening.outbound, {
    timeoutMs: config.webhooks.timeoutMs,
    onBlocked: (webhook, address, reason) => logger.warn({ webhook: { id: webhook.id, project: webhook.projectId }, address }, `webhook delivery ${reason}`),
    registryHost: () => (config.server.publicUrl ? new URL(config.server.publicUrl).host : `localhost:${listeningPort}`),
    onResult: (result) => metrics.webhookDeliveries.inc({ result }),
  });
  runner.register('webhook.deliver', {
    run: (job) => sender.deliverJob(job),
    maxAttempts: config.webhooks.maxAttempts,
    backoff: exponentialBackoff(config.webhooks.backoffBaseMs, config.webhooks.backoffMaxMs),
  });
  runner.register('housekeeping', {
    maxAttempts: 3,
    backoff: exponentialBackoff(60_000, 600_000),
    run: async () => {
      const now = Date.now();
      const uploads = await registry.uploads.purgeStale(now - config.registry.uploadTtlHours * 3600_000);
      const auditRows = await audit.applyRetention();
      const events = await eventStore.prune(now - config.events.retentionDays * 86_400_000);
      const jobs = await jobStore.prune(now - config.events.retentionDays * 86_400_000);
      const { loginFailures, rateCounters } = await hardening.housekeeping();
      await tokens.init();
      logger.info({ uploads, auditRows, events, jobs, loginFailures, rateCounters }, 'housekeeping done');
    },
  });
  const scheduler = new Scheduler(jobStore, { intervalMs: 15_000, onJob: () => runner.notify(), onError: (err) => logger.warn({ err }, 'scheduler tick failed') });
  await scheduler.define({ name: 'housekeeping', cron: '7 * * * *', jobType: 'housekeeping' });
  lifecycle = await wireLifecycle(database, config, {
    registry,
    store,
    identity,
    project: (name) => authorizer.project(name),
    onPoliciesChange: () => announceSettings(),
    onProjectChange: onIdentityChange,
    events: eventStore,
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
    events: eventStore,
    onEvents: () => dispatcher.notify(),
    metrics,
    project: (name) => authorizer.project(name),
  });

  const robots = new RobotService(identity, onIdentityChange);
  const preheat = await wirePreheat(database, config, {
    outbound: hardening.outbound,
    box: replication.box,
    logger,
    registry,
    identity,
    robots,
    runner,
    scheduler,
    metrics,
    registryUrl: () => config.server.publicUrl ?? `http://localhost:${listeningPort}`,
  });

  const insights = await wireInsights(database, config, { registry, runner, scheduler, events: eventStore, onEvents: () => dispatcher.notify(), logger });
  const security = await wireSecurity(database, config, {
    registry,
    runner,
    scheduler,
    events: eventStore,
    onEvents: () => {
      dispatcher.notify();
      scannedNotice();
    },
    metrics,
    logger,
    project: (name) => authorizer.project(name),
    version: berthVersion(),
    outbound: hardening.outbound,
    box: replication.box,
    robots,
    registryUrl: () => config.server.publicUrl ?? `http://localhost:${listeningPort}`,
    layers: insights.layers,
    indexImage: config.insights.index.enabled ? insights.indexPushed : undefined,
    storedInventory: insights.storedInventory,
  });
  // A file tree asked of an image its push job has not indexed yet indexes it at once (the job's lint event still follows, from the stored record).
  const indexer = insights.indexer;
  const search = wireSearch(database, { registry, authorizer, index: insights.index, indexNow: indexer ? async (repository, digest) => void (await indexer.index(repository, digest)) : undefined });
  const recommendations = wireRecommendations(database, { registry, authorizer, onEvents: () => dispatcher.notify(), onError: (err) => logger.warn({ err }, 'working out rebuild hints failed; retried at the next push') });
  pushedNotice = () => {
    security.triggers.notify();
    recommendations.triggers.notify();
  };
  scannedNotice = () => recommendations.triggers.notify();

  await wireBackup(config, { runner, scheduler, store, audit, logger, berthVersion: berthVersion() });

  const api: ApiServices = {
    version: berthVersion(),
    registry,
    security,
    insights,
    search,
    recommendations,
    identity,
    users,
    robots,
    preheat: preheat.service,
    projects,
    authenticator,
    loginThrottle: hardening.loginThrottle,
    authorizer,
    tokens,
    audit,
    settings: hardening.settings,
    limits: hardening.limits,
    lifecycle,
    replication,
    webhooks: new WebhookService(webhookStore, sender, hardening.outbound),
    jobs: jobStore,
    oidc:
      oidcSettings.enabled && oidcSettings.issuer && oidcSettings.clientId
        ? new (await import('./services/identity/oidc-login.js')).OidcLogin(
            { ...oidcSettings, issuer: oidcSettings.issuer, clientId: oidcSettings.clientId },
            identity,
            hardening.outbound.fetchFor('oidc'),
          )
        : undefined,
    ldapEnabled: ldap.enabled,
    onIdentityChange,
    publicUrl: config.server.publicUrl?.replace(/\/$/, ''),
    secureCookies: config.server.publicUrl?.startsWith('https://') ?? false,
  };

  const app = await buildApp({
    beforeReply: () => (telling.size === 0 ? undefined : atMost(1000, Promise.all([...telling]))),
    onLargeBody: options.onLargeBody,
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
  if (security.adapter) await app.register(scannerAdapterApi, { prefix: '/scanner-adapter/api/v1', adapter: security.adapter, apiKey: config.security.scannerAdapter.apiKey! });
  await app.listen({ host: config.server.host, port: config.server.port });
  const address = app.server.address() as AddressInfo;
  listeningPort = address.port;
  const hostForUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  if (config.jobs.enabled) {
    dispatcher.start();
    replication.triggers.start();
    preheat.triggers.start();
    // Each push's job indexes it (insights.index) and then scans it (security.scanning).
    if (config.security.scanning || config.insights.index.enabled) security.triggers.start();
    recommendations.triggers.start();
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
        await replication.triggers.stop();
        await replication.proxy.close();
        await preheat.triggers.stop();
        await security.triggers.stop();
        await recommendations.triggers.stop();
        await runner.stop();
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

/**
 * PostgreSQL: LISTEN/NOTIFY on the shared database, so every instance hears every other.
 * SQLite: one machine, one process (cluster workers relay through their primary).
 */
async function startInvalidationBus(config: ResolvedConfig, database: Database, logger: Logger, siblingGroup: string | undefined): Promise<InvalidationBus> {
  const instanceId = siblingGroup && /^[0-9a-f]{16}$/.test(siblingGroup) ? `${siblingGroup}.${randomUUID().slice(0, 13)}` : randomUUID();
  if (database.engine !== 'postgres') return new LocalInvalidationBus(undefined, instanceId);
  const bus = new PgInvalidationBus({
    url: config.database.url,
    db: database.db,
    instanceId,
    siblingPrefix: siblingGroup && instanceId.startsWith(`${siblingGroup}.`) ? `${siblingGroup}.` : undefined,
    onStatus: (status) =>
      status.connected
        ? logger.info({ instanceId }, 'listening for invalidations from other instances')
        : logger.warn({ instanceId, reason: status.error }, 'lost the invalidation channel; reconnecting (meanwhile caches expire on their own, 2-60 s)'),
    onError: (err) => logger.error({ err }, 'an invalidation handler failed'),
    onUnconfirmed: (instances, invalidation) =>
      logger.warn({ instances, invalidation: invalidation.kind }, 'instances did not confirm an invalidation in time; they trust their caches again only once they have heard it'),
  });
  await bus.start();
  return bus;
}

/** Resolves when `work` settles or after `ms`, whichever comes first; never rejects. */
function atMost(ms: number, work: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    work.then(done, done);
  });
}



/**
 * How long a pull trusts a repository row whose change it was not told of (PostgreSQL: a
 * notification lost before the bus noticed it was cut). Announced changes take effect at once.
 */
const repositoryCacheTtlMs = 5_000;
