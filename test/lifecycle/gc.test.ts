import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBlobStore } from '../../src/adapters/storage/index.js';
import { parseDigest } from '../../src/domain/digest.js';
import type { BlobStore } from '../../src/ports/blob-store.js';
import { engineMatrix, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient } from '../helpers/api.js';
import { checkConsistency } from '../helpers/consistency.js';
import { OCI_INDEX, RegistryClient, imageManifest, jsonBlob, randomBlob, randomImage, sha256, type Image } from '../helpers/oci.js';

const engines = await engineMatrix();

interface Run {
  id: number;
  status: string;
  dryRun: boolean;
  manifestsDeleted: number;
  linksDeleted: number;
  blobsDeleted: number;
  bytesFreed: number;
  preview: Array<{ repository: string; digest: string; size: number }> | null;
}

for (const { engine, skip } of engines) {
  describe.skipIf(skip !== undefined)(`garbage collection on ${engine}`, () => {
    let berth: TestBerth;
    let admin: ApiClient;
    let registry: RegistryClient;
    let store: BlobStore;

    beforeAll(async () => {
      // No schedule: the test says when runs happen.
      // Grace period 0: whatever is unused now goes (pushes then refresh what they use at every look).
      berth = await startTestBerth({ engine, settings: { 'lifecycle.gc.schedule': '', 'lifecycle.gc.graceHours': 0, 'jobs.pollIntervalMs': 50 } });
      admin = new ApiClient(berth.url);
      registry = new RegistryClient(berth.url);
      store = await createBlobStore(berth.config.storage);
    });
    afterAll(async () => {
      await store?.close?.();
      await berth?.stop();
    });

    /** Starts a run and waits for it to finish. */
    async function gc(body: Record<string, unknown>): Promise<Run> {
      const started = await admin.ok<Run>('POST', '/system/gc', { graceHours: 0, ...body });
      const deadline = Date.now() + 20_000;
      for (;;) {
        const run = await admin.ok<Run>('GET', `/system/gc/${started.id}`);
        if (run.status === 'succeeded' || run.status === 'failed') return run;
        if (Date.now() > deadline) throw new Error(`gc run ${started.id} still ${run.status}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }

    const stored = async (digest: string) => (await store.stat(parseDigest(digest).digest)) !== undefined;
    const pullsWhole = async (name: string, tag: string, image: Image) => {
      const manifest = await registry.fetch(`/v2/${name}/manifests/${tag}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
      if (!Buffer.from(await manifest.arrayBuffer()).equals(image.manifest)) return false;
      for (const blob of [image.config, ...image.layers]) {
        const res = await registry.fetch(`/v2/${name}/blobs/${blob.digest}`);
        if (!Buffer.from(await res.arrayBuffer()).equals(blob.data)) return false;
      }
      return true;
    };

    it('deletes what nothing uses, keeps what a tag needs (shared layers too), and a dry run says exactly what the run does', async () => {
      const shared = randomBlob(4096);
      const a = randomImage(1, 1000);
      const imageA: Image = { ...a, layers: [...a.layers, shared], manifest: imageManifest(a.config, [...a.layers, shared]) };
      imageA.digest = sha256(imageA.manifest);
      const b = randomImage(1, 1500);
      const imageB: Image = { ...b, layers: [...b.layers, shared], manifest: imageManifest(b.config, [...b.layers, shared]) };
      imageB.digest = sha256(imageB.manifest);
      await registry.pushImage('gc/app', 'a', imageA);
      await registry.pushImage('gc/other', 'b', imageB);
      // C is deleted by digest: its manifest, config and layers are garbage; the shared layer is not.
      const c = randomImage(2, 2000);
      const imageC: Image = { ...c, layers: [...c.layers, shared], manifest: imageManifest(c.config, [...c.layers, shared]) };
      imageC.digest = sha256(imageC.manifest);
      await registry.pushImage('gc/app', 'c', imageC);
      expect((await registry.fetch(`/v2/gc/app/manifests/${imageC.digest}`, { method: 'DELETE' })).status).toBe(202);
      // A blob uploaded but never used by a manifest.
      const orphan = randomBlob(777);
      expect((await registry.pushBlob('gc/app', orphan)).status).toBe(201);

      const garbage = [imageC.config, ...imageC.layers.slice(0, 2), orphan];
      const garbageBytes = garbage.reduce((n, g) => n + g.data.length, 0) + imageC.manifest.length;

      const preview = await gc({ dryRun: true });
      expect(preview).toMatchObject({ status: "succeeded", dryRun: true, manifestsDeleted: 0, blobsDeleted: garbage.length + 1, bytesFreed: garbageBytes });
      // Nothing was deleted by the dry run.
      for (const g of garbage) expect(await stored(g.digest)).toBe(true);

      const run = await gc({});
      expect(run).toMatchObject({ status: 'succeeded', dryRun: false, blobsDeleted: preview.blobsDeleted, bytesFreed: preview.bytesFreed, linksDeleted: preview.linksDeleted });
      for (const g of garbage) expect(await stored(g.digest), g.digest).toBe(false);
      expect(await stored(imageC.digest)).toBe(false);
      expect(await stored(shared.digest)).toBe(true);
      expect(await pullsWhole('gc/app', 'a', imageA)).toBe(true);
      expect(await pullsWhole('gc/other', 'b', imageB)).toBe(true);
      // The orphan's link is gone with it: the repository no longer serves it.
      expect((await registry.fetch(`/v2/gc/app/blobs/${orphan.digest}`, { method: 'HEAD' })).status).toBe(404);
      expect(await checkConsistency(berth)).toEqual({ problems: [] });

      // A second run finds nothing.
      expect(await gc({})).toMatchObject({ manifestsDeleted: 0, linksDeleted: 0, blobsDeleted: 0, bytesFreed: 0 });
    });

    it('deletes untagged manifests only when asked, an index with its platform manifests in one run', async () => {
      const old = await registry.pushImage('gc/untagged', 'latest');
      await registry.pushImage('gc/untagged', 'latest'); // the tag moves on; old is untagged now
      expect(await gc({ deleteUntagged: false })).toMatchObject({ manifestsDeleted: 0, blobsDeleted: 0 });
      expect(await stored(old.digest)).toBe(true);

      const children = [randomImage(1, 900), randomImage(1, 950)];
      for (const child of children) await registry.pushImage('gc/untagged', child.digest, child);
      const index = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: children.map((child, i) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: child.digest, size: child.manifest.length, platform: { os: 'linux', architecture: ['amd64', 'arm64'][i] } })),
        }),
      );
      expect((await registry.pushManifest('gc/untagged', 'multi', index, OCI_INDEX)).status).toBe(201);
      // While the index is tagged, its children stay, untagged as they are.
      expect(await gc({ deleteUntagged: true })).toMatchObject({ manifestsDeleted: 1 });
      expect(await stored(old.digest)).toBe(false);
      for (const child of children) expect(await stored(child.digest)).toBe(true);

      expect((await registry.fetch('/v2/gc/untagged/manifests/multi', { method: 'DELETE' })).status).toBe(202);
      const preview = await gc({ deleteUntagged: true, dryRun: true });
      expect(preview.manifestsDeleted).toBe(3);
      expect(preview.preview?.map((m) => m.digest).sort()).toEqual([sha256(index), ...children.map((c) => c.digest)].sort());
      const run = await gc({ deleteUntagged: true });
      expect(run).toMatchObject({ manifestsDeleted: 3, blobsDeleted: preview.blobsDeleted, bytesFreed: preview.bytesFreed });
      expect(preview.blobsDeleted).toBe(1 + 2 * 3); // the index, and each child's manifest, config and layer
      for (const child of children) for (const blob of [child.config, ...child.layers]) expect(await stored(blob.digest)).toBe(false);
      expect(await checkConsistency(berth)).toEqual({ problems: [] });
    });

    it("deletes a signature whose image was deleted, and keeps one whose image is there", async () => {
      const image = await registry.pushImage('gc/signed', 'v1');
      const other = await registry.pushImage('gc/signed', 'v2');
      const signature = (subject: Image) => {
        const config = jsonBlob({});
        const payload = randomBlob(300);
        return {
          blobs: [config, payload],
          manifest: imageManifest(config, [payload], {
            artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
            subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subject.digest, size: subject.manifest.length },
          }),
        };
      };
      for (const subject of [image, other]) {
        const sig = signature(subject);
        for (const blob of sig.blobs) await registry.pushBlob('gc/signed', blob);
        expect((await registry.pushManifest('gc/signed', sha256(sig.manifest), sig.manifest)).status).toBe(201);
      }
      expect((await registry.fetch(`/v2/gc/signed/manifests/${image.digest}`, { method: 'DELETE' })).status).toBe(202);
      // Not even asked to delete untagged manifests: an orphaned referrer goes anyway; the other stays.
      const run = await gc({ deleteUntagged: false });
      expect(run.manifestsDeleted).toBe(1);
      const referrers = await (await registry.fetch(`/v2/gc/signed/referrers/${other.digest}`)).json();
      expect((referrers as { manifests: unknown[] }).manifests).toHaveLength(1);
      expect(await checkConsistency(berth)).toEqual({ problems: [] });
    });

    it("deletes cosign tag-scheme signatures (sha256-<hex>.sig, .att) with their image, and keeps those whose image is there", async () => {
      const image = await registry.pushImage('gc/cosigned', 'v1');
      const other = await registry.pushImage('gc/cosigned', 'v2');
      // cosign's layout: an image manifest of simple-signing payloads, tagged after the image's digest.
      const signature = (subject: Image, suffix: string) => {
        const config = jsonBlob({ architecture: '', os: '', rootfs: { type: 'layers', diff_ids: [] } });
        const payload = jsonBlob({ critical: { identity: { 'docker-reference': 'x' }, image: { 'docker-manifest-digest': subject.digest }, type: 'cosign container image signature' }, optional: null, suffix });
        return { blobs: [config, payload], manifest: imageManifest(config, [payload]), tag: `${subject.digest.replace(':', '-')}.${suffix}` };
      };
      const pushed = [];
      for (const [subject, suffix] of [[image, 'sig'], [image, 'att'], [other, 'sig']] as const) {
        const sig = signature(subject, suffix);
        for (const blob of sig.blobs) await registry.pushBlob('gc/cosigned', blob);
        expect((await registry.pushManifest('gc/cosigned', sig.tag, sig.manifest)).status).toBe(201);
        pushed.push(sig);
      }
      // A tag that only looks like the scheme (no digest in it) is an ordinary tag, and kept.
      expect((await registry.pushManifest('gc/cosigned', 'sha256-release.sig', pushed[2]!.manifest)).status).toBe(201);
      expect((await registry.fetch(`/v2/gc/cosigned/manifests/${image.digest}`, { method: 'DELETE' })).status).toBe(202);
      const dry = await gc({ dryRun: true, deleteUntagged: false });
      expect(dry.manifestsDeleted).toBe(2);
      const run = await gc({ deleteUntagged: false });
      expect(run.manifestsDeleted).toBe(2);
      const tags = (await (await registry.fetch('/v2/gc/cosigned/tags/list')).json()) as { tags: string[] };
      expect(tags.tags.sort()).toEqual([pushed[2]!.tag, 'sha256-release.sig', 'v2'].sort());
      for (const gone of pushed.slice(0, 2)) expect((await registry.fetch(`/v2/gc/cosigned/manifests/${gone.tag}`, { method: 'HEAD' })).status).toBe(404);
      expect(await checkConsistency(berth)).toEqual({ problems: [] });
    });

    it('runs one at a time, and records each run in the history, metrics and events', async () => {
      const first = await admin.ok<Run>('POST', '/system/gc', { graceHours: 0, dryRun: true });
      const second = await admin.call('POST', '/system/gc', { graceHours: 0 });
      if (second.status !== 409) {
        // The first one may already have finished on a fast machine; then this one was accepted.
        expect(second.status).toBe(201);
      } else {
        const problem = (await second.json()) as { code: string; title: string };
        expect(problem.code).toBe('CONFLICT');
        expect(problem.title).toMatch(new RegExp(`^garbage collection run ${first.id} is already (queued|running); one run at a time$`));
      }
      // Every run finished (the second may have been accepted and still be running): only then do history and metrics agree.
      let history: { items: Run[]; total: number } = { items: [], total: 0 };
      const deadline = Date.now() + 20_000;
      for (;;) {
        history = await admin.ok<{ items: Run[]; total: number }>('GET', '/system/gc?page_size=100');
        if (history.items.every((r) => r.status !== 'queued' && r.status !== 'running')) break;
        if (Date.now() > deadline) throw new Error('gc runs still running after 20 s');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(history.items[history.items.length - 1]!.id).toBeLessThan(history.items[0]!.id);
      const freed = history.items.filter((r) => !r.dryRun && r.status === 'succeeded').reduce((n, r) => n + r.bytesFreed, 0);
      await new Promise((r) => setTimeout(r, 500));
      const metrics = await (await fetch(`${berth.url}/metrics`)).text();
      expect(Number(/^berth_gc_freed_bytes_total (\d+)$/m.exec(metrics)?.[1])).toBe(freed);
      expect((await admin.call('POST', '/system/gc', { graceHours: -1 })).status).toBe(400);
      const user = new ApiClient(berth.url, null);
      expect((await user.call('POST', '/system/gc', {})).status).toBe(401);
    });
  });
}
