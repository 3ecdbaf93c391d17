import { blobStream, manifestFor, ociManifest, randomBlobSpec, sha256, smallImage, type BlobSpec, type Image } from './content.js';
import { expectStatus, type RegistryHttp } from './http.js';
import { runLoad, type LoadResult } from './load.js';
import type { RunningSystem } from './systems.js';

/** What one system's run of the workloads knows: its client and what it was sent so far. */
export interface SystemContext {
  system: RunningSystem;
  http: RegistryHttp;
  /** Repositories pushed to so far (what `_catalog` must list). */
  repositories: Set<string>;
  /** Blobs pushed by a push workload, for the pull workload after it. */
  pushed: Map<string, BlobSpec[]>;
  /** Workloads already run on this system. */
  ran: Set<string>;
  /** sha256 of list pages already parsed and checked, by URL (see listAll). */
  checkedPages: Map<string, string>;
}

export interface RunOptions {
  concurrency: number;
  /** Multiplies every operation count (0.05 for a quick smoke run). */
  scale: number;
}

export interface Workload {
  name: string;
  /** What the ratio compares: payload throughput or operations. */
  unit: 'MB/s' | 'req/s';
  /** A workload whose state this one reads (run first, unmeasured, when it was not selected). */
  needs?: string;
  run(ctx: SystemContext, options: RunOptions): Promise<LoadResult>;
}

const MB = 1_000_000;
const scopeOf = (repository: string) => `repository:${repository}:pull,push`;

function count(n: number, options: RunOptions): number {
  return Math.max(1, Math.round(n * options.scale));
}

/** The path and query of an upload Location (absolute for distribution, relative for Berth). */
function uploadPath(location: string | string[] | undefined, digest?: string): string {
  const url = new URL(String(location), 'http://registry.invalid');
  if (digest) url.searchParams.set('digest', digest);
  return `${url.pathname}${url.search}`;
}

async function startUpload(ctx: SystemContext, repository: string, basic = false): Promise<string> {
  const path = `/v2/${repository}/blobs/uploads/`;
  const res = basic ? await ctx.http.sendBasic('POST', path) : await ctx.http.send('POST', path, scopeOf(repository));
  expectStatus(res, 202, `POST ${path}`);
  return String(res.headers.location);
}

/** OCI dist-spec "POST then PUT": the whole blob in the PUT that closes the upload. */
export async function pushBlob(ctx: SystemContext, repository: string, blob: BlobSpec | Buffer, basic = false): Promise<number> {
  ctx.repositories.add(repository);
  const location = await startUpload(ctx, repository, basic);
  const digest = Buffer.isBuffer(blob) ? sha256(blob) : blob.digest;
  const size = Buffer.isBuffer(blob) ? blob.length : blob.size;
  const path = uploadPath(location, digest);
  const body = Buffer.isBuffer(blob) ? blob : () => blobStream(blob);
  const options = { body, headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) } };
  const res = basic ? await ctx.http.sendBasic('PUT', path, options) : await ctx.http.send('PUT', path, scopeOf(repository), options);
  expectStatus(res, 201, `PUT blob ${digest}`);
  return size;
}

/** OCI dist-spec "Pushing a blob in chunks": PATCHes with Content-Range, then PUT ?digest=. */
async function pushChunked(ctx: SystemContext, repository: string, blob: BlobSpec, chunkSize: number): Promise<number> {
  ctx.repositories.add(repository);
  let location = await startUpload(ctx, repository);
  for (let start = 0; start < blob.size; start += chunkSize) {
    const end = Math.min(blob.size, start + chunkSize);
    const res = await ctx.http.send('PATCH', uploadPath(location), scopeOf(repository), {
      body: () => blobStream(blob, start, end),
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(end - start), 'Content-Range': `${start}-${end - 1}` },
    });
    expectStatus(res, 202, `PATCH bytes ${start}-${end - 1}`);
    location = String(res.headers.location);
  }
  const res = await ctx.http.send('PUT', uploadPath(location, blob.digest), scopeOf(repository), { headers: { 'Content-Length': '0' } });
  expectStatus(res, 201, `PUT ${blob.digest}`);
  return blob.size;
}

