import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { expectServesBytes } from '../helpers/direct-url.js';
import { OCI_MANIFEST, RegistryClient, imageManifest, jsonBlob, randomBlob, type Blob } from '../helpers/oci.js';

/** What the registry suite needs to know of one object store (S3 bucket, Azure container). */
export interface ObjectStoreHarness {
  /** Berth settings (dotted keys) that put blobs under `prefix` in this store. */
  settings(prefix: string): Record<string, unknown>;
  /** The settings that switch redirects on with SAS/presign lifetime `expiresSeconds`. */
  redirectSettings(expiresSeconds: number): Record<string, unknown>;
  /** Every object name under `prefix/`, prefix included. */
  namesUnder(prefix: string): Promise<string[]>;
  /** Checks a redirect's Location: it points at the store and lives `expiresSeconds`. */
  expectRedirect(location: URL, expiresSeconds: number): void;
  /** A credential no log line may contain. */
  secret: string;
}

/** Pushes `blob` in PATCHes of `pieceSize` bytes with Content-Range, then PUT ?digest=. */
async function pushChunked(client: RegistryClient, name: string, blob: Blob, pieceSize: number): Promise<void> {
  const location = await client.startUpload(name);
  for (let offset = 0; offset < blob.data.length; offset += pieceSize) {
    const piece = blob.data.subarray(offset, offset + pieceSize);
    const patch = await client.fetch(location, {
      method: 'PATCH',
      body: piece,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + piece.length - 1}` },
    });
    expect(patch.status).toBe(202);
  }
  const put = await client.fetch(`${location}?digest=${blob.digest}`, { method: 'PUT' });
  expect(put.status).toBe(201);
}

async function pullBytes(client: RegistryClient, name: string, digest: string, init: RequestInit = {}): Promise<Buffer> {
  const res = await client.fetch(`/v2/${name}/blobs/${digest}`, init);
  expect(res.status).toBeLessThan(300);
  return Buffer.from(await res.arrayBuffer());
}

/**
 * Berth itself on an object store: the same push, pull, restart and redirect behaviour for every
 * driver that several instances can share (the e2e counterpart of blobstore.contract.ts).
 * `store()` is called when the tests run, after the test file started its server.
 */
export function objectStoreRegistrySuite(label: string, store: () => ObjectStoreHarness): void {
  describe('push and pull', () => {
    let berth: TestBerth;
    let client: RegistryClient;
    const prefix = `reg-${randomBytes(4).toString('hex')}`;

    beforeAll(async () => {
      berth = await startTestBerth({ settings: store().settings(prefix) });
      client = new RegistryClient(berth.url);
    });
    afterAll(async () => {
      await berth?.stop();
    });

    it('pushes a multi-layer image (monolithic and chunked uploads) and pulls it back byte for byte', async () => {
      const name = `library/${label}-image`;
      const config = jsonBlob({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') });
      const monolithic = randomBlob(300_000);
      const chunked = randomBlob(6 * 1024 * 1024 + 123);
      const streamed = randomBlob(50_000);
      expect((await client.pushBlob(name, config)).status).toBe(201);
      expect((await client.pushBlob(name, monolithic)).status).toBe(201);
      await pushChunked(client, name, chunked, 1024 * 1024);
      // POST, one PUT carrying the whole body.
      const location = await client.startUpload(name);
      const put = await client.fetch(`${location}?digest=${streamed.digest}`, { method: 'PUT', body: streamed.data, headers: { 'Content-Type': 'application/octet-stream' } });
      expect(put.status).toBe(201);

      const layers = [monolithic, chunked, streamed];
      const manifest = imageManifest(config, layers);
      expect((await client.pushManifest(name, 'v1', manifest)).status).toBe(201);

      const pulled = await client.fetch(`/v2/${name}/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
      expect(pulled.status).toBe(200);
      expect(Buffer.from(await pulled.arrayBuffer()).equals(manifest)).toBe(true);
      for (const blob of [config, ...layers]) {
        expect((await pullBytes(client, name, blob.digest)).equals(blob.data)).toBe(true);
      }
      const part = await client.fetch(`/v2/${name}/blobs/${chunked.digest}`, { headers: { Range: 'bytes=1048570-1048589' } });
      expect(part.status).toBe(206);
      expect(Buffer.from(await part.arrayBuffer()).equals(chunked.data.subarray(1048570, 1048590))).toBe(true);

      // Bytes are in the store under the prefix; the upload sessions are gone.
      const names = await store().namesUnder(prefix);
      expect(names.filter((k) => k.startsWith(`${prefix}/uploads/`))).toEqual([]);
      const hex = chunked.digest.slice('sha256:'.length);
      expect(names).toContain(`${prefix}/blobs/sha256/${hex.slice(0, 2)}/${hex}`);
    });

    it('reports readiness through the store', async () => {
      const ready = await client.fetch('/readyz');
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', checks: { storage: 'ok' } });
    });

    it('never logs the store credential', () => {
      expect(berth.logs.join('\n')).not.toContain(store().secret);
    });
  });

  it('continues an upload across a restart of Berth (same database, same store)', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), `berth-${label}-restart-`));
    const settings = store().settings(`restart-${randomBytes(4).toString('hex')}`);
    const name = 'library/resumed';
    const blob = randomBlob(3 * 1024 * 1024 + 7);
    const half = 2 * 1024 * 1024;
    let berth = await startTestBerth({ dataDir, settings });
    try {
      let client = new RegistryClient(berth.url);
      const location = await client.startUpload(name);
      const first = await client.fetch(location, {
        method: 'PATCH',
        body: blob.data.subarray(0, half),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${half - 1}` },
      });
      expect(first.status).toBe(202);
      await berth.stop();

      berth = await startTestBerth({ dataDir, settings });
      client = new RegistryClient(berth.url);
      const status = await client.fetch(location);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe(`0-${half - 1}`);
      const rest = await client.fetch(`${location}?digest=${blob.digest}`, {
        method: 'PUT',
        body: blob.data.subarray(half),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${half}-${blob.data.length - 1}` },
      });
      expect(rest.status).toBe(201);
      expect((await pullBytes(client, name, blob.digest)).equals(blob.data)).toBe(true);
    } finally {
      await berth.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  describe('with redirects enabled', () => {
    let berth: TestBerth;
    let client: RegistryClient;

    beforeAll(async () => {
      berth = await startTestBerth({ settings: { ...store().settings(`redirect-${randomBytes(4).toString('hex')}`), ...store().redirectSettings(120) } });
      client = new RegistryClient(berth.url);
    });
    afterAll(async () => {
      await berth?.stop();
    });

    it('answers a blob GET with 307 to a URL that serves the bytes, ranges included; HEAD stays here', async () => {
      const name = 'library/redirected';
      const blob = randomBlob(100_000);
      expect((await client.pushBlob(name, blob)).status).toBe(201);

      const res = await client.fetch(`/v2/${name}/blobs/${blob.digest}`);
      expect(res.status).toBe(307);
      expect(res.headers.get('docker-content-digest')).toBe(blob.digest);
      const location = res.headers.get('location')!;
      store().expectRedirect(new URL(location), 120);

      await expectServesBytes(location, blob.data);

      const head = await client.fetch(`/v2/${name}/blobs/${blob.digest}`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe('100000');
    });

    it('checks the repository before redirecting: a blob the repository lacks is BLOB_UNKNOWN', async () => {
      const blob = randomBlob(1000);
      expect((await client.pushBlob('library/holder', blob)).status).toBe(201);
      const res = await client.fetch(`/v2/library/other/blobs/${blob.digest}`);
      expect(res.status).toBe(404);
      expect(res.headers.get('location')).toBeNull();
    });

    it('follows the redirect for a client that does (fetch default)', async () => {
      const name = 'library/followed';
      const blob = randomBlob(20_000);
      expect((await client.pushBlob(name, blob)).status).toBe(201);
      const res = await fetch(new URL(`/v2/${name}/blobs/${blob.digest}`, berth.url), { headers: { authorization: client.authorization! } });
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(blob.data)).toBe(true);
    });
  });
}
