import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineMatrix, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient } from '../helpers/api.js';
import { checkConsistency } from '../helpers/consistency.js';
import { prng, testSeed } from '../helpers/prng.js';
import { OCI_MANIFEST, RegistryClient, imageManifest, jsonBlob, sha256, type Blob } from '../helpers/oci.js';

const engines = await engineMatrix();

const repositories = ['race/a', 'race/b', 'race/c'];
const tags = ['t1', 't2', 't3', 't4'];
/** Grace period of the runs: far longer than one push takes here, far shorter than the test. */
const graceSeconds = 3;

for (const { engine, skip } of engines) {
  describe.skipIf(skip !== undefined)(`garbage collection racing pushes, tag moves and deletes on ${engine}`, () => {
    let berth: TestBerth;
    let admin: ApiClient;

    beforeAll(async () => {
      // The configured grace period sets how often pushes refresh what they use (a quarter of it).
      berth = await startTestBerth({ engine, settings: { 'lifecycle.gc.schedule': '', 'lifecycle.gc.graceHours': graceSeconds / 3600, 'jobs.pollIntervalMs': 50, 'lifecycle.gc.batchSize': 7 } });
      admin = new ApiClient(berth.url);
    });
    afterAll(async () => {
      await berth?.stop();
    });

    it('never loses a blob a tag needs, and no push fails, over many rounds', async () => {
      const seed = testSeed();
      console.log(`gc race on ${engine}: seed ${seed} (BERTH_TEST_SEED=${seed} replays it)`);
      const random = prng(seed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
      const client = new RegistryClient(berth.url);
      // Layers images share across repositories, as base images do.
      const shared: Blob[] = Array.from({ length: 6 }, (_v, i) => ({ data: randomBytes(2048 + i * 512), digest: '' })).map((b) => ({ data: b.data, digest: sha256(b.data) }));
      const failures: string[] = [];
      /**
       * Pushes whose manifest came later than the grace period after they began: outside the
       * promise GC makes (docs/lifecycle.md: the grace period must outlast any push), so a blob
       * of theirs may rightly be gone. Only a very busy machine makes them; they are counted apart.
       */
      const slow: string[] = [];
      const counts = { pushes: 0, moves: 0, tagDeletes: 0, manifestDeletes: 0, gcRuns: 0 };
      const pushed: Array<{ repository: string; digest: string; body: Buffer }> = [];

      /** As docker and podman push: HEAD each blob, upload what is missing, then the manifest. */
      const push = async (repository: string, tag: string, layers: Blob[]) => {
        const started = Date.now();
        const config = jsonBlob({ architecture: 'amd64', os: 'linux', nonce: random() });
        for (const blob of [config, ...layers]) {
          const head = await client.fetch(`/v2/${repository}/blobs/${blob.digest}`, { method: 'HEAD' });
          if (head.status === 200) continue;
          const mounted = await client.fetch(`/v2/${repository}/blobs/uploads/?mount=${blob.digest}&from=${pick(repositories)}`, { method: 'POST' });
          if (mounted.status === 201) continue;
          const upload = await client.pushBlob(repository, blob);
          if (upload.status !== 201) throw new Error(`upload ${blob.digest}: ${upload.status} ${await upload.text()}`);
        }
        const body = imageManifest(config, layers);
        const res = await client.pushManifest(repository, tag, body);
        const took = Date.now() - started;
        if (res.status !== 201) {
          const text = await res.text();
          if (res.status === 400 && text.includes('MANIFEST_BLOB_UNKNOWN') && took > graceSeconds * 1000) {
            slow.push(`${repository}:${tag} after ${took} ms`);
            return;
          }
          throw new Error(`manifest ${repository}:${tag} after ${took} ms: ${res.status} ${text}`);
        }
        pushed.push({ repository, digest: sha256(body), body });
      };

      const worker = async (rounds: number) => {
        for (let i = 0; i < rounds; i++) {
          const repository = pick(repositories);
          const roll = random();
          try {
            if (roll < 0.5) {
              const layers = [...new Set([pick(shared), pick(shared)])];
              if (random() < 0.5) layers.push({ data: randomBytes(1024), digest: '' });
              await push(
                repository,
                pick(tags),
                layers.map((l) => (l.digest ? l : { data: l.data, digest: sha256(l.data) })),
              );
              counts.pushes++;
            } else if (roll < 0.7) {
              // Move a tag to a manifest pushed earlier to this repository (by pushing it again, as clients do).
              const earlier = pushed.filter((p) => p.repository === repository);
              if (earlier.length === 0) continue;
              const target = pick(earlier);
              const res = await client.pushManifest(repository, pick(tags), target.body);
              // The manifest may have been deleted (and collected) since: then its blobs may be too.
              if (res.status !== 201 && res.status !== 400) throw new Error(`move tag: ${res.status} ${await res.text()}`);
              counts.moves++;
            } else if (roll < 0.85) {
              const res = await client.fetch(`/v2/${repository}/manifests/${pick(tags)}`, { method: 'DELETE' });
              if (res.status !== 202 && res.status !== 404) throw new Error(`delete tag: ${res.status}`);
              counts.tagDeletes++;
            } else {
              const earlier = pushed.filter((p) => p.repository === repository);
              if (earlier.length === 0) continue;
              const res = await client.fetch(`/v2/${repository}/manifests/${pick(earlier).digest}`, { method: 'DELETE' });
              if (res.status !== 202 && res.status !== 404) throw new Error(`delete manifest: ${res.status}`);
              counts.manifestDeletes++;
            }
          } catch (err) {
            failures.push((err as Error).message);
          }
          if (random() < 0.2) await new Promise((r) => setTimeout(r, Math.floor(random() * 200)));
        }
      };

      let working = true;
      const collector = (async () => {
        while (working) {
          const res = await admin.call('POST', '/system/gc', { graceHours: graceSeconds / 3600, deleteUntagged: random() < 0.7 });
          if (res.status === 201) {
            const { id } = (await res.json()) as { id: number };
            for (;;) {
              const run = await admin.ok<{ status: string; error: string | null }>('GET', `/system/gc/${id}`);
              if (run.status === 'failed') failures.push(`gc run ${id} failed: ${run.error}`);
              if (run.status === 'succeeded' || run.status === 'failed') break;
              await new Promise((r) => setTimeout(r, 20));
            }
            counts.gcRuns++;
          } else if (res.status !== 409) failures.push(`starting gc: ${res.status} ${await res.text()}`);
        }
      })();
      // Rounds in waves, so old content ages past the grace period while pushes go on.
      for (let wave = 0; wave < 4; wave++) await Promise.all([worker(25), worker(25), worker(25), worker(25)]);
      working = false;
      await collector;

      console.log(`gc race on ${engine}: ${JSON.stringify(counts)}; pushes slower than the ${graceSeconds} s grace period: ${slow.length}`);
      // The race is tested only if nearly every push fits in the grace period.
      expect(slow.length, `pushes slower than the grace period (this machine is too busy for the test): ${slow.join(', ')}`).toBeLessThanOrEqual(Math.floor(counts.pushes / 5));
      if (failures.length > 0) console.log(berth.logs.filter((l) => l.includes('request failed')).join('\n'));
      expect(failures).toEqual([]);
      expect(counts.gcRuns).toBeGreaterThan(3);
      // The collector really deleted while the pushes went on (else this test would prove nothing).
      const metrics = await (await fetch(`${berth.url}/metrics`)).text();
      const deleted = (kind: string) => Number(new RegExp(`^berth_gc_deleted_total\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(metrics)?.[1]);
      console.log(`gc race on ${engine}: deleted ${deleted('manifests')} manifests, ${deleted('links')} links, ${deleted('blobs')} blobs`);
      expect(deleted('blobs')).toBeGreaterThan(20);
      expect(deleted('manifests')).toBeGreaterThan(5);

      // Every tag still there pulls completely, every digest verifies.
      let tagged = 0;
      for (const repository of repositories) {
        const list = await client.fetch(`/v2/${repository}/tags/list`);
        if (list.status === 404) continue;
        for (const tag of ((await list.json()) as { tags: string[] }).tags) {
          const res = await client.fetch(`/v2/${repository}/manifests/${tag}`, { headers: { Accept: OCI_MANIFEST } });
          expect(res.status, `${repository}:${tag}`).toBe(200);
          const body = Buffer.from(await res.arrayBuffer());
          expect(sha256(body)).toBe(res.headers.get('docker-content-digest'));
          const manifest = JSON.parse(body.toString()) as { config: { digest: string }; layers: Array<{ digest: string }> };
          for (const { digest } of [manifest.config, ...manifest.layers]) {
            const blob = await client.fetch(`/v2/${repository}/blobs/${digest}`);
            expect(blob.status, `${repository}:${tag} ${digest}`).toBe(200);
            expect(sha256(Buffer.from(await blob.arrayBuffer()))).toBe(digest);
          }
          tagged++;
        }
      }
      expect(tagged).toBeGreaterThan(0);
      expect(await checkConsistency(berth)).toEqual({ problems: [] });
    }, 240_000);
  });
}
