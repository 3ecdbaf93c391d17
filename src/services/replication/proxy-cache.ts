import { BerthError } from '../../domain/errors.js';
import { projectOf } from '../../domain/names.js';
import { upstreamRepository } from '../../domain/registry-kinds.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProjectRow } from '../../ports/identity-store.js';
import type { LeaseStore } from '../../ports/lease-store.js';
import type { PolicyStore } from '../../ports/policy-store.js';
import { UpstreamError, type UpstreamRegistry } from '../../ports/upstream-registry.js';
import { ArtifactCopier } from './artifact-copier.js';
import type { EndpointService } from './endpoint-service.js';

/** A project that caches another registry (stored as the project's `proxy` policy). */
export interface ProxySettings {
  endpointId: number;
  /** A cached tag is checked against the upstream again after this long. */
  ttlSeconds: number;
}

/** How a proxy-cache project's upstream has answered lately, as this process saw it. */
export interface ProxyHealth {
  /** The last time the upstream answered (fetched or revalidated). */
  lastSuccessAt: number | null;
  lastFailureAt: number | null;
  lastFailure: { failure: string; message: string } | null;
  /** Manifest requests served from the cache because the upstream failed, since the process started. */
  staleServed: number;
}

/** What happened to a manifest request of a proxy project (metrics). */
export type ProxyOutcome = 'hit' | 'fetched' | 'revalidated' | 'stale' | 'failed';

export interface ProxyCacheOptions {
  project: (name: string) => Promise<ProjectRow | undefined>;
  /** This Berth as a registry to copy into. */
  local: UpstreamRegistry;
  /** Leases shared with the other workers and instances, so one of them fetches a new image; without, one fetch per process. */
  leases?: { store: LeaseStore; owner: string };
  onOutcome?: (project: string, outcome: ProxyOutcome, failure?: string) => void;
  /** Told when the upstream failed and cached content was served instead. */
  onStale?: (project: string, repository: string, reference: string, err: UpstreamError) => void;
  now?: () => number;
}

const settingsTtlMs = 5_000;
/** A fetching process renews its lease every third of this; if it dies, another takes over after it. */
const fetchLeaseMs = 30_000;
/** How long a request waits for another process's fetch of the same image. */
const fetchWaitMs = 10 * 60_000;
const fetchPollMs = 200;

/**
 * Proxy-cache projects (docs/replication.md): `podman pull berth/hub/library/nginx:1.27` asks the
 * upstream on first use, stores the image here (every blob, streamed; one fetch however many
 * clients ask at once, in whichever workers and instances), and serves it from here afterwards. A tag is checked
 * again (HEAD, digest compared) once `ttlSeconds` have passed; when the upstream is down, slow
 * or limiting (429), what is cached is served and the failure counted. Cached content is an
 * ordinary project's: retention, quotas and GC apply.
 */
export class ProxyCache {
  private readonly settings = new Map<number, { value: ProxySettings | undefined; expires: number }>();
  /** When each repository:reference was last found current upstream (per process). */
  private readonly checked = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly healthOf = new Map<string, ProxyHealth>();
  private readonly copier = new ArtifactCopier({ referrers: false });
  private readonly now: () => number;

  constructor(
    private readonly policies: PolicyStore,
    private readonly endpoints: EndpointService,
    private readonly options: ProxyCacheOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  async get(project: ProjectRow): Promise<ProxySettings | undefined> {
    const cached = this.settings.get(project.id);
    if (cached && cached.expires > this.now()) return cached.value;
    const value = (await this.policies.getPolicy(project.id, 'proxy'))?.value as ProxySettings | undefined;
    if (this.settings.size > 10_000) this.settings.clear();
    this.settings.set(project.id, { value, expires: this.now() + settingsTtlMs });
    return value;
  }

  async set(project: ProjectRow, settings: ProxySettings | null, by: string): Promise<ProxySettings | null> {
    if (settings) {
      await this.endpoints.get(settings.endpointId);
      if (!Number.isInteger(settings.ttlSeconds) || settings.ttlSeconds < 0) throw new BerthError('BAD_REQUEST', { message: 'ttlSeconds is a whole number of seconds' });
    }
    await this.policies.putPolicy(project.id, 'proxy', settings, by, this.now());
    this.settings.delete(project.id);
    return settings;
  }

  /** Clients do not push into a proxy-cache project (as in Harbor): what is there comes from the upstream. */
  async refusePush(repository: string): Promise<void> {
    const projectName = projectOf(repository);
    const project = await this.options.project(projectName);
    if (!project || !(await this.get(project))) return;
    throw new BerthError('DENIED', { message: `project ${projectName} is a proxy cache: its content comes from its upstream, and pushes to it are refused` });
  }

  /**
   * Before a manifest of `repository` is served: in a proxy project, fetches it from the
   * upstream when it is not here or its check is due. Throws only when nothing can be served.
   */
  async prepare(repository: string, reference: string): Promise<void> {
    const projectName = projectOf(repository);
    if (projectName === repository) return;
    const project = await this.options.project(projectName);
    if (!project) return;
    const settings = await this.get(project);
    if (!settings) return;
    const key = `${repository}@${reference}`;
    const checkedAt = this.checked.get(key);
    const immutable = reference.includes(':');
    if (checkedAt !== undefined && (immutable || this.now() - checkedAt < settings.ttlSeconds * 1000) && (await this.options.local.headManifest(repository, reference))) {
      this.options.onOutcome?.(projectName, 'hit');
      return;
    }
    let work = this.inFlight.get(key);
    if (!work) {
      work = this.refresh(projectName, settings, repository, reference).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, work);
    }
    await work;
  }

