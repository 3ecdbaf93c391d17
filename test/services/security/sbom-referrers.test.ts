import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBerth, type TestBerth } from '../../helpers/berth.js';
import { ApiClient } from '../../helpers/api.js';
import { imageManifest, jsonBlob, sha256, RegistryClient, type Blob } from '../../helpers/oci.js';
import { gzipTarOf, type TarItem } from '../../helpers/layer-tar.js';
import { until } from '../../helpers/wait.js';

const blob = (data: Buffer): Blob => ({ data, digest: sha256(data) });

interface Sbom {
  format: string;
  mediaType: string;
  source: string;
  manifestDigest: string;
  blobDigest: string;
  size: number;
  predicateType?: string;
}

const debian: TarItem[] = [
  { path: 'etc/os-release', content: 'ID=debian\nVERSION_ID="12"\n' },
  { path: 'var/lib/dpkg/status', content: 'Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b2\n' },
];

describe('SBOMs as OCI referrers: attached by Berth, and pushed by clients', () => {
  let berth: TestBerth;
  let admin: ApiClient;
  let registry: RegistryClient;

  beforeAll(async () => {
    berth = await startTestBerth({ settings: { 'jobs.pollIntervalMs': 100 } });
    admin = new ApiClient(berth.url);
    registry = new RegistryClient(berth.url);
  });
  afterAll(async () => {
    await berth?.stop();
  });

  async function push(name: string, tag: string, items: TarItem[]): Promise<{ digest: string; size: number }> {
    const config = jsonBlob({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, tag });
    const layer = blob(gzipTarOf(items));
    for (const b of [config, layer]) expect((await registry.pushBlob(name, b)).status).toBe(201);
    const manifest = imageManifest(config, [layer]);
    expect((await registry.pushManifest(name, tag, manifest)).status).toBe(201);
    return { digest: sha256(manifest), size: manifest.length };
  }

  /** Pushes an artifact manifest (`artifactType`, one layer of `content`) into `name`, optionally as a referrer of `subject`. */
  async function pushArtifact(name: string, artifactType: string, content: Buffer, extra: Record<string, unknown> = {}, layerAnnotations?: Record<string, string>, reference?: string): Promise<string> {
    const empty = blob(Buffer.from('{}'));
    const doc = blob(content);
    for (const b of [empty, doc]) expect((await registry.pushBlob(name, b)).status).toBe(201);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType,
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty.digest, size: 2 },
        layers: [{ mediaType: artifactType, digest: doc.digest, size: doc.data.length, ...(layerAnnotations ? { annotations: layerAnnotations } : {}) }],
        ...extra,
      }),
    );
    expect((await registry.pushManifest(name, reference ?? sha256(manifest), manifest)).status).toBe(201);
    return sha256(manifest);
  }

  it('attaches SPDX and CycloneDX documents once, as referrers a referrers-aware client finds', async () => {
    const image = await push('library/sbom-app', 'v1', debian);
    const attached = await admin.ok<Array<{ format: string; digest: string; created: boolean }>>('POST', '/projects/library/repositories/sbom-app/artifacts/v1/sboms');
    expect(attached.map((a) => [a.format, a.created])).toEqual([
      ['spdx', true],
      ['cyclonedx', true],
    ]);
    // OCI dist-spec "Listing Referrers": both, with their artifact types.
    const referrers = (await (await registry.fetch(`/v2/library/sbom-app/referrers/${image.digest}`)).json()) as { manifests: Array<{ digest: string; artifactType: string; annotations: Record<string, string> }> };
    expect(referrers.manifests.map((m) => [m.digest, m.artifactType]).sort()).toEqual(
      [
        [attached[0]!.digest, 'application/spdx+json'],
        [attached[1]!.digest, 'application/vnd.cyclonedx+json'],
      ].sort(),
    );
    expect(referrers.manifests[0]!.annotations['dev.berth.sbom.generator']).toMatch(/^berth /);
    // The SPDX document names the image and its package.
    const list = await admin.ok<Sbom[]>('GET', '/projects/library/repositories/sbom-app/artifacts/v1/sboms');
    expect(list.map((s) => [s.format, s.source, s.manifestDigest])).toEqual([
      ['spdx', 'berth', attached[0]!.digest],
      ['cyclonedx', 'berth', attached[1]!.digest],
    ]);
    const spdx = (await (await registry.fetch(`/v2/library/sbom-app/blobs/${list[0]!.blobDigest}`)).json()) as { spdxVersion: string; packages: Array<{ name: string; versionInfo: string }> };
    expect(spdx.spdxVersion).toBe('SPDX-2.3');
    expect(spdx.packages.map((p) => `${p.name} ${p.versionInfo}`)).toEqual([`localhost:${berth.port}/library/sbom-app ${image.digest}`, 'debian 12', 'bash 5.2.15-2+b2']);
    // Again: nothing new.
    const again = await admin.ok<Array<{ format: string; digest: string; created: boolean }>>('POST', '/projects/library/repositories/sbom-app/artifacts/v1/sboms');
    expect(again).toEqual(attached.map((a) => ({ ...a, created: false })));
  });

  it('recognises SBOMs clients pushed: an SPDX referrer, a cosign attestation and a BuildKit attestation manifest', async () => {
    const image = await push('library/sbom-pushed', 'v1', debian);
    const subject = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.digest, size: image.size };
    const referrer = await pushArtifact('library/sbom-pushed', 'application/spdx+json', Buffer.from('{"spdxVersion":"SPDX-2.3"}'), { subject });
    // cosign attest --type spdxjson: a DSSE envelope in the sha256-<hex>.att image, predicate type annotated.
    const attestation = await pushArtifact('library/sbom-pushed', 'application/vnd.dsse.envelope.v1+json', Buffer.from('{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}'), {}, { predicateType: 'https://spdx.dev/Document' }, `${image.digest.replace(':', '-')}.att`);
    // docker buildx --sbom: an attestation manifest beside the platform in the index.
    const statement = blob(Buffer.from('{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","predicate":{}}'));
    const attConfig = jsonBlob({ architecture: 'unknown', os: 'unknown', rootfs: { type: 'layers', diff_ids: [] } });
    for (const b of [statement, attConfig]) expect((await registry.pushBlob('library/sbom-pushed', b)).status).toBe(201);
    const attManifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: attConfig.digest, size: attConfig.data.length },
        layers: [{ mediaType: 'application/vnd.in-toto+json', digest: statement.digest, size: statement.data.length, annotations: { 'in-toto.io/predicate-type': 'https://spdx.dev/Document' } }],
      }),
    );
    expect((await registry.pushManifest('library/sbom-pushed', sha256(attManifest), attManifest)).status).toBe(201);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.digest, size: image.size, platform: { architecture: 'amd64', os: 'linux' } },
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: sha256(attManifest),
            size: attManifest.length,
            platform: { architecture: 'unknown', os: 'unknown' },
            annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': image.digest },
          },
        ],
      }),
    );
    expect((await registry.pushManifest('library/sbom-pushed', 'multi', index, 'application/vnd.oci.image.index.v1+json')).status).toBe(201);

    const list = await admin.ok<Sbom[]>('GET', `/projects/library/repositories/sbom-pushed/artifacts/${image.digest}/sboms`);
    expect(list.map((s) => [s.format, s.source, s.manifestDigest, s.predicateType ?? null])).toEqual([
      ['spdx', 'referrer', referrer, null],
      ['spdx', 'cosign-attestation', attestation, 'https://spdx.dev/Document'],
      ['spdx', 'buildkit-attestation', sha256(attManifest), 'https://spdx.dev/Document'],
    ]);
    expect(list[2]!.blobDigest).toBe(statement.digest);
  });

  it('attaches SBOMs on push when the project asks, to images only', async () => {
    await admin.createProject('sbomed');
    await admin.ok('PUT', '/projects/sbomed/security-policy', { sbomOnPush: true });
    await push('sbomed/app', 'v1', debian);
    let found: Sbom[] = [];
    await until(async () => (found = await admin.ok<Sbom[]>('GET', '/projects/sbomed/repositories/app/artifacts/v1/sboms')).length === 2, 10_000, 'SBOMs attached on push', 100);
    expect(found.map((s) => [s.format, s.source])).toEqual([
      ['spdx', 'berth'],
      ['cyclonedx', 'berth'],
    ]);
    // The referrers are artifacts, not images: nothing is attached to them in turn, and they are not scanned.
    for (const s of found) expect(await admin.ok<Sbom[]>('GET', `/projects/sbomed/repositories/app/artifacts/${s.manifestDigest}/sboms`)).toEqual([]);
    expect((await admin.call('GET', `/projects/sbomed/repositories/app/artifacts/${found[0]!.manifestDigest}/vulnerabilities`)).status).toBe(404);
    expect((await admin.call('POST', `/projects/sbomed/repositories/app/artifacts/${found[0]!.manifestDigest}/sboms`)).status).toBe(422);
  });
});
