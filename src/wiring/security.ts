import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import type { Database } from '../adapters/db/connect.js';
import { KyselyPolicyStore } from '../adapters/db/kysely-policy-store.js';
import { KyselyScanStore } from '../adapters/db/kysely-scan-store.js';
import { KyselyAdapterScanStore, KyselyScannerStore } from '../adapters/db/kysely-scanner-store.js';
import { RegistryClient } from '../adapters/upstream/registry-client.js';
import { HarborScannerClient } from '../adapters/scanner/harbor-scanner-client.js';
import { KyselyVulnStore } from '../adapters/db/kysely-vuln-store.js';
import { BerthError } from '../domain/errors.js';
import type { Metrics } from '../http/metrics.js';
import type { EventStore } from '../ports/event-store.js';
import type { ProjectRow } from '../ports/identity-store.js';
import { blockedByPolicy, type Outbound } from '../ports/outbound.js';
import type { SecretBox } from '../ports/secrets.js';
import type { RobotService } from '../services/identity/robot-service.js';
import type { JobRunner } from '../services/jobs/job-runner.js';
import type { Scheduler } from '../services/jobs/scheduler.js';
import type { Registry } from '../services/registry/index.js';
import { InventoryService, type InventoryLayers } from '../services/security/inventory-service.js';
import { PullPolicyService } from '../services/security/pull-policy-service.js';
import { ScanService } from '../services/security/scan-service.js';
import { ExternalScanner } from '../services/security/external-scanner.js';
import { ScannerChooser } from '../services/security/scanner-chooser.js';
import { ScannerRegistrations } from '../services/security/scanner-registrations.js';
import { AdapterScans } from '../services/security/adapter-scans.js';
import { RemoteLayers } from '../services/security/remote-layers.js';
import { ScanHeadCache } from '../services/security/scan-head-cache.js';
import { ScanTriggers } from '../services/security/scan-triggers.js';
import { SignatureService } from '../services/security/signature-service.js';
import { SbomService } from '../services/security/sbom-service.js';
import type { VulnStore } from '../ports/vuln-store.js';
import type { ScanReport } from '../ports/scan-store.js';
import type { Inventory } from '../services/security/inventory.js';

export interface SecurityDependencies {
  registry: Registry;
  runner: JobRunner;
  scheduler: Scheduler;
  /** Where their events go (the server queues them and writes them in batches). */
  events: Pick<EventStore, 'append'>;
  onEvents: () => void;
  metrics: Metrics;
  logger: Logger;
  project: (name: string) => Promise<ProjectRow | undefined>;
  version: string;
  /** External scanners (docs/scanners.md): their requests, sealed credentials, pull robots, and the registry URL they pull from. */
  outbound: Outbound;
  box: SecretBox;
  robots: RobotService;
  registryUrl: () => string;
  /** This registry's layers as the inventory reads them: the walk shared with the file index (wireInsights). */
  layers: InventoryLayers;
  /** Indexes a pushed manifest (wireInsights): the push's `scan.artifact` job runs it before the scan. */
  indexImage?: (repository: string, digest: string) => Promise<void>;
  /** The inventory the image index stored for an image: a scan reads it instead of the layers. */
  storedInventory?: (digest: string) => Promise<Inventory | undefined>;
  /** Insights' pushedManifest: the manifest the push's job has just read to index it. */
  pushedManifest?: (repository: string, digest: string) => { body: Buffer; mediaType: string } | undefined;
}

/** Supply-chain security (docs/inventory.md, docs/vulnerabilities.md): inventory, scans, pull policies. */
export interface Security {
  inventory: InventoryService;
  /** Scans with the scanner chosen (docs/scanners.md): a request's, else the default external one, else the built-in one. */
  scans: ScannerChooser;
  /** External scanners registered (Harbor's pluggable scanner API v1.1). */
  scanners: ScannerRegistrations;
  /** Berth's scanner through the same API (security.scannerAdapter.enabled), for Harbor to register. */
  adapter?: AdapterScans;
  vulns: VulnStore;
  pullPolicy: PullPolicyService;
  signatures: SignatureService;
  sboms: SbomService;
  triggers: ScanTriggers;
}

