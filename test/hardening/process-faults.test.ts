import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ContainerTools, missingTools } from '../helpers/clients.js';
import { checkConsistency } from '../helpers/consistency.js';
import { RegistryClient, OCI_MANIFEST, errorCode, randomImage, sha256, imageManifest, jsonBlob } from '../helpers/oci.js';
import { writeOciLayout } from '../helpers/oci-layout.js';
import { pgUnavailableReason } from '../helpers/pg.js';
import { memoryOf, spawnBerth, type BerthProcess } from '../helpers/process.js';
import { proxiedDatabase, type TcpProxy } from '../helpers/tcp-proxy.js';

const exec = promisify(execFile);
const MiB = 1024 * 1024;
const pgSkip = await pgUnavailableReason();
const toolsMissing = await missingTools(['skopeo']);

/** One HTTP request on a connection of its own (no keep-alive), with the whole answer. */
function once(url: string, init: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers: { ...init.headers, Connection: 'close' }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error('timed out')));
    req.end(init.body);
  });
}

/** A raw socket to a port, recording what it receives and when it closes. */
function open(port: number): Promise<{ socket: Socket; received: () => string; closedAt: () => number | undefined; openedAt: number }> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1');
    let data = '';
    let closedAt: number | undefined;
    const openedAt = Date.now();
    socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => (closedAt = Date.now()));
    socket.once('connect', () => resolve({ socket, received: () => data, closedAt: () => closedAt, openedAt }));
    socket.once('error', () => resolve({ socket, received: () => data, closedAt: () => closedAt ?? Date.now(), openedAt }));
  });
}

/** The backlog of the socket listening on a loopback port, as `ss` shows it (its Send-Q column). */
async function listenBacklogOf(port: number): Promise<number> {
  const { stdout } = await exec('ss', ['-Hltn', `sport = :${port}`]);
  const rows = stdout.trim().split('\n').map((line) => line.trim().split(/\s+/));
  expect(rows.map((r) => r[0])).toEqual(['LISTEN']);
  return Number(rows[0]![2]);
}

