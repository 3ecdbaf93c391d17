import type { ParsedManifest } from '../../../domain/manifest.js';
import type { ReadBlob } from './signature-layer.js';
import type { SignatureTrust } from './trust.js';
import { fail, type SignatureVerdict } from './verdict.js';

export const SigstoreBundleArtifactType = 'application/vnd.dev.sigstore.bundle.v0.3+json';

export function isSigstoreBundleManifest(manifest: ParsedManifest): boolean {
  return manifest.kind === 'image' && (manifest.artifactType?.startsWith('application/vnd.dev.sigstore.bundle') ?? false);
}

export async function verifySigstoreBundle(_options: {
  manifest: ParsedManifest;
  subjectDigest: string;
  subjectManifest: Uint8Array | undefined;
  readBlob: ReadBlob;
  trust: SignatureTrust;
}): Promise<Pick<SignatureVerdict, 'signer' | 'issuer' | 'signedAt'>> {
  return fail('unsupported', 'Sigstore bundles are not verified yet');
}
