import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { blockedByPolicy, type Outbound, type OutboundFeature, type OutboundResponse, type OutboundTls } from '../../ports/outbound.js';
import { UpstreamError, type UpstreamCredentials, type UpstreamDescriptor, type UpstreamManifest, type UpstreamRegistry } from '../../ports/upstream-registry.js';
import { parseChallenge, type Challenge } from './challenge.js';
import { storedManifestTypes } from '../../domain/media-types.js';

const manifestAccept = storedManifestTypes.join(', ');

export interface RegistryClientOptions {
  outbound: Outbound;
  feature: Extract<OutboundFeature, 'replication' | 'proxyCache' | 'scanner'>;
  /** The registry's base URL (`https://registry-1.docker.io`); a path after the host is kept as a prefix. */
  url: string;
  /** Fixed, or made when needed (ECR's 12-hour tokens from an access key). */
  credentials?: UpstreamCredentials | (() => Promise<UpstreamCredentials>);
  /** The endpoint's own CA, or no verification (token realms are reached the same way). */
  tls?: OutboundTls;
  /** Largest manifest read (registry.maxManifestBytes). */
  maxManifestBytes: number;
  now?: () => number;
}

interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  /** What the request needs of the repositories it names (token scopes). */
  scopes: string[];
  maxRedirects?: number;
}

interface CachedToken {
  header: string;
  expires: number;
}

/**
 * The distribution API of another registry over Berth's outbound-request policy. Authenticates
 * as clients do: a request without credentials first; on 401 with a Bearer challenge a token
 * from the realm it names (with the credentials as Basic, when there are any), kept per scope
 * until shortly before it expires; on a Basic challenge, Basic. Errors say what to check (DNS,
 * connection, TLS, credentials, rate limit) and never contain the credentials.
 */
export class RegistryClient implements UpstreamRegistry {
  private readonly base: URL;
  private readonly tokens = new Map<string, CachedToken>();
  /** The upstream's last challenge: later requests authenticate before they are refused. */
  private challenge: Challenge | undefined;
  private readonly now: () => number;

  constructor(private readonly options: RegistryClientOptions) {
    this.base = new URL(options.url.endsWith('/') ? options.url : `${options.url}/`);
    this.now = options.now ?? Date.now;
  }

  async ping(): Promise<void> {
    const response = await this.send('v2/', { scopes: [] });
    await response.discard();
    if (response.status !== 200) throw this.failure(response, 'GET /v2/');
    // Any web server answers 200 somewhere: a registry says which API it speaks, or answers JSON.
    const type = header(response, 'content-type') ?? '';
    if (header(response, 'docker-distribution-api-version') === undefined && !/json/i.test(type)) {
      throw new UpstreamError('not-found', `GET /v2/ answered ${type.split(';')[0] || 'something'} without the distribution API's header: this URL is not a registry's`, 200);
    }
  }

  async headManifest(repository: string, reference: string): Promise<UpstreamDescriptor | undefined> {
    const response = await this.send(`v2/${repository}/manifests/${reference}`, { method: 'HEAD', headers: { accept: manifestAccept }, scopes: [pull(repository)] });
    await response.discard();
    if (response.status === 404) return undefined;
    if (response.status !== 200) throw this.failure(response, `HEAD ${repository}:${reference}`);
    const digest = header(response, 'docker-content-digest');
    if (!digest) {
      // Some registries leave the digest out of HEAD answers: the body says it.
      const manifest = await this.getManifest(repository, reference);
      return manifest && { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.body.length };
    }
    return { digest, mediaType: mediaTypeOf(response), size: Number(header(response, 'content-length') ?? 0) };
  }

  async getManifest(repository: string, reference: string): Promise<UpstreamManifest | undefined> {
    const response = await this.send(`v2/${repository}/manifests/${reference}`, { headers: { accept: manifestAccept }, scopes: [pull(repository)] });
    if (response.status === 404) {
      await response.discard();
      return undefined;
    }
    if (response.status !== 200) {
      await response.discard();
      throw this.failure(response, `GET manifest ${repository}:${reference}`);
    }
    const body = Buffer.from(await response.text(this.options.maxManifestBytes), 'utf8');
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    if (reference.includes(':') && reference !== digest) {
      throw new UpstreamError('protocol', `the registry answered ${repository}@${reference} with content whose digest is ${digest}`);
    }
    return { digest, mediaType: mediaTypeOf(response, body), body };
  }