const scanAttempts = 3;
/** Scans a rescan job queues at a time (it queues the next batch as its last act). */
const rescanBatch = 200;

export async function wireSecurity(database: Database, config: ResolvedConfig, deps: SecurityDependencies): Promise<Security> {
  const vulns = new KyselyVulnStore(database);
  // Report heads cached for pull policies (scan-head-cache.ts); every report stored goes through it.
  const reports = new ScanHeadCache(new KyselyScanStore(database));
  // Scans read layers through the walk shared with lint and the file index (which read them quietly).
  const inventory = new InventoryService(deps.layers);
  const onScanned = (report: ScanReport, repository: string) => {
      deps.metrics.scans.inc({ status: report.status });
      deps.metrics.scanSeconds.observe(report.durationMs / 1000);
      const project = repository.split('/', 1)[0]!;
      const details = { status: report.status, summary: report.summary, packages: report.packages, dbVersion: report.dbVersion, ...(report.error ? { error: report.error } : {}) };
      void deps.events
        .append([{ type: 'scan', project, repository, data: { operator: 'scanner', repository, digest: report.digest, details } }], Date.now())
        .then(deps.onEvents, (err: unknown) => deps.logger.warn({ err }, 'recording the scan event failed'));
  };
  const builtIn = new ScanService(deps.registry, inventory, vulns, reports, { concurrency: config.security.scanConcurrency, onScanned, storedInventory: deps.storedInventory, pushedManifest: deps.pushedManifest });
  const scanners = new ScannerRegistrations(new KyselyScannerStore(database), {
    box: deps.box,
    connect: (scanner, credential) => new HarborScannerClient({ outbound: deps.outbound, url: scanner.url, auth: scanner.auth, credential, skipCertVerify: scanner.skipCertVerify }),
    checkUrl: async (url) => {
      try {
        await deps.outbound.check('scanner', url);
      } catch (err) {
        const blocked = blockedByPolicy(err);
        if (blocked) throw new BerthError('BAD_REQUEST', { message: `scanner url ${blocked.message}` });
        throw err;
      }
    },
  });
  const external = new ExternalScanner({
    registry: deps.registry,
    vulns,
    reports,
    registryUrl: deps.registryUrl,
    concurrency: config.security.scanConcurrency,
    onScanned,
    pullCredentials: async (repository, ttlMs) => {
      const project = await deps.project(repository.split('/', 1)[0]!);
      if (!project) throw new BerthError('NAME_UNKNOWN', { message: `the project of ${repository} is gone` });
      const name = `scanner-${randomBytes(4).toString('hex')}`;
      const { robot, secret } = await deps.robots.create({ name, description: 'External scanner: pull-only, removed when the scan ends', expiresAt: Date.now() + ttlMs, permissions: [{ project: project.name, actions: ['pull'] }] }, project, 'scanner');
      return { username: robot.name, password: secret, revoke: async () => void (await deps.robots.delete(robot.id, project)) };
    },
  });
  const scans = new ScannerChooser(builtIn, scanners, external);
  const layers = new RemoteLayers();
  const adapter = config.security.scannerAdapter.enabled
    ? new AdapterScans({
        store: new KyselyAdapterScanStore(database),
        scans: builtIn,
        vulns,
        inventory: new InventoryService(layers),
        layers,
        connect: (url, credentials) => new RegistryClient({ outbound: deps.outbound, feature: 'scanner', url, credentials, maxManifestBytes: config.registry.maxManifestBytes }),
        checkUrl: (url) => deps.outbound.check('scanner', url).catch((err: unknown) => {
          const blocked = blockedByPolicy(err);
          throw blocked ? new Error(blocked.message) : err;
        }),
        version: deps.version,
        onError: (err) => deps.logger.error({ err }, 'a scan for the scanner adapter failed'),
      })
    : undefined;
  const signatures = new SignatureService(deps.registry);
  const sboms = new SbomService(deps.registry, inventory, { host: () => new URL(deps.registryUrl()).host, toolVersion: deps.version });
  const pullPolicy = new PullPolicyService(new KyselyPolicyStore(database), reports, {
    project: deps.project,
    scanning: config.security.scanning,
    signatures,
    onBlocked: (blocked) => {
      deps.metrics.pullsBlocked.inc({ policy: blocked.policy });
      const project = blocked.repository.split('/', 1)[0]!;
      void deps.events
        .append([{ type: 'policy', project, repository: blocked.repository, data: { operator: blocked.who, repository: blocked.repository, digest: blocked.digest, details: { policy: blocked.policy, reason: blocked.reason } } }], Date.now())
        .then(deps.onEvents, (err: unknown) => deps.logger.warn({ err }, 'recording the policy event failed'));
    },
  });

  deps.runner.register('scan.artifact', {
    maxAttempts: scanAttempts,
    backoff: (attempt) => 5_000 * attempt,
    // A burst of pushes is answered first; its images are indexed and scanned once it passes,
    // or after jobs.backgroundMaxDelaySeconds at the latest (docs/observability.md, "Jobs").
    background: true,
    run: async (job) => {
      const repository = String(job.payload.repository);
      const digest = String(job.payload.digest);
      const push = job.payload.trigger === 'push';
      try {
        // A push is indexed first (docs/insights.md, "The image index"): one job per push, and
        // the scan then reads the inventory the index stored instead of walking the layers again.
        if (push) await deps.indexImage?.(repository, digest);
        if (push && !config.security.scanning) return;
        const policy = push ? await pullPolicy.policyFor(repository) : undefined;
        if (!push || policy?.scanOnPush) await scans.scan(repository, digest);
        if (policy?.sbomOnPush) await sboms.attach(repository, digest, 'sbom');
      } catch (err) {
        // Deleted before its scan ran, or not an image (a signature, an SBOM): nothing to scan.
        if (err instanceof BerthError && ['MANIFEST_UNKNOWN', 'NAME_UNKNOWN', 'NOT_SCANNABLE'].includes(err.key)) return;
        throw err;
      }
    },
  });
  deps.runner.register('scan.rescan', {
    maxAttempts: 1,
    backoff: () => 0,
    run: async () => {
      await reports.prune();
      const version = await vulns.version();
      if (version === 0) return;
      const due = await reports.due(version, rescanBatch, false);
      for (const { repository, digest } of due) await deps.runner.enqueue({ type: 'scan.artifact', payload: { repository, digest, trigger: 'rescan' }, maxAttempts: scanAttempts });
      // More to do: the next batch once these are queued (each scan moves its report to the new version).
      if (due.length === rescanBatch) await deps.runner.enqueue({ type: 'scan.rescan', payload: {}, maxAttempts: 1, runAt: Date.now() + 60_000 });
    },
  });
  if (config.security.scanning && config.security.rescanSchedule !== '') await deps.scheduler.define({ name: 'scan.rescan', cron: config.security.rescanSchedule, jobType: 'scan.rescan', maxAttempts: 1 });
  else await deps.scheduler.remove('scan.rescan');

  // Pushes on this instance wake it at once (registry onEvents); the timer only catches pushes
  // another instance made and did not drain itself. A slower timer keeps pull events, which wake
  // outbox consumers while they flow, from costing the database a read per interval more.
  const triggers = new ScanTriggers(reports, {
    intervalMs: Math.max(10 * config.jobs.pollIntervalMs, 5_000),
    maxAttempts: scanAttempts,
    onJobs: () => deps.runner.notify(),
    onError: (err) => deps.logger.warn({ err }, 'queueing scans of pushed images failed; will retry'),
  });
  return { inventory, scans, scanners, adapter, vulns, pullPolicy, signatures, sboms, triggers };
}
