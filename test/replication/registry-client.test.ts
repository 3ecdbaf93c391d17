import { existsSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDistribution, type RunningSystem } from '../../bench/systems.js';
import { OutboundClient } from '../../src/adapters/outbound/outbound-client.js';
import { RegistryClient as UpstreamClient } from '../../src/adapters/upstream/registry-client.js';
import { parseChallenge } from '../../src/adapters/upstream/challenge.js';
import { parseCidr } from '../../src/domain/address-ranges.js';
import { UpstreamError } from '../../src/ports/upstream-registry.js';
import { ApiClient } from '../helpers/api.js';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { OCI_MANIFEST, RegistryClient, imageManifest, jsonBlob, randomBlob, randomImage, sha256 } from '../helpers/oci.js';

const loopback = [parseCidr('127.0.0.0/8')!, parseCidr('::1/128')!];
const outbound = (allowLoopback = true) =>
  new OutboundClient({ allowed: () => (allowLoopback ? loopback : []), timeoutMs: 5000, maxResponseBytes: 1024 * 1024, maxRedirects: 5, userAgent: 'Berth-test' });
const client = (url: string, credentials?: { username: string; secret: string }, allowLoopback = true) =>
  new UpstreamClient({ outbound: outbound(allowLoopback), feature: 'replication', url, credentials, maxManifestBytes: 4 * 1024 * 1024 });

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UpstreamError);
  return err as UpstreamError;
}

async function streamed(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('WWW-Authenticate challenges', () => {
  it('reads Bearer and Basic challenges as registries send them', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).toEqual({
      scheme: 'bearer',
      realm: 'https://auth.docker.io/token',
      service: 'registry.docker.io',
      scope: 'repository:library/alpine:pull',
    });
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({ scheme: 'basic', realm: 'Registry Realm' });
    expect(parseChallenge('bearer realm=https://ghcr.io/token, service=ghcr.io')).toEqual({ scheme: 'bearer', realm: 'https://ghcr.io/token', service: 'ghcr.io', scope: undefined });
    // A realm that is not an http(s) URL cannot be asked for a token.
    expect(parseChallenge('Bearer realm="file:///etc/passwd"')).toBeUndefined();
    expect(parseChallenge('Negotiate abc')).toBeUndefined();
    expect(parseChallenge(undefined)).toBeUndefined();
  });
});

