import { randomUUID } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP proxy in front of a real S3 server that gives the bucket a quota, as MinIO does when
 * its drives fill up: while a quota is set, a write that would take the bytes written past it
 * is answered 507 with MinIO's `XMinioStorageFull` error, and not passed on. Everything else
 * goes to the server unchanged. s3rver itself cannot fill up: on ENOSPC it crashes (an
 * unhandled stream error), so the full bucket is made here.
 */
export class S3QuotaProxy {
  /** Bytes written through the proxy so far (PUT bodies). */
  written = 0;
  /** Set: writes past this many bytes (counted from when it was set) are refused. */
  private quota: number | undefined;
  private server: Server | undefined;
  port = 0;

  constructor(private readonly upstream: URL) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Lets `bytes` more in, then answers every larger write 507. */
  fill(bytes: number): void {
    this.quota = this.written + bytes;
  }

  /** Space is back. */
  free(): void {
    this.quota = undefined;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const length = Number(req.headers['content-length'] ?? 0);
      if (req.method === 'PUT' && this.quota !== undefined && this.written + length > this.quota) {
        req.resume();
        req.on('end', () => {
          res.writeHead(507, { 'Content-Type': 'application/xml', 'x-amz-request-id': randomUUID() });
          res.end(
            `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>XMinioStorageFull</Code><Message>Storage backend has reached its minimum free drive threshold. Please delete a few objects to proceed.</Message><Resource>${req.url}</Resource></Error>`,
          );
        });
        return;
      }
      if (req.method === 'PUT') this.written += length;
      this.forward(req, res);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  private forward(req: IncomingMessage, res: ServerResponse): void {
    const upstream = request(
      { host: this.upstream.hostname, port: this.upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: this.upstream.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
