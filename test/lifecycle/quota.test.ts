import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/adapters/db/connect.js';
import { recountAllUsage } from '../../src/adapters/db/migrations.js';
import { engineMatrix, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient } from '../helpers/api.js';
import { ContainerTools, missingTools } from '../helpers/clients.js';
import { checkConsistency, recountUsage } from '../helpers/consistency.js';
import { OCI_INDEX, OCI_MANIFEST, RegistryClient, errorCode, imageManifest, jsonBlob, randomBlob, sha256, type Blob, type Image } from '../helpers/oci.js';
import { writeOciLayout } from '../helpers/oci-layout.js';
import { prng, testSeed } from '../helpers/prng.js';
import { WebhookReceiver } from '../helpers/receiver.js';

const engines = await engineMatrix();
const toolsMissing = await missingTools(['skopeo', 'podman']);

interface Quota {
  project: string;
  limits: { storageBytes: number | null; artifacts: number | null };
  usage: { storageBytes: number; artifacts: number };
}

/** Bytes an image adds to a project that stores none of its parts yet. */
const bytesOf = (image: Image) => image.manifest.length + image.config.data.length + image.layers.reduce((sum, l) => sum + l.data.length, 0);

function image(layers: Blob[]): Image {
  const config = jsonBlob({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') });
  const manifest = imageManifest(config, layers);
  return { config, layers, manifest, digest: sha256(manifest) };
}

for (const { engine, skip } of engines) {
  describe.skipIf(skip !== undefined)(`quotas on ${engine}`, () => {
    let berth: TestBerth;
    let admin: ApiClient;
    let registry: RegistryClient;
    const receiver = new WebhookReceiver();

    beforeAll(async () => {
      await receiver.start();
      berth = await startTestBerth({
        engine,
        settings: {
          'jobs.pollIntervalMs': 50,
          'lifecycle.gc.schedule': '',
          'lifecycle.gc.graceHours': 1 / 3600,
          'outbound.webhook.allowCidrs': ['127.0.0.1/32'],
          'webhooks.backoffBaseMs': 100,
        },
      });
      admin = new ApiClient(berth.url);
      registry = new RegistryClient(berth.url);
    });
    afterAll(async () => {
      await berth?.stop();
      await receiver.stop();
    });

    const quota = (project: string) => admin.ok<Quota>('GET', `/projects/${project}/quota`);
    const setQuota = (project: string, limits: { storageBytes?: number | null; artifacts?: number | null }) => admin.ok<Quota>('PUT', `/projects/${project}/quota`, limits);
    const deleteManifest = async (repository: string, digest: string) => expect((await registry.fetch(`/v2/${repository}/manifests/${digest}`, { method: 'DELETE' })).status).toBe(202);

    it('counts a layer once per project however many repositories and manifests share it', async () => {
      await admin.createProject('qa');
      await admin.createProject('qb');
      const shared = randomBlob(3000);
      const a = image([shared, randomBlob(1000)]);
      const b = image([shared, randomBlob(500)]);
      await registry.pushImage('qa/one', 'a', a);
      expect((await quota('qa')).usage).toEqual({ storageBytes: bytesOf(a), artifacts: 1 });
      await registry.pushImage('qa/two', 'b', b);
      expect((await quota('qa')).usage).toEqual({ storageBytes: bytesOf(a) + bytesOf(b) - shared.data.length, artifacts: 2 });
      // Another project counts what it uses itself, shared or not.
      await registry.pushImage('qb/one', 'b', b);
      expect((await quota('qb')).usage).toEqual({ storageBytes: bytesOf(b), artifacts: 1 });
      // An index adds itself: its platform manifests are counted already.
      await registry.pushImage('qa/one', 'b', b);
      const index = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: [a, b].map((i) => ({ mediaType: OCI_MANIFEST, digest: i.digest, size: i.manifest.length, platform: { architecture: 'amd64', os: 'linux' } })),
        }),
      );
      expect((await registry.pushManifest('qa/one', 'multi', index, OCI_INDEX)).status).toBe(201);
      // qa/one now holds a, b and the index; qa/two holds b: b's parts are counted once.
      expect((await quota('qa')).usage).toEqual({ storageBytes: bytesOf(a) + bytesOf(b) - shared.data.length + index.length, artifacts: 4 });
      // Deleting a (and the index that needs it) frees what only they used; the shared layer stays counted for b.
      await deleteManifest('qa/one', sha256(index));
      await deleteManifest('qa/one', a.digest);
      expect((await quota('qa')).usage).toEqual({ storageBytes: bytesOf(b), artifacts: 2 });
      // Deleting a repository takes its manifests out; b is still in qa/two.
      expect((await admin.call('DELETE', '/projects/qa/repositories/one')).status).toBe(204);
      expect((await quota('qa')).usage).toEqual({ storageBytes: bytesOf(b), artifacts: 1 });
      expect(await checkConsistency(berth)).toEqual({ problems: [] });
    });

    it('refuses a blob over the storage quota before keeping its bytes, with DENIED saying which quota, used and limit', async () => {
      await admin.createProject('qz');
      const first = image([randomBlob(2000)]);
      await registry.pushImage('qz/app', 'v1', first);
      const used = bytesOf(first);
      expect(await setQuota('qz', { storageBytes: used + 5000 })).toEqual({
        project: 'qz',
        limits: { storageBytes: used + 5000, artifacts: null },
        usage: { storageBytes: used, artifacts: 1 },
      });
      const big = randomBlob(6000);
      const expected = `quota exceeded: project qz may store ${((used + 5000) / 1024).toPrecision(3)} KiB (storage quota); ${(used / 1024).toPrecision(3)} KiB used, this push adds 5.86 KiB`;
      // Single request with its length: refused before a session is made.
      const monolithic = await registry.pushBlob('qz/app', big);
      expect(monolithic.status).toBe(403);
      const body = (await monolithic.json()) as { errors: Array<{ code: string; message: string; detail: unknown }> };
      expect(body.errors[0]).toEqual({ code: 'DENIED', message: expected, detail: { project: 'qz', quota: 'storage', used, adding: 6000, limit: used + 5000 } });
      // A chunk whose Content-Length would not fit: refused before a byte is written.
      const location = await registry.startUpload('qz/app');
      const patch = await registry.fetch(location, { method: 'PATCH', body: big.data, headers: { 'Content-Type': 'application/octet-stream' } });
      expect(patch.status).toBe(403);
      expect(await errorCode(patch)).toBe('DENIED');
      const status = await registry.fetch(location);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe('0-0');
      // Streamed without a length: refused when it is finished, and not stored.
      const streamed = await registry.startUpload('qz/app');
      const sent = await registry.fetch(streamed, {
        method: 'PATCH',
        body: Readable.toWeb(Readable.from([big.data.subarray(0, 3000), big.data.subarray(3000)])) as ReadableStream,
        headers: { 'Content-Type': 'application/octet-stream' },
        duplex: 'half',
      } as RequestInit);
      expect(sent.status).toBe(202);
      const next = sent.headers.get('location')!;
      const finish = await registry.fetch(`${next}${next.includes('?') ? '&' : '?'}digest=${big.digest}`, { method: 'PUT' });
      expect(finish.status).toBe(403);
      expect(((await finish.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toBe(expected);
      expect((await registry.fetch(`/v2/qz/app/blobs/${big.digest}`, { method: 'HEAD' })).status).toBe(404);
      // Layers that fit one by one but not together: the manifest is refused, naming the quota.
      const halves = [randomBlob(3000), randomBlob(3000)];
      for (const blob of halves) expect((await registry.pushBlob('qz/app', blob)).status).toBe(201);
      const together = image(halves);
      expect((await registry.pushBlob('qz/app', together.config)).status).toBe(201);
      const refused = await registry.pushManifest('qz/app', 'v2', together.manifest);
      expect(refused.status).toBe(403);
      const refusal = ((await refused.json()) as { errors: Array<{ code: string; message: string; detail: { adding: number } }> }).errors[0]!;
      expect(refusal.code).toBe('DENIED');
      expect(refusal.detail.adding).toBe(bytesOf(together));
      expect(refusal.message).toMatch(/^quota exceeded: project qz may store .* \(storage quota\); .* used, this push adds /);
      expect((await registry.fetch('/v2/qz/app/manifests/v2', { method: 'HEAD', headers: { Accept: OCI_MANIFEST } })).status).toBe(404);
      expect((await quota('qz')).usage).toEqual({ storageBytes: used, artifacts: 1 });
      // Pushing what the project stores already adds nothing, so it is never refused.
      expect((await registry.pushManifest('qz/app', 'again', first.manifest)).status).toBe(201);
    });

    it('refuses an artifact over the artifact quota; a limit below usage is allowed and refuses what adds to it', async () => {
      await admin.createProject('qc');
      await setQuota('qc', { artifacts: 2 });
      const images = [image([randomBlob(100)]), image([randomBlob(100)]), image([randomBlob(100)])];
      await registry.pushImage('qc/app', 'one', images[0]);
      await registry.pushImage('qc/app', 'two', images[1]);
      for (const blob of [images[2]!.config, ...images[2]!.layers]) expect((await registry.pushBlob('qc/app', blob)).status).toBe(201);
      const third = await registry.pushManifest('qc/app', 'three', images[2]!.manifest);
      expect(third.status).toBe(403);
      expect(((await third.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toBe(
        'quota exceeded: project qc may store 2 artifacts (artifacts quota); 2 artifacts used, this push adds 1 artifact',
      );
      // Moving a tag adds nothing.
      expect((await registry.pushManifest('qc/app', 'two', images[0]!.manifest)).status).toBe(201);
      // Below usage: allowed, nothing deleted; pushes that add are refused until usage is below again.
      const lowered = await setQuota('qc', { storageBytes: 1, artifacts: 1 });
      expect(lowered.limits).toEqual({ storageBytes: 1, artifacts: 1 });
      expect(lowered.usage.artifacts).toBe(2);
      expect((await registry.pushManifest('qc/app', 'three', images[2]!.manifest)).status).toBe(403);
      await deleteManifest('qc/app', images[1]!.digest);
      await setQuota('qc', { storageBytes: null });
      expect((await registry.pushManifest('qc/app', 'three', images[2]!.manifest)).status).toBe(403); // still 1 of 1 artifacts
      await setQuota('qc', { artifacts: null });
      expect((await registry.pushManifest('qc/app', 'three', images[2]!.manifest)).status).toBe(201);
      expect((await quota('qc')).usage.artifacts).toBe(2);
    });

    it('refuses bad quota input with a clear error and changes nothing', async () => {
      await admin.createProject('qbad');
      await setQuota('qbad', { storageBytes: 1000, artifacts: 5 });
      for (const body of [{ storageBytes: -1 }, { storageBytes: 1.5 }, { storageBytes: '10' }, { artifacts: -5 }, { other: 1 }]) {
        const res = await admin.call('PUT', '/projects/qbad/quota', body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.headers.get('content-type')).toContain('application/problem+json');
      }
      expect((await admin.call('PUT', '/projects/nope/quota', { storageBytes: 1 })).status).toBe(404);
      await admin.createUser('quotadev', 'Quota-Dev-Passw0rd');
      await admin.addMember('qbad', 'quotadev', 'admin');
      const projectAdmin = new ApiClient(berth.url, { username: 'quotadev', password: 'Quota-Dev-Passw0rd' });
      // Project administrators see their quota; only system administrators set it (as in Harbor).
      expect((await projectAdmin.ok<Quota>('GET', '/projects/qbad/quota')).limits).toEqual({ storageBytes: 1000, artifacts: 5 });
      expect((await projectAdmin.call('PUT', '/projects/qbad/quota', { storageBytes: null })).status).toBe(403);
      expect((await quota('qbad')).limits).toEqual({ storageBytes: 1000, artifacts: 5 });
      const list = await admin.ok<{ items: Quota[]; total: number }>('GET', '/quotas?q=name=qbad');
      expect(list).toEqual({ items: [{ project: 'qbad', limits: { storageBytes: 1000, artifacts: 5 }, usage: { storageBytes: 0, artifacts: 0 } }], total: 1 });
    });

    it('gives new projects the default quota, from the config file or the settings', async () => {
      await admin.ok('PATCH', '/system/settings', { quotaDefaults: { storageBytes: 10_000_000, artifacts: 100 } });
      await admin.createProject('qnew');
      expect((await quota('qnew')).limits).toEqual({ storageBytes: 10_000_000, artifacts: 100 });
      // A project made by a first push gets it too.
      await registry.pushImage('qpushed/app', 'v1', image([randomBlob(10)]));
      expect((await quota('qpushed')).limits).toEqual({ storageBytes: 10_000_000, artifacts: 100 });
      // Existing projects keep theirs.
      expect((await quota('qa')).limits).toEqual({ storageBytes: null, artifacts: null });
      const back = await admin.ok<{ quotaDefaults: unknown; quotaDefaultsFrom: string }>('PATCH', '/system/settings', { quotaDefaults: null });
      expect(back).toMatchObject({ quotaDefaults: { storageBytes: null, artifacts: null }, quotaDefaultsFrom: 'file' });
      expect((await admin.call('PATCH', '/system/settings', { quotaDefaults: { storageBytes: -3, artifacts: null } })).status).toBe(400);
    });

    it('sends a quota event at 80% and at 100% of a limit', async () => {
      await admin.createProject('qe');
      await admin.ok('POST', '/projects/qe/webhooks', { name: 'quota', url: receiver.url, eventTypes: ['quota'], format: 'harbor' });
      const large = image([randomBlob(9000)]);
      const small = image([randomBlob(300)]);
      const limit = bytesOf(large) + bytesOf(small);
      await setQuota('qe', { storageBytes: limit });
      await registry.pushImage('qe/app', 'large', large);
      const [warning] = await receiver.waitFor(1);
      await registry.pushImage('qe/app', 'small', small);
      const [, exceeded] = await receiver.waitFor(2);
      const payload = (r: { body: string }) => JSON.parse(r.body) as { type: string; operator: string; event_data: { custom_attributes: { Details: string } } };
      expect(payload(warning!).type).toBe('QUOTA_WARNING');
      expect(payload(warning!).operator).toBe('admin');
      expect(payload(warning!).event_data.custom_attributes.Details).toBe(`project qe reached 80% of its storage quota: ${bytesOf(large)} of ${limit}`);
      expect(payload(exceeded!).type).toBe('QUOTA_EXCEED');
      expect(payload(exceeded!).event_data.custom_attributes.Details).toBe(`project qe reached 100% of its storage quota: ${limit} of ${limit}`);
      expect((await quota('qe')).usage.storageBytes).toBe(limit);
      // Nothing more fits; no further event.
      const refused = await registry.pushBlob('qe/app', randomBlob(1));
      expect(refused.status).toBe(403);
      await new Promise((r) => setTimeout(r, 300));
      expect(receiver.received).toHaveLength(2);
    });

    it('keeps every project’s usage equal to a recount after random pushes, mounts, deletes, retention and GC', async () => {
      const seed = testSeed();
      console.log(`quota recount on ${engine}: seed ${seed} (BERTH_TEST_SEED=${seed} replays it)`);
      const random = prng(seed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
      const repositories = ['rq1/a', 'rq1/b', 'rq2/a', 'rq2/deep/b'];
      const tags = ['t1', 't2', 't3'];
      await admin.createProject('rq1');
      await admin.createProject('rq2');
      // A generous quota on one project, so the limit path runs under the same load.
      await setQuota('rq2', { storageBytes: 50_000_000, artifacts: 10_000 });
      await admin.ok('PUT', '/projects/rq1/retention', {
        rules: [{ repositories: { pattern: '**' }, tags: { pattern: '**' }, untagged: true, keep: { kind: 'latestPushed', value: 2 } }],
        schedule: '',
      });
      const shared: Blob[] = Array.from({ length: 6 }, (_v, i) => randomBlob(1000 + i * 300));
      const pushed: Array<{ repository: string; image: Image }> = [];
      const failures: string[] = [];
      const counts = { pushes: 0, interrupted: 0, mounts: 0, indexes: 0, moves: 0, tagDeletes: 0, manifestDeletes: 0, repositoryDeletes: 0, retention: 0, gc: 0 };

      const push = async (repository: string, tag: string) => {
        const layers = [...new Set([pick(shared), pick(shared)])];
        if (random() < 0.5) layers.push(randomBlob(200 + Math.floor(random() * 800)));
        const img = image(layers);
        for (const blob of [img.config, ...img.layers]) {
          if ((await registry.fetch(`/v2/${repository}/blobs/${blob.digest}`, { method: 'HEAD' })).status === 200) continue;
          const from = pick(repositories);
          if ((await registry.fetch(`/v2/${repository}/blobs/uploads/?mount=${blob.digest}&from=${from}`, { method: 'POST' })).status === 201) {
            counts.mounts++;
            continue;
          }
          const res = await registry.pushBlob(repository, blob);
          if (res.status === 201) continue;
          // The repository was deleted while the upload ran: the session ends, the client starts again.
          if (res.status === 404 && (await res.text()).includes('was deleted during this upload')) return void counts.interrupted++;
          throw new Error(`blob into ${repository}: ${res.status} ${await res.text()}`);
        }
        const res = await registry.pushManifest(repository, tag, img.manifest);
        if (res.status === 201) {
          pushed.push({ repository, image: img });
          counts.pushes++;
          return;
        }
        // A repository delete (or GC, whose grace here is one second) took a blob's link since it was uploaded.
        const text = await res.text();
        if (res.status === 400 && text.includes('MANIFEST_BLOB_UNKNOWN')) return void counts.interrupted++;
        throw new Error(`manifest ${repository}:${tag}: ${res.status} ${text}`);
      };
      const waitRun = async (path: string) => {
        const deadline = Date.now() + 30_000;
        for (;;) {
          const run = await admin.ok<{ status: string; error: string | null }>('GET', path);
          if (run.status === 'failed') failures.push(`${path} failed: ${run.error}`);
          if (run.status === 'succeeded' || run.status === 'failed') return;
          if (Date.now() > deadline) throw new Error(`${path} still ${run.status}`);
          await new Promise((r) => setTimeout(r, 25));
        }
      };

      const worker = async (rounds: number) => {
        for (let i = 0; i < rounds; i++) {
          const repository = pick(repositories);
          const roll = random();
          try {
            if (roll < 0.45) await push(repository, pick(tags));
            else if (roll < 0.55) {
              const earlier = pushed.filter((p) => p.repository === repository);
              if (earlier.length < 2) continue;
              const children = [pick(earlier).image, pick(earlier).image];
              const index = Buffer.from(
                JSON.stringify({
                  schemaVersion: 2,
                  mediaType: OCI_INDEX,
                  manifests: children.map((c, n) => ({ mediaType: OCI_MANIFEST, digest: c.digest, size: c.manifest.length, platform: { architecture: n === 0 ? 'amd64' : 'arm64', os: 'linux' } })),
                }),
              );
              const res = await registry.pushManifest(repository, pick(tags), index, OCI_INDEX);
              // A child may have been deleted since: then the index is refused (400), which is right.
              if (res.status !== 201 && res.status !== 400) throw new Error(`index: ${res.status} ${await res.text()}`);
              counts.indexes++;
            } else if (roll < 0.65) {
              const earlier = pushed.filter((p) => p.repository === repository);
              if (earlier.length === 0) continue;
              const res = await registry.pushManifest(repository, pick(tags), pick(earlier).image.manifest);
              if (res.status !== 201 && res.status !== 400) throw new Error(`move tag: ${res.status} ${await res.text()}`);
              counts.moves++;
            } else if (roll < 0.75) {
              const res = await registry.fetch(`/v2/${repository}/manifests/${pick(tags)}`, { method: 'DELETE' });
              if (res.status !== 202 && res.status !== 404) throw new Error(`delete tag: ${res.status}`);
              counts.tagDeletes++;
            } else if (roll < 0.85) {
              const earlier = pushed.filter((p) => p.repository === repository);
              if (earlier.length === 0) continue;
              const res = await registry.fetch(`/v2/${repository}/manifests/${pick(earlier).image.digest}`, { method: 'DELETE' });
              if (res.status !== 202 && res.status !== 404) throw new Error(`delete manifest: ${res.status}`);
              counts.manifestDeletes++;
            } else if (roll < 0.88) {
              const [project, ...rest] = repository.split('/');
              const res = await admin.call('DELETE', `/projects/${project}/repositories/${encodeURIComponent(rest.join('/'))}`);
              if (res.status !== 204 && res.status !== 404) throw new Error(`delete repository: ${res.status} ${await res.text()}`);
              counts.repositoryDeletes++;
            } else if (roll < 0.94) {
              const res = await admin.call('POST', '/projects/rq1/retention/runs', { dryRun: false });
              if (res.status !== 201) throw new Error(`retention: ${res.status} ${await res.text()}`);
              await waitRun(`/projects/rq1/retention/runs/${((await res.json()) as { id: number }).id}`);
              counts.retention++;
            } else {
              const res = await admin.call('POST', '/system/gc', { graceHours: 1 / 3600, deleteUntagged: random() < 0.5 });
              if (res.status === 201) {
                await waitRun(`/system/gc/${((await res.json()) as { id: number }).id}`);
                counts.gc++;
              } else if (res.status !== 409) throw new Error(`gc: ${res.status} ${await res.text()}`);
            }
          } catch (err) {
            failures.push((err as Error).message);
          }
        }
      };
      for (let wave = 0; wave < 3; wave++) await Promise.all([worker(20), worker(20), worker(20)]);
      console.log(`quota recount on ${engine}: ${JSON.stringify(counts)}`);
      if (failures.length > 0) console.log(berth.logs.filter((line) => /"level":(50|40)/.test(line)).join(''));
      expect(failures).toEqual([]);
      expect(counts.pushes).toBeGreaterThan(40);
      expect(counts.retention + counts.gc).toBeGreaterThan(3);

      // The API reports what a recount from the manifests finds.
      const database = connect({ url: berth.config.database.url, poolSize: 1 });
      try {
        const recount = await recountUsage(database.db);
        for (const project of ['rq1', 'rq2']) {
          const want = recount.get(project) ?? { bytes: 0, artifacts: 0 };
          expect((await quota(project)).usage, project).toEqual({ storageBytes: want.bytes, artifacts: want.artifacts });
        }
        expect(await checkConsistency(berth, { hash: false })).toEqual({ problems: [] });
        // The migration's backfill (recounting in SQL) agrees with what the transactions kept.
        const kept = await database.db.selectFrom('project_usage').selectAll().orderBy('project').execute();
        const keptBlobs = await database.db.selectFrom('project_blob').selectAll().orderBy('project').orderBy('digest').execute();
        await recountAllUsage(database.db as never, database.engine);
        const recounted = await database.db.selectFrom('project_usage').selectAll().orderBy('project').execute();
        const recountedBlobs = await database.db.selectFrom('project_blob').selectAll().orderBy('project').orderBy('digest').execute();
        // Projects whose last manifest went keep a zero row; the recount has none for them.
        expect(recounted).toEqual(kept.filter((u) => Number(u.artifacts) > 0));
        expect(recountedBlobs).toEqual(keptBlobs);
      } finally {
        await database.db.destroy();
      }
    }, 240_000);

    it.skipIf(toolsMissing.length > 0)('shows skopeo and podman the quota error on a push that does not fit', async () => {
      const work = await mkdtemp(join(tmpdir(), 'berth-quota-'));
      try {
        await admin.createProject('qtools');
        await setQuota('qtools', { storageBytes: 64 });
        const tools = new ContainerTools(work);
        await writeFile(tools.env.REGISTRY_AUTH_FILE!, '{}');
        const layout = await writeOciLayout(join(work, 'layout'), 'v1', [{ architecture: 'amd64', files: { 'data.bin': randomBytes(4096).toString('hex') } }]);
        const host = new URL(berth.url).host;
        const skopeo = await tools.run('sh', ['-c', `skopeo copy --dest-tls-verify=false --dest-creds admin:Admin-Passw0rd oci:${layout.dir}:v1 docker://${host}/qtools/app:v1 2>&1; echo "exit=$?"`]);
        console.log(`skopeo over quota:\n${skopeo}`);
        expect(skopeo).toMatch(/denied: quota exceeded: project qtools may store 64 B \(storage quota\); 0 B used, this push adds \d+(\.\d+)? (B|KiB)/);
        expect(skopeo).toMatch(/exit=[1-9]/);
        // Into podman's own image store (a named copy: podman names oci: pulls after their path).
        await tools.skopeo(['copy', `oci:${layout.dir}:v1`, `containers-storage:[vfs@${join(work, 'storage')}+${join(work, 'run')}]localhost/quota-app:v1`]);
        const podman = await tools.run('sh', [
          '-c',
          `podman ${tools.storage.join(' ')} push --tls-verify=false --creds admin:Admin-Passw0rd localhost/quota-app:v1 docker://${host}/qtools/app:v1 2>&1; echo "exit=$?"`,
        ]);
        console.log(`podman over quota:\n${podman}`);
        expect(podman).toMatch(/denied: quota exceeded: project qtools may store 64 B \(storage quota\); 0 B used, this push adds \d+(\.\d+)? (B|KiB)/);
        expect(podman).toMatch(/exit=[1-9]/);
        expect((await quota('qtools')).usage).toEqual({ storageBytes: 0, artifacts: 0 });
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    });
  });
}
