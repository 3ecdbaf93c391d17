import { sign, type KeyObject } from 'node:crypto';
import { jsonBlob, type Blob, type RegistryClient } from './oci.js';

/**
 * A cosign key-based signature as `cosign sign --key` stores it (cosign's "Signature
 * Specification"): an image manifest tagged `sha256-<hex>.sig` whose layer is the simple-signing
 * payload naming the image, with the base64 ECDSA/Ed25519 signature over those bytes in the
 * `dev.cosignproject.cosign/signature` annotation. Made with node:crypto: cosign is not
 * installable here.
 */
export function cosignSignature(subjectDigest: string, key: KeyObject, reference = 'registry.example/app'): { blobs: Blob[]; manifest: Buffer; tag: string } {
  const payload = jsonBlob({ critical: { identity: { 'docker-reference': reference }, image: { 'docker-manifest-digest': subjectDigest }, type: 'cosign container image signature' }, optional: null });
  const config = jsonBlob({ architecture: '', config: {}, os: '' });
  const signature = sign(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', payload.data, key).toString('base64');
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.data.length },
      layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: payload.digest, size: payload.data.length, annotations: { 'dev.cosignproject.cosign/signature': signature } }],
    }),
  );
  return { blobs: [config, payload], manifest, tag: `${subjectDigest.replace(':', '-')}.sig` };
}

/** Pushes a cosign signature of `subjectDigest` into `repository`. */
export async function pushCosignSignature(registry: RegistryClient, repository: string, subjectDigest: string, key: KeyObject): Promise<void> {
  const sig = cosignSignature(subjectDigest, key);
  for (const blob of sig.blobs) {
    const res = await registry.pushBlob(repository, blob);
    if (res.status !== 201) throw new Error(`signature blob: ${res.status}`);
  }
  const res = await registry.pushManifest(repository, sig.tag, sig.manifest);
  if (res.status !== 201) throw new Error(`signature manifest: ${res.status} ${await res.text()}`);
}