  private async refresh(projectName: string, settings: ProxySettings, repository: string, reference: string): Promise<void> {
    const key = `${repository}@${reference}`;
    const local = await this.options.local.headManifest(repository, reference);
    // A digest never changes: once here, it is served without asking.
    if (local && reference.includes(':')) {
      this.remember(key);
      this.options.onOutcome?.(projectName, 'hit');
      return;
    }
    try {
      const endpoint = await this.endpoints.get(settings.endpointId);
      const upstream = this.endpoints.client(endpoint, 'proxyCache');
      const upstreamName = upstreamRepository(endpoint.kind, repository.slice(projectName.length + 1));
      const current = await upstream.headManifest(upstreamName, reference);
      if (!current) {
        if (local) throw new UpstreamError('not-found', `${upstreamName}:${reference} is no longer upstream`, 404);
        throw new BerthError('MANIFEST_UNKNOWN', { message: `${reference} is not in ${repository} upstream (${endpoint.name}: ${upstreamName})` });
      }
      this.health(projectName).lastSuccessAt = this.now();
      if (local?.digest === current.digest) {
        this.remember(key);
        this.options.onOutcome?.(projectName, 'revalidated');
        return;
      }
      const fetched = await this.exclusively(
        `proxy:${repository}@${reference}`,
        () => this.copier.copy({ registry: upstream, repository: upstreamName }, { registry: this.options.local, repository }, reference),
        async () => (await this.options.local.headManifest(repository, reference))?.digest === current.digest,
      );
      this.remember(key);
      this.options.onOutcome?.(projectName, fetched ? 'fetched' : 'hit');
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      const health = this.health(projectName);
      health.lastFailureAt = this.now();
      health.lastFailure = { failure: err.failure, message: err.message };
      if (local) health.staleServed++;
      if (local) {
        // stale-if-error: what is here is served; the failure is counted and logged.
        this.options.onOutcome?.(projectName, 'stale', err.failure);
        this.options.onStale?.(projectName, repository, reference, err);
        return;
      }
      this.options.onOutcome?.(projectName, 'failed', err.failure);
      if (err.failure === 'rate-limited') {
        throw new BerthError('TOOMANYREQUESTS', {
          message: `the upstream of ${projectName} is limiting requests and ${repository}:${reference} is not cached: ${err.message}`,
          headers: err.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(err.retryAfterSeconds) },
        });
      }
      if (err.failure === 'not-found') throw new BerthError('MANIFEST_UNKNOWN', { message: `${repository}:${reference} is not upstream: ${err.message}` });
      throw new BerthError('UNAVAILABLE', { message: `the upstream of ${projectName} cannot be reached and ${repository}:${reference} is not cached: ${err.message}` });
    }
  }

  /**
   * Runs `work` in one process of all that share the database: the one that takes the lease
   * (renewed while it works); the others wait until `doneElsewhere` says the result is here, or
   * take the lease over when its holder stopped renewing it. Resolves whether this one did the work.
   */
  private async exclusively(name: string, work: () => Promise<unknown>, doneElsewhere: () => Promise<boolean>): Promise<boolean> {
    const leases = this.options.leases;
    if (!leases) {
      await work();
      return true;
    }
    const deadline = Date.now() + fetchWaitMs;
    const take = () => leases.store.acquire(name, leases.owner, Date.now() + fetchLeaseMs, Date.now());
    for (;;) {
      if (await take()) {
        const renew = setInterval(() => void take().catch(() => undefined), fetchLeaseMs / 3);
        try {
          // The holder before may have finished between this one's last look and taking the lease.
          if (await doneElsewhere()) return false;
          await work();
          return true;
        } finally {
          clearInterval(renew);
          await leases.store.release(name, leases.owner).catch(() => undefined);
        }
      }
      if (await doneElsewhere()) return false;
      if (Date.now() > deadline) throw new UpstreamError('timeout', `another process has been fetching ${name.slice('proxy:'.length)} for ${fetchWaitMs / 60_000} minutes`);
      await sleep(fetchPollMs);
    }
  }

  /** The upstream's recent answers for `project` in this process (the console's health panel). */
  health(project: string): ProxyHealth {
    let health = this.healthOf.get(project);
    if (!health) {
      health = { lastSuccessAt: null, lastFailureAt: null, lastFailure: null, staleServed: 0 };
      if (this.healthOf.size > 10_000) this.healthOf.clear();
      this.healthOf.set(project, health);
    }
    return health;
  }

  private remember(key: string): void {
    if (this.checked.size > 100_000) this.checked.clear();
    this.checked.set(key, this.now());
  }
}
