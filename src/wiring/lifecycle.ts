import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import { sql } from 'kysely';
import { connect, type Database } from '../adapters/db/connect.js';
import { KyselyGcStore } from '../adapters/db/kysely-gc-store.js';
import type { Metrics } from '../http/metrics.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { EventStore } from '../ports/event-store.js';
import type { GcOptions, GcRunRow } from '../ports/gc-store.js';
import type { JobRunner } from '../services/jobs/job-runner.js';
import type { Scheduler } from '../services/jobs/scheduler.js';
import { GarbageCollector, ProjectPolicies, QuotaService, RetentionService, Scrubber, type Lifecycle } from '../services/lifecycle/index.js';
import { KyselyScrubStore } from '../adapters/db/kysely-scrub-store.js';
import type { ScrubberOptions } from '../services/lifecycle/scrubber.js';
import { KyselyPolicyStore } from '../adapters/db/kysely-policy-store.js';
import type { IdentityStore, ProjectRow } from '../ports/identity-store.js';
import type { GarbageCollectorOptions } from '../services/lifecycle/garbage-collector.js';
import type { Registry } from '../services/registry/index.js';

export interface LifecycleDependencies {
  registry: Registry;
  identity: IdentityStore;
  /** A project by name, as the authorizer caches it. */
  project: (name: string) => Promise<ProjectRow | undefined>;
  /** Tells other processes that project policies changed. */
  onPoliciesChange: () => void;
  /** Drops cached project rows here and elsewhere (a project's quota changed). */
  onProjectChange: () => void;
  store: BlobStore;
  events: EventStore;
  runner: JobRunner;
  scheduler: Scheduler;
  metrics: Metrics;
  logger: Logger;
  onEvents: () => void;
}

/**
 * How often a push refreshing what it uses writes the row: a quarter of the grace period, at
 * most an hour. The metadata store and the collector must agree on it.
 */
export function touchIntervalMs(config: ResolvedConfig): number {
  return Math.min(3_600_000, (config.lifecycle.gc.graceHours * 3_600_000) / 4);
}

/**
 * Wires garbage collection: the collector, its job (`gc.run`, retried after a crash so the run
 * is taken over), its schedule, its events and metrics (docs/lifecycle.md).
 */
