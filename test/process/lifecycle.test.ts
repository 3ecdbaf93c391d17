import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { spawnBerth, type BerthProcess } from '../helpers/process.js';
import { RegistryClient, errorCode, randomBlob, sha256 } from '../helpers/oci.js';

/**
 * Sends `head` bytes of a PATCH/PUT body now and resolves once they are on the wire; the
 * request stays open (a slow client) until `finish` or `abort` is called.
 */
function slowUpload(url: string, method: string, totalLength: number, head: Buffer) {
  let responded: (r: { status: number; body: string }) => void;
  let failed: (e: Error) => void;
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    responded = resolve;
    failed = reject;
  });
  const authorization = `Basic ${Buffer.from('admin:Admin-Passw0rd').toString('base64')}`;
  const req = request(url, { method, headers: { 'Content-Length': String(totalLength), 'Content-Type': 'application/octet-stream', Authorization: authorization } }, (res) => {
    let body = '';
    res.on('data', (c: Buffer) => (body += c.toString()));
    res.on('end', () => responded({ status: res.statusCode!, body }));
  });
  req.on('error', (e) => failed(e));
  // Callers look at the outcome later (or never, after a kill); an early failure is not unhandled.
  response.catch(() => undefined);
  const sent = new Promise<void>((resolve) => req.write(head, () => resolve()));
  return {
    sent,
    response,
    finish: (tail: Buffer) => req.end(tail),
  };
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('condition not met in time');
}

describe('process lifecycle', () => {
  let dataDir: string;
  const running: BerthProcess[] = [];

  afterEach(async () => {
    for (const p of running.splice(0)) {
      if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
      await p.exited;
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function start(): Promise<BerthProcess> {
    const p = await spawnBerth(['--port', '0', '--data-dir', dataDir]);
    running.push(p);
    return p;
  }

  it('after kill -9 mid-upload, restarts with the session at its last whole chunk and never serves a partial blob', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-kill-'));
    const blob = randomBlob(3 * 1024 * 1024);
    let server = await start();
    let client = new RegistryClient(server.url);

    const location = await client.startUpload('crash/repo');
    const first = await client.fetch(location, { method: 'PATCH', body: blob.data.subarray(0, 1024 * 1024), headers: { 'Content-Range': `0-${1024 * 1024 - 1}` } });
    expect(first.status).toBe(202);

    // A second chunk is half sent when the server dies.
    const second = slowUpload(`${server.url}${location}`, 'PATCH', 1024 * 1024, blob.data.subarray(1024 * 1024, 1536 * 1024));
    await second.sent;
    // The half chunk is on the server's disk (the session file grew past the acknowledged 1 MiB).
    const sessionFile = join(dataDir, 'storage', 'uploads', location.split('/').pop()!, 'data');
    await waitUntil(async () => (await stat(sessionFile)).size > 1024 * 1024);
    // And a monolithic PUT of another blob is half sent too.
    const other = randomBlob(2 * 1024 * 1024);
    const otherLocation = await client.startUpload('crash/repo');
    const put = slowUpload(`${server.url}${otherLocation}?digest=${other.digest}`, 'PUT', other.data.length, other.data.subarray(0, 1024 * 1024));
    await put.sent;
    await new Promise((r) => setTimeout(r, 200));
    server.proc.kill('SIGKILL');
    expect((await server.exited).signal).toBe('SIGKILL');
    await second.response.catch(() => undefined);
    await put.response.catch(() => undefined);

    server = await start();
    client = new RegistryClient(server.url);

    // Neither blob is served: the one never finished, the other's PUT was cut.
    for (const digest of [blob.digest, other.digest]) {
      const res = await client.fetch(`/v2/crash/repo/blobs/${digest}`);
      expect(res.status).toBe(404);
      expect(await errorCode(res)).toBe('BLOB_UNKNOWN');
    }
    const status = await client.fetch(location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe(`0-${1024 * 1024 - 1}`);

    // The client resumes from the server's offset and finishes; the bytes match end to end.
    const rest = await client.fetch(location, {
      method: 'PATCH',
      body: blob.data.subarray(1024 * 1024),
      headers: { 'Content-Range': `${1024 * 1024}-${blob.data.length - 1}` },
    });
    expect(rest.status).toBe(202);
    const done = await client.fetch(`${location}?digest=${blob.digest}`, { method: 'PUT' });
    expect(done.status).toBe(201);
    const pulled = Buffer.from(await (await client.fetch(`/v2/crash/repo/blobs/${blob.digest}`)).arrayBuffer());
    expect(sha256(pulled)).toBe(blob.digest);
  });

  it('on SIGTERM finishes in-flight requests, refuses new connections and exits 0', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-term-'));
    const server = await start();
    const client = new RegistryClient(server.url);
    const data = randomBytes(2 * 1024 * 1024);
    const digest = sha256(data);
    const location = await client.startUpload('term/repo');

    const upload = slowUpload(`${server.url}${location}?digest=${digest}`, 'PUT', data.length, data.subarray(0, 1024 * 1024));
    await upload.sent;
    await new Promise((r) => setTimeout(r, 200));
    server.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));

    // The listener is closed: a new connection is refused.
    await expect(fetch(`${server.url}/v2/`)).rejects.toThrow();
    // The slow client finishes its body and gets its answer.
    upload.finish(data.subarray(1024 * 1024));
    const response = await upload.response;
    expect(response.status).toBe(201);
    const answeredAt = Date.now();
    const exit = await server.exited;
    // Keep-alive clients must not hold the process open once their request is answered.
    expect(Date.now() - answeredAt).toBeLessThan(2000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(server.output.join('')).toContain('shutting down');

    // The blob it committed is there after a restart.
    const again = await start();
    const res = await new RegistryClient(again.url).fetch(`/v2/term/repo/blobs/${digest}`, { method: 'HEAD' });
    expect(res.status).toBe(200);
  });

  it('stops with a message naming the key when a config value is not allowed', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-badcfg-'));
    await expect(spawnBerth(['--port', '0', '--data-dir', dataDir], { BERTH_LOG_LEVEL: 'loud' })).rejects.toThrow(
      /log\.level \[from environment variable BERTH_LOG_LEVEL\]: .*allowed: fatal \| error \| warn \| info \| debug \| trace \| silent/,
    );
  });
});
