import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDistribution, type RunningSystem } from '../../bench/systems.js';
import { connect } from '../../src/adapters/db/connect.js';
import { ApiClient } from '../helpers/api.js';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { OCI_MANIFEST, RegistryClient, randomImage, sha256, type Image } from '../helpers/oci.js';
import { LoggingRelay as Upstream, pushTo } from '../helpers/upstream-relay.js';
import { until } from '../helpers/wait.js';

const distributionMissing = !existsSync('/usr/bin/docker-registry');
if (distributionMissing) console.warn('SKIPPED: CNCF distribution (Debian docker-registry) is not installed; the proxy cache is not checked against it');

describe.skipIf(distributionMissing)('a proxy-cache project in front of CNCF distribution', () => {
  let distribution: RunningSystem;
  let upstream: Upstream;
  let berth: TestBerth;
  let api: ApiClient;
  let image: Image;
  const client = () => new RegistryClient(berth.url);

  async function pull(tag: string, expected: Image): Promise<void> {
    const manifest = await client().fetch(`/v2/hub/lib/app/manifests/${tag}`, { headers: { Accept: OCI_MANIFEST } });
    expect(manifest.status, `${await manifest.clone().text()}; failed fills: ${JSON.stringify(fillFailures())}`).toBe(200);
    expect(sha256(Buffer.from(await manifest.arrayBuffer()))).toBe(expected.digest);
    for (const blob of [expected.config, ...expected.layers]) {
      const res = await client().fetch(`/v2/hub/lib/app/blobs/${blob.digest}`);
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(blob.digest);
    }
  }

  /** Whether the blob is in Berth's own storage (the metadata says so), not only on its way. */
  async function berthHasBlob(digest: string): Promise<boolean> {
    const database = connect({ url: berth.config.database.url, poolSize: 1 });
    try {
      return (await database.db.selectFrom('blob').select('digest').where('digest', '=', digest).executeTakeFirst()) !== undefined;
    } finally {
      await database.db.destroy();
    }
  }

  /** Whether Berth's own metadata has `repository:tag` naming `digest` (stored, not only being served from upstream). */
  async function berthHasTag(repository: string, tag: string, digest: string): Promise<boolean> {
    const database = connect({ url: berth.config.database.url, poolSize: 1 });
    try {
      const row = await database.db
        .selectFrom('tag')
        .innerJoin('repository', 'repository.id', 'tag.repository_id')
        .select('tag.manifest_digest')
        .where('repository.name', '=', repository)
        .where('tag.name', '=', tag)
        .executeTakeFirst();
      return row?.manifest_digest === digest;
    } finally {
      await database.db.destroy();
    }
  }

  /** What Berth logged of fills that failed (each is fetched again on the next pull). */
  const fillFailures = () => berth.logs.filter((line) => line.includes('storing an image fetched from the upstream failed'));

  async function metric(outcome: string, failure = ''): Promise<number> {
    const text = await (await fetch(`${berth.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`berth_proxy_cache_requests_total{outcome="${outcome}",failure="${failure}"}`));
    return line ? Number(line.split(' ').pop()) : 0;
  }

  beforeAll(async () => {
    distribution = await startDistribution();
    upstream = new Upstream(distribution.url);
    await upstream.start();
    image = await pushTo(distribution.url, 'lib/app', 'v1', randomImage(2, 64 * 1024));
    berth = await startTestBerth({ settings: { 'outbound.proxyCache.allowCidrs': ['127.0.0.0/8'], 'outbound.replication.allowCidrs': ['127.0.0.0/8'] } });
    api = new ApiClient(berth.url);
    await api.createProject('hub');
    const endpoint = await api.ok<{ id: number }>('POST', '/registries', { name: 'dist', kind: 'oci', url: upstream.url });
    // Every pull checks the tag upstream (a HEAD), so the tests see revalidation at work.
    await api.ok('PUT', '/projects/hub/proxy-cache', { proxyCache: { endpointId: endpoint.id, ttlSeconds: 0 } });
  });
  afterAll(async () => {
    await berth?.stop();
    await upstream?.stop();
    await distribution?.stop();
  });

  it('fetches on first use and serves from here afterwards: no blob fetched twice', async () => {
    expect((await api.ok<{ proxyCache: unknown }>('GET', '/projects/hub/proxy-cache')).proxyCache).toEqual({ endpointId: expect.any(Number), ttlSeconds: 0 });
    await pull('v1', image);
    for (const blob of [image.config, ...image.layers]) expect(upstream.blobGets(blob.digest)).toBe(1);
    const before = upstream.log.length;
    await pull('v1', image);
    // Only the revalidating HEAD went upstream; the digest was unchanged.
    expect(upstream.log.slice(before)).toEqual(['HEAD /v2/lib/app/manifests/v1']);
    for (const blob of [image.config, ...image.layers]) expect(upstream.blobGets(blob.digest)).toBe(1);
    expect(await metric('fetched')).toBe(1);
    expect(await metric('revalidated')).toBeGreaterThanOrEqual(1);
  });

  it('refuses pushes: what a proxy-cache project holds comes from the upstream', async () => {
    const res = await client().pushBlob('hub/lib/app', randomImage(1, 10).layers[0]!);
    expect(res.status).toBe(403);
    expect(JSON.stringify(await res.json())).toMatch(/project hub is a proxy cache: .* pushes to it are refused/);
    const manifest = await client().pushManifest('hub/lib/app', 'mine', image.manifest);
    expect(manifest.status).toBe(403);
  });

  it('follows a tag that moved upstream', async () => {
    const moved = await pushTo(distribution.url, 'lib/app', 'v1', randomImage(1, 4096));
    await pull('v1', moved);
  });

  it('serves what it has while the upstream is down or limiting, and says why when it has nothing', async () => {
    const cached = await pushTo(distribution.url, 'lib/app', 'v2', randomImage(1, 4096));
    await pull('v2', cached);
    upstream.mode = 'down';
    await pull('v2', cached);
    expect(await metric('stale', 'connect')).toBeGreaterThanOrEqual(1);
    const missing = await client().fetch('/v2/hub/lib/app/manifests/v9', { headers: { Accept: OCI_MANIFEST } });
    expect(missing.status).toBe(503);
    expect(JSON.stringify(await missing.json())).toMatch(/cannot be reached and hub\/lib\/app:v9 is not cached/);

    upstream.mode = 'limited';
    await pull('v2', cached);
    expect(await metric('stale', 'rate-limited')).toBeGreaterThanOrEqual(1);
    const limited = await client().fetch('/v2/hub/lib/app/manifests/v9', { headers: { Accept: OCI_MANIFEST } });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('60');
    const { health } = await api.ok<{ health: { lastSuccessAt: string; lastFailure: { failure: string }; staleServed: number } }>('GET', '/projects/hub/proxy-cache');
    expect(health.lastFailure.failure).toBe('rate-limited');
    expect(health.staleServed).toBe(2);
    expect(Date.parse(health.lastSuccessAt)).toBeGreaterThan(0);
    upstream.mode = 'up';
  });

  it('fetches a new image once however many clients ask for it at once, streaming it to them as it arrives', async () => {
    const big = await pushTo(distribution.url, 'lib/app', 'big', randomImage(1, 16 * 1024 * 1024));
    const layer = big.layers[0]!;
    const results = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const res = await client().fetch('/v2/hub/lib/app/manifests/big', { headers: { Accept: OCI_MANIFEST } });
        const manifest = sha256(Buffer.from(await res.arrayBuffer()));
        const blob = await client().fetch(`/v2/hub/lib/app/blobs/${layer.digest}`);
        return [manifest, blob.headers.get('content-length'), sha256(Buffer.from(await blob.arrayBuffer()))];
      }),
    );
    expect(results).toEqual(Array.from({ length: 20 }, () => [big.digest, String(layer.data.length), layer.digest]));
    expect(upstream.blobGets(layer.digest)).toBe(1);
    // Stored meanwhile: later pulls come from here. A HEAD answers 200 while the image is still
    // being stored (served as fetched), so what counts is the tag in Berth's own metadata. Each
    // HEAD also starts the fill again, should one have failed.
    const deadline = Date.now() + 10_000;
    while (
      (await client().fetch('/v2/hub/lib/app/manifests/big', { method: 'HEAD', headers: { Accept: OCI_MANIFEST } })).status !== 200 ||
      !(await berthHasBlob(layer.digest)) ||
      !(await berthHasTag('hub/lib/app', 'big', big.digest))
    ) {
      if (Date.now() > deadline) throw new Error(`the image was not stored within 10 s; failed fills: ${JSON.stringify(fillFailures())}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // A fill that failed and was done again is no failure of this test, but it is worth seeing.
    if (fillFailures().length > 0) console.warn(`fills that failed before one stored the image: ${fillFailures().join('\n')}`);
    upstream.mode = 'down';
    try {
      await pull('big', big);
    } finally {
      upstream.mode = 'up';
    }
    expect(upstream.blobGets(layer.digest)).toBe(1);
  });

  it('serves an image whose storing ended while the upstream, down, was being asked', async () => {
    const late = await pushTo(distribution.url, 'lib/app', 'late', randomImage(1, 1024 * 1024));
    const layer = late.layers[0]!;
    let openLayer!: () => void;
    let drop!: () => void;
    upstream.gate = { digest: layer.digest, bytes: 1024, open: new Promise<void>((resolve) => (openLayer = resolve)) };
    try {
      // The first pull starts storing the image, which waits for the rest of its layer.
      const first = await client().fetch('/v2/hub/lib/app/manifests/late', { headers: { Accept: OCI_MANIFEST } });
      expect([first.status, sha256(Buffer.from(await first.arrayBuffer()))]).toEqual([200, late.digest]);
      await until(async () => upstream.blobGets(layer.digest) === 1 && (await berthHasBlob(late.config.digest)), 10_000, 'the fill at the layer');
      // The upstream goes down, slowly: the next pull's check hangs, and fails once the image is stored.
      upstream.dropAfter = new Promise<void>((resolve) => (drop = resolve));
      upstream.mode = 'down';
      const checks = upstream.log.length;
      const second = client().fetch('/v2/hub/lib/app/manifests/late', { headers: { Accept: OCI_MANIFEST } });
      await until(() => upstream.log.length > checks, 10_000, "the second pull's check upstream");
      openLayer();
      await until(() => berthHasTag('hub/lib/app', 'late', late.digest), 10_000, 'the image stored');
      // The fill is over (and forgotten) before the check fails.
      await new Promise((r) => setTimeout(r, 300));
      drop();
      const res = await second;
      expect([res.status, sha256(Buffer.from(await res.arrayBuffer()))]).toEqual([200, late.digest]);
    } finally {
      upstream.mode = 'up';
      upstream.dropAfter = undefined;
      upstream.gate = undefined;
      openLayer();
      drop?.();
    }
  });

  it('streams a new blob to the client as it arrives, before the upstream has sent all of it', async () => {
    const slow = await pushTo(distribution.url, 'lib/app', 'slow', randomImage(1, 8 * 1024 * 1024));
    const layer = slow.layers[0]!;
    let open!: () => void;
    upstream.gate = { digest: layer.digest, bytes: 1024 * 1024, open: new Promise<void>((resolve) => (open = resolve)) };
    try {
      const manifest = await client().fetch('/v2/hub/lib/app/manifests/slow', { headers: { Accept: OCI_MANIFEST } });
      expect(sha256(Buffer.from(await manifest.arrayBuffer()))).toBe(slow.digest);
      const blob = await client().fetch(`/v2/hub/lib/app/blobs/${layer.digest}`);
      expect(blob.headers.get('content-length')).toBe(String(layer.data.length));
      const reader = blob.body!.getReader();
      const received: Uint8Array[] = [];
      let bytes = 0;
      // The first MiB arrives while the upstream still holds the other 7.
      while (bytes < 1024 * 1024) {
        const { value, done } = await reader.read();
        if (done) break;
        received.push(value);
        bytes += value.length;
      }
      expect(bytes).toBe(1024 * 1024);
      expect(Buffer.concat(received).equals(layer.data.subarray(0, bytes))).toBe(true);
      open();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        received.push(value);
      }
      expect(sha256(Buffer.concat(received))).toBe(layer.digest);
    } finally {
      open();
      upstream.gate = undefined;
    }
    expect(upstream.blobGets(layer.digest)).toBe(1);
  });
});

