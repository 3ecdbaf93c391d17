import { Agent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** A buffer, or a stream factory (called again if the request is retried after a 401). */
  body?: Buffer | (() => Readable);
  /** Hash the response body instead of keeping it (blob pulls): `digest` holds `sha256:<hex>`. */
  hashBody?: boolean;
}

export interface HashedResponse extends Response {
  digest?: string;
  bytes: number;
}

/**
 * A registry client over one keep-alive connection pool, speaking the Docker token flow the
 * way docker and podman do: on 401 with a Bearer challenge it fetches a token for the scope the
 * challenge names (with Basic credentials), remembers it per scope, and retries once.
 */
export class RegistryHttp {
  readonly agent: Agent;
  private readonly url: URL;
  private readonly tokens = new Map<string, string>();

  constructor(
    base: string,
    private readonly credentials: { username: string; password: string } | undefined,
    connections: number,
  ) {
    this.url = new URL(base);
    this.agent = new Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
  }

  get basic(): string | undefined {
    return this.credentials ? `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}` : undefined;
  }

  /** Sends a request; `scope` keys the cached token (e.g. `repository:bench/a:pull,push`). */
  async send(method: string, path: string, scope: string, options: RequestOptions = {}): Promise<HashedResponse> {
    const token = this.tokens.get(scope);
    const first = await this.once(method, path, { ...options, headers: { ...options.headers, ...(token ? { Authorization: `Bearer ${token}` } : {}) } });
    if (first.status !== 401) return first;
    const challenge = String(first.headers['www-authenticate'] ?? '');
    if (!/^bearer /i.test(challenge)) return first;
    const fresh = await this.fetchToken(challenge);
    this.tokens.set(scope, fresh);
    return this.once(method, path, { ...options, headers: { ...options.headers, Authorization: `Bearer ${fresh}` } });
  }

  /** Sends with Basic credentials (bulk set-up, where one token per repository would be waste). */
  sendBasic(method: string, path: string, options: RequestOptions = {}): Promise<HashedResponse> {
    return this.once(method, path, { ...options, headers: { ...options.headers, ...(this.basic ? { Authorization: this.basic } : {}) } });
  }

  private async fetchToken(challenge: string): Promise<string> {
    const params = new Map<string, string>();
    for (const m of challenge.slice(7).matchAll(/(\w+)="([^"]*)"/g)) params.set(m[1]!, m[2]!);
    const realm = new URL(params.get('realm') ?? '');
    realm.searchParams.set('service', params.get('service') ?? '');
    if (params.get('scope')) realm.searchParams.set('scope', params.get('scope')!);
    const res = await this.once('GET', `${realm.pathname}${realm.search}`, { headers: this.basic ? { Authorization: this.basic } : {} });
    if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${res.body.toString('utf8').slice(0, 200)}`);
    return (JSON.parse(res.body.toString('utf8')) as { token: string }).token;
  }

  private once(method: string, path: string, options: RequestOptions): Promise<HashedResponse> {
    return new Promise((resolve, reject) => {
      const body = typeof options.body === 'function' ? options.body() : options.body;
      const headers: Record<string, string> = { ...options.headers };
      if (Buffer.isBuffer(body)) headers['Content-Length'] = String(body.length);
      const req = httpRequest(
        { host: this.url.hostname, port: this.url.port, method, path, headers, agent: this.agent },
        (res: IncomingMessage) => {
          const hash = options.hashBody && res.statusCode === 200 ? createHash('sha256') : undefined;
          const chunks: Buffer[] = [];
          let bytes = 0;
          res.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            if (hash) hash.update(chunk);
            else chunks.push(chunk);
          });
          res.on('error', reject);
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks),
              bytes,
              digest: hash ? `sha256:${hash.digest('hex')}` : undefined,
            }),
          );
        },
      );
      req.on('error', reject);
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        body.on('error', (err) => req.destroy(err));
        body.pipe(req);
      }
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Throws with the response's text unless its status is one of `expected`. */
export function expectStatus(res: Response, expected: number | number[], what: string): void {
  const ok = Array.isArray(expected) ? expected.includes(res.status) : res.status === expected;
  if (!ok) throw new Error(`${what}: expected HTTP ${String(expected)}, got ${res.status} ${res.body.toString('utf8').slice(0, 300)}`);
}
