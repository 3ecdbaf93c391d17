import { digestOf } from '../../../domain/digest.js';
import { parseManifest, type ParsedManifest } from '../../../domain/manifest.js';
import { cosignSignatureLayers, isCosignSignatureManifest, verifyCosignLayer } from './cosign.js';
import { isNotationSignatureManifest, verifyNotationSignature } from './notation.js';
import { isSigstoreBundleManifest, verifySigstoreBundle } from './sigstore-bundle.js';
import type { SignatureTrust } from './trust.js';
import { VerificationFailure, type SignatureFormat, type SignatureVerdict } from './verdict.js';
import type { ReadBlob } from './signature-layer.js';

export type { SignatureFailure, SignatureFormat, SignatureVerdict } from './verdict.js';
export { signatureTrustSchema, parseSignatureTrust, type SignatureTrust, type SignatureTrustInput } from './trust.js';
export { maxSignatureLayerBytes, type ReadBlob } from './signature-layer.js';
export { cosignSignatureTag, CosignMediaType } from './cosign.js';
export { NotationArtifactType } from './notation.js';
export { SigstoreBundleArtifactType } from './sigstore-bundle.js';

export interface SignatureArtifact {
  /** Digest of the manifest the signature is about (the image, or the index). */
  subjectDigest: string;
  /** The signature artifact's manifest, as stored. */
  manifest: Uint8Array;
  /** Reads a blob the signature manifest references; honouring `maxBytes` is the store's chance to stop early. */
  readBlob: ReadBlob;
  /** The subject manifest's bytes: needed only for Sigstore bundles holding a plain message signature over it. */
  subjectManifest?: Uint8Array;
  /** Verification time (Notation expiry and certificate validity); defaults to now. */
  now?: Date;
}

/** Which signature format a manifest holds, if any. */
export function detectSignatureFormat(manifest: ParsedManifest): SignatureFormat | undefined {
  if (isNotationSignatureManifest(manifest)) return 'notation';
  if (isSigstoreBundleManifest(manifest)) return 'sigstore-bundle';
  if (isCosignSignatureManifest(manifest)) return 'cosign';
  return undefined;
}

/**
 * Verifies the signatures one signature artifact holds against the trust configuration.
 * Never throws for what the artifact contains: every problem becomes a verdict with
 * `verified: false` and a reason.
 *
 * One verdict per signature: a cosign `.sig` manifest gets one per signature layer (they may
 * come from different signers, and a policy decides whether one verified signature suffices);
 * a Notation or Sigstore-bundle manifest holds one signature and gets one verdict. A manifest
 * that parses but is no signature gets none.
 */
export async function verifySignatureArtifact(artifact: SignatureArtifact, trust: SignatureTrust): Promise<SignatureVerdict[]> {
  const signatureDigest = digestOf(artifact.manifest);
  let manifest: ParsedManifest;
  try {
    manifest = parseManifest(artifact.manifest, undefined);
  } catch (err) {
    return [{ format: 'unknown', signatureDigest, verified: false, reason: 'malformed', detail: `signature manifest: ${(err as Error).message}` }];
  }
  const now = artifact.now ?? new Date();
  const format = detectSignatureFormat(manifest);
  switch (format) {
    case 'cosign':
      return Promise.all(
        cosignSignatureLayers(manifest).map((layer) =>
          verdictOf({ format, signatureDigest, layerDigest: layer.digest }, () =>
            verifyCosignLayer({ layer, subjectDigest: artifact.subjectDigest, readBlob: artifact.readBlob, trust }),
          ),
        ),
      );
    case 'notation': {
      const layerDigest = manifest.layers[0]?.digest;
      return [
        await verdictOf({ format, signatureDigest, ...(layerDigest ? { layerDigest } : {}) }, () =>
          verifyNotationSignature({ manifest, subjectDigest: artifact.subjectDigest, readBlob: artifact.readBlob, trust, now }),
        ),
      ];
    }
    case 'sigstore-bundle': {
      const layerDigest = manifest.layers[0]?.digest;
      return [
        await verdictOf({ format, signatureDigest, ...(layerDigest ? { layerDigest } : {}) }, () =>
          verifySigstoreBundle({ manifest, subjectDigest: artifact.subjectDigest, subjectManifest: artifact.subjectManifest, readBlob: artifact.readBlob, trust }),
        ),
      ];
    }
    default:
      return [];
  }
}

async function verdictOf(
  base: Pick<SignatureVerdict, 'format' | 'signatureDigest' | 'layerDigest'>,
  run: () => Promise<Pick<SignatureVerdict, 'signer' | 'issuer' | 'signedAt'>>,
): Promise<SignatureVerdict> {
  try {
    const found = await run();
    return { ...base, verified: true, ...definedOnly(found) };
  } catch (err) {
    if (err instanceof VerificationFailure) {
      return { ...base, verified: false, reason: err.reason, detail: err.message, ...definedOnly({ signer: err.signer }) };
    }
    // Hostile input reaching a parser we did not foresee: still an answer, never a crash.
    return { ...base, verified: false, reason: 'malformed', detail: (err as Error)?.message ?? String(err) };
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== '')) as Partial<T>;
}