describe('a proxy-cache project in front of a registry with token authentication (another Berth)', () => {
  let upstream: TestBerth;
  let berth: TestBerth;

  beforeAll(async () => {
    upstream = await startTestBerth();
    const upstreamApi = new ApiClient(upstream.url);
    await upstreamApi.createProject('team', false);
    await upstreamApi.createUser('reader', 'Reader-Passw0rd');
    await upstreamApi.addMember('team', 'reader', 'guest');
    berth = await startTestBerth({ settings: { 'outbound.proxyCache.allowCidrs': ['127.0.0.0/8'], 'outbound.replication.allowCidrs': ['127.0.0.0/8'] } });
  });
  afterAll(async () => {
    await berth?.stop();
    await upstream?.stop();
  });

  it('pulls a private image with the endpoint’s credentials, and is refused without them', async () => {
    const image = await new RegistryClient(upstream.url).pushImage('team/app', 'v1', randomImage(1, 8192));
    const api = new ApiClient(berth.url);
    await api.createProject('cache');
    await api.createProject('nocreds');
    const withCreds = await api.ok<{ id: number }>('POST', '/registries', { name: 'up', kind: 'berth', url: upstream.url, username: 'reader', secret: 'Reader-Passw0rd' });
    const anonymous = await api.ok<{ id: number }>('POST', '/registries', { name: 'up-anonymous', kind: 'berth', url: upstream.url });
    await api.ok('PUT', '/projects/cache/proxy-cache', { proxyCache: { endpointId: withCreds.id, ttlSeconds: 300 } });
    await api.ok('PUT', '/projects/nocreds/proxy-cache', { proxyCache: { endpointId: anonymous.id, ttlSeconds: 300 } });
    const local = new RegistryClient(berth.url);
    const res = await local.fetch('/v2/cache/team/app/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(image.digest);
    const layer = await local.fetch(`/v2/cache/team/app/blobs/${image.layers[0]!.digest}`);
    expect(sha256(Buffer.from(await layer.arrayBuffer()))).toBe(image.layers[0]!.digest);
    // Without credentials the upstream says 401; nothing is cached, and the client is told why.
    const refused = await local.fetch('/v2/nocreds/team/app/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
    expect(refused.status).toBe(503);
    expect(JSON.stringify(await refused.json())).toMatch(/refused the credentials \(401\)/);
  });
});
