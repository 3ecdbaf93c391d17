import { BerthError } from '../../domain/errors.js';
import { projectOf } from '../../domain/names.js';
import { upstreamRepository } from '../../domain/registry-kinds.js';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProjectRow } from '../../ports/identity-store.js';
import type { LeaseStore } from '../../ports/lease-store.js';
import type { PolicyStore } from '../../ports/policy-store.js';
import { parseManifest, requiredReferences } from '../../domain/manifest.js';
import type { EndpointRow } from '../../ports/endpoint-store.js';
import { UpstreamError, type UpstreamManifest, type UpstreamRegistry } from '../../ports/upstream-registry.js';
import type { EndpointService } from './endpoint-service.js';
import type { ProxyBlobs } from './proxy-blobs.js';

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
  /** Blobs on their way from upstreams, streamed to clients while they are stored. */
  blobs: ProxyBlobs;
  /** Told when storing a fetched image failed (clients were served from the upstream meanwhile). */
  onFillError?: (project: string, repository: string, reference: string, err: unknown) => void;
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
  private readonly inFlight = new Map<string, Promise<UpstreamManifest | undefined>>();
  /** Images being stored, by repository@reference: the manifest (served meanwhile) and the work. */
  private readonly fills = new Map<string, { manifest: UpstreamManifest; done: Promise<void> }>();
  private readonly healthOf = new Map<string, ProxyHealth>();
  private closed = false;
  /** One client per endpoint (as last changed), so upstream tokens are reused between requests. */
  private readonly clients = new Map<string, UpstreamRegistry>();
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

  /** The upstream of a repository of a proxy-cache project, or undefined when it is not in one. */
  private async upstreamOf(repository: string): Promise<{ projectName: string; settings: ProxySettings; upstream?: () => Promise<{ client: UpstreamRegistry; name: string; endpoint: EndpointRow }> } | undefined> {
    const projectName = projectOf(repository);
    if (projectName === repository) return undefined;
    const project = await this.options.project(projectName);
    if (!project) return undefined;
    const settings = await this.get(project);
    if (!settings) return undefined;
    return {
      projectName,
      settings,
      upstream: async () => {
        const endpoint = await this.endpoints.get(settings.endpointId);
        const key = `${endpoint.id}@${endpoint.updatedAt}`;
        let client = this.clients.get(key);
        if (!client) {
          if (this.clients.size > 1000) this.clients.clear();
          client = this.endpoints.client(endpoint, 'proxyCache');
          this.clients.set(key, client);
        }
        return { client, name: upstreamRepository(endpoint.kind, repository.slice(projectName.length + 1)), endpoint };
      },
    };
  }

  /**
   * Before a manifest of `repository` is served: in a proxy project, asks the upstream when it
   * is not here or its check is due. A manifest new here is resolved, to be served as the
   * upstream sent it, while the image is stored in the background (its blobs stream to clients
   * as they arrive: openBlob). Throws only when nothing can be served.
   */
  async prepare(repository: string, reference: string): Promise<UpstreamManifest | undefined> {
    const proxy = await this.upstreamOf(repository);
    if (!proxy) return undefined;
    const { projectName, settings } = proxy;
    const key = `${repository}@${reference}`;
    const checkedAt = this.checked.get(key);
    const immutable = reference.includes(':');
    if (checkedAt !== undefined && (immutable || this.now() - checkedAt < settings.ttlSeconds * 1000) && (await this.options.local.headManifest(repository, reference))) {
      this.options.onOutcome?.(projectName, 'hit');
      return undefined;
    }
    let work = this.inFlight.get(key);
    if (!work) {
      work = this.refresh(proxy, repository, reference).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, work);
    }
    return work;
  }

  /**
   * A blob of a proxy-cache repository that is not stored yet: its bytes as they arrive from
   * the upstream (one fetch, however many clients). Undefined when it is here (or the
   * repository is no proxy's): serve it from storage.
   */
  async openBlob(repository: string, digest: string): Promise<{ size: number; stream: Readable } | undefined> {
    const proxy = await this.upstreamOf(repository);
    if (!proxy || (await this.options.local.hasBlob(repository, digest))) return undefined;
    try {
      const upstream = await proxy.upstream!();
      return await this.options.blobs.open({ upstream: upstream.client, upstreamName: upstream.name, repository, digest });
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      this.failed(proxy.projectName, err);
      if (err.failure === 'not-found') throw new BerthError('BLOB_UNKNOWN', { message: `blob ${digest} is neither here nor upstream: ${err.message}` });
      throw new BerthError('UNAVAILABLE', { message: `blob ${digest} of ${repository} is not cached and the upstream failed: ${err.message}` });
    }
  }

  private async refresh(proxy: NonNullable<Awaited<ReturnType<ProxyCache['upstreamOf']>>>, repository: string, reference: string): Promise<UpstreamManifest | undefined> {
    const { projectName } = proxy;
    const key = `${repository}@${reference}`;
    const local = await this.options.local.headManifest(repository, reference);
    // A digest never changes: once here, it is served without asking.
    if (local && reference.includes(':')) {
      this.remember(key);
      this.options.onOutcome?.(projectName, 'hit');
      return undefined;
    }
    try {
      const upstream = await proxy.upstream!();
      const current = await upstream.client.headManifest(upstream.name, reference);
      if (!current) {
        if (local) throw new UpstreamError('not-found', `${upstream.name}:${reference} is no longer upstream`, 404);
        throw new BerthError('MANIFEST_UNKNOWN', { message: `${reference} is not in ${repository} upstream (${upstream.endpoint.name}: ${upstream.name})` });
      }
      this.health(projectName).lastSuccessAt = this.now();
      if (local?.digest === current.digest) {
        this.remember(key);
        this.options.onOutcome?.(projectName, 'revalidated');
        return undefined;
      }
      // Being stored by this process: served as it was fetched.
      const filling = this.fills.get(key);
      if (filling?.manifest.digest === current.digest) {
        this.options.onOutcome?.(projectName, 'revalidated');
        return filling.manifest;
      }
      const manifest = await upstream.client.getManifest(upstream.name, current.digest);
      if (!manifest) throw new UpstreamError('not-found', `${upstream.name}@${current.digest} went away upstream`, 404);
      this.startFill(proxy, upstream.client, upstream.name, repository, reference, manifest);
      this.options.onOutcome?.(projectName, 'fetched');
      return manifest;
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      const health = this.failed(projectName, err);
      let cached = local;
      if (!cached) {
        // An image this process is storing right now is served once stored, and so is one whose
        // storing ended while the upstream was asked (its fill is gone by now, its tag is here).
        await this.fills.get(key)?.done;
        cached = await this.options.local.headManifest(repository, reference);
      }
      if (cached) {
        health.staleServed++;
        // stale-if-error: what is here is served; the failure is counted and logged.
        this.options.onOutcome?.(projectName, 'stale', err.failure);
        this.options.onStale?.(projectName, repository, reference, err);
        return undefined;
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

  private failed(projectName: string, err: UpstreamError): ProxyHealth {
    const health = this.health(projectName);
    health.lastFailureAt = this.now();
    health.lastFailure = { failure: err.failure, message: err.message };
    return health;
  }

  /** Stores the image in the background, once across processes (a lease), and remembers it as current when done. */
  private startFill(proxy: { projectName: string }, upstream: UpstreamRegistry, upstreamName: string, repository: string, reference: string, manifest: UpstreamManifest): void {
    const key = `${repository}@${reference}`;
    if (this.fills.has(key) || this.closed) return;
    const done = this.exclusively(
      `proxy:${key}`,
      async () => {
        await this.store(upstream, upstreamName, repository, manifest, 0);
        if (!reference.includes(':')) await this.options.local.putManifest(repository, reference, manifest);
      },
      async () => (await this.options.local.headManifest(repository, reference))?.digest === manifest.digest,
    ).then(
      () => this.remember(key),
      (err: unknown) => {
        if (err instanceof UpstreamError) this.failed(proxy.projectName, err);
        this.options.onFillError?.(proxy.projectName, repository, reference, err);
      },
    );
    this.fills.set(key, { manifest, done });
    void done.finally(() => this.fills.delete(key));
  }

  /** A manifest by digest with everything it references: child manifests, then blobs (three at a time, each fetched once), then itself. */
  private async store(upstream: UpstreamRegistry, upstreamName: string, repository: string, manifest: UpstreamManifest, depth: number): Promise<void> {
    if (depth > 8) throw new UpstreamError('protocol', `${upstreamName}@${manifest.digest}: manifests nested more than 8 deep`);
    const references = requiredReferences(parseManifest(manifest.body, manifest.mediaType));
    for (const child of references.manifests) {
      if ((await this.options.local.headManifest(repository, child))?.digest === child) continue;
      const content = await upstream.getManifest(upstreamName, child);
      if (!content) throw new UpstreamError('not-found', `${upstreamName}@${child} is referenced but not upstream`, 404);
      await this.store(upstream, upstreamName, repository, content, depth + 1);
    }
    const queue = [...references.blobs];
    const worker = async () => {
      for (let digest = queue.shift(); digest !== undefined; digest = queue.shift()) await this.options.blobs.ensure({ upstream, upstreamName, repository, digest });
    };
    await Promise.all([worker(), worker(), worker()]);
    await this.options.local.putManifest(repository, manifest.digest, manifest);
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
        renew.unref();
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

  /** Stops starting fills, and waits (at most `waitMs`) for those under way, so nothing writes after shutdown. */
  async close(waitMs = 5_000): Promise<void> {
    this.closed = true;
    await Promise.race([Promise.allSettled([...this.fills.values()].map((f) => f.done)), sleep(waitMs)]);
    await this.options.blobs.close(waitMs);
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