/** GET a blob, hashing it as it streams in; throws unless the digest matches. */
async function pullBlob(ctx: SystemContext, repository: string, digest: string, size: number): Promise<number> {
  const res = await ctx.http.send('GET', `/v2/${repository}/blobs/${digest}`, scopeOf(repository), { hashBody: true });
  expectStatus(res, 200, `GET blob ${digest}`);
  if (res.digest !== digest || res.bytes !== size) throw new Error(`blob ${digest} came back as ${res.digest} (${res.bytes} bytes)`);
  return res.bytes;
}

async function putManifest(ctx: SystemContext, repository: string, tag: string, manifest: Buffer, basic = false): Promise<number> {
  ctx.repositories.add(repository);
  const path = `/v2/${repository}/manifests/${tag}`;
  const options = { body: manifest, headers: { 'Content-Type': ociManifest } };
  const res = basic ? await ctx.http.sendBasic('PUT', path, options) : await ctx.http.send('PUT', path, scopeOf(repository), options);
  expectStatus(res, 201, `PUT ${path}`);
  return manifest.length;
}

async function deleteManifest(ctx: SystemContext, repository: string, digest: string): Promise<number> {
  const path = `/v2/${repository}/manifests/${digest}`;
  expectStatus(await ctx.http.sendBasic('DELETE', path), 202, `DELETE ${path}`);
  return 0;
}

async function getManifest(ctx: SystemContext, repository: string, tag: string, expected: string, method: 'GET' | 'HEAD'): Promise<number> {
  const res = await ctx.http.send(method, `/v2/${repository}/manifests/${tag}`, scopeOf(repository), { headers: { Accept: ociManifest } });
  expectStatus(res, 200, `${method} manifest ${repository}:${tag}`);
  if (res.headers['docker-content-digest'] !== expected) throw new Error(`${repository}:${tag} is ${String(res.headers['docker-content-digest'])}, expected ${expected}`);
  if (method === 'GET' && sha256(res.body) !== expected) throw new Error(`${repository}:${tag}: body does not match its digest`);
  return res.body.length;
}

/**
 * Reads a whole paginated list (tags/list or _catalog), following `Link: <…>; rel="next"`, and
 * throws unless it holds exactly `expected` entries. The first time a page is seen it is
 * parsed and counted; later, while nothing changes, a page must be byte-identical to the one
 * checked (a hash, not a JSON parse of 90 kB that would make the client the bottleneck).
 */
async function listAll(ctx: SystemContext, path: string, scope: string, key: 'tags' | 'repositories', expected: number): Promise<number> {
  let next: string | undefined = path;
  let bytes = 0;
  const pages: Array<{ url: string; body: Buffer }> = [];
  let known = true;
  for (let page = 0; next && page < 10_000; page++) {
    const res = await ctx.http.send('GET', next, scope);
    expectStatus(res, 200, `GET ${next}`);
    bytes += res.body.length;
    pages.push({ url: next, body: res.body });
    if (ctx.checkedPages.get(next) !== sha256(res.body)) known = false;
    const link = /<([^>]+)>;\s*rel="next"/.exec(String(res.headers.link ?? ''));
    next = link ? uploadPath(link[1]) : undefined;
  }
  if (!known) {
    const entries = pages.reduce((n, p) => n + ((JSON.parse(p.body.toString('utf8')) as Record<string, string[] | null>)[key] ?? []).length, 0);
    if (entries !== expected) throw new Error(`${path} listed ${entries} entries, expected ${expected}`);
    for (const p of pages) ctx.checkedPages.set(p.url, sha256(p.body));
  }
  return bytes;
}

/** Runs a set-up step to completion; it must finish every operation (its result is also reported). */
async function fully(maxOps: number, concurrency: number, op: (i: number) => Promise<number>): Promise<LoadResult> {
  const result = await runLoad({ concurrency, maxOps, maxMs: 600_000, op });
  if (result.ops !== maxOps) throw new Error(`set-up finished ${result.ops} of ${maxOps} operations in time`);
  return result;
}

