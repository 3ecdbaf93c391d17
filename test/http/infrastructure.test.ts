import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { pgUnavailableReason } from '../helpers/pg.js';
import { proxiedDatabase, type TcpProxy } from '../helpers/tcp-proxy.js';
import { RegistryClient, errorCode, randomBlob } from '../helpers/oci.js';

// The disk filling up is in test/hardening/storage-full.test.ts (both engines, S3 too).

const pgSkip = await pgUnavailableReason();
if (pgSkip) console.warn(`SKIPPING database-restart test: ${pgSkip}`);

describe.skipIf(pgSkip !== undefined)(`the database going away${pgSkip ? ` (skipped: ${pgSkip})` : ''}`, () => {
  let berth: TestBerth;
  let database: Awaited<ReturnType<typeof proxiedDatabase>>;
  let proxy: TcpProxy;

  beforeAll(async () => {
    database = await proxiedDatabase();
    proxy = database.proxy;
    // Requests give up waiting for the database after 300 ms (the default waits out a 10 s restart).
    berth = await startTestBerth({ databaseUrl: database.url, settings: { 'database.connectRetryMs': 300 } });
  });
  afterAll(async () => {
    await berth?.stop();
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