export async function wireLifecycle(database: Database, config: ResolvedConfig, deps: LifecycleDependencies): Promise<Lifecycle> {
  const settings = config.lifecycle.gc;
  const gc = createGarbageCollector(database, config, deps.store, (before) => deps.registry.uploads.purgeStale(before, 100_000), {
    onProgress: (run, phase, counts) => deps.logger.debug({ gc: { run: run.id, phase, ...counts } }, 'garbage collection progress'),
    onFinished: (run) => {
      deps.metrics.recordGcRun(run);
      deps.logger.info({ gc: { run: run.id, status: run.status, dryRun: run.dryRun, ...countsOf(run), error: run.error } }, 'garbage collection finished');
      void deps.events
        .append([{ type: 'gc', project: null, repository: null, data: { operator: run.triggeredBy, repository: '', details: { run: run.id, status: run.status, dryRun: run.dryRun, ...countsOf(run) } } }], Date.now())
        .then(deps.onEvents, (err: unknown) => deps.logger.warn({ err }, 'recording the garbage collection event failed'));
    },
  });
  const defaults = (): GcOptions => ({ graceMs: settings.graceHours * 3_600_000, deleteUntagged: settings.deleteUntagged, dryRun: false });
  const requestGc = async (options: Partial<GcOptions>, triggeredBy: string) => {
    const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<GcOptions>;
    const run = await gc.request({ ...defaults(), ...given }, triggeredBy);
    await deps.runner.enqueue({ type: 'gc.run', payload: { runId: run.id } });
    return run;
  };
  deps.runner.register('gc.run', {
    // A retry after the process died takes the run over once its lease ran out.
    maxAttempts: 5,
    backoff: () => settings.leaseSeconds * 1000 + 5_000,
    run: async (job) => {
      await gc.execute(Number(job.payload.runId));
    },
  });
  deps.runner.register('gc.scheduled', {
    maxAttempts: 1,
    backoff: () => 0,
    run: async () => {
      try {
        await requestGc({}, 'schedule');
      } catch (err) {
        deps.logger.info({ err: { message: (err as Error).message } }, 'scheduled garbage collection skipped');
      }
    },
  });
  if (settings.schedule !== '') await deps.scheduler.define({ name: 'gc', cron: settings.schedule, jobType: 'gc.scheduled', maxAttempts: 1 });

  const policyStore = new KyselyPolicyStore(database);
  const policies = new ProjectPolicies(policyStore, {
    project: deps.project,
    onChange: deps.onPoliciesChange,
    onScheduleChange: async (project, schedule) => {
      const name = `retention:${project.id}`;
      if (schedule === '') await deps.scheduler.remove(name);
      else await deps.scheduler.define({ name, cron: schedule, jobType: 'retention.scheduled', payload: { projectId: project.id }, maxAttempts: 1 });
    },
  });
  const retention = new RetentionService(policies, policyStore, deps.registry.meta, deps.identity, new KyselyGcStore(database), {
    onEvents: deps.onEvents,
    onFinished: (run, project) => deps.logger.info({ retention: { run: run.id, project: project.name, status: run.status, dryRun: run.dryRun, kept: run.kept, deleted: run.deleted } }, 'retention run finished'),
  });
  const requestRetention = async (project: ProjectRow, dryRun: boolean, triggeredBy: string) => {
    const run = await retention.request(project, dryRun, triggeredBy);
    await deps.runner.enqueue({ type: 'retention.run', payload: { runId: run.id }, orderingKey: `retention:${project.id}` });
    return run;
  };
  deps.runner.register('retention.run', {
    // A second attempt comes only when the process running the first stopped (its job lease ran
    // out): the run is marked interrupted instead of showing "running" for ever.
    maxAttempts: 2,
    backoff: () => 0,
    run: async (job) => {
      const runId = Number(job.payload.runId);
      if (job.attempts > 1) await retention.interrupt(runId);
      else await retention.execute(runId);
    },
  });
  deps.runner.register('retention.scheduled', {
    maxAttempts: 1,
    backoff: () => 0,
    run: async (job) => {
      const project = await deps.identity.getProjectById(Number(job.payload.projectId));
      if (project) await requestRetention(project, false, 'schedule');
    },
  });
  const quotas = new QuotaService(deps.identity, deps.registry.meta, { project: deps.project, onChange: deps.onProjectChange });

  const scrub = createScrubber(database, config, deps.store, {
    onProgress: (run, counts) => deps.logger.debug({ scrub: { run: run.id, ...counts } }, 'scrub progress'),
    onFinished: (run, report) => {
      deps.metrics.recordScrubRun(run);
      const log = { scrub: { run: run.id, status: run.status, objectsChecked: run.objectsChecked, bytesChecked: run.bytesChecked, corrupt: run.corrupt, missing: run.missing, released: run.released, error: run.error } };
      if (run.corrupt + run.missing > 0) deps.logger.warn({ ...log, problems: report.slice(0, 20).map((p) => `${p.kind} ${p.digest}`) }, 'scrub found corrupt or missing objects');
      else deps.logger.info(log, 'scrub finished');
      const details = { run: run.id, status: run.status, objectsChecked: run.objectsChecked, corrupt: run.corrupt, missing: run.missing, released: run.released, problems: report.slice(0, 100) };
      void deps.events
        .append([{ type: 'scrub', project: null, repository: null, data: { operator: run.triggeredBy, repository: '', details } }], Date.now())
        .then(deps.onEvents, (err: unknown) => deps.logger.warn({ err }, 'recording the scrub event failed'));
    },
  });
  const requestScrub = async (triggeredBy: string) => {
    const run = await scrub.request(triggeredBy);
    await deps.runner.enqueue({ type: 'scrub.run', payload: { runId: run.id } });
    return run;
  };
  deps.runner.register('scrub.run', {
    // A retry after the process died takes the run over once its lease ran out.
    maxAttempts: 5,
    backoff: () => config.lifecycle.scrub.leaseSeconds * 1000 + 5_000,
    run: async (job) => void (await scrub.execute(Number(job.payload.runId))),
  });
  deps.runner.register('scrub.scheduled', {
    maxAttempts: 1,
    backoff: () => 0,
    run: async () => {
      try {
        await requestScrub('schedule');
      } catch (err) {
        deps.logger.info({ err: { message: (err as Error).message } }, 'scheduled scrub skipped');
      }
    },
  });
  if (config.lifecycle.scrub.schedule !== '') await deps.scheduler.define({ name: 'scrub', cron: config.lifecycle.scrub.schedule, jobType: 'scrub.scheduled', maxAttempts: 1 });
  else await deps.scheduler.remove('scrub');

  return { gc, requestGc, policies, retention, requestRetention, quotas, scrub, requestScrub };
}

