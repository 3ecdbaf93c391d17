import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDistribution, type RunningSystem } from '../../bench/systems.js';
import { OutboundClient } from '../../src/adapters/outbound/outbound-client.js';
import { RegistryClient as UpstreamClient } from '../../src/adapters/upstream/registry-client.js';
import { parseCidr } from '../../src/domain/address-ranges.js';
import { ArtifactCopier, emptyCounts } from '../../src/services/replication/artifact-copier.js';
import { LocalRegistry } from '../../src/services/replication/local-registry.js';
import { ApiClient } from '../helpers/api.js';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { OCI_INDEX, OCI_MANIFEST, RegistryClient, imageIndex, imageManifest, jsonBlob, randomImage, sha256, type Image } from '../helpers/oci.js';

const outbound = new OutboundClient({ allowed: () => [parseCidr('127.0.0.0/8')!], timeoutMs: 5000, maxResponseBytes: 1024 * 1024, maxRedirects: 5, userAgent: 'Berth-test' });
const remote = (url: string, credentials?: { username: string; secret: string }) =>
  new UpstreamClient({ outbound, feature: 'replication', url, credentials, maxManifestBytes: 4 * 1024 * 1024 });
const admin = { username: 'admin', secret: 'Admin-Passw0rd' };

/** A multi-arch index of two images, an image with a signature and an SBOM (referrers), pushed to a Berth. */
async function pushFixtures(base: string, repository: string): Promise<{ index: Buffer; amd64: Image; arm64: Image; signed: Image; signature: Buffer; sbom: Buffer; sbomSignature: Buffer }> {
  const client = new RegistryClient(base);
  const amd64 = await client.pushImage(repository, 'amd64-only', randomImage(2, 8192));
  const arm64 = await client.pushImage(repository, 'arm64-only', randomImage(2, 8192));
  const index = imageIndex([
    { image: amd64, architecture: 'amd64' },
    { image: arm64, architecture: 'arm64' },
  ]);
  expect((await client.pushManifest(repository, 'v1-multi', index, OCI_INDEX)).status).toBe(201);
  // The per-platform tags go: only the index holds its children now.
  for (const tag of ['amd64-only', 'arm64-only']) expect((await client.fetch(`/v2/${repository}/manifests/${tag}`, { method: 'DELETE' })).status).toBe(202);
  const signed = await client.pushImage(repository, 'v2', randomImage(1, 4096));
  const subject = (image: { digest: string; manifest: Buffer }) => ({ mediaType: OCI_MANIFEST, digest: image.digest, size: image.manifest.length });
  const empty = jsonBlob({});
  const payload = jsonBlob({ spdxVersion: 'SPDX-2.3', name: 'sbom' });
  for (const blob of [empty, payload]) expect((await client.pushBlob(repository, blob)).status).toBe(201);
  const signature = imageManifest(empty, [], { artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', subject: subject(signed) });
  const sbom = imageManifest(empty, [payload], { artifactType: 'application/spdx+json', subject: subject(signed) });
  // A signature of the SBOM: a referrer of a referrer.
  const sbomSignature = imageManifest(empty, [], { artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', subject: { mediaType: OCI_MANIFEST, digest: sha256(sbom), size: sbom.length } });
  for (const body of [signature, sbom, sbomSignature]) expect((await client.pushManifest(repository, sha256(body), body)).status).toBe(201);
  // A tag outside the filter of the tests below.
  await client.pushImage(repository, 'nightly', randomImage(1, 1024));
  return { index, amd64, arm64, signed, signature, sbom, sbomSignature };
}

describe('copying artifacts between registries', () => {
  let source: TestBerth;
  let target: TestBerth;
  let fixtures: Awaited<ReturnType<typeof pushFixtures>>;

  beforeAll(async () => {
    source = await startTestBerth();
    target = await startTestBerth();
    fixtures = await pushFixtures(source.url, 'library/app');
    await new ApiClient(target.url).createProject('mirror');
  });
  afterAll(async () => {
    await source?.stop();
    await target?.stop();
  });

  it('pulls an index with every platform and an image with its signature, SBOM and the SBOM’s signature; a second copy transfers nothing', async () => {
    const copier = new ArtifactCopier();
    const from = { registry: remote(source.url, admin), repository: 'library/app' };
    const to = { registry: new LocalRegistry(target.registry, 'replication:test'), repository: 'mirror/app' };
    const counts = emptyCounts();
    expect(await copier.copy(from, to, 'v1-multi', counts)).toBe(sha256(fixtures.index));
    expect(await copier.copy(from, to, 'v2', counts)).toBe(fixtures.signed.digest);
    // index + 2 images; image + signature + SBOM + the SBOM's signature.
    // Blobs: 3 + 3 for the platforms, 2 for the image, the empty config once and the SBOM's payload.
    expect(counts).toEqual({ manifestsCopied: 7, manifestsSkipped: 0, blobsCopied: 10, blobsMounted: 0, blobsSkipped: 2, bytesCopied: counts.bytesCopied });
    expect(counts.bytesCopied).toBeGreaterThan(4 * 8192 + 4096);

    const pulled = new RegistryClient(target.url);
    const expectManifest = async (reference: string, body: Buffer) => {
      const res = await pulled.fetch(`/v2/mirror/app/manifests/${reference}`, { headers: { Accept: `${OCI_INDEX}, ${OCI_MANIFEST}` } });
      expect(res.status, reference).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(body), reference).toBe(true);
    };
    await expectManifest('v1-multi', fixtures.index);
    for (const image of [fixtures.amd64, fixtures.arm64, fixtures.signed]) {
      await expectManifest(image.digest, image.manifest);
      for (const blob of [image.config, ...image.layers]) {
        const res = await pulled.fetch(`/v2/mirror/app/blobs/${blob.digest}`);
        expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(blob.digest);
      }
    }
    await expectManifest('v2', fixtures.signed.manifest);
    const referrers = (await (await pulled.fetch(`/v2/mirror/app/referrers/${fixtures.signed.digest}`)).json()) as { manifests: Array<{ digest: string }> };
    expect(referrers.manifests.map((m) => m.digest).sort()).toEqual([sha256(fixtures.signature), sha256(fixtures.sbom)].sort());
    await expectManifest(sha256(fixtures.sbomSignature), fixtures.sbomSignature);
    // Not asked for: not copied.
    expect((await pulled.fetch('/v2/mirror/app/manifests/nightly')).status).toBe(404);

    const again = emptyCounts();
    await copier.copy(from, to, 'v1-multi', again);
    await copier.copy(from, to, 'v2', again);
    expect(again).toEqual({ manifestsCopied: 0, manifestsSkipped: 5, blobsCopied: 0, blobsMounted: 0, blobsSkipped: 0, bytesCopied: 0 });
  });

  it('pushes from this Berth to another, mounting blobs it already has elsewhere', async () => {
    const copier = new ArtifactCopier({ mountFrom: ['library/app'] });
    const from = { registry: new LocalRegistry(target.registry, 'replication:test'), repository: 'mirror/app' };
    const to = { registry: remote(source.url, admin), repository: 'library/copy' };
    const counts = emptyCounts();
    expect(await copier.copy(from, to, 'v2', counts)).toBe(fixtures.signed.digest);
    // Every blob is in library/app there already: mounted, none sent.
    expect(counts).toEqual({ manifestsCopied: 4, manifestsSkipped: 0, blobsCopied: 0, blobsMounted: 4, blobsSkipped: 2, bytesCopied: 0 });
    const res = await new RegistryClient(source.url).fetch(`/v2/library/copy/referrers/${fixtures.signed.digest}`);
    expect(((await res.json()) as { manifests: unknown[] }).manifests).toHaveLength(2);
  });
});

const distributionMissing = !existsSync('/usr/bin/docker-registry');
if (distributionMissing) console.warn('SKIPPED: CNCF distribution (Debian docker-registry) is not installed; copying to and from it is not checked');

describe.skipIf(distributionMissing)('copying between Berth and CNCF distribution', () => {
  let berth: TestBerth;
  let distribution: RunningSystem;

  beforeAll(async () => {
    berth = await startTestBerth();
    distribution = await startDistribution();
  });
  afterAll(async () => {
    await berth?.stop();
    await distribution?.stop();
  });

  it('pushes an index and referrers to distribution and pulls them back, digests equal', async () => {
    const fixtures = await pushFixtures(berth.url, 'library/src');
    const copier = new ArtifactCopier();
    const local = (repository: string) => ({ registry: new LocalRegistry(berth.registry, 'replication:test'), repository });
    const there = { registry: remote(distribution.url), repository: 'team/app' };
    await copier.copy(local('library/src'), there, 'v1-multi');
    await copier.copy(local('library/src'), there, 'v2');
    // distribution 2.x has no referrers API (no OCI-Subject answer): the copier keeps the
    // sha256-<hex> tag schema index of each subject, so the referrers can be found there.
    expect((await there.registry.getManifest('team/app', sha256(fixtures.signature)))!.body.equals(fixtures.signature)).toBe(true);
    expect((await there.registry.referrers('team/app', fixtures.signed.digest)).map((r) => r.digest).sort()).toEqual([sha256(fixtures.signature), sha256(fixtures.sbom)].sort());
    expect((await there.registry.referrers('team/app', sha256(fixtures.sbom))).map((r) => r.digest)).toEqual([sha256(fixtures.sbomSignature)]);

    const counts = emptyCounts();
    await copier.copy(there, local('library/back'), 'v1-multi', counts);
    await copier.copy(there, local('library/back'), 'v2', counts);
    // The index and its 2 images; the image, its signature and SBOM, and the SBOM's signature.
    expect(counts.manifestsCopied).toBe(7);
    const back = new LocalRegistry(berth.registry, 'test');
    expect((await back.getManifest('library/back', 'v1-multi'))!.body.equals(fixtures.index)).toBe(true);
    expect((await back.getManifest('library/back', 'v2'))!.digest).toBe(fixtures.signed.digest);
    expect((await back.referrers('library/back', fixtures.signed.digest)).map((r) => r.digest).sort()).toEqual([sha256(fixtures.signature), sha256(fixtures.sbom)].sort());
  });
});
