import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import type { Database } from '../adapters/db/connect.js';
import { KyselyEndpointStore } from '../adapters/db/kysely-endpoint-store.js';
import { AesSecretBox } from '../adapters/crypto/secret-box.js';
import { RegistryClient } from '../adapters/upstream/registry-client.js';
import { EcrTokenSource, isAccessKeyId } from '../adapters/upstream/ecr-token.js';
import type { Outbound } from '../ports/outbound.js';
import { EndpointService } from '../services/replication/endpoint-service.js';
import { KyselyReplicationStore } from '../adapters/db/kysely-replication-store.js';
import { LocalRegistry } from '../services/replication/local-registry.js';
import { ReplicationService } from '../services/replication/replication-service.js';
import { ReplicationTriggers } from '../services/replication/replication-triggers.js';
import { ProxyCache } from '../services/replication/proxy-cache.js';
import { ProxyBlobs } from '../services/replication/proxy-blobs.js';
import { FileSpool } from '../adapters/storage/file-spool.js';
import { KyselyPolicyStore } from '../adapters/db/kysely-policy-store.js';
import { KyselyLeaseStore } from '../adapters/db/kysely-lease-store.js';
import type { Metrics } from '../http/metrics.js';
import type { ProjectRow } from '../ports/identity-store.js';
import type { Registry } from '../services/registry/index.js';
import type { JobRunner } from '../services/jobs/job-runner.js';
import type { Scheduler } from '../services/jobs/scheduler.js';
import type { EventStore } from '../ports/event-store.js';

export interface ReplicationDependencies {
  outbound: Outbound;
  logger: Logger;
  registry: Registry;
  runner: JobRunner;
  scheduler: Scheduler;
  events: EventStore;
  onEvents: () => void;
  metrics: Metrics;
  /** A project by name, as the authorizer caches it. */
  project: (name: string) => Promise<ProjectRow | undefined>;
}

/** Moving images between sites (docs/replication.md): registry endpoints, replication rules and their executions. */
export interface Replication {
  endpoints: EndpointService;
  rules: ReplicationService;
  /** Starts executions of event-triggered rules as tags are pushed (started with the job runner). */
  triggers: ReplicationTriggers;
  proxy: ProxyCache;
  /** Seals stored credentials (endpoints', preheat providers'). */
  box: AesSecretBox;
}

/**
 * The key that seals endpoint credentials: `secrets.encryptionKey`, or a random one kept in
 * dataDir/secrets.key (made on first use, readable by the owner only). Instances sharing a
 * database must be given the same key in their configuration.
 */
async function encryptionKey(config: ResolvedConfig, logger: Logger): Promise<string> {
  if (config.secrets.encryptionKey) return config.secrets.encryptionKey;
  const file = join(config.dataDir, 'secrets.key');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(config.dataDir, { recursive: true });
  const key = randomBytes(32).toString('base64url');
  try {
    // 'wx': a sibling worker that made it first wins, and this one reads that.
    await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return (await readFile(file, 'utf8')).trim();
    throw err;
  }
  if (config.database.url.startsWith('postgres')) {
    logger.warn({ file }, 'made a key for stored credentials in the data directory; instances sharing this database need the same key: set secrets.encryptionKey');
  }
  return key;
}

/** Attempts of an execution's job: a retry (its process died) carries on with the tasks not done. */
const replicationAttempts = 5;

