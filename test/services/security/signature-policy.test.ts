import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { startTestBerth, type TestBerth } from '../../helpers/berth.js';
import { ApiClient } from '../../helpers/api.js';
import { pushCosignSignature } from '../../helpers/cosign.js';
import { imageIndex, randomImage, RegistryClient, sha256 } from '../../helpers/oci.js';

const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const publicPem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const fingerprint = createHash('sha256').update(keys.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');

interface Status {
  digest: string;
  verified: boolean;
  verifiedThrough?: string;
  signatures: Array<{ format: string; source: string; verified: boolean; reason?: string; signer?: string }>;
}

describe('signature status and the prevent-unsigned pull policy', () => {
  let berth: TestBerth;
  let admin: ApiClient;
  let registry: RegistryClient;

  beforeAll(async () => {
    berth = await startTestBerth();
    admin = new ApiClient(berth.url);
    registry = new RegistryClient(berth.url);
    await admin.createProject('signed');
  });
  afterAll(async () => {
    await berth?.stop();
  });

  const denial = async (path: string) => {
    const res = await registry.fetch(path);
    return { status: res.status, error: res.status === 200 ? undefined : ((await res.json()) as { errors: Array<{ code: string; message: string }> }).errors[0] };
  };

  it('verifies cosign signatures against the project’s keys, and refuses pulls of unsigned or untrusted-signed images', async () => {
    const signed = await registry.pushImage('signed/app', 'v1');
    const unsigned = await registry.pushImage('signed/app', 'v2', randomImage());
    const foreign = await registry.pushImage('signed/app', 'v3', randomImage());
    await pushCosignSignature(registry, 'signed/app', signed.digest, keys.privateKey);
    await pushCosignSignature(registry, 'signed/app', foreign.digest, stranger.privateKey);

    // Before any trust is configured, a signature is found but cannot verify.
    expect(await admin.ok<Status>('GET', '/projects/signed/repositories/app/artifacts/v1/signatures')).toMatchObject({
      digest: signed.digest,
      verified: false,
      signatures: [{ format: 'cosign', source: 'tag', verified: false, reason: 'no-trust-configured' }],
    });

    await admin.ok('PUT', '/projects/signed/security-policy', { preventUnsigned: true, trust: { cosign: { publicKeys: [publicPem] } } });
    expect(await admin.ok<Status>('GET', '/projects/signed/repositories/app/artifacts/v1/signatures')).toMatchObject({
      verified: true,
      signatures: [{ format: 'cosign', source: 'tag', verified: true, signer: fingerprint }],
    });
    expect((await denial('/v2/signed/app/manifests/v1')).status).toBe(200);
    expect(await denial('/v2/signed/app/manifests/v2')).toEqual({
      status: 403,
      error: { code: 'DENIED', message: `pull of signed/app@${unsigned.digest} refused by the project's prevent-unsigned policy: it has no signature`, detail: { policy: 'prevent-unsigned', reason: 'it has no signature', digest: unsigned.digest } },
    });
    const untrusted = await denial('/v2/signed/app/manifests/v3');
    expect(untrusted.status).toBe(403);
    expect(untrusted.error!.message).toBe(
      `pull of signed/app@${foreign.digest} refused by the project's prevent-unsigned policy: none of its 1 signature verifies with the project's trusted signers (cosign: untrusted-key)`,
    );
    // The signature's own manifest is no image to judge by signatures: pulling it by tag is refused too (it has no signature of its own).
    expect((await denial(`/v2/signed/app/manifests/${signed.digest.replace(':', '-')}.sig`)).status).toBe(403);
  });

  it('lets a platform manifest through when a signed index of the repository lists it', async () => {
    const amd = await registry.pushImage('signed/multi', 'amd64', randomImage());
    const arm = await registry.pushImage('signed/multi', 'arm64', randomImage());
    const index = imageIndex([
      { image: amd, architecture: 'amd64' },
      { image: arm, architecture: 'arm64' },
    ]);
    expect((await registry.pushManifest('signed/multi', 'v1', index, 'application/vnd.oci.image.index.v1+json')).status).toBe(201);
    const indexDigest = sha256(index);
    expect((await denial('/v2/signed/multi/manifests/v1')).status).toBe(403);
    await pushCosignSignature(registry, 'signed/multi', indexDigest, keys.privateKey);
    expect(await denial('/v2/signed/multi/manifests/v1')).toEqual({ status: 200, error: undefined });
    expect((await denial(`/v2/signed/multi/manifests/${amd.digest}`)).status).toBe(200);
    expect(await admin.ok<Status>('GET', `/projects/signed/repositories/multi/artifacts/${arm.digest}/signatures`)).toMatchObject({ verified: false, verifiedThrough: indexDigest, signatures: [] });
  });
});
