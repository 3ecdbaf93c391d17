import type { ParsedManifest } from '../../../domain/manifest.js';
import { readSignatureLayer, type ReadBlob } from './signature-layer.js';
import type { SignatureTrust } from './trust.js';
import { fail, type SignatureVerdict } from './verdict.js';
import { verifyNotationEnvelope } from './notation-envelope.js';
import { parseJwsEnvelope } from './notation-jws.js';

/** Notary Project signature specification: how a signature manifest and its envelope are typed. */
export const NotationArtifactType = 'application/vnd.cncf.notary.signature';
export const NotationMediaType = { jws: 'application/jose+json', cose: 'application/cose' } as const;

export function isNotationSignatureManifest(manifest: ParsedManifest): boolean {
  return manifest.kind === 'image' && (manifest.artifactType === NotationArtifactType || manifest.config?.mediaType === NotationArtifactType);
}

/**
 * Verifies a Notary Project signature: the envelope's own file (JWS or COSE) decodes it and
 * checks its headers, then both go through the same signature, payload, certificate, trust
 * store, identity, expiry and validity steps (`verifyNotationEnvelope`).
 */
export async function verifyNotationSignature(options: {
  manifest: ParsedManifest;
  subjectDigest: string;
  readBlob: ReadBlob;
  trust: SignatureTrust;
  now: Date;
}): Promise<Pick<SignatureVerdict, 'signer' | 'signedAt'>> {
  const { manifest, trust, now } = options;
  const policy = trust.notation;
  if (!policy) return fail('no-trust-configured', 'no Notation trust store is configured');
  if (manifest.layers.length !== 1) return fail('malformed', `a Notation signature manifest has one layer, not ${manifest.layers.length}`);
  const layer = manifest.layers[0]!;
  // The COSE decoder (and its CBOR library) loads with the first COSE signature: most registries never see one.
  const parse = layer.mediaType === NotationMediaType.jws ? parseJwsEnvelope : layer.mediaType === NotationMediaType.cose ? (await import('./notation-cose.js')).parseCoseEnvelope : undefined;
  if (!parse) return fail('unsupported', `unknown signature envelope type ${layer.mediaType}`);
  const envelope = parse(await readSignatureLayer(layer, options.readBlob));
  return verifyNotationEnvelope(envelope, { manifest, subjectDigest: options.subjectDigest, policy, now });
}