export async function wireReplication(database: Database, config: ResolvedConfig, deps: ReplicationDependencies): Promise<Replication> {
  const box = new AesSecretBox(await encryptionKey(config, deps.logger), config.secrets.previousKeys);
  const endpoints = new EndpointService(
    new KyselyEndpointStore(database),
    box,
    deps.outbound,
    ({ url, credentials, feature, tls }) => new RegistryClient({ outbound: deps.outbound, feature, url, credentials, tls, maxManifestBytes: config.registry.maxManifestBytes }),
    Date.now,
    // Amazon ECR given an access key: its 12-hour registry tokens, made as the AWS CLI makes them.
    (endpoint, credentials) => {
      if (endpoint.kind !== 'ecr' || !isAccessKeyId(credentials.username)) return undefined;
      const source = new EcrTokenSource({
        outbound: deps.outbound,
        registryUrl: endpoint.url,
        accessKeyId: credentials.username,
        secretAccessKey: credentials.secret,
        apiUrl: config.replication.ecr.apiUrl ?? undefined,
        region: config.replication.ecr.region ?? undefined,
        tls: endpoint.tls,
      });
      return () => source.credentials();
    },
  );
  const store = new KyselyReplicationStore(database);
  const rules = new ReplicationService(store, endpoints, {
    local: (actor) => new LocalRegistry(deps.registry, actor),
    enqueue: async (execution) => {
      await deps.runner.enqueue({ type: 'replication.run', payload: { executionId: execution.id }, orderingKey: `replication:${execution.ruleId}`, maxAttempts: replicationAttempts });
    },
    onScheduleChange: async (rule, removed) => {
      const name = `replication:${rule.id}`;
      if (removed || rule.trigger !== 'cron' || !rule.enabled || !rule.cron) await deps.scheduler.remove(name);
      else await deps.scheduler.define({ name, cron: rule.cron, jobType: 'replication.scheduled', payload: { ruleId: rule.id }, maxAttempts: 1 });
    },
    onFinished: (execution, rule) => {
      deps.metrics.replicationExecutions.inc({ direction: rule.direction, status: execution.status });
      deps.metrics.replicationBytes.inc({ direction: rule.direction }, execution.bytes);
      deps.logger.info({ replication: { execution: execution.id, rule: rule.name, status: execution.status, tasks: execution.tasks, bytes: execution.bytes } }, 'replication execution finished');
      void deps.events
        .append(
          [
            {
              type: 'replication',
              project: null,
              repository: null,
              data: { operator: `replication:${rule.name}`, repository: '', details: { execution: execution.id, rule: rule.name, direction: rule.direction, status: execution.status, tasks: execution.tasks, bytes: execution.bytes } },
            },
          ],
          Date.now(),
        )
        .then(deps.onEvents, (err: unknown) => deps.logger.warn({ err }, 'recording the replication event failed'));
    },
  });
  deps.runner.register('replication.run', {
    // A retry after the process died carries on with the tasks not done.
    maxAttempts: replicationAttempts,
    backoff: () => 5_000,
    run: async (job) => rules.execute(Number(job.payload.executionId)),
  });
  deps.runner.register('replication.scheduled', {
    maxAttempts: 1,
    backoff: () => 0,
    run: async (job) => {
      await rules.start(Number(job.payload.ruleId), 'cron');
    },
  });
  if (config.secrets.previousKeys.length > 0) {
    const resealed = await endpoints.reseal();
    if (resealed > 0) deps.logger.info({ resealed }, 'stored credentials encrypted again with secrets.encryptionKey');
  }
  const triggers = new ReplicationTriggers(store, {
    intervalMs: config.jobs.pollIntervalMs,
    maxAttempts: replicationAttempts,
    onJobs: () => deps.runner.notify(),
    onError: (err) => deps.logger.warn({ err }, 'starting event-triggered replications failed; will retry'),
  });
  const proxyLocal = new LocalRegistry(deps.registry, 'proxy-cache');
  // One fetch of a new image, and of each blob, across the workers and instances sharing the database.
  const leases = { store: new KyselyLeaseStore(database), owner: `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}` };
  const proxy = new ProxyCache(new KyselyPolicyStore(database), endpoints, {
    project: deps.project,
    local: proxyLocal,
    leases,
    blobs: new ProxyBlobs({ local: proxyLocal, spool: new FileSpool(join(config.dataDir, 'proxy-spool')), leases }),
    onFillError: (project, repository, reference, err) =>
      deps.logger.warn({ proxyCache: { project, repository, reference }, err: { message: (err as Error)?.message } }, 'storing an image fetched from the upstream failed; it is fetched again on its next pull'),
    onOutcome: (_project, outcome, failure) => deps.metrics.proxyCacheRequests.inc({ outcome, failure: failure ?? '' }),
    onStale: (project, repository, reference, err) =>
      deps.logger.warn({ proxyCache: { project, repository, reference, failure: err.failure, status: err.status } }, `upstream failed, cached content served: ${err.message}`),
  });
  return { endpoints, rules, triggers, proxy, box };
}
