import type { ParsedManifest } from '../../../domain/manifest.js';
import type { ReadBlob } from './signature-layer.js';
import type { SignatureTrust } from './trust.js';
import { fail, type SignatureVerdict } from './verdict.js';

export const NotationArtifactType = 'application/vnd.cncf.notary.signature';

export function isNotationSignatureManifest(manifest: ParsedManifest): boolean {
  return manifest.kind === 'image' && (manifest.artifactType === NotationArtifactType || manifest.config?.mediaType === NotationArtifactType);
}

export async function verifyNotationSignature(_options: {
  manifest: ParsedManifest;
  subjectDigest: string;
  readBlob: ReadBlob;
  trust: SignatureTrust;
  now: Date;
}): Promise<Pick<SignatureVerdict, 'signer' | 'issuer' | 'signedAt'>> {
  return fail('unsupported', 'Notation verification is not implemented yet');
}
