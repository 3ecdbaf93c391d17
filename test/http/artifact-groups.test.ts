import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../helpers/api.js';
import { engineMatrix, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { OCI_EMPTY, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, RegistryClient, imageManifest, jsonBlob, randomBlob, sha256, type Blob } from '../helpers/oci.js';
import { until } from '../helpers/wait.js';

interface ListedArtifact {
  digest: string;
  size: number;
  totalSize: number;
  tags: string[];
  platforms: Array<{ digest: string; os: string; architecture: string; variant?: string; size: number }>;
  referrers: Array<{ digest: string; artifactType: string | null; kind: string }>;
  pullCount: number;
  lastPulledAt: string | null;
}

const engines = await engineMatrix();

for (const { engine, skip } of engines) {
  describe.skipIf(skip !== undefined)(`artifacts as people think of them on ${engine}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let berth: TestBerth;
    let admin: ApiClient;
    let registry: RegistryClient;

    beforeAll(async () => {
      berth = await startTestBerth({ engine });
      admin = new ApiClient(berth.url);
      registry = new RegistryClient(berth.url);
      await admin.createProject('multi');
    });
    afterAll(async () => {
      await berth?.stop();
    });

    const push = async (name: string, reference: string, body: Buffer, mediaType: string, blobs: Blob[]): Promise<string> => {
      for (const blob of blobs) expect((await registry.pushBlob(name, blob)).status).toBe(201);
      expect((await registry.pushManifest(name, reference, body, mediaType)).status).toBe(201);
      return sha256(body);
    };

    it('lists an index with two platforms, a cosign signature and an SBOM referrer as one artifact, and counts its pulls', async () => {
      const name = 'multi/app';
      const shared = randomBlob(3000);
      const amdConfig = jsonBlob({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
      const amdLayer = randomBlob(1000);
      const armConfig = jsonBlob({ architecture: 'arm64', variant: 'v8', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
      const armLayer = randomBlob(2000);
      const amd = imageManifest(amdConfig, [shared, amdLayer]);
      const arm = imageManifest(armConfig, [shared, armLayer]);
      const amdDigest = await push(name, sha256(amd), amd, OCI_MANIFEST, [amdConfig, shared, amdLayer]);
      const armDigest = await push(name, sha256(arm), arm, OCI_MANIFEST, [armConfig, shared, armLayer]);
      const index = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: [
            { mediaType: OCI_MANIFEST, digest: amdDigest, size: amd.length, platform: { os: 'linux', architecture: 'amd64' } },
            { mediaType: OCI_MANIFEST, digest: armDigest, size: arm.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
          ],
        }),
      );
      const indexDigest = await push(name, 'v1', index, OCI_INDEX, []);

      // cosign's tag scheme: sha256-<hex>.sig in the same repository, no subject field.
      const sigConfig = jsonBlob({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: [] } });
      const sigPayload = jsonBlob({ critical: { image: { 'docker-manifest-digest': indexDigest } } });
      const sig = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sigConfig.digest, size: sigConfig.data.length },
          layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: sigPayload.digest, size: sigPayload.data.length, annotations: { 'dev.cosignproject.cosign/signature': 'MEUC' } }],
        }),
      );
      const sigDigest = await push(name, `sha256-${indexDigest.slice(7)}.sig`, sig, OCI_MANIFEST, [sigConfig, sigPayload]);

      // An SBOM attached with the referrers API (subject field).
      const empty = jsonBlob({});
      const sbomDocument = jsonBlob({ spdxVersion: 'SPDX-2.3', name: 'app' });
      const sbom = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType: 'application/spdx+json',
          config: { mediaType: OCI_EMPTY, digest: empty.digest, size: empty.data.length },
          layers: [{ mediaType: 'application/spdx+json', digest: sbomDocument.digest, size: sbomDocument.data.length }],
          subject: { mediaType: OCI_INDEX, digest: indexDigest, size: index.length },
        }),
      );
      const sbomDigest = await push(name, sha256(sbom), sbom, OCI_MANIFEST, [empty, sbomDocument]);

      const amdSize = amd.length + amdConfig.data.length + shared.data.length + amdLayer.data.length;
      const armSize = arm.length + armConfig.data.length + shared.data.length + armLayer.data.length;
      // The shared layer once.
      const totalSize = index.length + amd.length + arm.length + amdConfig.data.length + armConfig.data.length + shared.data.length + amdLayer.data.length + armLayer.data.length;

      const res = await admin.call('GET', '/projects/multi/repositories/app/artifacts');
      expect(res.status).toBe(200);
      expect(res.headers.get('x-total-count')).toBe('1');
      const listed = (await res.json()) as { items: ListedArtifact[]; total: number };
      expect(listed.total).toBe(1);
      expect(listed.items).toHaveLength(1);
      const [artifact] = listed.items;
      expect(artifact).toMatchObject({ digest: indexDigest, size: index.length, totalSize, tags: ['v1'], pullCount: 0, lastPulledAt: null });
      expect(artifact!.platforms).toEqual([
        { digest: amdDigest, os: 'linux', architecture: 'amd64', size: amdSize },
        { digest: armDigest, os: 'linux', architecture: 'arm64', variant: 'v8', size: armSize },
      ]);
      expect([...artifact!.referrers].sort((a, b) => a.kind.localeCompare(b.kind))).toEqual([
        { digest: sbomDigest, artifactType: 'application/spdx+json', mediaType: OCI_MANIFEST, size: sbom.length, kind: 'sbom' },
        { digest: sigDigest, artifactType: 'application/vnd.oci.image.config.v1+json', mediaType: OCI_MANIFEST, size: sig.length, kind: 'signature' },
      ]);
      expect((await admin.ok<{ items: ListedArtifact[]; total: number }>('GET', '/projects/multi/repositories/app/artifacts?tagged=true')).total).toBe(1);
      const repositories = await admin.ok<{ items: Array<{ name: string; artifactCount: number }> }>('GET', '/projects/multi/repositories');
      expect(repositories.items).toEqual([expect.objectContaining({ name: 'multi/app', artifactCount: 1 })]);

      // The detail: the same platforms and total; a platform manifest is still there by digest.
      const detail = await admin.ok<ListedArtifact>('GET', `/projects/multi/repositories/app/artifacts/${indexDigest}`);
      expect(detail).toMatchObject({ totalSize, platforms: artifact!.platforms });
      const platform = await admin.ok<ListedArtifact>('GET', `/projects/multi/repositories/app/artifacts/${amdDigest}`);
      expect(platform).toMatchObject({ digest: amdDigest, totalSize: amdSize, platforms: [], referrers: [] });

      // Three pulls of the index, one of a platform: counted once the batched recorder writes them.
      for (let i = 0; i < 3; i++) {
        const pulled = await registry.fetch(`/v2/${name}/manifests/v1`, { headers: { Accept: OCI_INDEX } });
        expect(pulled.status).toBe(200);
        await pulled.arrayBuffer();
      }
      await (await registry.fetch(`/v2/${name}/manifests/${amdDigest}`, { headers: { Accept: OCI_MANIFEST } })).arrayBuffer();
      const listedNow = async () => (await admin.ok<{ items: ListedArtifact[] }>('GET', '/projects/multi/repositories/app/artifacts')).items[0]!;
      await until(async () => (await listedNow()).pullCount >= 3, 10_000, 'pulls recorded', 100);
      const pulledArtifact = await listedNow();
      expect(pulledArtifact.pullCount).toBe(3);
      expect(Date.parse(pulledArtifact.lastPulledAt!)).toBeGreaterThan(Date.now() - 60_000);
      await until(async () => (await admin.ok<ListedArtifact>('GET', `/projects/multi/repositories/app/artifacts/${amdDigest}`)).pullCount === 1, 10_000, 'platform pull recorded', 100);
    });

    it('lists a platform manifest that has a tag of its own, and a referrer whose subject is not in the repository', async () => {
      const name = 'multi/own';
      const config = jsonBlob({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
      const layer = randomBlob(500);
      const image = imageManifest(config, [layer]);
      const imageDigest = await push(name, 'amd64', image, OCI_MANIFEST, [config, layer]);
      const index = Buffer.from(
        JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: imageDigest, size: image.length, platform: { os: 'linux', architecture: 'amd64' } }] }),
      );
      const indexDigest = await push(name, 'latest', index, OCI_INDEX, []);
      const empty = jsonBlob({});
      const note = jsonBlob({ note: 'orphan' });
      const orphan = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType: 'application/vnd.example.note',
          config: { mediaType: OCI_EMPTY, digest: empty.digest, size: empty.data.length },
          layers: [{ mediaType: OCI_LAYER, digest: note.digest, size: note.data.length }],
          subject: { mediaType: OCI_MANIFEST, digest: sha256('absent'), size: 10 },
        }),
      );
      const orphanDigest = await push(name, sha256(orphan), orphan, OCI_MANIFEST, [empty, note]);
      const listed = await admin.ok<{ items: ListedArtifact[]; total: number }>('GET', '/projects/multi/repositories/own/artifacts?page_size=2');
      expect(listed.total).toBe(3);
      const all = [...listed.items, ...(await admin.ok<{ items: ListedArtifact[] }>('GET', '/projects/multi/repositories/own/artifacts?page=2&page_size=2')).items];
      expect(all.map((a) => a.digest).sort()).toEqual([imageDigest, indexDigest, orphanDigest].sort());
    });
  });
}
