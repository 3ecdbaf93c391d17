import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import type * as Smithy from '@smithy/signature-v4';
import type { Outbound, OutboundTls } from '../../ports/outbound.js';
import { UpstreamError, type UpstreamCredentials } from '../../ports/upstream-registry.js';
import { lazyModule } from '../lazy-module.js';
import { transportFailure } from './registry-client.js';

/** Loaded when the first token is fetched: only ECR endpoints need it. */
const smithy = lazyModule<typeof Smithy>('@smithy/signature-v4');

/** An AWS access key id, long-lived (AKIA) or temporary (ASIA). */
export function isAccessKeyId(username: string | null): boolean {
  return username !== null && /^(AKIA|ASIA)[A-Z0-9]{12,}$/.test(username);
}

/** The region of an ECR registry host (`<account>.dkr.ecr.<region>.amazonaws.com[.cn]`), undefined for another host. */
export function ecrRegion(registryUrl: string): string | undefined {
  return /\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/.exec(new URL(registryUrl).hostname)?.[1];
}

function bytes(data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === 'string') return data;
  return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** SHA-256 and HMAC-SHA-256 from node:crypto, as the signer asks for them. */
class NodeSha256 {
  private readonly hash: Hash | Hmac;

  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }

  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(bytes(data));
  }

  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
}

export interface EcrTokenOptions {
  outbound: Outbound;
  /** The registry's URL (its host names the region, and the API's default address). */
  registryUrl: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The ECR API's address; default `https://api.ecr.<region>.amazonaws.com` (set for VPC endpoints). */
  apiUrl?: string;
  /** When the registry's host does not name it. */
  region?: string;
  tls?: OutboundTls;
  now?: () => number;
}

/** Tokens are renewed this long before ECR says they expire (12 hours after they are made). */
const renewBeforeMs = 10 * 60_000;

/**
 * Registry credentials for Amazon ECR from an access key, as the AWS CLI's
 * `get-login-password` makes them: ECR's `GetAuthorizationToken` (JSON 1.1, signed with SigV4),
 * whose token is base64 of `AWS:<password>`, valid 12 hours. Kept until shortly before it
 * expires. The request goes through the outbound policy like every other.
 */
export class EcrTokenSource {
  private cached: { credentials: UpstreamCredentials; renewAt: number } | undefined;
  private pending: Promise<UpstreamCredentials> | undefined;
  private readonly region: string;
  private readonly apiUrl: URL;
  private readonly now: () => number;

  constructor(private readonly options: EcrTokenOptions) {
    const region = options.region ?? ecrRegion(options.registryUrl);
    if (!region) throw new UpstreamError('protocol', `${new URL(options.registryUrl).host} is not an ECR registry host (<account>.dkr.ecr.<region>.amazonaws.com): set replication.ecr.region`);
    this.region = region;
    this.apiUrl = new URL(options.apiUrl ?? `https://api.ecr.${region}.amazonaws.com${new URL(options.registryUrl).hostname.endsWith('.cn') ? '.cn' : ''}/`);
    this.now = options.now ?? Date.now;
  }

  async credentials(): Promise<UpstreamCredentials> {
    if (this.cached && this.cached.renewAt > this.now()) return this.cached.credentials;
    this.pending ??= this.fetch().finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async fetch(): Promise<UpstreamCredentials> {
    const body = '{}';
    const signer = new (smithy().SignatureV4)({ service: 'ecr', region: this.region, credentials: { accessKeyId: this.options.accessKeyId, secretAccessKey: this.options.secretAccessKey }, sha256: NodeSha256 });
    const signed = await signer.sign({
      method: 'POST',
      protocol: this.apiUrl.protocol,
      hostname: this.apiUrl.hostname,
      port: this.apiUrl.port ? Number(this.apiUrl.port) : undefined,
      path: this.apiUrl.pathname,
      headers: {
        host: this.apiUrl.host,
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken',
      },
      body,
    });
    let text: string;
    let status: number;
    try {
      const response = await this.options.outbound.request('replication', this.apiUrl.href, { method: 'POST', headers: signed.headers as Record<string, string>, body, tls: this.options.tls });
      status = response.status;
      text = await response.text(64 * 1024);
    } catch (err) {
      throw transportFailure(err, this.apiUrl.host);
    }
    const answer = (() => {
      try {
        return JSON.parse(text) as { authorizationData?: Array<{ authorizationToken?: unknown; expiresAt?: unknown }>; __type?: unknown; message?: unknown; Message?: unknown };
      } catch {
        return {};
      }
    })();
    if (status !== 200) {
      const type = typeof answer.__type === 'string' ? answer.__type.split('#').pop() : `HTTP ${status}`;
      const message = typeof answer.message === 'string' ? answer.message : typeof answer.Message === 'string' ? answer.Message : '';
      const failure = status === 400 || status === 403 ? 'unauthorized' : status === 429 ? 'rate-limited' : 'unavailable';
      throw new UpstreamError(failure, `ECR refused the access key (${type}${message ? `: ${message}` : ''}): check the access key and that it may call ecr:GetAuthorizationToken`, status);
    }
    const data = answer.authorizationData?.[0];
    const decoded = typeof data?.authorizationToken === 'string' ? Buffer.from(data.authorizationToken, 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new UpstreamError('protocol', 'ECR answered without an authorization token');
    const expiresAt = typeof data?.expiresAt === 'number' ? data.expiresAt * 1000 : this.now() + 12 * 3_600_000;
    const credentials = { username: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
    this.cached = { credentials, renewAt: expiresAt - renewBeforeMs };
    return credentials;
  }
}
