import { X509Certificate } from 'node:crypto';
import { BerthError } from '../../domain/errors.js';
import { registryKinds, type RegistryKind } from '../../domain/registry-kinds.js';
import type { EndpointRow, EndpointStore } from '../../ports/endpoint-store.js';
import { blockedByPolicy, type Outbound, type OutboundFeature, type OutboundTls } from '../../ports/outbound.js';
import { SecretKeyError, type SecretBox } from '../../ports/secrets.js';
import { UpstreamError, type UpstreamFailure, type UpstreamRegistry, type UpstreamCredentials } from '../../ports/upstream-registry.js';

export interface EndpointInput {
  name: string;
  kind: RegistryKind;
  /** Filled in from the kind where it has a well-known address (Docker Hub, GHCR, Quay, GCR). */
  url?: string;
  description?: string;
  username?: string | null;
  /** Password or access token; write-only. */
  secret?: string | null;
  /** Skip verifying the registry's TLS certificate. */
  insecure?: boolean;
  /** PEM certificates to trust for this registry besides the system's (a private CA). */
  caCertificate?: string | null;
}

/** Connects a client to an endpoint for one feature (replication or the proxy cache). */
export type UpstreamFactory = (options: {
  url: string;
  credentials?: UpstreamCredentials | (() => Promise<UpstreamCredentials>);
  feature: Extract<OutboundFeature, 'replication' | 'proxyCache'>;
  tls?: OutboundTls;
}) => UpstreamRegistry;

/** Registry credentials made from others when needed (ECR: an access key's 12-hour tokens); undefined when these are used as they are. */
export type CredentialExchange = (endpoint: { kind: string; url: string; tls?: OutboundTls }, credentials: UpstreamCredentials) => (() => Promise<UpstreamCredentials>) | undefined;

/** The answer of "test connection". */
export interface ConnectionCheck {
  ok: boolean;
  failure?: UpstreamFailure;
  message: string;
  /** The upstream's HTTP status, when it answered. */
  status?: number;
  latencyMs: number;
}

/**
 * Registry endpoints (Docker Hub, GHCR, Quay, ECR, ACR, Harbor, another Berth, any OCI
 * registry): where replication and the proxy cache connect. Credentials are sealed at rest
 * (SecretBox) and never shown again; URLs the outbound policy refuses (loopback, private,
 * link-local…) are refused when saved, with the setting that allows them.
 */
export class EndpointService {
  constructor(
    private readonly store: EndpointStore,
    private readonly box: SecretBox,
    private readonly outbound: Outbound,
    private readonly connect: UpstreamFactory,
    private readonly now: () => number = Date.now,
    private readonly exchange?: CredentialExchange,
  ) {}

  /** An exchange's source per endpoint (as last changed), so its token is reused between clients. */
  private readonly exchanged = new Map<string, () => Promise<UpstreamCredentials>>();

  list(): Promise<EndpointRow[]> {
    return this.store.list();
  }

  async get(id: number): Promise<EndpointRow> {
    const endpoint = await this.store.get(id);
    if (!endpoint) throw new BerthError('NOT_FOUND', { message: `registry endpoint ${id} not found` });
    return endpoint;
  }

  async create(input: EndpointInput, actor: string): Promise<EndpointRow> {
    const url = urlFor(input.kind, input.url);
    await this.checkAllowed(url);
    const now = this.now();
    return this.store.create({
      name: input.name,
      kind: input.kind,
      url,
      description: input.description ?? '',
      username: input.username ?? null,
      secretSealed: input.secret ? this.box.seal(input.secret) : null,
      insecure: input.insecure ?? false,
      caCertificate: certificates(input.caCertificate),
      createdBy: actor,
      createdAt: now,
      updatedAt: now,
    });
  }

  async update(id: number, patch: Partial<EndpointInput>): Promise<EndpointRow> {
    const current = await this.get(id);
    const kind = patch.kind ?? (current.kind as RegistryKind);
    const url = patch.url !== undefined || patch.kind !== undefined ? urlFor(kind, patch.url ?? current.url) : undefined;
    if (url !== undefined) await this.checkAllowed(url);
    const updated = await this.store.update(id, {
      name: patch.name,
      kind: patch.kind,
      url,
      description: patch.description,
      username: patch.username,
      secretSealed: patch.secret === undefined ? undefined : patch.secret === null || patch.secret === '' ? null : this.box.seal(patch.secret),
      insecure: patch.insecure,
      caCertificate: patch.caCertificate === undefined ? undefined : certificates(patch.caCertificate),
      updatedAt: this.now(),
    });
    if (!updated) throw new BerthError('NOT_FOUND', { message: `registry endpoint ${id} not found` });
    return updated;
  }

  async delete(id: number): Promise<EndpointRow> {
    const endpoint = await this.get(id);
    await this.store.delete(id);
    return endpoint;
  }

