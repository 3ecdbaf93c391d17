import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import type { Database } from '../adapters/db/connect.js';
import { KyselyEventStore } from '../adapters/db/kysely-event-store.js';
import { KyselyJobStore } from '../adapters/db/kysely-job-store.js';
import type { KyselyMetadataStore } from '../adapters/db/kysely-metadata-store.js';
import { KyselyWebhookStore } from '../adapters/db/kysely-webhook-store.js';
import type { Digest } from '../domain/digest.js';
import type { EventStore, OutboxEvent } from '../ports/event-store.js';
import { BatchWriter } from '../services/batch-writer.js';
import { JobRunner } from '../services/jobs/job-runner.js';
import { RequestLoad } from '../services/jobs/request-load.js';
import { Scheduler } from '../services/jobs/scheduler.js';
import { WebhookDispatcher } from '../services/webhooks/webhook-dispatcher.js';

/** The outbox and the job queue every feature hands its background work to. */
export interface Jobs {
  events: KyselyEventStore;
  jobs: KyselyJobStore;
  webhooks: KyselyWebhookStore;
  runner: JobRunner;
  /** Requests in flight and how busy the event loop is (the HTTP server tells it of each request): background jobs wait while both say saturated. */
  load: RequestLoad;
  /** Turns outbox events into webhook deliveries; `notify()` after writing events. */
  dispatcher: WebhookDispatcher;
  scheduler: Scheduler;
  /** Pull events, and with them each manifest's last-pulled time, written in batches. */
  pulls: BatchWriter<OutboxEvent>;
  /**
   * Events of background work (a pushed image's lint and scan results, a refused pull), written
   * in batches 50 ms after the first: under a burst of pushes, one insert for many jobs' events
   * instead of two per push. What they tell of is stored already (the index record, the scan
   * report); only the notices of the last 50 ms are lost if the process dies. Their writes wake
   * the dispatcher and `deps.onBackgroundEvents`.
   */
  background: BatchWriter<OutboxEvent>;
  /** `background` as the features that record such events take it. */
  queuedEvents: Pick<EventStore, 'append'>;
}

/**
 * Wires the event outbox and the job queue. A change writes its events in its own transaction,
 * then wakes the dispatcher, which turns them into webhook deliveries run by the job runner.
 */
export function wireJobs(database: Database, config: ResolvedConfig, deps: { meta: KyselyMetadataStore; logger: Logger; onBackgroundEvents: () => void }): Jobs {
  const { logger } = deps;
  const load = new RequestLoad();
  const events = new KyselyEventStore(database);
  const jobs = new KyselyJobStore(database);
  const webhooks = new KyselyWebhookStore(database);
  const runner = new JobRunner(jobs, {
    concurrency: config.jobs.concurrency,
    pollIntervalMs: config.jobs.pollIntervalMs,
    leaseMs: config.jobs.leaseSeconds * 1000,
    saturated: () => load.saturated(),
    backgroundMaxDelayMs: config.jobs.backgroundMaxDelaySeconds * 1000,
    onError: (job, err) => logger.warn({ job: { id: job.id, type: job.type, attempt: job.attempts }, err: { message: (err as Error)?.message } }, 'job attempt failed'),
  });
  const dispatcher = new WebhookDispatcher(webhooks, {
    intervalMs: config.jobs.pollIntervalMs,
    maxAttempts: config.webhooks.maxAttempts,
    onJobs: () => runner.notify(),
    onError: (err) => logger.warn({ err }, 'dispatching events to webhooks failed; will retry'),
  });
  // Pull events, and with them each manifest's last-pulled time (retention's "most recently pulled").
  const pulls = new BatchWriter<OutboxEvent>(
    async (batch) => {
      const now = Date.now();
      await events.append(batch, now);
      // The events are written: a failure here must not write them again.
      await deps.meta
        .recordPulls(batch.flatMap((e) => (e.type === 'pull' && e.repository && e.data.digest ? [{ repository: e.repository, digest: e.data.digest as Digest, at: now }] : [])))
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
  const scheduler = new Scheduler(jobs, { intervalMs: 15_000, onJob: () => runner.notify(), onError: (err) => logger.warn({ err }, 'scheduler tick failed') });
  const background = new BatchWriter<OutboxEvent>((batch) => events.append(batch, Date.now()), {
    intervalMs: 50,
    maxBatch: 200,
    maxPending: 10_000,
    onWritten: () => {
      dispatcher.notify();
      deps.onBackgroundEvents();
    },
    onError: (err) => logger.warn({ err }, 'recording lint, scan or policy events failed; kept for the next attempt'),
  });
  const queuedEvents = {
    append: async (queued: OutboxEvent[]): Promise<void> => {
      for (const event of queued) background.add(event);
    },
  };
  return { events, jobs, webhooks, runner, load, dispatcher, scheduler, pulls, background, queuedEvents };
}
