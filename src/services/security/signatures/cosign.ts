import type { Descriptor, ParsedManifest } from '../../../domain/manifest.js';
import type { SignatureTrust } from './trust.js';
import { keyFingerprint } from './x509.js';
import { publicKeysFromPem, verifySigstoreSignature } from './keys.js';
import { parseRekorBundle, pemCertificates, verifyKeyless } from './keyless.js';
import { decodeBase64, isObject, parseJson, readSignatureLayer, type ReadBlob } from './signature-layer.js';
import { fail, type SignatureVerdict } from './verdict.js';

/** cosign SIGNATURE_SPEC: the layer media type and annotations of the `sha256-<hex>.sig` tag scheme. */
export const CosignMediaType = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const CosignAnnotation = {
  signature: 'dev.cosignproject.cosign/signature',
  certificate: 'dev.sigstore.cosign/certificate',
  chain: 'dev.sigstore.cosign/chain',
  bundle: 'dev.sigstore.cosign/bundle',
} as const;
const simpleSigningType = 'cosign container image signature';

/** The `sha256-<hex>.sig` tag cosign stores the signatures of `sha256:<hex>` under. */
export function cosignSignatureTag(subjectDigest: string): string {
  return `${subjectDigest.replace(':', '-')}.sig`;
}

export function isCosignSignatureManifest(manifest: ParsedManifest): boolean {
  return manifest.kind === 'image' && manifest.layers.some((l) => l.mediaType === CosignMediaType);
}

/** The cosign signature layers of a manifest; each is one signature, verified on its own. */
export function cosignSignatureLayers(manifest: ParsedManifest): Descriptor[] {
  return manifest.layers.filter((l) => l.mediaType === CosignMediaType);
}

/**
 * Verifies one cosign signature layer: its bytes match the descriptor, its signature verifies
 * with a configured key (or, when it carries a Fulcio certificate, keylessly), and the signed
 * simple-signing payload names the subject. Throws VerificationFailure; the caller makes the verdict.
 */
export async function verifyCosignLayer(options: {
  layer: Descriptor;
  subjectDigest: string;
  readBlob: ReadBlob;
  trust: SignatureTrust;
}): Promise<Pick<SignatureVerdict, 'signer' | 'issuer' | 'signedAt'>> {
  const { layer, trust } = options;
  const annotations = layer.annotations ?? {};
  const signature = decodeBase64(annotations[CosignAnnotation.signature]);
  if (!signature || signature.length === 0) return fail('malformed', `layer has no base64 ${CosignAnnotation.signature} annotation`);
  const certificatePem = annotations[CosignAnnotation.certificate];
  const keyless = certificatePem !== undefined && certificatePem !== '';

  let result: Pick<SignatureVerdict, 'signer' | 'issuer' | 'signedAt'>;
  let payload: Buffer;
  if (keyless) {
    if (!trust.cosign?.keyless) return fail('no-trust-configured', 'keyless cosign signature, but no Fulcio roots and Rekor keys are configured');
    const bundleText = annotations[CosignAnnotation.bundle];
    if (bundleText === undefined) return fail('unsupported', 'keyless signature without a Rekor bundle: its signing time cannot be established offline');
    const [leafDer, ...extra] = pemCertificates(certificatePem);
    if (!leafDer) return fail('malformed', 'the certificate annotation holds no certificate');
    const chainDer = [...extra, ...pemCertificates(annotations[CosignAnnotation.chain] ?? '')];
    const { entry, set } = parseRekorBundle(bundleText);
    payload = await readSignatureLayer(layer, options.readBlob);
    result = verifyKeyless({ trust: trust.cosign.keyless, leafDer, chainDer, signedBytes: payload, signature, entry, set });
  } else {
    const keys = publicKeysFromPem(trust.cosign?.publicKeys ?? []);
    if (keys.length === 0) return fail('no-trust-configured', 'no cosign public keys are configured');
    payload = await readSignatureLayer(layer, options.readBlob);
    const key = keys.find((k) => verifySigstoreSignature(k, payload, signature));
    if (!key) return fail('untrusted-key', 'the signature verifies with none of the configured cosign keys');
    result = { signer: keyFingerprint(key) };
  }
  checkSimpleSigning(payload, options.subjectDigest, result.signer);
  return result;
}

/** cosign SIGNATURE_SPEC "Payload": only read once the signature over it has verified. */
function checkSimpleSigning(payload: Buffer, subjectDigest: string, signer: string | undefined): void {
  const doc = parseJson(payload, 'simple-signing payload');
  const critical = isObject(doc) && isObject(doc.critical) ? doc.critical : undefined;
  if (!critical || !isObject(critical.image)) fail('malformed', 'simple-signing payload has no critical.image', signer);
  if (critical.type !== simpleSigningType) fail('malformed', `simple-signing type is not "${simpleSigningType}"`, signer);
  const named = critical.image['docker-manifest-digest'];
  if (named !== subjectDigest) fail('digest-mismatch', `the signature is for ${String(named).slice(0, 80)}, not ${subjectDigest}`, signer);
}