  async hasBlob(repository: string, digest: string): Promise<boolean> {
    const response = await this.send(`v2/${repository}/blobs/${digest}`, { method: 'HEAD', scopes: [pull(repository)] });
    await response.discard();
    if (response.status === 200) return true;
    if (response.status === 404) return false;
    throw this.failure(response, `HEAD blob ${repository}@${digest}`);
  }

  async getBlob(repository: string, digest: string): Promise<{ size: number; body: Readable } | undefined> {
    const response = await this.send(`v2/${repository}/blobs/${digest}`, { scopes: [pull(repository)] });
    if (response.status === 404) {
      await response.discard();
      return undefined;
    }
    if (response.status !== 200) {
      await response.discard();
      throw this.failure(response, `GET blob ${repository}@${digest}`);
    }
    const length = header(response, 'content-length');
    return { size: length === undefined ? -1 : Number(length), body: response.body };
  }

  async listRepositories(): Promise<string[]> {
    return this.pages('v2/_catalog?n=1000', 'repositories', 'the catalog', 'registry:catalog:*');
  }

  async listTags(repository: string): Promise<string[]> {
    return this.pages(`v2/${repository}/tags/list?n=1000`, 'tags', `tags of ${repository}`, pull(repository));
  }

  /** A list the registry hands out in pages (Link: <…>; rel="next"); an absent repository has none. */
  private async pages(first: string, field: 'tags' | 'repositories', what: string, scope: string): Promise<string[]> {
    const items: string[] = [];
    let path: string | undefined = first;
    // Bounded: a registry whose pages never end is not followed for ever.
    for (let page = 0; path !== undefined && page < 10_000; page++) {
      const response = await this.send(path, { scopes: [scope] });
      if (response.status === 404 && field === 'tags') {
        await response.discard();
        return items;
      }
      if (response.status !== 200) {
        await response.discard();
        throw this.failure(response, `GET ${what}`);
      }
      const body = parseJson(await response.text(), what) as Record<string, unknown>;
      const list = body[field];
      if (Array.isArray(list)) for (const item of list) if (typeof item === 'string') items.push(item);
      path = nextPage(header(response, 'link'), this.base);
    }
    return items;
  }

  async referrers(repository: string, digest: string): Promise<UpstreamDescriptor[]> {
    const response = await this.send(`v2/${repository}/referrers/${digest}`, { headers: { accept: 'application/vnd.oci.image.index.v1+json' }, scopes: [pull(repository)] });
    if (response.status === 200) return descriptorsOf(parseJson(await response.text(this.options.maxManifestBytes), `referrers of ${digest}`));
    await response.discard();
    if (response.status !== 404 && response.status !== 400) throw this.failure(response, `GET referrers of ${repository}@${digest}`);
    // No referrers API (CNCF distribution 2.x): the tag schema of OCI 1.1.
    const fallback = await this.getManifest(repository, digest.replace(':', '-'));
    return fallback ? descriptorsOf(parseJson(fallback.body.toString('utf8'), `referrers tag of ${digest}`)) : [];
  }

  async mountBlob(repository: string, digest: string, from: string): Promise<boolean> {
    const response = await this.send(`v2/${repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`, {
      method: 'POST',
      headers: { 'content-length': '0' },
      scopes: [pullPush(repository), pull(from)],
    });
    await response.discard();
    if (response.status === 201) return true;
    if (response.status === 202) {
      // A session was opened instead: end it, the caller uploads with a session of its own.
      const location = header(response, 'location');
      if (location) await (await this.send(this.resolve(location), { method: 'DELETE', scopes: [pullPush(repository)] })).discard();
      return false;
    }
    throw this.failure(response, `mount ${digest} into ${repository}`);
  }

