import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { createTempDatabase, pgUnavailableReason, type TempDatabase } from '../helpers/pg.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { RegistryClient, errorCode, randomBlob, randomImage } from '../helpers/oci.js';

const exec = promisify(execFile);

/** Mounts a small tmpfs to fill up; resolves the reason it cannot when not root or not allowed. */
async function mountTmpfs(dir: string, size: string): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  try {
    await exec('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
    return undefined;
  } catch (err) {
    return `cannot mount tmpfs: ${(err as Error).message.split('\n')[0]}`;
  }
}

describe('a full disk', () => {
  let berth: TestBerth;
  let storage: string;
  let skip: string | undefined;

  beforeAll(async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'berth-full-'));
    storage = join(dataDir, 'storage');
    await mkdir(storage);
    skip = await mountTmpfs(storage, '12m');
    if (skip) console.warn(`SKIPPING disk-full test: ${skip}`);
    berth = await startTestBerth({ dataDir });
  });
  afterAll(async () => {
    await berth?.stop();
    if (!skip) await exec('umount', [storage]).catch(() => undefined);
    await rm(berth.dataDir, { recursive: true, force: true });
  });

  it('answers 507 INSUFFICIENT_STORAGE, rolls the upload back, keeps stored blobs, and recovers when space returns', async (ctx) => {
    if (skip) ctx.skip();
    const client = new RegistryClient(berth.url);
    const kept = await client.pushImage('full/kept', 'v1', randomImage(1, 4 * 1024 * 1024));

    const big = randomBlob(10 * 1024 * 1024);
    const location = await client.startUpload('full/big');
    const res = await client.fetch(location, { method: 'PATCH', body: big.data });
    expect(res.status).toBe(507);
    expect(await errorCode(res)).toBe('INSUFFICIENT_STORAGE');
    // The chunk was cut back: the session is where it was, and holds no bytes on disk.
    const status = await client.fetch(location);
    expect(status.headers.get('range')).toBe('0-0');

    for (const blob of [kept.config, ...kept.layers]) {
      const get = await client.fetch(`/v2/full/kept/blobs/${blob.digest}`);
      expect(Buffer.from(await get.arrayBuffer()).equals(blob.data)).toBe(true);
    }
    // Space comes back once the failed session is cancelled; a smaller push then works.
    expect((await client.fetch(location, { method: 'DELETE' })).status).toBe(204);
    expect(await readdir(join(storage, 'uploads'))).toEqual([]);
    const small = randomBlob(1024 * 1024);
    expect((await client.pushBlob('full/small', small)).status).toBe(201);
  });
});

const pgSkip = await pgUnavailableReason();
if (pgSkip) console.warn(`SKIPPING database-restart test: ${pgSkip}`);

describe.skipIf(pgSkip !== undefined)(`the database going away${pgSkip ? ` (skipped: ${pgSkip})` : ''}`, () => {
  let berth: TestBerth;
  let database: TempDatabase;
  let proxy: TcpProxy;

  beforeAll(async () => {
    database = await createTempDatabase();
    const target = new URL(database.url);
    proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    await proxy.start();
    target.host = `127.0.0.1:${proxy.port}`;
    // Requests give up waiting for the database after 300 ms (the default waits out a 10 s restart).
    berth = await startTestBerth({ databaseUrl: target.toString(), settings: { 'database.connectRetryMs': 300 } });
  });
  afterAll(async () => {
    await berth?.stop();
    await proxy?.cut();
    await database?.drop();
  });

  it('answers 503 with Retry-After while PostgreSQL is down and serves again when it is back, without a restart', async () => {
    const client = new RegistryClient(berth.url);
    const image = await client.pushImage('db/restart', 'v1');
    const pull = () => client.fetch('/v2/db/restart/manifests/v1', { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });

    await proxy.cut();
    for (const attempt of [pull, () => client.pushBlob('db/restart', randomBlob(100))]) {
      const res = await attempt();
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(await errorCode(res)).toBe('UNAVAILABLE');
    }
    const ready = await client.fetch('/readyz');
    expect(ready.status).toBe(503);

    await proxy.start();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await pull()).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    expect(Buffer.from(await (await pull()).arrayBuffer()).equals(image.manifest)).toBe(true);
    expect((await client.fetch('/readyz')).status).toBe(200);
    expect((await client.pushImage('db/restart', 'v2')).digest).toMatch(/^sha256:/);
  });
});