/**
 * Unmeasured traffic each system gets before the first workload: uploads, blob pulls and
 * manifest round trips, bounded by count and time. A registry serves for days; without
 * this, whichever workload runs first also measures Berth's JIT compiling its hot paths
 * (distribution is compiled ahead of time).
 */
export async function warmUp(ctx: SystemContext, options: RunOptions): Promise<void> {
  const repository = 'library/warm-up';
  const image = smallImage('warm-up', 64 * 1024);
  await pushBlob(ctx, repository, image.config);
  await pushBlob(ctx, repository, image.layer);
  await putManifest(ctx, repository, 'latest', image.manifest);
  await runLoad({
    concurrency: options.concurrency,
    maxOps: 400,
    maxMs: 5_000,
    op: async (i) => {
      if (i % 4 === 0) return pushBlob(ctx, repository, randomBlobSpec(64 * 1024));
      if (i % 4 === 1) return pullBlob(ctx, repository, image.layer.digest, image.layer.size);
      return getManifest(ctx, repository, 'latest', image.manifestDigest, i % 4 === 2 ? 'GET' : 'HEAD');
    },
  });
}

/**
 * The workloads, in the order they run. Content is generated once and sent identically to
 * every system; each system keeps its own state (what it was sent) in its SystemContext.
 */