  async putBlob(repository: string, digest: string, size: number, body: Readable): Promise<void> {
    const started = await this.send(`v2/${repository}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' }, scopes: [pullPush(repository)] });
    const location = header(started, 'location');
    if (started.status !== 202 || !location) {
      body.destroy();
      // The registry's own words (a quota, an immutable tag) say more than the status.
      throw this.failure(started, `start an upload to ${repository}`, await started.text(64 * 1024).catch(() => undefined));
    }
    await started.discard();
    const target = new URL(this.resolve(location), this.base);
    target.searchParams.set('digest', digest);
    // The stream goes once: the POST above made sure of the token, so this PUT is not refused for it.
    const put = await this.send(target.href, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body,
      scopes: [pullPush(repository)],
      maxRedirects: 0,
    });
    if (put.status !== 201) throw this.failure(put, `upload ${digest} to ${repository}`, await put.text(64 * 1024).catch(() => undefined));
    await put.discard();
  }

  async putManifest(repository: string, reference: string, manifest: { mediaType: string; body: Buffer }): Promise<{ subjectIndexed: boolean }> {
    const response = await this.send(`v2/${repository}/manifests/${reference}`, {
      method: 'PUT',
      headers: { 'content-type': manifest.mediaType },
      body: manifest.body,
      scopes: [pullPush(repository)],
    });
    const text = await response.text(64 * 1024).catch(() => '');
    if (response.status !== 201) throw this.failure(response, `push manifest ${repository}:${reference}`, text);
    return { subjectIndexed: header(response, 'oci-subject') !== undefined };
  }

  async deleteManifest(repository: string, reference: string): Promise<void> {
    const response = await this.send(`v2/${repository}/manifests/${reference}`, { method: 'DELETE', scopes: [`repository:${repository}:delete`] });
    await response.discard();
    if (response.status === 202 || response.status === 200 || response.status === 404) return;
    throw this.failure(response, `delete ${repository}:${reference}`);
  }

  /** One request, authenticated as the upstream asks (once more after a 401, when the body can be sent again). */
  private async send(path: string, request: RequestOptions): Promise<OutboundResponse> {
    const url = /^https?:\/\//.test(path) ? path : new URL(path, this.base).href;
    const attempt = async () => {
      const headers = { ...request.headers };
      const authorization = await this.authorization(request.scopes);
      if (authorization) headers.authorization = authorization;
      return this.call(url, { ...request, headers });
    };
    let response = await attempt();
    if (response.status !== 401) return response;
    const challenge = parseChallenge(header(response, 'www-authenticate'));
    const streamed = request.body !== undefined && !Buffer.isBuffer(request.body);
    if (!challenge || streamed || sameChallenge(challenge, this.challenge)) return response;
    await response.discard();
    this.challenge = challenge;
    response = await attempt();
    return response;
  }

  private async call(url: string, request: RequestOptions): Promise<OutboundResponse> {
    try {
      return await this.options.outbound.request(this.options.feature, url, {
        method: request.method,
        headers: request.headers,
        body: request.body,
        maxRedirects: request.maxRedirects,
        tls: this.options.tls,
      });
    } catch (err) {
      throw transportFailure(err, new URL(url).host);
    }
  }

  /** The Authorization header for these scopes under the last challenge, fetching a token when needed. */
  private async authorization(scopes: string[]): Promise<string | undefined> {
    const challenge = this.challenge;
    if (!challenge) return undefined;
    const given = this.options.credentials;
    const credentials = typeof given === 'function' ? await given() : given;
    if (challenge.scheme === 'basic') return credentials && basic(credentials);
    const wanted = scopes.length > 0 ? scopes : challenge.scope ? [challenge.scope] : [];
    const key = `${challenge.realm}\n${challenge.service ?? ''}\n${wanted.join(' ')}`;
    const cached = this.tokens.get(key);
    if (cached && cached.expires > this.now()) return cached.header;
    const realm = new URL(challenge.realm);
    if (challenge.service) realm.searchParams.set('service', challenge.service);
    for (const scope of wanted) realm.searchParams.append('scope', scope);
    const response = await this.call(realm.href, { scopes: [], headers: credentials ? { authorization: basic(credentials) } : {} });
    if (response.status !== 200) {
      await response.discard();
      throw this.failure(response, `get a token from ${realm.host}`);
    }
    const body = parseJson(await response.text(), 'the token answer') as { token?: unknown; access_token?: unknown; expires_in?: unknown };
    const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
    if (!token) throw new UpstreamError('protocol', `the token service at ${realm.host} answered without a token`);
    // Docker's token spec: 60 s when not said; used until 10 s before it runs out.
    const lifetime = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    if (this.tokens.size > 1000) this.tokens.clear();
    this.tokens.set(key, { header: `Bearer ${token}`, expires: this.now() + Math.max(1, lifetime - 10) * 1000 });
    return `Bearer ${token}`;
  }

  private resolve(location: string): string {
    return new URL(location, this.base).href;
  }

  private failure(response: OutboundResponse, what: string, body?: string): UpstreamError {
    const status = response.status;
    const retry = Number(header(response, 'retry-after'));
    const retryAfter = Number.isFinite(retry) && retry >= 0 ? retry : undefined;
    const detail = body ? errorMessage(body) : undefined;
    const suffix = detail ? `: ${detail}` : '';
    if (status === 401) return new UpstreamError('unauthorized', `${what}: the registry refused the credentials (401)${suffix}`, status);
    if (status === 403) return new UpstreamError('forbidden', `${what}: the account may not do this (403)${suffix}`, status);
    if (status === 404) return new UpstreamError('not-found', `${what}: not found (404); is the URL a registry's (its /v2/ answers)?${suffix}`, status);
    if (status === 429) return new UpstreamError('rate-limited', `${what}: the registry is limiting requests (429)${retryAfter === undefined ? '' : `, retry after ${retryAfter} s`}`, status, retryAfter);
    if (status >= 500) return new UpstreamError('unavailable', `${what}: the registry failed (${status})${suffix}`, status, retryAfter);
    return new UpstreamError('protocol', `${what}: unexpected answer ${status}${suffix}`, status);
  }
}

function pull(repository: string): string {
  return `repository:${repository}:pull`;
}

function pullPush(repository: string): string {
  return `repository:${repository}:pull,push`;
}

function basic(credentials: UpstreamCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.secret}`).toString('base64')}`;
}