describe('the upstream client against Berth (Docker token authentication)', () => {
  let berth: TestBerth;

  beforeAll(async () => {
    berth = await startTestBerth();
    const admin = new ApiClient(berth.url);
    await admin.createProject('team', false);
    await admin.createUser('reader', 'Reader-Passw0rd');
    await admin.addMember('team', 'reader', 'guest');
  });
  afterAll(async () => {
    await berth?.stop();
  });

  it('pushes an image, mounts a blob and reads everything back with a token per scope', async () => {
    const upstream = client(berth.url, { username: 'admin', secret: 'Admin-Passw0rd' });
    await upstream.ping();
    const image = randomImage(2, 4096);
    for (const blob of [image.config, ...image.layers]) {
      expect(await upstream.hasBlob('team/app', blob.digest)).toBe(false);
      await upstream.putBlob('team/app', blob.digest, blob.data.length, Readable.from([blob.data]));
      expect(await upstream.hasBlob('team/app', blob.digest)).toBe(true);
    }
    await upstream.putManifest('team/app', 'v1', { mediaType: OCI_MANIFEST, body: image.manifest });
    expect(await upstream.headManifest('team/app', 'v1')).toEqual({ digest: image.digest, mediaType: OCI_MANIFEST, size: image.manifest.length });
    const manifest = await upstream.getManifest('team/app', image.digest);
    expect(manifest).toEqual({ digest: image.digest, mediaType: OCI_MANIFEST, body: image.manifest });
    const blob = await upstream.getBlob('team/app', image.layers[0]!.digest);
    expect(blob!.size).toBe(4096);
    expect(sha256(await streamed(blob!.body))).toBe(image.layers[0]!.digest);
    expect(await upstream.mountBlob('team/other', image.layers[1]!.digest, 'team/app')).toBe(true);
    expect(await upstream.hasBlob('team/other', image.layers[1]!.digest)).toBe(true);
    // Not in the source: the session the registry opened instead is ended, and false says "upload it".
    expect(await upstream.mountBlob('team/other', randomBlob().digest, 'team/app')).toBe(false);
    expect(await upstream.getManifest('team/app', 'missing')).toBeUndefined();
    expect(await upstream.getBlob('team/app', randomBlob().digest)).toBeUndefined();
  });

  it('lists every tag over pages, and the referrers of a manifest', async () => {
    const upstream = client(berth.url, { username: 'admin', secret: 'Admin-Passw0rd' });
    const pusher = new RegistryClient(berth.url);
    const image = await pusher.pushImage('team/tags', 't0');
    const names = Array.from({ length: 1203 }, (_v, i) => `t${i}`);
    // 1,203 tags: two pages of 1,000 and the rest (the client asks for n=1000).
    for (const name of names.slice(1)) expect((await pusher.pushManifest('team/tags', name, image.manifest)).status).toBe(201);
    expect((await upstream.listTags('team/tags')).sort()).toEqual([...names].sort());
    const config = jsonBlob({});
    const signature = imageManifest(config, [], { artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', subject: { mediaType: OCI_MANIFEST, digest: image.digest, size: image.manifest.length } });
    expect((await pusher.pushBlob('team/tags', config)).status).toBe(201);
    expect((await pusher.pushManifest('team/tags', sha256(signature), signature)).status).toBe(201);
    expect(await upstream.referrers('team/tags', image.digest)).toEqual([{ digest: sha256(signature), mediaType: OCI_MANIFEST, size: signature.length }]);
  });

  it('says what is wrong: credentials, permission, and an address the policy refuses', async () => {
    const wrong = await failure(client(berth.url, { username: 'admin', secret: 'wrong' }).ping());
    expect(wrong.failure).toBe('unauthorized');
    expect(wrong.message).not.toContain('wrong');
    // A guest may pull but not push.
    const reader = client(berth.url, { username: 'reader', secret: 'Reader-Passw0rd' });
    const image = await new RegistryClient(berth.url).pushImage('team/read', 'v1');
    expect((await reader.getManifest('team/read', 'v1'))!.digest).toBe(image.digest);
    const denied = await failure(reader.putManifest('team/read', 'v2', { mediaType: OCI_MANIFEST, body: image.manifest }));
    expect(['unauthorized', 'forbidden']).toContain(denied.failure);
    const blocked = await failure(client(berth.url, undefined, false).ping());
    expect(blocked.failure).toBe('blocked');
    expect(blocked.message).toMatch(/^blocked by policy: 127\.0\.0\.1 is a loopback address.*outbound\.replication\.allowCidrs/);
  });
});

describe('the upstream client on failures of the network and the registry', () => {
  let server: Server;
  let url: string;
  const answers: Array<(res: ServerResponse) => void> = [];

  beforeAll(async () => {
    server = createServer((_req, res) => (answers.shift() ?? ((r) => r.writeHead(500).end()))(res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('names a rate limit with its Retry-After, a failing registry, a URL that is not a registry', async () => {
    answers.push((res) => res.writeHead(429, { 'retry-after': '42' }).end());
    const limited = await failure(client(url).getManifest('library/alpine', 'latest'));
    expect([limited.failure, limited.status, limited.retryAfterSeconds]).toEqual(['rate-limited', 429, 42]);
    answers.push((res) => res.writeHead(503).end());
    expect((await failure(client(url).hasBlob('a/b', randomBlob().digest))).failure).toBe('unavailable');
    answers.push((res) => res.writeHead(404).end('not here'));
    const notFound = await failure(client(url).ping());
    expect(notFound.failure).toBe('not-found');
    expect(notFound.message).toMatch(/is the URL a registry's/);
  });

  it('names DNS, refused connections and TLS', async () => {
    expect((await failure(client('http://no-such-registry.invalid').ping())).failure).toBe('dns');
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect((await failure(client(`http://127.0.0.1:${port}`).ping())).failure).toBe('connect');
    // https to a port that speaks plain HTTP.
    const tls = await failure(client(url.replace('http:', 'https:')).ping());
    expect(tls.failure).toBe('tls');
  });
});

const distributionMissing = !existsSync('/usr/bin/docker-registry');
if (distributionMissing) console.warn('SKIPPED: CNCF distribution (Debian docker-registry) is not installed; the upstream client is not checked against it');

describe.skipIf(distributionMissing)('the upstream client against CNCF distribution (no referrers API)', () => {
  let distribution: RunningSystem;

  beforeAll(async () => {
    distribution = await startDistribution();
  });
  afterAll(async () => {
    await distribution?.stop();
  });

  it('copies an image in and finds referrers through the tag schema', async () => {
    const upstream = client(distribution.url);
    await upstream.ping();
    const image = randomImage(1, 1024);
    for (const blob of [image.config, ...image.layers]) await upstream.putBlob('lib/app', blob.digest, blob.data.length, Readable.from([blob.data]));
    await upstream.putManifest('lib/app', 'v1', { mediaType: OCI_MANIFEST, body: image.manifest });
    expect((await upstream.headManifest('lib/app', 'v1'))!.digest).toBe(image.digest);
    expect(await upstream.listTags('lib/app')).toEqual(['v1']);
    expect(await upstream.referrers('lib/app', image.digest)).toEqual([]);
    // OCI 1.1's fallback: an index tagged sha256-<hex> lists the referrers.
    const config = jsonBlob({});
    await upstream.putBlob('lib/app', config.digest, config.data.length, Readable.from([config.data]));
    const body = imageManifest(config, [], { artifactType: 'application/spdx+json', subject: { mediaType: OCI_MANIFEST, digest: image.digest, size: image.manifest.length } });
    await upstream.putManifest('lib/app', sha256(body), { mediaType: OCI_MANIFEST, body });
    const sbom = { mediaType: OCI_MANIFEST, digest: sha256(body), size: body.length };
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [sbom] }));
    await upstream.putManifest('lib/app', image.digest.replace(':', '-'), { mediaType: 'application/vnd.oci.image.index.v1+json', body: index });
    expect(await upstream.referrers('lib/app', image.digest)).toEqual([sbom]);
  });
});