export function workloads(options: RunOptions): Workload[] {
  const blobs = (size: number, n: number) => {
    let specs: BlobSpec[] | undefined;
    return () => (specs ??= Array.from({ length: count(n, options) }, () => randomBlobSpec(size)));
  };
  const list: Workload[] = [];
  for (const [label, size, pushes, pulls, maxMs] of [
    ['1 MB', 1 * MB, 300, 1000, 20_000],
    // Ten 100 MB pushes at concurrency 10 are a single round, timed by its slowest stream:
    // three rounds (and 120 pushes of 10 MB) keep one straggler from deciding the figure.
    ['10 MB', 10 * MB, 120, 300, 20_000],
    ['100 MB', 100 * MB, 30, 60, 40_000],
  ] as const) {
    const specs = blobs(size, pushes);
    const repository = `library/blobs-${label.replace(' ', '').toLowerCase()}`;
    list.push({
      name: `blob push ${label} (monolithic)`,
      unit: 'MB/s',
      run: (ctx, o) => {
        const all = specs();
        ctx.pushed.set(repository, all);
        return runLoad({ concurrency: o.concurrency, maxOps: all.length, maxMs, op: (i) => pushBlob(ctx, repository, all[i]!) });
      },
    });
    list.push({
      name: `blob pull ${label}`,
      unit: 'MB/s',
      needs: `blob push ${label} (monolithic)`,
      run: (ctx, o) => {
        const all = ctx.pushed.get(repository) ?? [];
        return runLoad({ concurrency: o.concurrency, maxOps: count(pulls, o), maxMs, op: (i) => pullBlob(ctx, repository, all[i % all.length]!.digest, all[i % all.length]!.size) });
      },
    });
  }

  const chunked = blobs(10 * MB, 60);
  list.push({
    name: 'blob push 10 MB (chunked, 4 PATCHes)',
    unit: 'MB/s',
    run: (ctx, o) => runLoad({ concurrency: o.concurrency, maxOps: chunked().length, maxMs: 20_000, op: (i) => pushChunked(ctx, 'library/chunked', chunked()[i]!, 2.5 * MB) }),
  });

  // 100 tagged images sharing one config and layer: manifest and tag lookups.
  let tagged: { config: Buffer; layer: BlobSpec; manifests: Array<{ tag: string; manifest: Buffer; digest: string }> } | undefined;
  const taggedImages = () => {
    if (tagged) return tagged;
    const base = smallImage('tagged', 1024);
    const manifests = Array.from({ length: 100 }, (_, i) => {
      const m = manifestFor(base.config, base.layer, `tagged-${i}`);
      return { tag: `v${String(i).padStart(3, '0')}`, manifest: m.manifest, digest: m.manifestDigest };
    });
    return (tagged = { config: base.config, layer: base.layer, manifests });
  };
  const taggedRepository = 'library/manifests';
  const readTimeMs = 15_000;
  list.push({
    name: 'manifest GET by tag',
    unit: 'req/s',
    run: async (ctx, o) => {
      const images = taggedImages();
      await pushBlob(ctx, taggedRepository, images.config);
      await pushBlob(ctx, taggedRepository, images.layer);
      for (const m of images.manifests) await putManifest(ctx, taggedRepository, m.tag, m.manifest);
      return runLoad({ concurrency: o.concurrency, maxOps: count(20_000, o), maxMs: readTimeMs, op: (i) => getManifest(ctx, taggedRepository, images.manifests[i % 100]!.tag, images.manifests[i % 100]!.digest, 'GET') });
    },
  });
  list.push({
    name: 'manifest HEAD by tag',
    unit: 'req/s',
    needs: 'manifest GET by tag',
    run: (ctx, o) => {
      const images = taggedImages();
      return runLoad({ concurrency: o.concurrency, maxOps: count(20_000, o), maxMs: readTimeMs, op: (i) => getManifest(ctx, taggedRepository, images.manifests[i % 100]!.tag, images.manifests[i % 100]!.digest, 'HEAD') });
    },
  });
  list.push({
    name: 'tags/list (100 tags)',
    unit: 'req/s',
    needs: 'manifest GET by tag',
    run: (ctx, o) =>
      runLoad({
        concurrency: o.concurrency,
        maxOps: count(10_000, o),
        maxMs: readTimeMs,
        op: () => listAll(ctx, `/v2/${taggedRepository}/tags/list`, scopeOf(taggedRepository), 'tags', 100),
      }),
  });
  list.push({
    name: 'catalog',
    unit: 'req/s',
    run: (ctx, o) => {
      const expected = ctx.repositories.size;
      return runLoad({
        concurrency: o.concurrency,
        maxOps: count(10_000, o),
        maxMs: readTimeMs,
        op: () => listAll(ctx, '/v2/_catalog', 'registry:catalog:*', 'repositories', expected),
      });
    },
  });

  // 75% pulls of existing images, 25% pushes of new ones (config + 256 KB layer + manifest).
  let mixed: { existing: Image[]; fresh: Image[] } | undefined;
  const mixedImages = (o: RunOptions) =>
    (mixed ??= {
      existing: Array.from({ length: 50 }, (_, i) => smallImage(`mixed-${i}`, 256 * 1024)),
      fresh: Array.from({ length: Math.ceil(count(4000, o) / 4) }, (_, i) => smallImage(`mixed-new-${i}`, 256 * 1024)),
    });
  list.push({
    name: 'mixed 75% pull / 25% push',
    unit: 'req/s',
    run: async (ctx, o) => {
      const repository = 'library/mixed';
      const images = mixedImages(o);
      await fully(images.existing.length, o.concurrency, async (i) => {
        const image = images.existing[i]!;
        await pushBlob(ctx, repository, image.config);
        await pushBlob(ctx, repository, image.layer);
        return putManifest(ctx, repository, `m${i}`, image.manifest);
      });
      return runLoad({
        concurrency: o.concurrency,
        maxOps: count(4000, o),
        maxMs: 20_000,
        op: async (i) => {
          if (i % 4 === 3) {
            const image = images.fresh[(i - 3) / 4]!;
            return (await pushBlob(ctx, repository, image.config)) + (await pushBlob(ctx, repository, image.layer)) + (await putManifest(ctx, repository, `p${i}`, image.manifest));
          }
          const n = (i * 7) % images.existing.length;
          const image = images.existing[n]!;
          const manifest = await getManifest(ctx, repository, `m${n}`, image.manifestDigest, 'GET');
          return manifest + (await pullBlob(ctx, repository, image.configDigest, image.config.length)) + (await pullBlob(ctx, repository, image.layer.digest, image.layer.size));
        },
      });
    },
  });

  // Scale: one repository with 10,000 tags, then 10,000 repositories.
  const scaleBase = (() => {
    let base: Image | undefined;
    return () => (base ??= smallImage('scale', 1024));
  })();
  const bigRepository = 'library/tags-10k';
  // Names the later workloads find again: the tags of bigRepository, the repositories created by mount.
  const scaleTag = (i: number) => `t${String(i).padStart(5, '0')}`;
  const catalogRepository = (i: number) => `library/catalog/r${String(i).padStart(5, '0')}`;
  const tagCount = count(10_000, options);
  const tagPuts = `manifest PUT (${tagCount.toLocaleString('en-US')} tags)`;
  list.push({
    name: tagPuts,
    unit: 'req/s',
    run: async (ctx, o) => {
      const base = scaleBase();
      await pushBlob(ctx, bigRepository, base.config);
      await pushBlob(ctx, bigRepository, base.layer);
      return fully(tagCount, o.concurrency, (i) => putManifest(ctx, bigRepository, scaleTag(i), manifestFor(base.config, base.layer, `tag-${i}`).manifest));
    },
  });
  list.push({
    name: `tags/list (${tagCount.toLocaleString('en-US')} tags)`,
    unit: 'req/s',
    needs: tagPuts,
    run: (ctx, o) =>
      runLoad({
        concurrency: o.concurrency,
        maxOps: count(1000, o),
        maxMs: readTimeMs,
        op: () => listAll(ctx, `/v2/${bigRepository}/tags/list`, scopeOf(bigRepository), 'tags', tagCount),
      }),
  });
  const repositoryCount = count(10_000, options);
  const createRepositories = `create ${repositoryCount.toLocaleString('en-US')} repositories (2 mounts + manifest PUT)`;
  list.push({
    name: createRepositories,
    unit: 'req/s',
    needs: tagPuts,
    run: (ctx, o) => {
      const base = scaleBase();
      return fully(repositoryCount, o.concurrency, async (i) => {
        const repository = catalogRepository(i);
        for (const digest of [base.configDigest, base.layer.digest]) {
          const path = `/v2/${repository}/blobs/uploads/?mount=${digest}&from=${bigRepository}`;
          expectStatus(await ctx.http.sendBasic('POST', path), 201, `POST ${path}`);
        }
        return putManifest(ctx, repository, 'latest', base.manifest, true);
      });
    },
  });
  list.push({
    // One client: distribution walks its whole storage tree for every page, and a full listing
    // takes it tens of seconds; ten at once would take minutes and measure the same thing.
    name: `catalog (${repositoryCount.toLocaleString('en-US')}+ repositories, 1 client)`,
    unit: 'req/s',
    needs: createRepositories,
    run: (ctx, o) => {
      const expected = ctx.repositories.size;
      return runLoad({
        concurrency: 1,
        maxOps: count(1000, o),
        maxMs: readTimeMs,
        op: () => listAll(ctx, '/v2/_catalog', 'registry:catalog:*', 'repositories', expected),
      });
    },
  });
  // The other writes: moving tags to manifests a repository holds (no upload, nothing new to
  // store), and deleting manifests. Last, as they change what the reads above count.
  list.push({
    name: `tag moves (${tagCount.toLocaleString('en-US')} PUTs of manifests the repository holds)`,
    unit: 'req/s',
    needs: tagPuts,
    run: (ctx, o) => {
      const base = scaleBase();
      // Each tag to the manifest of the next one, pushed under that tag by the workload it needs.
      return fully(tagCount, o.concurrency, (i) => putManifest(ctx, bigRepository, scaleTag(i), manifestFor(base.config, base.layer, `tag-${(i + 1) % tagCount}`).manifest));
    },
  });
  list.push({
    name: `manifest DELETE (${repositoryCount.toLocaleString('en-US')} repositories, by digest)`,
    unit: 'req/s',
    needs: createRepositories,
    run: (ctx, o) => {
      const base = scaleBase();
      return fully(repositoryCount, o.concurrency, (i) => deleteManifest(ctx, catalogRepository(i), base.manifestDigest));
    },
  });
  return list;
}
