import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCidr } from '../../src/domain/address-ranges.js';
import { OutboundClient } from '../../src/adapters/outbound/outbound-client.js';

/**
 * A server that reads each request's head and then closes the connection without a word for
 * the first `unanswered` requests, as a server closing a kept-alive connection does, and answers
 * "ok" to the others. `requests` holds each request line, in order.
 */
async function closingServer(unanswered: number): Promise<{ server: Server; url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((socket: Socket) => {
    let head = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      requests.push(head.slice(0, head.indexOf('\r\n')));
      head = '';
      if (requests.length <= unanswered) socket.destroy();
      else socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/`, requests };
}

describe('the outbound client resending a request whose connection closed unanswered', () => {
  let server: Server | undefined;
  const client = new OutboundClient({
    allowed: () => [parseCidr('127.0.0.0/8')!],
    timeoutMs: 5000,
    maxResponseBytes: 1024,
    maxRedirects: 0,
    userAgent: 'berth-test',
  });
  afterEach(async () => {
    await client.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('sends a GET once more, and then has the answer', async () => {
    const upstream = await closingServer(1);
    server = upstream.server;
    const got = await client.request('proxyCache', upstream.url);
    expect([got.status, await got.text()]).toEqual([200, 'ok']);
    expect(upstream.requests).toEqual(['GET /v2/ HTTP/1.1', 'GET /v2/ HTTP/1.1']);
  });

  it('sends a HEAD once more only: a server that never answers fails it after two tries', async () => {
    const upstream = await closingServer(10);
    server = upstream.server;
    const failed = await client.request('proxyCache', upstream.url, { method: 'HEAD' }).then(
      () => undefined,
      (err: { code?: string }) => err.code,
    );
    expect(failed).toBe('UND_ERR_SOCKET');
    expect(upstream.requests).toEqual(['HEAD /v2/ HTTP/1.1', 'HEAD /v2/ HTTP/1.1']);
  });

  it('never sends again a request the server may have acted on (a PUT)', async () => {
    const upstream = await closingServer(10);
    server = upstream.server;
    const put = await client.request('proxyCache', upstream.url, { method: 'PUT', body: '{}' }).then(
      () => undefined,
      (err: { code?: string }) => err.code,
    );
    expect(put).toBe('UND_ERR_SOCKET');
    expect(upstream.requests).toEqual(['PUT /v2/ HTTP/1.1']);
  });
});
