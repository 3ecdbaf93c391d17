import { createHash } from 'node:crypto';
import type { ParsedManifest } from '../../../domain/manifest.js';
import { keyFingerprint } from './x509.js';
import { publicKeysFromPem, verifySigstoreSignature } from './keys.js';
import { verifyKeyless, type RekorEntry } from './keyless.js';
import { decodeBase64, isObject, parseJson, readSignatureLayer, type ReadBlob } from './signature-layer.js';
import type { SignatureTrust } from './trust.js';
import { fail, type SignatureVerdict } from './verdict.js';

/** Sigstore bundle v0.3 pushed as an OCI 1.1 referrer (`cosign sign --new-bundle-format`). */
export const SigstoreBundleArtifactType = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const inTotoPayloadType = 'application/vnd.in-toto+json';
const inTotoStatementTypes = new Set(['https://in-toto.io/Statement/v1', 'https://in-toto.io/Statement/v0.1']);

export function isSigstoreBundleManifest(manifest: ParsedManifest): boolean {
  return manifest.kind === 'image' && (manifest.artifactType?.startsWith('application/vnd.dev.sigstore.bundle') ?? false);
}

/** DSSE protocol: PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

/**
 * Verifies the bundle in a Sigstore-bundle referrer: a DSSE envelope holding an in-toto
 * statement whose subject is the image (what cosign writes), or a message signature over the
 * subject manifest itself. The signer is a configured public key (`verificationMaterial.publicKey`)
 * or, for a certificate, keyless as for cosign with the tlog entry's inclusion promise as the SET.
 */
export async function verifySigstoreBundle(options: {
  manifest: ParsedManifest;
  subjectDigest: string;
  subjectManifest: Uint8Array | undefined;
  readBlob: ReadBlob;
  trust: SignatureTrust;
}): Promise<Pick<SignatureVerdict, 'signer' | 'issuer' | 'signedAt'>> {
  const { manifest, trust, subjectDigest } = options;
  const layer = manifest.layers.find((l) => l.mediaType.startsWith('application/vnd.dev.sigstore.bundle')) ?? manifest.layers[0];
  if (!layer || manifest.layers.length !== 1) return fail('malformed', 'a Sigstore bundle manifest holds exactly one layer, the bundle');
  const bundle = parseJson(await readSignatureLayer(layer, options.readBlob), 'Sigstore bundle');
  if (!isObject(bundle) || !isObject(bundle.verificationMaterial)) return fail('malformed', 'bundle has no verificationMaterial');
  const vm = bundle.verificationMaterial;

  // What was signed, and how it names the subject.
  let signedBytes: Buffer;
  let entryBytes: Buffer;
  let signature: Buffer | undefined;
  if (isObject(bundle.dsseEnvelope)) {
    const env = bundle.dsseEnvelope;
    const payload = decodeBase64(env.payload);
    const sigs = Array.isArray(env.signatures) ? env.signatures : [];
    if (!payload || typeof env.payloadType !== 'string' || sigs.length !== 1 || !isObject(sigs[0])) return fail('malformed', 'DSSE envelope needs a payload, its type and one signature');
    signature = decodeBase64(sigs[0].sig);
    if (env.payloadType !== inTotoPayloadType) return fail('unsupported', `DSSE payload type ${env.payloadType.slice(0, 80)} is not an in-toto statement`);
    signedBytes = preAuthEncoding(env.payloadType, payload);
    entryBytes = payload;
    checkStatement(payload, subjectDigest);
  } else if (isObject(bundle.messageSignature)) {
    const ms = bundle.messageSignature;
    signature = decodeBase64(ms.signature);
    const md = isObject(ms.messageDigest) ? ms.messageDigest : undefined;
    const digest = decodeBase64(md?.digest);
    if (!md || md.algorithm !== 'SHA2_256' || !digest) return fail('malformed', 'messageSignature needs a SHA2_256 messageDigest');
    if (`sha256:${digest.toString('hex')}` !== subjectDigest) fail('digest-mismatch', 'the message signature is over another artifact');
    if (!options.subjectManifest) return fail('unsupported', 'a message signature over the manifest needs the manifest bytes');
    signedBytes = Buffer.from(options.subjectManifest);
    if (createHash('sha256').update(signedBytes).digest('hex') !== digest.toString('hex')) return fail('digest-mismatch', 'the subject manifest bytes do not match the subject digest');
    entryBytes = signedBytes;
  } else {
    return fail('malformed', 'bundle holds neither dsseEnvelope nor messageSignature');
  }
  if (!signature || signature.length === 0) return fail('malformed', 'bundle signature is not base64');

  if (isObject(vm.publicKey)) {
    const keys = publicKeysFromPem(trust.cosign?.publicKeys ?? []);
    if (keys.length === 0) return fail('no-trust-configured', 'no cosign public keys are configured');
    const key = keys.find((k) => verifySigstoreSignature(k, signedBytes, signature));
    if (!key) return fail('untrusted-key', 'the bundle signature verifies with none of the configured keys');
    return { signer: keyFingerprint(key) };
  }

  const chainDer = certificatesOf(vm);
  if (chainDer.length === 0) return fail('malformed', 'bundle has no public key hint or certificate');
  if (!trust.cosign?.keyless) return fail('no-trust-configured', 'keyless bundle, but no Fulcio roots and Rekor keys are configured');
  const { entry, set } = inclusionPromise(vm.tlogEntries);
  const [leafDer, ...rest] = chainDer;
  return verifyKeyless({ trust: trust.cosign.keyless, leafDer: leafDer!, chainDer: rest, signedBytes, signature, entry, set, entryBytes });
}

