import { createHash } from 'node:crypto';
import { promises as dns, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import type { Readable } from 'node:stream';
import type * as Undici from 'undici';
import type { Agent, buildConnector, request as undiciRequest } from 'undici';
import { lazyModule } from '../lazy-module.js';
import { addressCategory, inAnyCidr, type Cidr } from '../../domain/address-ranges.js';
import { OutboundBlockedError, type Outbound, type OutboundFeature, type OutboundRequest, type OutboundResponse, type OutboundTls } from '../../ports/outbound.js';

/** Loaded on the first request out: a registry that never connects out never holds it. */
const undici = lazyModule<typeof Undici>('undici');

export interface OutboundClientOptions {
  /** CIDRs each feature may reach although they are special-purpose; read at every connection, so a settings change applies at once. */
  allowed: (feature: OutboundFeature) => readonly Cidr[];
  /** Connect, then response headers, then each pause between body chunks. */
  timeoutMs: number;
  /** Largest body `text()` reads into memory. */
  maxResponseBytes: number;
  maxRedirects: number;
  userAgent: string;
  /** Name resolution (every address of a name); tests replace it to play DNS tricks. */
  resolve?: (hostname: string) => Promise<LookupAddress[]>;
}

/** What a connection tried to reach, for the error message and the log. */
interface Refusal {
  address: string;
  category: string;
}

const redirectStatuses = new Set([301, 302, 303, 307, 308]);
/** Connection pools kept: one per feature, and one per endpoint with its own TLS settings. */
const maxAgents = 64;

/**
 * The outbound-request policy on undici (DESIGN.md, "Outbound requests"). One agent per
 * feature; its connector decides on the address a socket is about to connect to, after name
 * resolution, so a DNS answer that changes between check and use (rebinding), a redirect to an
 * internal host and a reused name all meet the same check. A host written as an IP literal in
 * any spelling (`0x7f000001`, `2130706433`, `[::ffff:127.0.0.1]`) reaches the connector
 * already normalized by the URL parser.
 */
export class OutboundClient implements Outbound {
  /** Per feature and TLS settings (endpoints with their own CA or none); the oldest closed past `maxAgents`. */
  private readonly agents = new Map<string, Agent>();
  private readonly resolve: (hostname: string) => Promise<LookupAddress[]>;

  constructor(private readonly options: OutboundClientOptions) {
    this.resolve = options.resolve ?? ((hostname) => dns.lookup(hostname, { all: true, verbatim: true }));
  }

  async request(feature: OutboundFeature, url: string, request: OutboundRequest = {}): Promise<OutboundResponse> {
    let current = this.parse(feature, url);
    let method = (request.method ?? 'GET').toUpperCase();
    let body = request.body;
    const headers: Record<string, string> = { 'user-agent': this.options.userAgent };
    for (const [name, value] of Object.entries(request.headers ?? {})) headers[name.toLowerCase()] = value;
    const timeout = request.timeoutMs ?? this.options.timeoutMs;
    const maxRedirects = request.maxRedirects ?? this.options.maxRedirects;
    for (let hop = 0; ; hop++) {
      const options = { dispatcher: this.agent(feature, request.tls), method: method as 'GET', headers, body, headersTimeout: timeout, bodyTimeout: timeout, signal: request.signal };
      const response = await undici()
        .request(current, options)
        .catch((err: unknown) => {
          if (!resendable(method, body, request.signal) || !closedUnanswered(err)) throw err;
          return undici().request(current, options);
        });
      const location = response.headers.location;
      const replayable = body === undefined || typeof body === 'string' || Buffer.isBuffer(body);
      if (redirectStatuses.has(response.statusCode) && typeof location === 'string' && hop < maxRedirects && replayable) {
        await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
        const next = this.parse(feature, new URL(location, current).href);
        // As fetch does: 303 (and 301/302 after a POST) become a GET without a body.
        if (response.statusCode === 303 || ((response.statusCode === 301 || response.statusCode === 302) && method === 'POST')) {
          method = 'GET';
          body = undefined;
          delete headers['content-type'];
          delete headers['content-length'];
        }
        // Credentials never follow a redirect to another origin.
        if (next.origin !== current.origin) {
          delete headers.authorization;
          delete headers.cookie;
        }
        current = next;
        continue;
      }
      return this.response(response, current.href);
    }
  }

  async check(feature: OutboundFeature, url: string): Promise<void> {
    const parsed = this.parse(feature, url);
    const host = bare(parsed.hostname);
    let addresses: string[];
    if (isIP(host)) addresses = [host];
    else {
      try {
        addresses = (await this.resolve(host)).map((a) => a.address);
      } catch {
        return; // not resolvable now; every connection is checked anyway
      }
    }
    for (const address of addresses) {
      const refusal = this.refusal(feature, address);
      if (refusal) throw this.blocked(feature, host, refusal);
    }
  }

  fetchFor(feature: OutboundFeature): typeof fetch {
    const limit = this.options.maxResponseBytes;
    const outbound = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      this.parse(feature, url);
      const response = await undici().fetch(url, {
        ...(init as Record<string, unknown>),
        dispatcher: this.agent(feature),
        signal: init?.signal ?? AbortSignal.timeout(this.options.timeoutMs * 3),
      });
      if (!response.body) return response as unknown as Response;
      // The body, cut off with an error past the size limit, so a library reading it whole cannot be fed gigabytes.
      let seen = 0;
      const limited = response.body.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            seen += chunk.byteLength;
            if (seen > limit) controller.error(tooLarge(limit));
            else controller.enqueue(chunk);
          },
        }),
      );
      return new Response(limited as ReadableStream, { status: response.status, statusText: response.statusText, headers: response.headers as unknown as Headers });
    };
    return outbound as typeof fetch;
  }

  async close(): Promise<void> {
    const agents = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(agents.map((agent) => agent.close()));
  }

  private agent(feature: OutboundFeature, tls?: OutboundTls): Agent {
    const key = tls?.ca || tls?.insecure ? `${feature}|${tls.insecure ? 'insecure' : createHash('sha256').update(tls.ca!).digest('hex')}` : feature;
    let agent = this.agents.get(key);
    if (!agent) {
      agent = new (undici().Agent)({ connect: this.connector(feature, tls), headersTimeout: this.options.timeoutMs, bodyTimeout: this.options.timeoutMs });
      this.agents.set(key, agent);
      if (this.agents.size > maxAgents) {
        const [oldest, old] = this.agents.entries().next().value as [string, Agent];
        this.agents.delete(oldest);
        void old.close().catch(() => undefined);
      }
    }
    return agent;
  }

  /**
   * Decides on every connection: an IP literal here, a name through the lookup below, so the
   * address checked is the address connected to.
   */
  private connector(feature: OutboundFeature, tls?: OutboundTls): buildConnector.connector {
    const lookup = (hostname: string, options: LookupOptions, callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
      this.resolve(hostname).then(
        (found) => {
          const wanted = options.family === 4 || options.family === 6 ? found.filter((a) => a.family === options.family) : found;
          for (const { address } of found) {
            const refusal = this.refusal(feature, address);
            if (refusal) return callback(this.blocked(feature, hostname, refusal), '');
          }
          if (wanted.length === 0) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '');
          if (options.all) return callback(null, wanted);
          callback(null, wanted[0]!.address, wanted[0]!.family);
        },
        (err: Error) => callback(err, ''),
      );
    };
    // A CA given is trusted besides the system's, as curl's --cacert with the system store kept.
    const trust = tls?.insecure ? { rejectUnauthorized: false } : tls?.ca ? { ca: [...rootCertificates, tls.ca] } : {};
    const connect = undici().buildConnector({ timeout: this.options.timeoutMs, lookup: lookup as never, ...trust });
    return (connection, callback) => {
      const host = bare(connection.hostname);
      if (isIP(host)) {
        const refusal = this.refusal(feature, host);
        if (refusal) return callback(this.blocked(feature, host, refusal), null);
      }
      return connect(connection, callback);
    };
  }

  private refusal(feature: OutboundFeature, address: string): Refusal | undefined {
    const category = addressCategory(address);
    if (!category || inAnyCidr(address, this.options.allowed(feature))) return undefined;
    return { address, category };
  }

  /**
   * The refusal as the requester sees it: the host they gave and the kind of address, never
   * the address a name resolved to (that would map the internal network); `address` keeps it
   * for the log.
   */
  private blocked(feature: OutboundFeature, host: string, refusal: Refusal): OutboundBlockedError {
    const what = host === refusal.address ? `${host} is a ${refusal.category} address` : `${host} resolves to a ${refusal.category} address`;
    return new OutboundBlockedError(
      `blocked by policy: ${what}, which ${feature} requests may not reach; an administrator can allow it with the setting outbound.${feature}.allowCidrs (or outbound.allowCidrs for every feature)`,
      feature,
      refusal.address,
    );
  }

  private parse(feature: OutboundFeature, url: string): URL {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new OutboundBlockedError(`blocked by policy: not a URL: ${url.slice(0, 200)}`, feature);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new OutboundBlockedError(`blocked by policy: only http and https URLs may be requested, not ${parsed.protocol.replace(/:$/, '')}`, feature);
    }
    return parsed;
  }

  private response(response: Awaited<ReturnType<typeof undiciRequest>>, url: string): OutboundResponse {
    const body = response.body;
    const limit = this.options.maxResponseBytes;
    return {
      status: response.statusCode,
      headers: response.headers,
      url,
      body: body as unknown as Readable,
      async text(maxBytes = limit) {
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of body) {
          size += (chunk as Buffer).length;
          if (size > maxBytes) {
            body.destroy();
            throw tooLarge(maxBytes);
          }
          chunks.push(chunk as Buffer);
        }
        return Buffer.concat(chunks).toString('utf8');
      },
      async discard(maxBytes = limit) {
        await body.dump({ limit: maxBytes }).catch(() => undefined);
      },
    };
  }
}

/**
 * A GET or HEAD whose connection closed before any answer is sent once more, on another
 * connection: most likely the server closed a kept-alive connection just as it was reused, which
 * no client can avoid. Go's transport does the same. Other methods fail, as the server may have
 * acted on them.
 */
function resendable(method: string, body: OutboundRequest['body'], signal: AbortSignal | undefined): boolean {
  return (method === 'GET' || method === 'HEAD') && body === undefined && !signal?.aborted;
}

/** undici rejects a request only before the response's headers; these codes mean the peer closed or reset the connection. */
function closedUnanswered(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE';
}

function bare(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

function tooLarge(limit: number): Error {
  return Object.assign(new Error(`the response is larger than ${limit} bytes, the most Berth reads`), { code: 'OUTBOUND_RESPONSE_TOO_LARGE' });
}
