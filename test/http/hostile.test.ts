import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { engineMatrix, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { OCI_MANIFEST, RegistryClient, errorCode, randomBlob, randomImage, sha256, type Image } from '../helpers/oci.js';

const engines = await engineMatrix();

/** Sends raw bytes over a socket and resolves with whatever the server answered before closing. */
function rawRequest(port: number, payload: Buffer | string, options: { endAfterWrite?: boolean; waitMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    // Resolves when the server closes the connection, or when waitMs runs out.
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.write(payload, () => {
      if (options.endAfterWrite) socket.end();
      else setTimeout(() => socket.destroy(), options.waitMs ?? 300);
    });
  });
}

for (const { engine, skip } of engines) {
  describe.skipIf(skip !== undefined)(`hostile input on ${engine}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let berth: TestBerth;
    let client: RegistryClient;
    let baseline: Image;

    beforeAll(async () => {
      berth = await startTestBerth({ engine });
      client = new RegistryClient(berth.url);
      baseline = await client.pushImage('safe/baseline', 'v1');
    });
    afterAll(async () => {
      await berth?.stop();
    });

    /** Stored data must survive every attack: the baseline image pulls back byte for byte. */
    async function expectBaselineIntact() {
      const manifest = await client.fetch('/v2/safe/baseline/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
      expect(manifest.status).toBe(200);
      expect(Buffer.from(await manifest.arrayBuffer()).equals(baseline.manifest)).toBe(true);
      for (const blob of [baseline.config, ...baseline.layers]) {
        const res = await client.fetch(`/v2/safe/baseline/blobs/${blob.digest}`);
        expect(Buffer.from(await res.arrayBuffer()).equals(blob.data)).toBe(true);
      }
    }

    it('refuses a blob whose bytes do not match the digest, stores nothing, and keeps the session usable', async () => {
      const blob = randomBlob(2048);
      const wrongDigest = sha256('something else');
      const location = await client.startUpload('hostile/digest');
      const put = await client.fetch(`${location}?digest=${wrongDigest}`, { method: 'PUT', body: blob.data });
      expect(put.status).toBe(400);
      expect(await errorCode(put)).toBe('DIGEST_INVALID');
      expect((await client.fetch(`/v2/hostile/digest/blobs/${wrongDigest}`)).status).toBe(404);
      expect((await client.fetch(`/v2/hostile/digest/blobs/${blob.digest}`)).status).toBe(404);
      const status = await client.fetch(location);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe('0-0');
      const retry = await client.fetch(`${location}?digest=${blob.digest}`, { method: 'PUT', body: blob.data });
      expect(retry.status).toBe(201);
      await expectBaselineIntact();
    });

    it('refuses a single-POST upload with a wrong digest', async () => {
      const res = await client.fetch(`/v2/hostile/post/blobs/uploads/?digest=${sha256('other')}`, { method: 'POST', body: randomBytes(100) });
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe('DIGEST_INVALID');
      expect((await client.fetch(`/v2/hostile/post/blobs/${sha256('other')}`)).status).toBe(404);
    });

    it.each(['sha256:zz', 'sha256:abc', 'md5:d41d8cd98f00b204e9800998ecf8427e', 'sha256:../../etc/passwd', 'notadigest'])(
      'refuses the invalid digest %s with DIGEST_INVALID',
      async (digest) => {
        const res = await client.fetch(`/v2/safe/baseline/blobs/${encodeURIComponent(digest)}`);
        expect(res.status).toBe(400);
        expect(await errorCode(res)).toBe('DIGEST_INVALID');
        const put = await client.fetch(`/v2/hostile/digests/blobs/uploads/?digest=${encodeURIComponent(digest)}`, { method: 'POST', body: 'x' });
        expect(put.status).toBe(400);
        expect(await errorCode(put)).toBe('DIGEST_INVALID');
      },
    );

    it('keeps a session at its offset when a chunk body is cut short by the client', async () => {
      const blob = randomBlob(4000);
      const location = await client.startUpload('hostile/truncated');
      await client.fetch(location, { method: 'PATCH', body: blob.data.subarray(0, 1000) });
      // Announce 3000 bytes, send 500, hang up.
      const head = `PATCH ${location} HTTP/1.1\r\nHost: x\r\nAuthorization: ${client.authorization}\r\nContent-Type: application/octet-stream\r\nContent-Length: 3000\r\n\r\n`;
      await rawRequest(berth.port, Buffer.concat([Buffer.from(head), blob.data.subarray(1000, 1500)]), { endAfterWrite: true });
      await waitFor(async () => (await client.fetch(location)).headers.get('range') === '0-999');
      const status = await client.fetch(location);
      expect(status.headers.get('range')).toBe('0-999');
      const rest = await client.fetch(location, { method: 'PATCH', body: blob.data.subarray(1000), headers: { 'Content-Range': '1000-3999' } });
      expect(rest.status).toBe(202);
      const put = await client.fetch(`${location}?digest=${blob.digest}`, { method: 'PUT' });
      expect(put.status).toBe(201);
      const get = await client.fetch(`/v2/hostile/truncated/blobs/${blob.digest}`);
      expect(Buffer.from(await get.arrayBuffer()).equals(blob.data)).toBe(true);
    });

    it('never stores a blob from a monolithic PUT whose client disconnected', async () => {
      const blob = randomBlob(100_000);
      const location = await client.startUpload('hostile/disconnect');
      const head = `PUT ${location}?digest=${blob.digest} HTTP/1.1\r\nHost: x\r\nAuthorization: ${client.authorization}\r\nContent-Length: ${blob.data.length}\r\n\r\n`;
      await rawRequest(berth.port, Buffer.concat([Buffer.from(head), blob.data.subarray(0, 60_000)]), { endAfterWrite: true });
      await new Promise((r) => setTimeout(r, 200));
      expect((await client.fetch(`/v2/hostile/disconnect/blobs/${blob.digest}`)).status).toBe(404);
      const status = await client.fetch(location);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe('0-0');
    });

    it('rejects a Content-Range that disagrees with the body length', async () => {
      const location = await client.startUpload('hostile/length');
      const res = await client.fetch(location, { method: 'PATCH', body: randomBytes(100), headers: { 'Content-Range': '0-49' } });
      expect(res.status).toBe(416);
      expect(await errorCode(res)).toBe('BLOB_UPLOAD_INVALID');
      const status = await client.fetch(location);
      expect(status.headers.get('range')).toBe('0-0');
    });

    it('never takes bytes beyond Content-Length as blob data', async () => {
      const blob = randomBlob(10);
      const garbage = Buffer.from('GARBAGE-AFTER-BODY\r\n\r\n');
      const location = await client.startUpload('hostile/cl');
      const head = `PUT ${location}?digest=${blob.digest} HTTP/1.1\r\nHost: x\r\nAuthorization: ${client.authorization}\r\nContent-Length: 10\r\n\r\n`;
      // Node parses the trailing bytes as a pipelined request, answers 400 and closes the socket.
      const answer = await rawRequest(berth.port, Buffer.concat([Buffer.from(head), blob.data, garbage]), { waitMs: 500 });
      expect(answer).toContain('HTTP/1.1 400');
      await new Promise((r) => setTimeout(r, 200));
      // Whether the PUT finished before the socket closed is a race; either way only the 10 bytes count.
      const get = await client.fetch(`/v2/hostile/cl/blobs/${blob.digest}`);
      if (get.status === 200) expect(Buffer.from(await get.arrayBuffer()).equals(blob.data)).toBe(true);
      else expect(get.status).toBe(404);
      const withGarbage = await client.fetch(`/v2/hostile/cl/blobs/${sha256(Buffer.concat([blob.data, garbage]))}`);
      expect(withGarbage.status).toBe(404);
    });

    it('answers an unknown upload id with BLOB_UPLOAD_UNKNOWN', async () => {
      for (const id of ['00000000-0000-0000-0000-000000000000', '..%2F..%2Fetc', 'x'.repeat(300)]) {
        const res = await client.fetch(`/v2/safe/baseline/blobs/uploads/${id}`);
        expect(res.status).toBe(404);
        expect(await errorCode(res)).toBe('BLOB_UPLOAD_UNKNOWN');
      }
    });

    it('refuses a finished upload id being reused', async () => {
      const blob = randomBlob(100);
      const location = await client.startUpload('hostile/reuse');
      expect((await client.fetch(`${location}?digest=${blob.digest}`, { method: 'PUT', body: blob.data })).status).toBe(201);
      const again = await client.fetch(location, { method: 'PATCH', body: randomBytes(10) });
      expect(again.status).toBe(404);
      expect(await errorCode(again)).toBe('BLOB_UPLOAD_UNKNOWN');
      const put = await client.fetch(`${location}?digest=${blob.digest}`, { method: 'PUT', body: blob.data });
      expect(put.status).toBe(404);
    });

    it("refuses an upload id used through another repository's path", async () => {
      const location = await client.startUpload('hostile/owner');
      const id = location.split('/').pop();
      const res = await client.fetch(`/v2/safe/baseline/blobs/uploads/${id}`);
      expect(res.status).toBe(404);
      expect(await errorCode(res)).toBe('BLOB_UPLOAD_UNKNOWN');
    });

    it.each([
      ['not JSON', '{"schemaVersion": 2, '],
      ['a JSON array', '[]'],
      ['schema version 1', JSON.stringify({ schemaVersion: 1, mediaType: OCI_MANIFEST, config: {}, layers: [] })],
      ['a config without digest', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'a/b', size: 1 }, layers: [] })],
      ['a negative size', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'a/b', digest: sha256('x'), size: -1 }, layers: [] })],
      ['layers that are not an array', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'a/b', digest: sha256('x'), size: 1 }, layers: {} })],
    ])('refuses a manifest that is %s with MANIFEST_INVALID', async (_label, body) => {
      const res = await client.pushManifest('hostile/manifest', 'v1', Buffer.from(body));
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe('MANIFEST_INVALID');
      await expectBaselineIntact();
    });

    it('refuses a manifest whose mediaType contradicts its Content-Type', async () => {
      const image = randomImage(1);
      for (const blob of [image.config, ...image.layers]) await client.pushBlob('hostile/ctype', blob);
      const res = await client.pushManifest('hostile/ctype', 'v1', image.manifest, 'application/vnd.oci.image.index.v1+json');
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe('MANIFEST_INVALID');
    });

    it('refuses a manifest pushed by a digest that does not match it', async () => {
      const image = randomImage(1);
      for (const blob of [image.config, ...image.layers]) await client.pushBlob('hostile/mdigest', blob);
      const res = await client.pushManifest('hostile/mdigest', sha256('other'), image.manifest);
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe('DIGEST_INVALID');
    });

    it('refuses a 5 MiB manifest with 413 MANIFEST_INVALID, with and without Content-Length', async () => {
      const huge = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, annotations: { pad: 'x'.repeat(5 * 1024 * 1024) } }));
      const res = await client.pushManifest('hostile/huge', 'v1', huge);
      expect(res.status).toBe(413);
      expect(await errorCode(res)).toBe('MANIFEST_INVALID');

      const chunked = new ReadableStream({
        start(controller) {
          for (let i = 0; i < huge.length; i += 1024 * 1024) controller.enqueue(huge.subarray(i, i + 1024 * 1024));
          controller.close();
        },
      });
      const streamed = await client.fetch('/v2/hostile/huge/manifests/v2', {
        method: 'PUT',
        body: chunked,
        headers: { 'Content-Type': OCI_MANIFEST },
        duplex: 'half',
      });
      expect(streamed.status).toBe(413);
      expect(await errorCode(streamed)).toBe('MANIFEST_INVALID');
      expect((await client.fetch('/v2/hostile/huge/manifests/v1')).status).toBe(404);
      await expectBaselineIntact();
    });

    it.each([
      ['uppercase', 'Hostile/Upper'],
      ['a leading slash component', 'a//b'],
      ['a trailing separator', 'abc-'],
      ['256 characters', `${'a'.repeat(200)}/${'b'.repeat(55)}`],
    ])('refuses a repository name with %s as NAME_INVALID', async (_label, name) => {
      const res = await client.fetch(`/v2/${name.split('/').map(encodeURIComponent).join('/')}/blobs/uploads/`, { method: 'POST' });
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe('NAME_INVALID');
    });

    it('accepts a 255-character name, the longest allowed', async () => {
      const name = `${'a'.repeat(200)}/${'b'.repeat(54)}`;
      expect(name.length).toBe(255);
      const res = await client.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
      expect(res.status).toBe(202);
    });

    it('refuses path traversal sent raw over the socket', async () => {
      const cases: Array<[string, string, string]> = [
        ['GET', `/v2/../../etc/passwd/blobs/${sha256('x')}`, '400 NAME_INVALID'],
        ['GET', '/v2/%2e%2e/%2e%2e/etc/manifests/latest', '400 NAME_INVALID'],
        ['POST', '/v2/a/../x/blobs/uploads/', '400 NAME_INVALID'],
        ['GET', '/v2/safe/baseline/blobs/uploads/..%2F..%2F..%2Fetc', '404 BLOB_UPLOAD_UNKNOWN'],
        ['GET', '/v2/safe/baseline/blobs/sha256:..%2F..%2Fetc%2Fpasswd', '400 DIGEST_INVALID'],
        ['GET', '/v2/safe/baseline/manifests/..%2F..%2Fv1', '404 MANIFEST_UNKNOWN'],
      ];
      for (const [method, path, expected] of cases) {
        const answer = await rawRequest(berth.port, `${method} ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: ${client.authorization}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`, { waitMs: 2000 });
        const [status, code] = expected.split(' ');
        expect(answer.slice(0, 12), path).toBe(`HTTP/1.1 ${status}`);
        expect(answer, path).toContain(`"code":"${code}"`);
      }
    });

    it.each(['-leading-dash', '.dot', 'a'.repeat(129), 'has space', 'emoji😀'])('refuses the invalid tag %s with TAG_INVALID', async (tag) => {
      const image = randomImage(1);
      for (const blob of [image.config, ...image.layers]) await client.pushBlob('hostile/tags', blob);
      const res = await client.pushManifest('hostile/tags', encodeURIComponent(tag), image.manifest);
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe('TAG_INVALID');
    });

    it('keeps a tag consistent under 20 concurrent pushes: it ends on one complete manifest', async () => {
      const images = Array.from({ length: 20 }, () => randomImage(1, 512));
      for (const image of images) for (const blob of [image.config, ...image.layers]) await client.pushBlob('hostile/race', blob);
      const results = await Promise.all(images.map((image) => client.pushManifest('hostile/race', 'latest', image.manifest)));
      expect(results.map((r) => r.status)).toEqual(Array(20).fill(201));
      const res = await client.fetch('/v2/hostile/race/manifests/latest', { headers: { Accept: OCI_MANIFEST } });
      const body = Buffer.from(await res.arrayBuffer());
      const winner = images.find((i) => i.manifest.equals(body));
      expect(winner).toBeDefined();
      expect(res.headers.get('docker-content-digest')).toBe(winner!.digest);
      for (const image of images) {
        expect((await client.fetch(`/v2/hostile/race/manifests/${image.digest}`, { method: 'HEAD' })).status).toBe(200);
      }
      const tags = (await (await client.fetch('/v2/hostile/race/tags/list')).json()) as { tags: string[] };
      expect(tags.tags).toEqual(['latest']);
    });

    it('survives concurrent chunked uploads to one session: each chunk lands whole or is refused', async () => {
      const blob = randomBlob(40_000);
      const location = await client.startUpload('hostile/concurrent');
      const pieces = [0, 1, 2, 3].map((i) => blob.data.subarray(i * 10_000, (i + 1) * 10_000));
      // All four race to start at offset 0: exactly one may win.
      const results = await Promise.all(pieces.map((p) => client.fetch(location, { method: 'PATCH', body: p, headers: { 'Content-Range': '0-9999' } })));
      expect(results.filter((r) => r.status === 202)).toHaveLength(1);
      expect(results.filter((r) => r.status === 416)).toHaveLength(3);
      const status = await client.fetch(location);
      expect(status.headers.get('range')).toBe('0-9999');
    });

    it('leaves no staging files behind after failed pushes', async () => {
      const tmp = await readdir(join(berth.config.storage.filesystem.root, 'tmp'));
      expect(tmp).toEqual([]);
    });
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
