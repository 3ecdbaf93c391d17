import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, Transform } from 'node:stream';
import { OutboundClient } from '../../src/adapters/outbound/outbound-client.js';
import { RegistryClient as UpstreamClient } from '../../src/adapters/upstream/registry-client.js';
import { parseCidr } from '../../src/domain/address-ranges.js';
import { OCI_MANIFEST, type Image } from './oci.js';

/** Pushes an image to CNCF distribution (which has no single-request upload). */
export async function pushTo(url: string, repository: string, tag: string, image: Image): Promise<Image> {
  const outbound = new OutboundClient({ allowed: () => [parseCidr('127.0.0.0/8')!], timeoutMs: 5000, maxResponseBytes: 1024 * 1024, maxRedirects: 5, userAgent: 'Berth-test' });
  const client = new UpstreamClient({ outbound, feature: 'replication', url, maxManifestBytes: 4 * 1024 * 1024 });
  for (const blob of [image.config, ...image.layers]) await client.putBlob(repository, blob.digest, blob.data.length, Readable.from([blob.data]));
  await client.putManifest(repository, tag, { mediaType: OCI_MANIFEST, body: image.manifest });
  await outbound.close();
  return image;
}

/**
 * CNCF distribution behind a small HTTP relay that logs every request and can play an outage
 * (connections dropped) or a rate limit (429), as Docker Hub does.
 */
export class LoggingRelay {
  readonly log: string[] = [];
  mode: 'up' | 'down' | 'limited' = 'up';
  /** While `down`: requests hang until this resolves, then are dropped (an outage that times out); dropped at once when unset. */
  dropAfter: Promise<void> | undefined;
  /** Holds a blob's body after its first `bytes` until `open` resolves (a slow upstream). */
  gate: { digest: string; bytes: number; open: Promise<void> } | undefined;
  private server: Server | undefined;
  url = '';

  constructor(private readonly target: string) {}

  async start(): Promise<void> {
    const target = new URL(this.target);
    this.server = createServer((req, res) => {
      this.log.push(`${req.method} ${req.url}`);
      if (this.mode === 'down') return void (this.dropAfter ?? Promise.resolve()).then(() => req.socket.destroy());
      if (this.mode === 'limited') return res.writeHead(429, { 'retry-after': '60', 'content-type': 'application/json' }).end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}');
      const forward = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (upstream) => {
        res.writeHead(upstream.statusCode ?? 502, upstream.headers);
        const gate = this.gate;
        if (gate && req.method === 'GET' && req.url?.endsWith(`/blobs/${gate.digest}`)) upstream.pipe(holdAfter(gate.bytes, gate.open)).pipe(res);
        else upstream.pipe(res);
      });
      forward.on('error', () => res.destroy());
      req.pipe(forward);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  blobGets(digest: string, repository = 'lib/app'): number {
    return this.log.filter((line) => line === `GET /v2/${repository}/blobs/${digest}`).length;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}


/** Passes the first `bytes`, then waits for `open` before passing the rest. */
function holdAfter(bytes: number, open: Promise<void>): Transform {
  let passed = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (passed >= bytes) return void open.then(() => callback(null, chunk));
      const now = chunk.subarray(0, bytes - passed);
      passed += now.length;
      this.push(now);
      const rest = chunk.subarray(now.length);
      if (rest.length === 0) return callback();
      void open.then(() => callback(null, rest));
    },
  });
}
