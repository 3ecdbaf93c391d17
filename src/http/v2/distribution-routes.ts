import type { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseDigest } from '../../domain/digest.js';
import { BerthError } from '../../domain/errors.js';
import { MediaType } from '../../domain/media-types.js';
import type { Registry, PageResult } from '../../services/registry/index.js';
import { rangeHeaders } from '../../services/registry/index.js';
import { sendError } from '../error-response.js';
import type { RequestIdentity } from '../auth/request-principal.js';
import type { Metrics } from '../metrics.js';
import type { V2Access } from './access.js';
import { matchV2Route, type V2Route } from './route-path.js';

export interface DistributionRouteOptions {
  registry: Registry;
  access: V2Access;
  maxManifestBytes: number;
  metrics?: Metrics;
  /**
   * Counts a pull (manifest GET) against the rate limits; resolves the headers to send, throws
   * TOOMANYREQUESTS when a limit is reached. Absent: no limits.
   */
  limitPull?: (request: FastifyRequest, identity: RequestIdentity, repository: string) => Promise<Record<string, string> | undefined>;
  /**
   * The repository a pull (GET or HEAD of a manifest, blob or tag list) is about, given the
   * name the client used: the transparent mirror maps names outside any project into its
   * proxy-cache project. Absent: names are taken as they are.
   */
  pullName?: (name: string) => Promise<string>;
  /** Before a push (an upload starts, a manifest is put): throws to refuse it (a proxy-cache project takes none). */
  beforePush?: (repository: string) => Promise<void>;
  /**
   * Before a manifest is served (GET or HEAD): a proxy-cache project asks its upstream when due.
   * A manifest resolved is served as it is (the image is being stored meanwhile).
   */
  prepareManifest?: (repository: string, reference: string) => Promise<{ digest: string; mediaType: string; body: Buffer } | undefined>;
  /** Before a blob is served: a proxy-cache project's blob not stored yet, as it arrives from the upstream; undefined: serve from storage. */
  openBlob?: (repository: string, digest: string) => Promise<{ size: number; stream: Readable } | undefined>;
  /** Before a manifest GET is answered: throws DENIED when a project's pull policy refuses it (docs/vulnerabilities.md). */
  checkPull?: (repository: string, digest: string, identity: RequestIdentity) => Promise<void>;
  /** Called after each /v2 response (audit of pulls, pushes and deletes). */
  onResponse?: (request: FastifyRequest, reply: FastifyReply, route: V2Route, identity: RequestIdentity | undefined) => void;
}

type Query = Record<string, string | string[] | undefined>;
type Handler = (request: FastifyRequest, reply: FastifyReply, route: V2Route, identity: RequestIdentity) => Promise<FastifyReply>;

const apiVersionHeader = { 'Docker-Distribution-API-Version': 'registry/2.0' };

/**
 * The OCI Distribution API under /v2. Thin: parse the request, call the registry service,
 * shape the response. Request bodies are left unread by Fastify and streamed by the handlers.
 */