/** in-toto Statement: the image must be among its subjects. */
function checkStatement(payload: Buffer, subjectDigest: string): void {
  const statement = parseJson(payload, 'in-toto statement');
  if (!isObject(statement) || !inTotoStatementTypes.has(String(statement._type)) || !Array.isArray(statement.subject)) {
    return fail('malformed', 'DSSE payload is not an in-toto statement');
  }
  const [algorithm, hex] = subjectDigest.split(':');
  const names = statement.subject.some((s) => isObject(s) && isObject(s.digest) && s.digest[algorithm ?? ''] === hex);
  if (!names) fail('digest-mismatch', `the statement's subjects do not include ${subjectDigest}`);
}

function certificatesOf(vm: Record<string, unknown>): Buffer[] {
  const raw: unknown[] = isObject(vm.certificate)
    ? [vm.certificate.rawBytes]
    : isObject(vm.x509CertificateChain) && Array.isArray(vm.x509CertificateChain.certificates)
      ? vm.x509CertificateChain.certificates.map((c) => (isObject(c) ? c.rawBytes : undefined))
      : [];
  return raw.map((r) => decodeBase64(r) ?? fail('malformed', 'bundle certificate is not base64'));
}

/** The first tlog entry with an inclusion promise, as the SET payload Rekor signed. */
function inclusionPromise(entries: unknown): { entry: RekorEntry; set: Buffer } {
  const list = Array.isArray(entries) ? entries : [];
  for (const e of list) {
    if (!isObject(e) || !isObject(e.inclusionPromise)) continue;
    const set = decodeBase64(e.inclusionPromise.signedEntryTimestamp);
    const body = decodeBase64(e.canonicalizedBody);
    const keyId = isObject(e.logId) ? decodeBase64(e.logId.keyId) : undefined;
    const integratedTime = Number(e.integratedTime);
    const logIndex = Number(e.logIndex);
    if (!set || !body || !keyId || !Number.isSafeInteger(integratedTime) || !Number.isSafeInteger(logIndex)) return fail('malformed', 'tlog entry fields are missing or malformed');
    return { entry: { body: body.toString('base64'), integratedTime, logIndex, logID: keyId.toString('hex') }, set };
  }
  return fail('unsupported', 'keyless bundle without a tlog inclusion promise (inclusion proofs and RFC 3161 timestamps are not verified)');
}