  /** A client for the endpoint, with its credentials opened. */
  client(endpoint: EndpointRow, feature: Extract<OutboundFeature, 'replication' | 'proxyCache'>): UpstreamRegistry {
    const tls = tlsOf(endpoint);
    const credentials = this.credentials(endpoint);
    const key = `${endpoint.id}@${endpoint.updatedAt}`;
    let source = this.exchanged.get(key);
    if (!source && credentials && this.exchange) {
      source = this.exchange({ kind: endpoint.kind, url: endpoint.url, tls }, credentials);
      if (source) {
        if (this.exchanged.size > 1000) this.exchanged.clear();
        this.exchanged.set(key, source);
      }
    }
    return this.connect({ url: endpoint.url, credentials: source ?? credentials, feature, tls });
  }

  /** "Test connection" of a stored endpoint. */
  async check(id: number): Promise<ConnectionCheck> {
    const endpoint = await this.get(id);
    return this.ping(this.client(endpoint, 'replication'));
  }

  /** "Test connection" of settings not saved yet (the console's form). */
  async checkUnsaved(input: EndpointInput): Promise<ConnectionCheck> {
    const url = urlFor(input.kind, input.url);
    const given = input.username && input.secret ? { username: input.username, secret: input.secret } : undefined;
    const tls = tlsOf({ insecure: input.insecure ?? false, caCertificate: certificates(input.caCertificate) });
    let credentials: UpstreamCredentials | (() => Promise<UpstreamCredentials>) | undefined = given;
    try {
      credentials = (given && this.exchange?.({ kind: input.kind, url, tls }, given)) || given;
    } catch (err) {
      if (err instanceof UpstreamError) return { ok: false, failure: err.failure, message: err.message, latencyMs: 0 };
      throw err;
    }
    return this.ping(this.connect({ url, credentials, feature: 'replication', tls }));
  }

  /** Seals again, with the current key, every secret sealed with an older one (key rotation); resolves how many. */
  async reseal(): Promise<number> {
    let count = 0;
    for (const endpoint of await this.store.list()) {
      if (endpoint.secretSealed === null || !this.box.stale(endpoint.secretSealed)) continue;
      await this.store.update(endpoint.id, { secretSealed: this.box.seal(this.box.open(endpoint.secretSealed)) });
      count++;
    }
    return count;
  }

  private credentials(endpoint: EndpointRow): UpstreamCredentials | undefined {
    if (endpoint.username === null || endpoint.secretSealed === null) return undefined;
    try {
      return { username: endpoint.username, secret: this.box.open(endpoint.secretSealed) };
    } catch (err) {
      if (err instanceof SecretKeyError) throw new BerthError('UNAVAILABLE', { message: `the credentials of registry endpoint ${endpoint.name} cannot be read: ${err.message}` });
      throw err;
    }
  }

  private async ping(upstream: UpstreamRegistry): Promise<ConnectionCheck> {
    const started = this.now();
    try {
      await upstream.ping();
      return { ok: true, message: 'the registry answered and accepted the credentials', latencyMs: this.now() - started };
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      return { ok: false, failure: err.failure, message: err.message, status: err.status, latencyMs: this.now() - started };
    }
  }

  /** Refuses an address the outbound policy would refuse now; connections are checked again every time. */
  private async checkAllowed(url: string): Promise<void> {
    try {
      await this.outbound.check('replication', url);
    } catch (err) {
      const blocked = blockedByPolicy(err);
      if (blocked) throw new BerthError('BAD_REQUEST', { message: `endpoint url ${blocked.message}` });
      throw err;
    }
  }
}

function tlsOf(endpoint: Pick<EndpointRow, 'insecure' | 'caCertificate'>): OutboundTls | undefined {
  if (endpoint.insecure) return { insecure: true };
  return endpoint.caCertificate ? { ca: endpoint.caCertificate } : undefined;
}

/** A PEM bundle checked to hold certificates only (each parsed), or null when none is given. */
function certificates(pem: string | null | undefined): string | null {
  if (pem === undefined || pem === null || pem.trim() === '') return null;
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0 || blocks.length > 50 || pem.replace(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g, '').trim() !== '') {
    throw new BerthError('BAD_REQUEST', { message: 'caCertificate must be PEM certificates (-----BEGIN CERTIFICATE----- …), at most 50, and nothing else' });
  }
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (err) {
      throw new BerthError('BAD_REQUEST', { message: `caCertificate holds a certificate that does not parse: ${(err as Error).message}` });
    }
  }
  return blocks.join('\n');
}

/** The endpoint's base URL: given, or the kind's well-known one; http(s), no query or fragment. */
function urlFor(kind: RegistryKind, given: string | undefined): string {
  const url = given ?? registryKinds[kind].url;
  if (!url) throw new BerthError('BAD_REQUEST', { message: `a ${registryKinds[kind].label} endpoint needs its url` });
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new BerthError('BAD_REQUEST', { message: `endpoint url is not a URL: ${url.slice(0, 200)}` });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new BerthError('BAD_REQUEST', { message: 'endpoint url must be http or https' });
  if (parsed.username || parsed.password) throw new BerthError('BAD_REQUEST', { message: 'endpoint url must not hold credentials; give username and secret instead' });
  if (parsed.search || parsed.hash) throw new BerthError('BAD_REQUEST', { message: 'endpoint url must not have a query or fragment' });
  return parsed.href.replace(/\/+$/, '');
}