describe.skipIf(pgSkip !== undefined)(`PostgreSQL going away in the middle of a push${pgSkip ? ` (skipped: ${pgSkip})` : ''}`, () => {
  let berth: TestBerth;
  let impatient: TestBerth;
  let database: Awaited<ReturnType<typeof proxiedDatabase>>;
  let proxy: TcpProxy;
  let work: string;

  beforeAll(async () => {
    // Every connection to PostgreSQL passes a relay that the test cuts and restores: to Berth this
    // is a restart (connections reset, new ones refused, then accepted again), while the other
    // test files keep their database.
    database = await proxiedDatabase();
    proxy = database.proxy;
    // One instance with the default patience (10 s), one that gives up after 300 ms; same database and storage.
    berth = await startTestBerth({ databaseUrl: database.url });
    impatient = await startTestBerth({ databaseUrl: database.url, dataDir: berth.dataDir, settings: { 'database.connectRetryMs': 300 } });
    work = await mkdtemp(join(tmpdir(), 'berth-pgfault-'));
  });
  afterAll(async () => {
    await impatient?.stop();
    await berth?.stop();
    await database?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Pushes `whole` in two chunks; `between` runs after the first, with the chunk-2 request as a promise. */
  async function twoChunks(client: RegistryClient, name: string, whole: Buffer, split: number, second: (send: () => Promise<Response>) => Promise<Response>): Promise<void> {
    const location = await client.startUpload(name);
    const one = await client.fetch(location, { method: 'PATCH', body: whole.subarray(0, split), headers: { 'Content-Range': `0-${split - 1}` } });
    expect(one.status).toBe(202);
    const next = one.headers.get('location')!;
    const res = await second(() => client.fetch(next, { method: 'PATCH', body: whole.subarray(split), headers: { 'Content-Range': `${split}-${whole.length - 1}` } }));
    expect(res.status).toBe(202);
    const finish = res.headers.get('location')!;
    const done = await client.fetch(`${finish}${finish.includes('?') ? '&' : '?'}digest=${sha256(whole)}`, { method: 'PUT' });
    expect(done.status).toBe(201);
    const config = jsonBlob({ architecture: 'amd64', os: 'linux' });
    expect((await client.pushBlob(name, config)).status).toBe(201);
    expect((await client.pushManifest(name, 'v1', imageManifest(config, [{ data: whole, digest: sha256(whole) }]))).status).toBe(201);
    const pulled = Buffer.from(await (await client.fetch(`/v2/${name}/blobs/${sha256(whole)}`)).arrayBuffer());
    expect(pulled.equals(whole)).toBe(true);
  }

  it('holds a request that needs the database while it restarts, and answers it once it is back', async () => {
    const whole = randomBytes(8 * MiB);
    await twoChunks(new RegistryClient(berth.url), 'pg/waited', whole, 3 * MiB, async (send) => {
      await proxy.cut();
      const pending = send();
      await new Promise((r) => setTimeout(r, 1500));
      await proxy.start();
      return pending;
    });
    expect(await checkConsistency(berth)).toEqual({ problems: [] });
  });

  it('answers 503 UNAVAILABLE with Retry-After once its patience (database.connectRetryMs) runs out; the retried chunk completes the push', async () => {
    const client = new RegistryClient(impatient.url);
    const whole = randomBytes(8 * MiB);
    await twoChunks(client, 'pg/retried', whole, 3 * MiB, async (send) => {
      await proxy.cut();
      const refused = await send();
      expect(refused.status).toBe(503);
      expect(await errorCode(refused)).toBe('UNAVAILABLE');
      expect(refused.headers.get('retry-after')).toBe('1');
      await proxy.start();
      return send();
    });
    expect(await checkConsistency(berth)).toEqual({ problems: [] });
  });

  it.skipIf(toolsMissing.length > 0)('lets skopeo finish a push during which PostgreSQL restarts (copying again when skopeo gave up on a request that was running as the connection dropped), every digest intact', async () => {
    const layout = await writeOciLayout(join(work, 'layout'), 'v1', [
      { architecture: 'amd64', files: { 'a.bin': randomBytes(6 * MiB), 'b.bin': randomBytes(6 * MiB), 'c.txt': 'restart\n' } },
    ]);
    const tools = new ContainerTools(work);
    await writeFile(tools.env.REGISTRY_AUTH_FILE!, '{}');
    const host = new URL(berth.url).host;
    const push = ['copy', '--retry-times', '5', '--dest-tls-verify=false', '--dest-creds', 'admin:Admin-Passw0rd', `oci:${layout.dir}:v1`, `docker://${host}/pg/skopeo:v1`];
    const copy = tools.skopeo(push).catch(async (err: Error) => {
      // A read or a transaction that was running as the connection dropped runs again on a new
      // one (pg-reconnect.ts, transaction.ts); a write alone does not (the server may have
      // committed it), and its request is answered 503. skopeo does not retry that when it was its
      // token request or its check for a blob it may reuse: it gives up the copy, which is run again,
      // as a user would, and must then complete. Not seen in 5 runs on Node.js 24 with the reads run
      // again (2 of 3 gave up before).
      if (!/trying to reuse blob [^\n]*503/.test(err.message)) throw err;
      console.warn('skopeo gave up on a request that failed with the connection; copying again');
      return tools.skopeo(push);
    });
    // Down for 2 s from shortly after the copy started, then back.
    await new Promise((r) => setTimeout(r, 150));
    await proxy.cut();
    await new Promise((r) => setTimeout(r, 2000));
    await proxy.start();
    await copy;
    // Some of skopeo's requests arrived while the database was down and were answered after it came back.
    const waited = berth.logs
      .filter((line) => line.includes('"message":"request"'))
      .map((line) => JSON.parse(line) as { url: { path: string }; event: { duration: number }; http: { response: { status_code: number } } })
      .filter((entry) => (entry.url.path.startsWith('/v2/pg/skopeo/') || entry.url.path === '/service/token') && entry.event.duration > 1e9);
    expect(waited.length).toBeGreaterThan(0);
    expect(waited.every((entry) => entry.http.response.status_code < 500)).toBe(true);
    const out = join(work, 'out');
    await tools.skopeo(['copy', '--src-tls-verify=false', '--src-creds', 'admin:Admin-Passw0rd', `docker://${host}/pg/skopeo:v1`, `oci:${out}:v1`]);
    const pushed = layout.images[0]!;
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    expect(index.manifests[0]!.digest).toBe(pushed.manifestDigest);
    const layer = await readFile(join(out, 'blobs', 'sha256', pushed.layerDigest.slice(7)));
    expect(`sha256:${createHash('sha256').update(layer).digest('hex')}`).toBe(pushed.layerDigest);
    expect(await checkConsistency(berth)).toEqual({ problems: [] });
  });
});

describe('slow clients', () => {
  let berth: BerthProcess;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-loris-'));
    berth = await spawnBerth(['--port', '0', '--data-dir', dir], {
      BERTH_SERVER_HEADERS_TIMEOUT_MS: '2000',
      BERTH_SERVER_IDLE_TIMEOUT_MS: '3000',
    });
    await new RegistryClient(berth.url).pushImage('library/app', 'v1');
  }, 60_000);
  afterAll(async () => {
    berth?.proc.kill('SIGKILL');
    await berth?.exited;
    await rm(dir, { recursive: true, force: true });
  });

  it('answers others promptly while 400 clients trickle headers and 100 stall mid-body, then drops the slow ones', async () => {
    const trickling = await Promise.all(Array.from({ length: 400 }, () => open(berth.port)));
    const stalling = await Promise.all(Array.from({ length: 100 }, () => open(berth.port)));
    for (const { socket } of trickling) socket.write('GET /v2/ HTTP/1.1\r\nHost: berth\r\n');
    for (const { socket } of stalling) socket.write('POST /api/v1/auth/login HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"user');
    const drip = setInterval(() => {
      for (const { socket } of trickling) if (!socket.destroyed) socket.write('X-Slow: 1\r\n');
    }, 300);
    try {
      // The first request waits while Berth takes in the 500 connections' first bytes at once
      // (25-85 ms here alone on Node.js 24, 258 ms once in CI beside other tests); the 40 after
      // it are answered while the trickle goes on.
      const first = performance.now();
      expect((await once(`${berth.url}/v2/library/app/manifests/v1`, { headers: { Accept: OCI_MANIFEST } })).status).toBe(200);
      expect(performance.now() - first).toBeLessThan(2000);
      const latencies: number[] = [];
      for (let i = 0; i < 40; i++) {
        const started = performance.now();
        const res = await once(`${berth.url}/v2/library/app/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
        latencies.push(performance.now() - started);
        expect(res.status).toBe(200);
      }
      latencies.sort((a, b) => a - b);
      expect(latencies.at(-1)!, `slowest of 40: ${latencies.slice(-3).map((l) => l.toFixed(1)).join(', ')} ms`).toBeLessThan(250);

      // headersTimeout (2 s, checked each second) ends the tricklers with 408; idleTimeout (3 s) the stalled bodies.
      const deadline = Date.now() + 8000;
      while ([...trickling, ...stalling].some((c) => c.closedAt() === undefined) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(trickling.filter((c) => c.closedAt() !== undefined)).toHaveLength(400);
      expect(stalling.filter((c) => c.closedAt() !== undefined)).toHaveLength(100);
      expect(trickling.filter((c) => c.received().startsWith('HTTP/1.1 408 Request Timeout'))).toHaveLength(400);
      expect(Math.max(...trickling.map((c) => c.closedAt()! - c.openedAt))).toBeLessThan(5000);
    } finally {
      clearInterval(drip);
      for (const { socket } of [...trickling, ...stalling]) socket.destroy();
    }
  });
});

describe('a burst of connections', () => {
  let berth: BerthProcess;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-burst-'));
    // The default header timeout (20 s): the connections it holds stay held for the whole test.
    berth = await spawnBerth(['--port', '0', '--data-dir', dir], { BERTH_SERVER_MAX_CONNECTIONS: '1000' });
    await new RegistryClient(berth.url).pushImage('library/app', 'v1');
  }, 60_000);
  afterAll(async () => {
    berth?.proc.kill('SIGKILL');
    await berth?.exited;
    await rm(dir, { recursive: true, force: true });
  });

  it('closes a burst of 10,000 connections beyond its limit at once, keeps serving, and recovers', async (ctx) => {
    const { stdout } = await exec('sh', ['-c', 'ulimit -n']);
    if (Number(stdout.trim()) < 11_000) {
      console.warn(`SKIPPING the 10,000-connection burst: this process may open ${stdout.trim()} files (ulimit -n)`);
      ctx.skip();
    }
    // The kernel queues this many handshaken connections until Berth accepts them. Node's default
    // of 511 overflowed here under a loaded machine: some of the burst then waited for a SYN-ACK
    // resent 7 s later before Berth saw them (src/server.ts, listenBacklog).
    const somaxconn = Number((await readFile('/proc/sys/net/core/somaxconn', 'utf8')).trim());
    if (await exec('sh', ['-c', 'command -v ss']).then(() => true, () => false)) expect(await listenBacklogOf(berth.port)).toBe(Math.min(4096, somaxconn));
    else console.warn('NOT CHECKED: the listening socket\'s backlog (ss, from Debian\'s iproute2, is not installed)');
    const before = await memoryOf(berth.pid);
    const burst: Array<Awaited<ReturnType<typeof open>>> = [];
    for (let i = 0; i < 10; i++) burst.push(...(await Promise.all(Array.from({ length: 1000 }, () => open(berth.port)))));
    // The closes arrive as the server accepts; on a machine busy with other suites that takes longer than on an idle one
    // (once, 59 connections were still in the kernel's accept queue after 3 s, with the whole suite running).
    const settle = Date.now() + 6000;
    do await new Promise((r) => setTimeout(r, 250));
    while (burst.filter((c) => c.closedAt() === undefined).length > 1000 && Date.now() < settle);
    const closed = burst.filter((c) => c.closedAt() !== undefined);
    const open_ = burst.length - closed.length;
    // At most 1000 held; the rest closed at once, none answered with anything but a close.
    expect(open_).toBeLessThanOrEqual(1000);
    expect(closed.length).toBeGreaterThanOrEqual(9000);
    expect(closed.filter((c) => c.received() !== '')).toHaveLength(0);
    expect(Math.max(...closed.map((c) => c.closedAt()! - c.openedAt))).toBeLessThan(2000);
    const during = await memoryOf(berth.pid);
    for (const { socket } of burst) socket.destroy();
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 20; i++) expect((await once(`${berth.url}/v2/library/app/manifests/v1`, { headers: { Accept: OCI_MANIFEST } })).status).toBe(200);
    expect(during.rss - before.rss).toBeLessThan(64 * MiB);
    console.log(`10,000-connection burst: ${open_} held, ${closed.length} closed at once; RSS ${(before.rss / MiB).toFixed(1)} -> ${(during.rss / MiB).toFixed(1)} MiB`);
  }, 60_000);
});

describe('a worker crashing under load', () => {
  let berth: BerthProcess;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-crash-'));
    berth = await spawnBerth(['--port', '0', '--data-dir', dir, '--workers', '2']);
  }, 60_000);
  afterAll(async () => {
    berth?.proc.kill('SIGTERM');
    await berth?.exited;
    await rm(dir, { recursive: true, force: true });
  });

  const workers = async () => (await readFile(`/proc/${berth.pid}/task/${berth.pid}/children`, 'utf8')).trim().split(/\s+/).filter(Boolean).map(Number);

  it('is replaced; only requests in flight on it fail, and every completed push pulls byte for byte', async () => {
    const auth = { Authorization: `Basic ${Buffer.from('admin:Admin-Passw0rd').toString('base64')}` };
    const pushed: Array<{ name: string; manifest: Buffer; blobs: Array<{ digest: string; data: Buffer }> }> = [];
    const failures: string[] = [];
    const stopAt = Date.now() + 5000;
    const crashAt = Date.now() + 1500;
    const [victim] = await workers();
    let killed = false;

    const loop = async (id: number) => {
      for (let n = 0; Date.now() < stopAt; n++) {
        const image = randomImage(1, 64 * 1024);
        const name = `crash/w${id}`;
        try {
          for (const blob of [image.config, ...image.layers]) {
            const res = await once(`${berth.url}/v2/${name}/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/octet-stream' }, body: blob.data });
            if (res.status !== 201) throw new Error(`blob ${res.status}`);
          }
          const res = await once(`${berth.url}/v2/${name}/manifests/t${n}`, { method: 'PUT', headers: { ...auth, 'Content-Type': OCI_MANIFEST }, body: image.manifest });
          if (res.status !== 201) throw new Error(`manifest ${res.status}`);
          pushed.push({ name: `${name}:t${n}`, manifest: image.manifest, blobs: [image.config, ...image.layers] });
        } catch (err) {
          failures.push(`${id}/${n}: ${(err as Error).message}`);
        }
        if (!killed && Date.now() >= crashAt) {
          killed = true;
          process.kill(victim!, 'SIGKILL');
        }
      }
    };
    await Promise.all([0, 1, 2, 3].map(loop));
    expect(killed).toBe(true);
    // Four clients, one request each in flight at most: at most four could have been on the worker that died.
    // The server's errors beside them (a 500 from a surviving worker was seen once on Node.js 24 under load).
    const errors = berth.output.join('').split('\n').filter((l) => /"level":(50|60)/.test(l)).slice(-10);
    expect(failures.length, [...failures, ...errors].join('\n')).toBeLessThanOrEqual(4);
    expect(pushed.length).toBeGreaterThan(20);

    const now = await workers();
    expect(now).toHaveLength(2);
    expect(now).not.toContain(victim);
    expect(berth.output.join('')).toContain('worker died; starting a new one');

    for (const image of pushed) {
      const [name, tag] = image.name.split(':') as [string, string];
      const manifest = await once(`${berth.url}/v2/${name}/manifests/${tag}`, { headers: { ...auth, Accept: OCI_MANIFEST } });
      expect(manifest.body.equals(image.manifest), image.name).toBe(true);
      for (const blob of image.blobs) {
        const got = await once(`${berth.url}/v2/${name}/blobs/${blob.digest}`, { headers: auth });
        expect(got.body.equals(blob.data), `${image.name} ${blob.digest}`).toBe(true);
      }
    }
  }, 60_000);
});