export async function distributionRoutes(app: FastifyInstance, options: DistributionRouteOptions): Promise<void> {
  const { registry, access } = options;
  const identities = new WeakMap<FastifyRequest, { route: V2Route; identity?: RequestIdentity }>();
  // The registry hands out the same page object while the tags are unchanged; its JSON is
  // made and encoded once (a 10,000-tag list is 90 kB of it).
  const tagListBodies = new WeakMap<PageResult, Buffer>();

  // Bodies (blob chunks, manifests) are consumed by the handlers themselves, as streams.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  const handlers: Record<V2Route['kind'], Partial<Record<string, Handler>>> = {
    base: {
      GET: async (_req, reply) => reply.type('application/json').send('{}'),
    },
    catalog: {
      GET: async (req, reply, _route, identity) => {
        const page = await registry.catalog.repositories(pageRequest(req.query as Query), await access.catalogFilter(identity));
        setLink(reply, '/v2/_catalog', page);
        return reply.type('application/json').send(JSON.stringify({ repositories: page.items }));
      },
    },
    tags: {
      GET: async (req, reply, route) => {
        const { name } = route as Extract<V2Route, { kind: 'tags' }>;
        const page = await registry.catalog.tags(name, pageRequest(req.query as Query));
        setLink(reply, `/v2/${name}/tags/list`, page);
        let body = tagListBodies.get(page);
        if (body === undefined) tagListBodies.set(page, (body = Buffer.from(JSON.stringify({ name, tags: page.items }))));
        return reply.type('application/json').send(body);
      },
    },
    manifest: {
      GET: async (req, reply, route, identity) => sendManifest(req, reply, route as Extract<V2Route, { kind: 'manifest' }>, actorOf(identity), identity),
      HEAD: async (req, reply, route) => sendManifest(req, reply, route as Extract<V2Route, { kind: 'manifest' }>, undefined),
      PUT: async (req, reply, route, identity) => {
        const { name, reference } = route as Extract<V2Route, { kind: 'manifest' }>;
        const body = await readManifestBody(req.raw, options.maxManifestBytes);
        const pushed = await registry.manifests.put(name, reference, body, req.headers['content-type'], actorOf(identity));
        reply.code(201).headers({ Location: `/v2/${name}/manifests/${pushed.digest}`, 'Docker-Content-Digest': pushed.digest });
        if (pushed.subject) reply.header('OCI-Subject', pushed.subject);
        return reply.send();
      },
      DELETE: async (_req, reply, route, identity) => {
        const { name, reference } = route as Extract<V2Route, { kind: 'manifest' }>;
        await registry.manifests.delete(name, reference, actorOf(identity));
        return reply.code(202).send();
      },
    },
    blob: {
      GET: async (req, reply, route) => sendBlob(req, reply, route as Extract<V2Route, { kind: 'blob' }>, true),
      HEAD: async (req, reply, route) => sendBlob(req, reply, route as Extract<V2Route, { kind: 'blob' }>, false),
      DELETE: async (_req, reply, route) => {
        const { name, digest } = route as Extract<V2Route, { kind: 'blob' }>;
        await registry.blobs.delete(name, digest);
        return reply.code(202).send();
      },
    },
    uploads: {
      POST: async (req, reply, route, identity) => {
        const { name } = route as Extract<V2Route, { kind: 'uploads' }>;
        const query = req.query as Query;
        const mount = single(query.mount);
        const from = single(query.from);
        // A blob is mounted only from a repository the caller may read; otherwise a plain upload.
        if (mount !== undefined && (from === undefined || (await access.canPull(identity, from)))) {
          const mounted = await registry.uploads.mount(name, mount, from);
          if (mounted) return blobCreated(reply, name, mount);
        }
        const digest = single(query.digest);
        if (digest !== undefined && mount === undefined) {
          const stored = await registry.uploads.pushMonolithic(name, digest, req.raw, declaredLength(req));
          return blobCreated(reply, name, stored);
        }
        const upload = await registry.uploads.start(name);
        return uploadAccepted(reply, name, upload.id, upload.offset);
      },
    },
    upload: {
      GET: async (_req, reply, route) => {
        const { name, id } = route as Extract<V2Route, { kind: 'upload' }>;
        const upload = await registry.uploads.status(name, id);
        return uploadAccepted(reply.code(204), name, id, upload.offset);
      },
      PATCH: async (req, reply, route) => {
        const { name, id } = route as Extract<V2Route, { kind: 'upload' }>;
        const upload = await registry.uploads.append(name, id, { body: req.raw, range: contentRange(req), length: declaredLength(req) });
        return uploadAccepted(reply, name, id, upload.offset);
      },
      PUT: async (req, reply, route) => {
        const { name, id } = route as Extract<V2Route, { kind: 'upload' }>;
        const digest = single((req.query as Query).digest);
        if (digest === undefined) throw new BerthError('DIGEST_INVALID', { message: 'the digest query parameter is required to finish an upload' });
        const chunk = hasBody(req) ? { body: req.raw, range: contentRange(req), length: declaredLength(req) } : undefined;
        const stored = await registry.uploads.complete(name, id, digest, chunk);
        return blobCreated(reply, name, stored);
      },
      DELETE: async (_req, reply, route) => {
        const { name, id } = route as Extract<V2Route, { kind: 'upload' }>;
        await registry.uploads.cancel(name, id);
        return reply.code(204).send();
      },
    },
    referrers: {
      GET: async (req, reply, route) => {
        const { name, digest } = route as Extract<V2Route, { kind: 'referrers' }>;
        const artifactType = single((req.query as Query).artifactType);
        const body = await registry.manifests.referrers(name, digest, artifactType);
        if (artifactType !== undefined) reply.header('OCI-Filters-Applied', 'artifactType');
        return reply.type(MediaType.ociIndex).send(body);
      },
    },
  };

  /** `pulledBy` is set for GET (a pull, recorded as an event) and undefined for HEAD. */
  async function sendManifest(req: FastifyRequest, reply: FastifyReply, route: Extract<V2Route, { kind: 'manifest' }>, pulledBy: string | undefined, identity?: RequestIdentity) {
    const withBody = pulledBy !== undefined;
    const check = identity && options.checkPull;
    const admit = check ? (content: { digest: string }) => check(route.name, content.digest, identity) : undefined;
    const upstream = await options.prepareManifest?.(route.name, route.reference);
    if (upstream) await admit?.(upstream);
    const manifest = upstream ? { ...upstream, size: upstream.body.length } : await registry.manifests.get(route.name, route.reference, acceptList(req.headers.accept), pulledBy, admit);
    reply.headers({
      'Content-Type': manifest.mediaType,
      'Content-Length': String(manifest.size),
      'Docker-Content-Digest': manifest.digest,
      ETag: `"${manifest.digest}"`,
    });
    return withBody ? reply.send(manifest.body) : reply.send();
  }

  async function sendBlob(req: FastifyRequest, reply: FastifyReply, route: Extract<V2Route, { kind: 'blob' }>, withBody: boolean) {
    const range = withBody ? parseRange(req.headers.range) : undefined;
    const arriving = await options.openBlob?.(route.name, route.digest);
    if (arriving) {
      // On its way from a proxy cache's upstream: the whole blob, as it comes (a Range is not honoured yet).
      reply.headers({ 'Content-Type': 'application/octet-stream', 'Content-Length': String(arriving.size), 'Docker-Content-Digest': route.digest, ETag: `"${route.digest}"` });
      if (!withBody) {
        arriving.stream.destroy();
        return reply.send();
      }
      return reply.send(arriving.stream);
    }
    if (!withBody) {
      const blob = await registry.blobs.stat(route.name, route.digest);
      return reply
        .headers({ 'Content-Length': String(blob.size), 'Content-Type': 'application/octet-stream', 'Docker-Content-Digest': blob.digest, 'Accept-Ranges': 'bytes', ETag: `"${blob.digest}"` })
        .send();
    }
    // Storage may hand the bytes out itself (presigned S3 URL, CDN): a 307 once the repository
    // check passed. The client sends its Range header to the new location, which S3 honours.
    const location = await registry.blobs.redirectURL(parseDigest(route.digest).digest);
    if (location !== undefined) {
      const blob = await registry.blobs.stat(route.name, route.digest);
      return reply.code(307).headers({ Location: location, 'Docker-Content-Digest': blob.digest }).send();
    }
    const blob = await registry.blobs.open(route.name, route.digest, range);
    reply.headers({ 'Content-Type': 'application/octet-stream', 'Docker-Content-Digest': blob.digest, 'Accept-Ranges': 'bytes', ETag: `"${blob.digest}"` });
    if (blob.range) {
      reply.code(206).headers({
        'Content-Range': `bytes ${blob.range.start}-${blob.range.end}/${blob.size}`,
        'Content-Length': String(blob.range.end - blob.range.start + 1),
      });
    } else {
      reply.header('Content-Length', String(blob.size));
    }
    return reply.send(blob.stream);
  }

  if (options.onResponse) {
    const onResponse = options.onResponse;
    app.addHook('onResponse', async (request, reply) => {
      const entry = identities.get(request);
      if (entry) onResponse(request, reply, entry.route, entry.identity);
    });
  }

  app.route({
    method: ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'],
    url: '/v2/*',
    handler: async (request, reply) => dispatch(request, reply),
  });
  app.route({ method: ['GET', 'HEAD'], url: '/v2', handler: async (request, reply) => dispatch(request, reply) });

  async function dispatch(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    reply.headers(apiVersionHeader);
    try {
      const path = request.url.split('?', 1)[0]!;
      let route = matchV2Route(path);
      if (!route) throw new BerthError('NOT_FOUND', { message: `no such endpoint: ${request.method} ${path.slice(0, 200)}` });
      if (options.pullName && (request.method === 'GET' || request.method === 'HEAD') && (route.kind === 'manifest' || route.kind === 'blob' || route.kind === 'tags')) {
        route = { ...route, name: await options.pullName(route.name) };
      }
      const methods = handlers[route.kind];
      const handler = methods[request.method] ?? (request.method === 'HEAD' ? methods.GET : undefined);
      if (!handler) {
        reply.header('Allow', Object.keys(methods).join(', '));
        throw new BerthError('UNSUPPORTED', { message: `${request.method} is not supported on this endpoint` });
      }
      const entry: { route: V2Route; identity?: RequestIdentity } = { route };
      identities.set(request, entry);
      options.metrics?.label(request, `v2_${route.kind}`);
      entry.identity = await access.authorize(request, route);
      // Docker Hub counts manifest GETs as pulls (HEAD is free, so clients can check for updates).
      if (options.limitPull && route.kind === 'manifest' && request.method === 'GET') {
        const headers = await options.limitPull(request, entry.identity, route.name);
        if (headers) reply.headers(headers);
      }
      if (options.beforePush && ((route.kind === 'uploads' && request.method === 'POST') || (route.kind === 'manifest' && request.method === 'PUT'))) {
        await options.beforePush(route.name);
      }
      const receivesBody = (route.kind === 'upload' || route.kind === 'uploads') && request.method !== 'GET' && request.method !== 'DELETE';
      if (receivesBody) options.metrics?.uploadsInFlight.inc();
      try {
        return await handler(request, reply, route, entry.identity);
      } finally {
        if (receivesBody) options.metrics?.uploadsInFlight.dec();
      }
    } catch (err) {
      return sendError(request, reply, err);
    }
  }
}

