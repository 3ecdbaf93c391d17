import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EventStore } from '../ports/event-store.js';
import type { JobStore } from '../ports/job-store.js';
import type { MetadataStore } from '../ports/metadata-store.js';
import { webhookConsumer } from '../services/webhooks/webhook-dispatcher.js';

/** The route label of a request no route answered. */
export const unmatchedRoute = 'unmatched';

export interface MetricSources {
  meta: MetadataStore;
  events: EventStore;
  jobs: JobStore;
}

/**
 * Prometheus metrics, on a registry of this app's own (several instances may share a
 * process in tests). Database-derived gauges are read at scrape time.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly routes = new WeakMap<FastifyRequest, string>();
  private statsOfScrape: ReturnType<MetadataStore['stats']> | undefined;

  readonly httpRequests = new Counter({
    name: 'berth_http_requests_total',
    help: 'HTTP requests by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'berth_http_request_duration_seconds',
    help: 'HTTP request latency by route and method',
    labelNames: ['route', 'method'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
    registers: [this.registry],
  });
  readonly bytesReceived = new Counter({ name: 'berth_blob_bytes_received_total', help: 'Blob bytes received in uploads', registers: [this.registry] });
  readonly bytesSent = new Counter({ name: 'berth_blob_bytes_sent_total', help: 'Blob and manifest bytes sent in pulls', registers: [this.registry] });
  readonly uploadsInFlight = new Gauge({ name: 'berth_uploads_in_flight', help: 'Upload requests (POST/PATCH/PUT with a body) being received now', registers: [this.registry] });
  readonly webhookDeliveries = new Counter({
    name: 'berth_webhook_deliveries_total',
    help: 'Webhook delivery attempts by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly rateLimited = new Counter({
    name: 'berth_rate_limit_decisions_total',
    help: 'Requests counted against rate limits, by category (pull, api) and result (allowed, refused)',
    labelNames: ['category', 'result'] as const,
    registers: [this.registry],
  });
  readonly loginBackoff = new Counter({
    name: 'berth_login_backoff_refusals_total',
    help: 'Logins refused without checking the password because the client address must wait (login back-off)',
    registers: [this.registry],
  });

  readonly proxyCacheRequests = new Counter({
    name: 'berth_proxy_cache_requests_total',
    help: 'Manifest requests of proxy-cache projects: hit, fetched, revalidated (upstream unchanged), stale (upstream failed, cache served), failed; with why the upstream failed',
    labelNames: ['outcome', 'failure'] as const,
    registers: [this.registry],
  });
  readonly replicationExecutions = new Counter({
    name: 'berth_replication_executions_total',
    help: 'Replication executions finished, by direction and status',
    labelNames: ['direction', 'status'] as const,
    registers: [this.registry],
  });
  readonly preheatTasks = new Counter({ name: 'berth_preheat_tasks_total', help: 'P2P preheat tasks (one image each) finished, by status', labelNames: ['status'] as const, registers: [this.registry] });
  readonly scans = new Counter({ name: 'berth_scans_total', help: 'Vulnerability scans finished, by status (succeeded, failed)', labelNames: ['status'] as const, registers: [this.registry] });
  readonly scanSeconds = new Histogram({ name: 'berth_scan_duration_seconds', help: 'Time one vulnerability scan took (inventory and matching)', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300], registers: [this.registry] });
  readonly pullsBlocked = new Counter({ name: 'berth_pulls_blocked_total', help: 'Manifest pulls a project security policy refused, by policy', labelNames: ['policy'] as const, registers: [this.registry] });
  readonly replicationBytes = new Counter({ name: 'berth_replication_bytes_total', help: 'Blob bytes replication copied', labelNames: ['direction'] as const, registers: [this.registry] });
  readonly gcRuns = new Counter({
    name: 'berth_gc_runs_total',
    help: 'Garbage collection runs finished, by result and whether they were dry runs',
    labelNames: ['result', 'dry_run'] as const,
    registers: [this.registry],
  });
  readonly gcDeleted = new Counter({
    name: 'berth_gc_deleted_total',
    help: 'What garbage collection deleted: manifests, links, blobs, uploads',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly gcFreedBytes = new Counter({ name: 'berth_gc_freed_bytes_total', help: 'Bytes of blobs garbage collection deleted', registers: [this.registry] });
  readonly gcLastSuccess = new Gauge({ name: 'berth_gc_last_success_timestamp_seconds', help: 'When the last garbage collection run (not a dry run) succeeded', registers: [this.registry] });

  /** Counts a finished garbage collection run (dry runs count only as runs: they deleted nothing). */
  recordGcRun(run: { status: string; dryRun: boolean; manifestsDeleted: number; linksDeleted: number; blobsDeleted: number; uploadsExpired: number; bytesFreed: number; finishedAt: number | null }): void {
    this.gcRuns.inc({ result: run.status, dry_run: String(run.dryRun) });
    if (run.dryRun) return;
    this.gcDeleted.inc({ kind: 'manifests' }, run.manifestsDeleted);
    this.gcDeleted.inc({ kind: 'links' }, run.linksDeleted);
    this.gcDeleted.inc({ kind: 'blobs' }, run.blobsDeleted);
    this.gcDeleted.inc({ kind: 'uploads' }, run.uploadsExpired);
    this.gcFreedBytes.inc(run.bytesFreed);
    if (run.status === 'succeeded' && run.finishedAt !== null) this.gcLastSuccess.set(run.finishedAt / 1000);
  }

  readonly scrubRuns = new Counter({ name: 'berth_scrub_runs_total', help: 'Scrub runs finished, by result', labelNames: ['result'] as const, registers: [this.registry] });
  readonly scrubChecked = new Counter({ name: 'berth_scrub_checked_objects_total', help: 'Blobs and manifests scrub runs read back and verified', registers: [this.registry] });
  readonly scrubCheckedBytes = new Counter({ name: 'berth_scrub_checked_bytes_total', help: 'Bytes scrub runs read back and hashed', registers: [this.registry] });
  readonly scrubProblems = new Counter({
    name: 'berth_scrub_problems_total',
    help: 'Objects scrub runs found corrupt or missing (each run counts what it finds)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly scrubLastSuccess = new Gauge({ name: 'berth_scrub_last_success_timestamp_seconds', help: 'When the last scrub run succeeded', registers: [this.registry] });

  /** Counts a finished scrub run, with what a process that died before finishing it had read. */
  recordScrubRun(run: { status: string; objectsChecked: number; bytesChecked: number; corrupt: number; missing: number; finishedAt: number | null }): void {
    this.scrubRuns.inc({ result: run.status });
    this.scrubChecked.inc(run.objectsChecked);
    this.scrubCheckedBytes.inc(run.bytesChecked);
    this.scrubProblems.inc({ kind: 'corrupt' }, run.corrupt);
    this.scrubProblems.inc({ kind: 'missing' }, run.missing);
    if (run.status === 'succeeded' && run.finishedAt !== null) this.scrubLastSuccess.set(run.finishedAt / 1000);
  }

  constructor(sources: MetricSources) {
    collectDefaultMetrics({ register: this.registry, prefix: 'berth_' });
    // Expose both results from the start, so rate() and alerts see a series before the first failure.
    for (const result of ['success', 'failure', 'blocked']) this.webhookDeliveries.inc({ result }, 0);
    for (const category of ['pull', 'api']) for (const result of ['allowed', 'refused']) this.rateLimited.inc({ category, result }, 0);
    for (const kind of ['manifests', 'links', 'blobs', 'uploads']) this.gcDeleted.inc({ kind }, 0);
    for (const kind of ['corrupt', 'missing']) this.scrubProblems.inc({ kind }, 0);
    // One set of COUNT queries per scrape, however many gauges ask (reset by each scrape).
    const stats = () => (this.statsOfScrape ??= sources.meta.stats());
    const gauge = (name: string, help: string, read: (s: Awaited<ReturnType<MetadataStore['stats']>>) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        async collect() {
          this.set(read(await stats()));
        },
      });
    gauge('berth_repositories', 'Repositories', (s) => s.repositories);
    gauge('berth_manifests', 'Manifests across repositories', (s) => s.manifests);
    gauge('berth_blobs', 'Distinct stored blobs and manifests', (s) => s.blobs);
    gauge('berth_stored_bytes', 'Bytes of distinct stored blobs and manifests', (s) => s.blobBytes);
    gauge('berth_upload_sessions', 'Open upload sessions', (s) => s.uploads);
    gauge('berth_quarantined_objects', 'Blobs and manifests quarantined because their stored bytes are corrupt or missing (never served)', (s) => s.quarantined);
    new Gauge({
      name: 'berth_outbox_lag_events',
      help: 'Events written but not yet dispatched to webhooks',
      registers: [this.registry],
      async collect() {
        const p = await sources.events.positions(webhookConsumer);
        this.set(Math.max(0, p.newest - p.consumed));
      },
    });
    new Gauge({
      name: 'berth_outbox_lag_seconds',
      help: 'Age of the oldest event not yet dispatched',
      registers: [this.registry],
      async collect() {
        const p = await sources.events.positions(webhookConsumer);
        this.set(p.oldestUnconsumedAt === null ? 0 : Math.max(0, (Date.now() - p.oldestUnconsumedAt) / 1000));
      },
    });
    new Gauge({
      name: 'berth_jobs',
      help: 'Jobs in the queue by status',
      labelNames: ['status'] as const,
      registers: [this.registry],
      async collect() {
        const counts = await sources.jobs.counts();
        for (const [status, n] of Object.entries(counts)) this.set({ status }, n);
      },
    });
  }

  /** Names the route of a request for labels (the /v2 dispatcher knows better than Fastify). */
  label(request: FastifyRequest, route: string): void {
    this.routes.set(request, route);
  }

  /** Counts every response and serves /metrics. */
  install(app: FastifyInstance): void {
    app.addHook('onResponse', async (request, reply) => {
      const route = this.routes.get(request) ?? request.routeOptions.url ?? unmatchedRoute;
      this.httpRequests.inc({ route, method: request.method, status: String(reply.statusCode) });
      this.httpDuration.observe({ route, method: request.method }, reply.elapsedTime / 1000);
      const length = Number(reply.getHeader('content-length') ?? 0);
      if (request.method === 'GET' && (reply.statusCode === 200 || reply.statusCode === 206) && (route === 'v2_blob' || route === 'v2_manifest')) {
        this.bytesSent.inc(length);
      }
    });
    app.get('/metrics', async (_request, reply) => {
      this.statsOfScrape = undefined;
      return reply.type(this.registry.contentType).send(await this.registry.metrics());
    });
  }
}