function header(response: OutboundResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function mediaTypeOf(response: OutboundResponse, body?: Buffer): string {
  const declared = header(response, 'content-type')?.split(';')[0]?.trim();
  if (declared && declared !== 'application/json' && declared !== 'application/octet-stream') return declared;
  if (body) {
    try {
      const mediaType = (JSON.parse(body.toString('utf8')) as { mediaType?: unknown }).mediaType;
      if (typeof mediaType === 'string') return mediaType;
    } catch {
      // not JSON: the declared type stands
    }
  }
  return declared ?? 'application/vnd.oci.image.manifest.v1+json';
}

function sameChallenge(a: Challenge, b: Challenge | undefined): boolean {
  return b !== undefined && a.scheme === b.scheme && a.realm === b.realm && a.service === b.service;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new UpstreamError('protocol', `${what} is not JSON`);
  }
}

function descriptorsOf(index: unknown): UpstreamDescriptor[] {
  const manifests = (index as { manifests?: unknown }).manifests;
  if (!Array.isArray(manifests)) return [];
  return manifests
    .filter((m): m is { digest: string; mediaType?: string; size?: number } => typeof m === 'object' && m !== null && typeof (m as { digest?: unknown }).digest === 'string')
    .map((m) => ({ digest: m.digest, mediaType: typeof m.mediaType === 'string' ? m.mediaType : 'application/vnd.oci.image.manifest.v1+json', size: typeof m.size === 'number' ? m.size : 0 }));
}

/** The path of the next page from a `Link: <…>; rel="next"` header, on the same registry only. */
function nextPage(link: string | undefined, base: URL): string | undefined {
  const match = link && /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  if (!match) return undefined;
  const next = new URL(match[1]!, base);
  return next.origin === base.origin ? next.href : undefined;
}

/** The first error message of an OCI error body, short. */
function errorMessage(body: string): string | undefined {
  try {
    const errors = (JSON.parse(body) as { errors?: Array<{ code?: string; message?: string }> }).errors;
    const first = errors?.[0];
    return first ? `${first.code ?? ''} ${first.message ?? ''}`.trim().slice(0, 300) : undefined;
  } catch {
    return undefined;
  }
}

const tlsCodes = /^(CERT_|ERR_TLS_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(VERIFY|GET)_|ERR_SSL_|EPROTO$)/;

/** A connection that failed, by what the user should check. */
export function transportFailure(err: unknown, host: string): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const blocked = blockedByPolicy(err);
  if (blocked) return new UpstreamError('blocked', blocked.message);
  let code: string | undefined;
  for (let e: unknown = err, depth = 0; e && depth < 5 && !code; e = (e as { cause?: unknown }).cause, depth++) {
    const c = (e as { code?: unknown }).code;
    if (typeof c === 'string') code = c;
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new UpstreamError('dns', `${host} does not resolve (DNS: ${code})`);
  if (code && tlsCodes.test(code)) return new UpstreamError('tls', `TLS with ${host} failed (${code}): check the certificate; give the endpoint its CA (caCertificate), or use http:// for a registry without TLS`);
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return new UpstreamError('timeout', `${host} did not answer in time (${code})`);
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'UND_ERR_SOCKET') {
    return new UpstreamError('connect', `cannot connect to ${host} (${code})`);
  }
  return new UpstreamError('connect', `request to ${host} failed: ${(err as Error)?.message ?? String(err)}`.slice(0, 500));
}