function actorOf(identity: RequestIdentity): string {
  return identity.principal.kind === 'anonymous' ? 'anonymous' : identity.principal.name;
}

function uploadAccepted(reply: FastifyReply, name: string, id: string, offset: number): FastifyReply {
  if (reply.statusCode === 200) reply.code(202);
  return reply.headers({ Location: `/v2/${name}/blobs/uploads/${id}`, 'Content-Length': '0', ...rangeHeaders(id, offset) }).send();
}

function blobCreated(reply: FastifyReply, name: string, digest: string): FastifyReply {
  return reply.code(201).headers({ Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest, 'Content-Length': '0' }).send();
}

function setLink(reply: FastifyReply, path: string, page: PageResult): void {
  if (!page.next) return;
  const query = new URLSearchParams({ last: page.next.last, n: String(page.next.n) });
  reply.header('Link', `<${path}?${query.toString()}>; rel="next"`);
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function pageRequest(query: Query): { n?: number; last?: string } {
  const n = single(query.n);
  const last = single(query.last);
  if (n !== undefined && !/^\d{1,9}$/.test(n)) throw new BerthError('PAGINATION_INVALID', { detail: { n } });
  return { n: n === undefined ? undefined : Number(n), last: last === '' ? undefined : last };
}

function acceptList(header: string | undefined): string[] {
  if (!header) return [];
  return header
    .split(',')
    .map((part) => part.split(';', 1)[0]!.trim().toLowerCase())
    .filter((part) => part !== '');
}

function hasBody(req: FastifyRequest): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/** The body's length when the client declared it (Content-Length; not with chunked transfer encoding). */
function declaredLength(req: FastifyRequest): number | undefined {
  const header = req.headers['content-length'];
  if (header === undefined || req.headers['transfer-encoding'] !== undefined || !/^\d{1,15}$/.test(header)) return undefined;
  return Number(header);
}

/** `Content-Range: <start>-<end>` on a chunk (OCI dist-spec), tolerating a `bytes ` prefix. */
function contentRange(req: FastifyRequest): { start: number; end: number } | undefined {
  const header = req.headers['content-range'];
  if (header === undefined) return undefined;
  const match = /^(?:bytes[ =])?(\d{1,15})-(\d{1,15})(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!match) throw new BerthError('UPLOAD_RANGE_INVALID', { message: `malformed Content-Range: ${header.slice(0, 100)}` });
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start) throw new BerthError('UPLOAD_RANGE_INVALID', { message: `Content-Range ends before it starts: ${header}` });
  return { start, end };
}

/** `Range: bytes=<start>-<end>` on a blob GET (RFC 9110); multiple ranges are not supported and served whole. */
function parseRange(header: string | undefined): { start?: number; end?: number } | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  return { start: match[1] === '' ? undefined : Number(match[1]), end: match[2] === '' ? undefined : Number(match[2]) };
}

/** Reads a manifest body, refusing more than `limit` bytes without buffering them. */
function readManifestBody(raw: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = (size: string) =>
    new BerthError('MANIFEST_TOO_LARGE', { message: `manifest of ${size} bytes exceeds the limit of ${limit}`, detail: { limit } });
  const declared = raw.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    raw.resume();
    return Promise.reject(tooLarge(declared));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total <= limit) {
        chunks.push(chunk);
        return;
      }
      // Stop keeping bytes but let the rest drain, so the 413 reaches the client.
      raw.off('data', onData);
      raw.resume();
      reject(tooLarge(`more than ${limit}`));
    };
    raw.on('data', onData);
    raw.once('end', () => resolve(Buffer.concat(chunks, total)));
    raw.once('error', reject);
  });
}