/** The scrubber as the server and `berth scrub` make it. */
export function createScrubber(database: Database, config: ResolvedConfig, store: BlobStore, hooks: Pick<ScrubberOptions, 'onProgress' | 'onFinished'> = {}, bytesPerSecond?: number): Scrubber {
  const settings = config.lifecycle.scrub;
  return new Scrubber(new KyselyScrubStore(database), store, {
    leaseMs: settings.leaseSeconds * 1000,
    bytesPerSecond: bytesPerSecond ?? settings.bytesPerSecond,
    ...hooks,
  });
}

/** The collector as the server and `berth gc` make it: the same settings, store and safety floor. */
export function createGarbageCollector(
  database: Database,
  config: ResolvedConfig,
  store: BlobStore,
  expireUploads: (before: number) => Promise<number>,
  hooks: Pick<GarbageCollectorOptions, 'onProgress' | 'onFinished'> = {},
): GarbageCollector {
  const settings = config.lifecycle.gc;
  const main = new KyselyGcStore(database);
  return new GarbageCollector(main, store, {
    openWorkStore: async () => {
      if (database.engine === 'postgres') {
        // A pool of the run's own: its long statements never wait for, or hold up, request connections.
        const own = connect({ url: config.database.url, poolSize: 2, connectRetryMs: config.database.connectRetryMs, preparedStatements: config.database.preparedStatements });
        return { store: new KyselyGcStore(own), close: () => own.db.destroy() };
      }
      // SQLite: the process's one connection (a second one would wait for the first's write lock
      // synchronously, holding the event loop the first needs to finish), with a larger page
      // cache for the run's scans (16 MiB; given back when it ends). 64 MiB found the candidates
      // of a 1M-row registry 1 s sooner but raised the process's memory by 64 MiB for the run
      // (docs/performance.md, "Garbage collection at scale").
      await sql`PRAGMA cache_size = -16384`.execute(database.db);
      return {
        store: main,
        close: async () => {
          await sql`PRAGMA cache_size = -2000`.execute(database.db);
          await sql`PRAGMA shrink_memory`.execute(database.db);
        },
      };
    },
    minGraceMs: 2 * touchIntervalMs(config),
    batchSize: settings.batchSize,
    pauseMs: database.engine === 'postgres' ? 0 : 5,
    leaseMs: settings.leaseSeconds * 1000,
    uploadTtlMs: config.registry.uploadTtlHours * 3_600_000,
    expireUploads,
    ...hooks,
  });
}

function countsOf(run: GcRunRow) {
  return { manifestsDeleted: run.manifestsDeleted, linksDeleted: run.linksDeleted, blobsDeleted: run.blobsDeleted, bytesFreed: run.bytesFreed, uploadsExpired: run.uploadsExpired };
}
