import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { engineMatrix, startTestBerth, type TestBerth } from '../helpers/berth.js';
import {
  DOCKER_LIST,
  DOCKER_MANIFEST,
  OCI_EMPTY,
  OCI_INDEX,
  OCI_MANIFEST,
  RegistryClient,
  errorCode,
  imageManifest,
  jsonBlob,
  randomBlob,
  randomImage,
  sha256,
  sha512,
} from '../helpers/oci.js';

const engines = await engineMatrix();

for (const { engine, skip } of engines) {
  describe.skipIf(skip !== undefined)(`OCI distribution API on ${engine}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let berth: TestBerth;
    let client: RegistryClient;

    beforeAll(async () => {
      berth = await startTestBerth({ engine });
      client = new RegistryClient(berth.url);
    });
    afterAll(async () => {
      await berth?.stop();
    });

    describe('base and errors', () => {
      it('answers GET /v2/ with 200, {} and the API version header', async () => {
        const res = await client.fetch('/v2/');
        expect(res.status).toBe(200);
        expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
        expect(await res.json()).toEqual({});
      });

      it('answers an unknown endpoint with 404 and a coded JSON error', async () => {
        const res = await client.fetch('/v2/foo/nonsense');
        expect(res.status).toBe(404);
        expect(await errorCode(res)).toBe('NOT_FOUND');
      });

      it('answers a method an endpoint lacks with 405 UNSUPPORTED', async () => {
        const res = await client.fetch('/v2/_catalog', { method: 'DELETE' });
        expect(res.status).toBe(405);
        expect(await errorCode(res)).toBe('UNSUPPORTED');
      });

      it('echoes a caller-supplied X-Request-Id', async () => {
        const res = await client.fetch('/v2/', { headers: { 'X-Request-Id': 'abc-123' } });
        expect(res.headers.get('x-request-id')).toBe('abc-123');
      });
    });

    describe('blob uploads', () => {
      it('pushes monolithically with POST then PUT, and pulls the same bytes', async () => {
        const blob = randomBlob(10_000);
        const location = await client.startUpload('mono/one');
        const put = await client.fetch(`${location}?digest=${blob.digest}`, {
          method: 'PUT',
          body: blob.data,
          headers: { 'Content-Type': 'application/octet-stream' },
        });
        expect(put.status).toBe(201);
        expect(put.headers.get('location')).toBe(`/v2/mono/one/blobs/${blob.digest}`);
        expect(put.headers.get('docker-content-digest')).toBe(blob.digest);

        const get = await client.fetch(`/v2/mono/one/blobs/${blob.digest}`);
        expect(get.status).toBe(200);
        expect(get.headers.get('content-length')).toBe('10000');
        expect(Buffer.from(await get.arrayBuffer()).equals(blob.data)).toBe(true);

        const head = await client.fetch(`/v2/mono/one/blobs/${blob.digest}`, { method: 'HEAD' });
        expect(head.status).toBe(200);
        expect(head.headers.get('content-length')).toBe('10000');
        expect(head.headers.get('docker-content-digest')).toBe(blob.digest);
      });

      it('pushes in a single POST with ?digest=', async () => {
        const blob = randomBlob(777);
        const res = await client.pushBlob('single/post', blob);
        expect(res.status).toBe(201);
        expect(res.headers.get('docker-content-digest')).toBe(blob.digest);
        const get = await client.fetch(`/v2/single/post/blobs/${blob.digest}`);
        expect(Buffer.from(await get.arrayBuffer()).equals(blob.data)).toBe(true);
      });

      it('pushes in chunks with Content-Range, reports progress, and finishes with PUT', async () => {
        const blob = randomBlob(300_000);
        let location = await client.startUpload('chunked/repo');
        const pieces = [blob.data.subarray(0, 100_000), blob.data.subarray(100_000, 250_000), blob.data.subarray(250_000)];
        let offset = 0;
        for (const piece of pieces.slice(0, 2)) {
          const res = await client.fetch(location, {
            method: 'PATCH',
            body: piece,
            headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + piece.length - 1}` },
          });
          expect(res.status).toBe(202);
          offset += piece.length;
          expect(res.headers.get('range')).toBe(`0-${offset - 1}`);
          location = res.headers.get('location')!;
        }
        const status = await client.fetch(location);
        expect(status.status).toBe(204);
        expect(status.headers.get('range')).toBe('0-249999');

        const put = await client.fetch(`${location}?digest=${blob.digest}`, {
          method: 'PUT',
          body: pieces[2],
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `250000-299999` },
        });
        expect(put.status).toBe(201);
        const get = await client.fetch(`/v2/chunked/repo/blobs/${blob.digest}`);
        expect(Buffer.from(await get.arrayBuffer()).equals(blob.data)).toBe(true);
      });

      it('streams a PATCH without Content-Range (docker style) and finishes with an empty PUT', async () => {
        const blob = randomBlob(50_000);
        const location = await client.startUpload('stream/repo');
        const patch = await client.fetch(location, { method: 'PATCH', body: blob.data });
        expect(patch.status).toBe(202);
        expect(patch.headers.get('range')).toBe('0-49999');
        const put = await client.fetch(`${patch.headers.get('location')}?digest=${blob.digest}`, { method: 'PUT' });
        expect(put.status).toBe(201);
      });

      it('refuses an out-of-order chunk with 416 and keeps the bytes it had', async () => {
        const blob = randomBlob(2000);
        const location = await client.startUpload('chunked/order');
        await client.fetch(location, { method: 'PATCH', body: blob.data.subarray(0, 1000), headers: { 'Content-Range': '0-999' } });
        const wrong = await client.fetch(location, { method: 'PATCH', body: blob.data.subarray(1500), headers: { 'Content-Range': '1500-1999' } });
        expect(wrong.status).toBe(416);
        expect(await errorCode(wrong)).toBe('BLOB_UPLOAD_INVALID');
        expect(wrong.headers.get('range')).toBe('0-999');
        const right = await client.fetch(location, { method: 'PATCH', body: blob.data.subarray(1000), headers: { 'Content-Range': '1000-1999' } });
        expect(right.status).toBe(202);
        const put = await client.fetch(`${location}?digest=${blob.digest}`, { method: 'PUT' });
        expect(put.status).toBe(201);
      });

      it('accepts a sha512 digest for the finished blob', async () => {
        const data = randomBytes(4096);
        const digest = sha512(data);
        const location = await client.startUpload('algo/sha512');
        const put = await client.fetch(`${location}?digest=${digest}`, { method: 'PUT', body: data });
        expect(put.status).toBe(201);
        expect(put.headers.get('docker-content-digest')).toBe(digest);
        const get = await client.fetch(`/v2/algo/sha512/blobs/${digest}`);
        expect(Buffer.from(await get.arrayBuffer()).equals(data)).toBe(true);
      });

      it('cancels an upload with DELETE; the id is then unknown', async () => {
        const location = await client.startUpload('cancel/repo');
        const del = await client.fetch(location, { method: 'DELETE' });
        expect(del.status).toBe(204);
        const status = await client.fetch(location);
        expect(status.status).toBe(404);
        expect(await errorCode(status)).toBe('BLOB_UPLOAD_UNKNOWN');
      });

      it('mounts a blob from another repository with 201, and falls back to an upload with 202', async () => {
        const blob = randomBlob(5000);
        await client.pushBlob('mount/source', blob);
        const mounted = await client.fetch(`/v2/mount/target/blobs/uploads/?mount=${blob.digest}&from=mount/source`, { method: 'POST' });
        expect(mounted.status).toBe(201);
        expect(mounted.headers.get('location')).toBe(`/v2/mount/target/blobs/${blob.digest}`);
        expect((await client.fetch(`/v2/mount/target/blobs/${blob.digest}`, { method: 'HEAD' })).status).toBe(200);

        const absent = randomBlob(10);
        const fallback = await client.fetch(`/v2/mount/target/blobs/uploads/?mount=${absent.digest}&from=mount/source`, { method: 'POST' });
        expect(fallback.status).toBe(202);
        expect(fallback.headers.get('location')).toMatch(/^\/v2\/mount\/target\/blobs\/uploads\/[0-9a-f-]{36}$/);
      });

      it('does not mount without from= unless automatic mounting is on', async () => {
        const blob = randomBlob(100);
        await client.pushBlob('auto/source', blob);
        const res = await client.fetch(`/v2/auto/target/blobs/uploads/?mount=${blob.digest}`, { method: 'POST' });
        expect(res.status).toBe(202);
      });

      it('serves byte ranges with 206 and refuses unsatisfiable ones with 416', async () => {
        const blob = randomBlob(1000);
        await client.pushBlob('range/repo', blob);
        const part = await client.fetch(`/v2/range/repo/blobs/${blob.digest}`, { headers: { Range: 'bytes=100-199' } });
        expect(part.status).toBe(206);
        expect(part.headers.get('content-range')).toBe('bytes 100-199/1000');
        expect(Buffer.from(await part.arrayBuffer()).equals(blob.data.subarray(100, 200))).toBe(true);
        const suffix = await client.fetch(`/v2/range/repo/blobs/${blob.digest}`, { headers: { Range: 'bytes=-10' } });
        expect(suffix.status).toBe(206);
        expect(Buffer.from(await suffix.arrayBuffer()).equals(blob.data.subarray(990))).toBe(true);
        const beyond = await client.fetch(`/v2/range/repo/blobs/${blob.digest}`, { headers: { Range: 'bytes=5000-' } });
        expect(beyond.status).toBe(416);
        expect(beyond.headers.get('content-range')).toBe('bytes */1000');
      });

      it('deletes a blob link with 202; the blob is then unknown in that repository only', async () => {
        const blob = randomBlob(64);
        await client.pushBlob('delete/a', blob);
        await client.pushBlob('delete/b', blob);
        const del = await client.fetch(`/v2/delete/a/blobs/${blob.digest}`, { method: 'DELETE' });
        expect(del.status).toBe(202);
        const gone = await client.fetch(`/v2/delete/a/blobs/${blob.digest}`);
        expect(gone.status).toBe(404);
        expect(await errorCode(gone)).toBe('BLOB_UNKNOWN');
        expect((await client.fetch(`/v2/delete/b/blobs/${blob.digest}`, { method: 'HEAD' })).status).toBe(200);
        const again = await client.fetch(`/v2/delete/a/blobs/${blob.digest}`, { method: 'DELETE' });
        expect(again.status).toBe(404);
      });

      it('answers a blob of an unknown repository with 404 NAME_UNKNOWN', async () => {
        const res = await client.fetch(`/v2/never/pushed/blobs/${sha256('x')}`);
        expect(res.status).toBe(404);
        expect(await errorCode(res)).toBe('NAME_UNKNOWN');
      });
    });

    describe('manifests', () => {
      it('pushes an image by tag and pulls it by tag and digest, byte for byte', async () => {
        const image = await client.pushImage('app/web', 'v1');
        for (const reference of ['v1', image.digest]) {
          const res = await client.fetch(`/v2/app/web/manifests/${reference}`, { headers: { Accept: OCI_MANIFEST } });
          expect(res.status).toBe(200);
          expect(res.headers.get('content-type')).toBe(OCI_MANIFEST);
          expect(res.headers.get('docker-content-digest')).toBe(image.digest);
          expect(Buffer.from(await res.arrayBuffer()).equals(image.manifest)).toBe(true);
        }
        const head = await client.fetch('/v2/app/web/manifests/v1', { method: 'HEAD', headers: { Accept: OCI_MANIFEST } });
        expect(head.status).toBe(200);
        expect(head.headers.get('content-length')).toBe(String(image.manifest.length));
        expect(head.headers.get('docker-content-digest')).toBe(image.digest);
      });

      it('returns Location and Docker-Content-Digest on push', async () => {
        const image = randomImage();
        for (const blob of [image.config, ...image.layers]) await client.pushBlob('app/loc', blob);
        const res = await client.pushManifest('app/loc', 'latest', image.manifest);
        expect(res.status).toBe(201);
        expect(res.headers.get('location')).toBe(`/v2/app/loc/manifests/${image.digest}`);
        expect(res.headers.get('docker-content-digest')).toBe(image.digest);
      });

      it('pushes a manifest by a sha512 digest', async () => {
        const image = randomImage(1);
        for (const blob of [image.config, ...image.layers]) await client.pushBlob('app/sha512', blob);
        const digest = sha512(image.manifest);
        const res = await client.pushManifest('app/sha512', digest, image.manifest);
        expect(res.status).toBe(201);
        expect(res.headers.get('docker-content-digest')).toBe(digest);
        const get = await client.fetch(`/v2/app/sha512/manifests/${digest}`);
        expect(Buffer.from(await get.arrayBuffer()).equals(image.manifest)).toBe(true);
      });

      it('pushes a Docker schema 2 manifest and manifest list', async () => {
        const config = jsonBlob({ architecture: 'arm64', os: 'linux' });
        const layer = randomBlob(100);
        await client.pushBlob('docker/img', config);
        await client.pushBlob('docker/img', layer);
        const manifest = imageManifest(config, [layer], {}, DOCKER_MANIFEST);
        expect((await client.pushManifest('docker/img', 'arm', manifest, DOCKER_MANIFEST)).status).toBe(201);
        const list = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: DOCKER_LIST,
            manifests: [{ mediaType: DOCKER_MANIFEST, digest: sha256(manifest), size: manifest.length, platform: { architecture: 'arm64', os: 'linux' } }],
          }),
        );
        expect((await client.pushManifest('docker/img', 'multi', list, DOCKER_LIST)).status).toBe(201);
        const get = await client.fetch('/v2/docker/img/manifests/multi', { headers: { Accept: `${DOCKER_LIST}, ${DOCKER_MANIFEST}` } });
        expect(get.headers.get('content-type')).toBe(DOCKER_LIST);
      });

      it('serves the linux/amd64 image of an index to a client that accepts no index', async () => {
        const amd = randomImage(1);
        const arm = randomImage(1);
        await client.pushImage('multi/arch', 'amd', amd);
        await client.pushImage('multi/arch', 'arm', arm);
        const index = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: OCI_INDEX,
            manifests: [
              { mediaType: OCI_MANIFEST, digest: arm.digest, size: arm.manifest.length, platform: { architecture: 'arm64', os: 'linux' } },
              { mediaType: OCI_MANIFEST, digest: amd.digest, size: amd.manifest.length, platform: { architecture: 'amd64', os: 'linux' } },
            ],
          }),
        );
        expect((await client.pushManifest('multi/arch', 'latest', index, OCI_INDEX)).status).toBe(201);
        const asIndex = await client.fetch('/v2/multi/arch/manifests/latest', { headers: { Accept: `${OCI_INDEX}, ${OCI_MANIFEST}` } });
        expect(asIndex.headers.get('docker-content-digest')).toBe(sha256(index));
        const asImage = await client.fetch('/v2/multi/arch/manifests/latest', { headers: { Accept: OCI_MANIFEST } });
        expect(asImage.headers.get('docker-content-digest')).toBe(amd.digest);
      });

      it('refuses an OCI manifest to a client that only accepts Docker types, as distribution does', async () => {
        await client.pushImage('negotiate/oci', 'v1');
        const res = await client.fetch('/v2/negotiate/oci/manifests/v1', { headers: { Accept: DOCKER_MANIFEST } });
        expect(res.status).toBe(404);
        expect(await errorCode(res)).toBe('MANIFEST_UNKNOWN');
      });

      it('refuses a manifest whose blobs the repository lacks with MANIFEST_BLOB_UNKNOWN', async () => {
        const image = randomImage(2);
        await client.pushBlob('strict/repo', image.config);
        await client.pushBlob('strict/repo', image.layers[0]!);
        const res = await client.pushManifest('strict/repo', 'v1', image.manifest);
        expect(res.status).toBe(400);
        const body = (await res.json()) as { errors: Array<{ code: string; detail: { blobs: string[] } }> };
        expect(body.errors[0]!.code).toBe('MANIFEST_BLOB_UNKNOWN');
        expect(body.errors[0]!.detail.blobs).toEqual([image.layers[1]!.digest]);
        expect((await client.fetch('/v2/strict/repo/manifests/v1')).status).toBe(404);
      });

      it('refuses an index whose manifests the repository lacks', async () => {
        const index = Buffer.from(
          JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256('nope'), size: 4 }] }),
        );
        const res = await client.pushManifest('strict/index', 'v1', index, OCI_INDEX);
        expect(res.status).toBe(400);
        expect(await errorCode(res)).toBe('MANIFEST_BLOB_UNKNOWN');
      });

      it('deletes a tag only, with DELETE by tag', async () => {
        const image = await client.pushImage('del/tag', 'v1');
        const del = await client.fetch('/v2/del/tag/manifests/v1', { method: 'DELETE' });
        expect(del.status).toBe(202);
        expect((await client.fetch('/v2/del/tag/manifests/v1')).status).toBe(404);
        expect((await client.fetch(`/v2/del/tag/manifests/${image.digest}`)).status).toBe(200);
      });

      it('deletes a manifest and its tags, with DELETE by digest', async () => {
        const image = await client.pushImage('del/digest', 'v1');
        const del = await client.fetch(`/v2/del/digest/manifests/${image.digest}`, { method: 'DELETE' });
        expect(del.status).toBe(202);
        const byDigest = await client.fetch(`/v2/del/digest/manifests/${image.digest}`);
        expect(byDigest.status).toBe(404);
        expect(await errorCode(byDigest)).toBe('MANIFEST_UNKNOWN');
        expect((await client.fetch('/v2/del/digest/manifests/v1')).status).toBe(404);
        const tags = await client.fetch('/v2/del/digest/tags/list');
        expect(await tags.json()).toEqual({ name: 'del/digest', tags: [] });
        const again = await client.fetch(`/v2/del/digest/manifests/${image.digest}`, { method: 'DELETE' });
        expect(again.status).toBe(404);
      });

      it('moves a tag to the newest manifest pushed under it', async () => {
        await client.pushImage('retag/repo', 'latest');
        const second = await client.pushImage('retag/repo', 'latest');
        const res = await client.fetch('/v2/retag/repo/manifests/latest', { method: 'HEAD' });
        expect(res.headers.get('docker-content-digest')).toBe(second.digest);
      });

      it('accepts nested repository names', async () => {
        await client.pushImage('a/b/c/d', 'v1');
        expect((await client.fetch('/v2/a/b/c/d/manifests/v1')).status).toBe(200);
      });
    });

    describe('referrers', () => {
      it('lists artifacts whose subject is a manifest, with OCI-Subject on push and artifactType filtering', async () => {
        const subject = await client.pushImage('refs/app', 'v1');
        const empty = jsonBlob({});
        expect(empty.digest).toBe('sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
        await client.pushBlob('refs/app', empty);
        const sbom = randomBlob(300);
        await client.pushBlob('refs/app', sbom);

        const artifact = (artifactType: string, annotation: string) =>
          Buffer.from(
            JSON.stringify({
              schemaVersion: 2,
              mediaType: OCI_MANIFEST,
              artifactType,
              config: { mediaType: OCI_EMPTY, digest: empty.digest, size: 2 },
              layers: [{ mediaType: 'application/spdx+json', digest: sbom.digest, size: 300 }],
              subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.manifest.length },
              annotations: { 'org.example.note': annotation },
            }),
          );
        const spdx = artifact('application/spdx+json', 'sbom');
        const sig = artifact('application/vnd.dev.cosign.artifact.sig.v1+json', 'signature');
        for (const body of [spdx, sig]) {
          const res = await client.pushManifest('refs/app', sha256(body), body);
          expect(res.status).toBe(201);
          expect(res.headers.get('oci-subject')).toBe(subject.digest);
        }

        const all = await client.fetch(`/v2/refs/app/referrers/${subject.digest}`);
        expect(all.status).toBe(200);
        expect(all.headers.get('content-type')).toBe(OCI_INDEX);
        const index = (await all.json()) as { manifests: Array<{ digest: string; artifactType: string; annotations: Record<string, string>; size: number }> };
        expect(index.manifests.map((m) => m.digest).sort()).toEqual([sha256(spdx), sha256(sig)].sort());
        const sbomEntry = index.manifests.find((m) => m.digest === sha256(spdx))!;
        expect(sbomEntry).toEqual({
          mediaType: OCI_MANIFEST,
          digest: sha256(spdx),
          size: spdx.length,
          artifactType: 'application/spdx+json',
          annotations: { 'org.example.note': 'sbom' },
        });

        const filtered = await client.fetch(`/v2/refs/app/referrers/${subject.digest}?artifactType=application/spdx%2Bjson`);
        expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
        const filteredIndex = (await filtered.json()) as { manifests: Array<{ digest: string }> };
        expect(filteredIndex.manifests.map((m) => m.digest)).toEqual([sha256(spdx)]);
      });

      it('returns an empty index for a digest nothing refers to', async () => {
        const res = await client.fetch(`/v2/refs/none/referrers/${sha256('nothing')}`);
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
      });

      it('refuses an artifact with the empty config but no artifactType', async () => {
        const empty = jsonBlob({});
        await client.pushBlob('refs/bad', empty);
        const body = Buffer.from(
          JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_EMPTY, digest: empty.digest, size: 2 }, layers: [] }),
        );
        const res = await client.pushManifest('refs/bad', 'v1', body);
        expect(res.status).toBe(400);
        expect(await errorCode(res)).toBe('MANIFEST_INVALID');
      });
    });

    describe('listing', () => {
      it('lists tags in lexical order with n/last pagination and a Link header', async () => {
        const image = randomImage(1);
        await client.pushImage('list/tags', 'b', image);
        for (const tag of ['a', 'c', 'd', 'B']) {
          expect((await client.pushManifest('list/tags', tag, image.manifest)).status).toBe(201);
        }
        const all = await client.fetch('/v2/list/tags/tags/list');
        expect(await all.json()).toEqual({ name: 'list/tags', tags: ['B', 'a', 'b', 'c', 'd'] });
        expect(all.headers.get('link')).toBeNull();

        const first = await client.fetch('/v2/list/tags/tags/list?n=2');
        expect(await first.json()).toEqual({ name: 'list/tags', tags: ['B', 'a'] });
        expect(first.headers.get('link')).toBe('</v2/list/tags/tags/list?last=a&n=2>; rel="next"');
        const second = await client.fetch('/v2/list/tags/tags/list?n=2&last=a');
        expect(await second.json()).toEqual({ name: 'list/tags', tags: ['b', 'c'] });
        const last = await client.fetch('/v2/list/tags/tags/list?n=2&last=c');
        expect(await last.json()).toEqual({ name: 'list/tags', tags: ['d'] });
        expect(last.headers.get('link')).toBeNull();
        const none = await client.fetch('/v2/list/tags/tags/list?n=0');
        expect(await none.json()).toEqual({ name: 'list/tags', tags: [] });
      });

      it('answers tags of an unknown repository with NAME_UNKNOWN', async () => {
        const res = await client.fetch('/v2/no/such/repo/tags/list');
        expect(res.status).toBe(404);
        expect(await errorCode(res)).toBe('NAME_UNKNOWN');
      });

      it('refuses a negative or non-numeric n with 400', async () => {
        const res = await client.fetch('/v2/_catalog?n=-1');
        expect(res.status).toBe(400);
        expect(await errorCode(res)).toBe('PAGINATION_NUMBER_INVALID');
      });

      it('lists repositories in the catalog with pagination', async () => {
        const other = await startTestBerth({ engine });
        try {
          const c = new RegistryClient(other.url);
          for (const name of ['zeta', 'alpha/one', 'alpha/two', 'mid']) await c.pushImage(name, 'v1');
          const all = await c.fetch('/v2/_catalog');
          expect(await all.json()).toEqual({ repositories: ['alpha/one', 'alpha/two', 'mid', 'zeta'] });
          const page = await c.fetch('/v2/_catalog?n=3');
          expect(await page.json()).toEqual({ repositories: ['alpha/one', 'alpha/two', 'mid'] });
          expect(page.headers.get('link')).toBe('</v2/_catalog?last=mid&n=3>; rel="next"');
          const rest = await c.fetch('/v2/_catalog?n=3&last=mid');
          expect(await rest.json()).toEqual({ repositories: ['zeta'] });
        } finally {
          await other.stop();
        }
      });
    });
  });
}
