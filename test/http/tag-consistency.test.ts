import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { engineMatrix, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { createTempDatabase, pgUnavailableReason, type TempDatabase } from '../helpers/pg.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { PgInvalidationBus } from '../../src/adapters/bus/pg-invalidation-bus.js';
import { connect, type Database } from '../../src/adapters/db/connect.js';
import { OCI_MANIFEST, RegistryClient, errorCode, randomImage } from '../helpers/oci.js';

const engines = await engineMatrix();

/**
 * Tag lookups and tag lists are cached per instance. Two instances on one database must still
 * agree at once after every tag change: a client pushes through one and pulls through the
 * other, as behind a round-robin load balancer.
 */
for (const { engine, skip } of engines) {
  describe.skipIf(skip !== undefined)(`tags seen across instances, ${engine}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let a: TestBerth;
    let b: TestBerth;
    let dataDir: string;
    let database: TempDatabase | undefined;

    beforeAll(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'berth-tags-'));
      if (engine === 'postgres') database = await createTempDatabase();
      a = await startTestBerth({ dataDir, databaseUrl: database?.url });
      b = await startTestBerth({ dataDir, databaseUrl: database?.url });
    });
    afterAll(async () => {
      await a?.stop();
      await b?.stop();
      await database?.drop();
      await rm(dataDir, { recursive: true, force: true });
    });

    const digestOf = async (client: RegistryClient, tag: string) => {
      const res = await client.fetch(`/v2/shared/app/manifests/${tag}`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } });
      return res.status === 200 ? res.headers.get('docker-content-digest') : res.status;
    };
    const tagsOf = async (client: RegistryClient) => ((await (await client.fetch('/v2/shared/app/tags/list')).json()) as { tags: string[] }).tags;

    it('serves every tag change made on one instance from the other at once', async () => {
      const onA = new RegistryClient(a.url);
      const onB = new RegistryClient(b.url);
      const first = await onA.pushImage('shared/app', 'latest');
      // B reads (and caches) the tag and the list.
      expect(await digestOf(onB, 'latest')).toBe(first.digest);
      expect(await tagsOf(onB)).toEqual(['latest']);

      // The tag moves and another appears, on A.
      const second = await onA.pushImage('shared/app', 'latest', randomImage());
      expect((await onA.pushManifest('shared/app', 'next', second.manifest)).status).toBe(201);
      expect(await digestOf(onB, 'latest')).toBe(second.digest);
      expect(await tagsOf(onB)).toEqual(['latest', 'next']);

      // A tag deleted on A is gone from B's list.
      expect((await onA.fetch('/v2/shared/app/manifests/next', { method: 'DELETE' })).status).toBe(202);
      expect(await tagsOf(onB)).toEqual(['latest']);
      expect(await digestOf(onB, 'next')).toBe(404);

      // The manifest deleted on A: its tag no longer resolves on B.
      expect((await onA.fetch(`/v2/shared/app/manifests/${second.digest}`, { method: 'DELETE' })).status).toBe(202);
      const gone = await onB.fetch('/v2/shared/app/manifests/latest', { headers: { Accept: OCI_MANIFEST } });
      expect(gone.status).toBe(404);
      expect(await errorCode(gone)).toBe('MANIFEST_UNKNOWN');
      expect(await tagsOf(onB)).toEqual([]);
      // And the first image, still stored by digest, can be tagged again through B.
      expect((await onB.pushManifest('shared/app', 'latest', first.manifest)).status).toBe(201);
      expect(await digestOf(onA, 'latest')).toBe(first.digest);
    });
  });
}

const pgSkip = await pgUnavailableReason();

/**
 * The same promise when the message telling B is slow: B's listening connection gets every
 * byte 200 ms late, so B would serve what it cached if A answered before B applied the change.
 */
describe.skipIf(pgSkip !== undefined)(`tags seen across instances whose invalidation connection lags${pgSkip ? ` (skipped: ${pgSkip})` : ''}`, () => {
  let a: TestBerth;
  let b: TestBerth;
  let dataDir: string;
  let database: TempDatabase;
  let proxy: TcpProxy;
  let busPool: Database;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-tags-lag-'));
    database = await createTempDatabase();
    const target = new URL(database.url);
    proxy = new TcpProxy(target.hostname, Number(target.port));
    await proxy.start();
    const slowUrl = new URL(database.url);
    slowUrl.port = String(proxy.port);
    a = await startTestBerth({ dataDir, databaseUrl: database.url });
    busPool = connect({ url: database.url, poolSize: 2 });
    const slowBus = new PgInvalidationBus({ url: slowUrl.toString(), db: busPool.db });
    await slowBus.start();
    b = await startTestBerth({ dataDir, databaseUrl: database.url, invalidationBus: slowBus });
    proxy.serverToClientDelayMs = 200;
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await busPool?.db.destroy();
    await proxy?.cut();
    await database?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('serves each tag move and delete made on A from B at once', async () => {
    const onA = new RegistryClient(a.url);
    const onB = new RegistryClient(b.url);
    const digestOnB = async (tag: string) => {
      const res = await onB.fetch(`/v2/lagging/app/manifests/${tag}`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } });
      return res.status === 200 ? res.headers.get('docker-content-digest') : res.status;
    };
    const tagsOnB = async () => ((await (await onB.fetch('/v2/lagging/app/tags/list')).json()) as { tags: string[] }).tags;
    let current = await onA.pushImage('lagging/app', 'latest');
    // B's first read sends it a probe; once that is back (200 ms), B trusts and fills its cache.
    expect(await digestOnB('latest')).toBe(current.digest);
    await new Promise((r) => setTimeout(r, 500));
    expect(b.invalidation.fresh()).toBe(true);
    expect(await digestOnB('latest')).toBe(current.digest);
    for (let round = 0; round < 3; round++) {
      const next = await onA.pushImage('lagging/app', 'latest', randomImage());
      expect(next.digest).not.toBe(current.digest);
      expect(await digestOnB('latest')).toBe(next.digest);
      expect((await onA.pushManifest('lagging/app', `v${round}`, next.manifest)).status).toBe(201);
      expect(await tagsOnB()).toContain(`v${round}`);
      expect((await onA.fetch(`/v2/lagging/app/manifests/v${round}`, { method: 'DELETE' })).status).toBe(202);
      expect(await digestOnB(`v${round}`)).toBe(404);
      current = next;
    }
    expect(await tagsOnB()).toEqual(['latest']);
    // Nothing waited for the bound: every change was confirmed by B.
    expect(a.logs.join('')).not.toContain('did not confirm');
  });
});
