import { constants, verify, type KeyObject } from 'node:crypto';
import type { ParsedManifest } from '../../../domain/manifest.js';
import { isObject, parseJson } from './signature-layer.js';
import { parseTrustedIdentity, type SignatureTrust } from './trust.js';
import { fail, type SignatureVerdict } from './verdict.js';
import { certificatesFromPem, isSelfSigned, issuedBy, Oid, parseCertificate, subjectText, validAt, type CertificateInfo } from './x509.js';

/**
 * What the JWS and COSE envelopes of a Notary Project signature have in common: the same
 * headers, payload and certificate rules, and from the signature check on the same steps.
 * Each envelope's own file decodes its syntax into a `NotationEnvelope`; everything after that
 * is here, once, so both envelopes fail for the same reasons with the same codes.
 */

export const payloadContentType = 'application/vnd.cncf.notary.payload.v1+json';

/** Notary Project header names, the same strings in both envelopes. */
export const Header = {
  signingScheme: 'io.cncf.notary.signingScheme',
  signingTime: 'io.cncf.notary.signingTime',
  authenticSigningTime: 'io.cncf.notary.authenticSigningTime',
  expiry: 'io.cncf.notary.expiry',
  verificationPlugin: 'io.cncf.notary.verificationPlugin',
  verificationPluginMinVersion: 'io.cncf.notary.verificationPluginMinVersion',
  signingAgent: 'io.cncf.notary.signingAgent',
} as const;

/** A chain longer than this is no code-signing chain; refused before any certificate is parsed. */
export const maxChainLength = 10;

/**
 * The Notary Project's signature algorithms (signature-specification.md "Algorithm Selection"),
 * named as JWS names them; COSE's integer labels map onto these names.
 */
const algorithms: Record<string, { hash: string; key: 'rsa' | 'ec'; size: number }> = {
  PS256: { hash: 'sha256', key: 'rsa', size: 2048 },
  PS384: { hash: 'sha384', key: 'rsa', size: 3072 },
  PS512: { hash: 'sha512', key: 'rsa', size: 4096 },
  ES256: { hash: 'sha256', key: 'ec', size: 256 },
  ES384: { hash: 'sha384', key: 'ec', size: 384 },
  ES512: { hash: 'sha512', key: 'ec', size: 521 },
};
/** The Notary Project's name for an algorithm, if `name` is one of the six. */
export function notaryAlgorithm(name: unknown): string | undefined {
  return typeof name === 'string' && Object.hasOwn(algorithms, name) ? name : undefined;
}

const curveBits: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521 };

/** One envelope, decoded: its header checks passed, the signature and trust not yet checked. */
export interface NotationEnvelope {
  /** `alg` as the Notary Project names it (`PS256` … `ES512`); undefined when the envelope names another algorithm. */
  alg: string | undefined;
  /** The envelope's own `alg` value, as text, for the refusal. */
  algLabel: string;
  /** The certificate chain, leaf first. */
  chain: CertificateInfo[];
  /** The bytes the signature is over: JWS signing input, or COSE's encoded Sig_structure. */
  signedBytes: Buffer;
  signature: Buffer;
  payload: Buffer;
  signingTime: Date;
  expiry: Date | undefined;
}

export function checkContentType(contentType: unknown): void {
  if (contentType !== payloadContentType) fail('unsupported', `payload content type ${String(contentType).slice(0, 80)} is not ${payloadContentType}`);
}

/**
 * `crit` as the Notary Project constrains it, after the envelope checked the list's syntax:
 * the signing scheme is always critical, expiry and authentic signing time must be when present,
 * and a critical header Berth does not understand (a plugin's among them) makes it `unsupported`.
 */
export function checkCritical(crit: ReadonlyArray<string | number>, present: (label: string | number) => boolean): void {
  if (!crit.includes(Header.signingScheme)) fail('malformed', `crit must contain ${Header.signingScheme}`);
  for (const label of crit) {
    const name = String(label).slice(0, 80);
    if (!present(label)) fail('malformed', `critical header ${name} is absent`);
    if (label === Header.verificationPlugin || label === Header.verificationPluginMinVersion) fail('unsupported', 'signatures needing a verification plugin are not verified');
    if (label !== Header.signingScheme && label !== Header.expiry && label !== Header.authenticSigningTime) fail('unsupported', `unknown critical header ${name}`);
  }
  for (const name of [Header.expiry, Header.authenticSigningTime]) {
    if (present(name) && !crit.includes(name)) fail('malformed', `${name} must be marked critical`);
  }
}

export function checkSigningScheme(scheme: unknown): void {
  if (scheme !== 'notary.x509') fail('unsupported', `signing scheme ${String(scheme).slice(0, 40)} is not verified (notary.x509 only)`);
}

export function requireSigningTime(time: Date | undefined): Date {
  return time ?? fail('malformed', `${Header.signingTime} is required by notary.x509`);
}

/** Parses the chain an envelope carries, leaf first; any entry that is not a DER certificate makes it malformed. */
export function parseChain(entries: readonly unknown[], what: string, toDer: (entry: unknown) => Buffer | undefined): CertificateInfo[] {
  if (entries.length === 0 || entries.length > maxChainLength) fail('malformed', `${what} must hold the certificate chain, leaf first`);
  try {
    return entries.map((entry) => {
      const der = toDer(entry);
      if (!der) throw new Error(`${what} entry is not a certificate's bytes`);
      return parseCertificate(der);
    });
  } catch (err) {
    return fail('malformed', `${what}: ${(err as Error).message}`);
  }
}

/**
 * Verifies a decoded envelope in the order the trust-policy spec's "Signature Verification"
 * steps give: integrity (algorithm, signature, payload), authenticity (certificate
 * requirements, chain to the trust store, trusted identity), expiry, then certificate validity
 * (no timestamp countersignature is verified, so the chain must be valid both at the claimed
 * signing time and now, as `notary.x509` asks in that case).
 */
export function verifyNotationEnvelope(
  envelope: NotationEnvelope,
  context: { manifest: ParsedManifest; subjectDigest: string; policy: NonNullable<SignatureTrust['notation']>; now: Date },
): Pick<SignatureVerdict, 'signer' | 'signedAt'> {
  const { chain, signingTime, expiry } = envelope;
  const { policy, now } = context;
  const leaf = chain[0]!;
  const signer = subjectText(leaf);

  // Integrity: the algorithm follows from the signing key (no substitution), then the signature.
  const alg = envelope.alg === undefined ? undefined : algorithms[envelope.alg];
  if (!alg) return fail('unsupported', `alg ${envelope.algLabel.slice(0, 20)} is not one the Notary Project allows`, signer);
  if (keyAlgorithm(leaf.cert.publicKey) !== envelope.alg) return fail('bad-signature', `alg ${envelope.alg} does not match the signing certificate's key`, signer);
  if (!verifySignature(leaf.cert.publicKey, alg.hash, envelope.signedBytes, envelope.signature)) {
    return fail('bad-signature', 'the signature does not verify with the signing certificate', signer);
  }
  checkPayload(envelope.payload, context.subjectDigest, context.manifest, signer);

  // Authenticity.
  checkCertificateRequirements(chain, signer);
  const anchors = policy.trustStore.flatMap((pem) => certificatesFromPem(pem));
  if (!chain.some((c) => anchors.some((a) => a.der.equals(c.der)))) return fail('untrusted-key', 'the certificate chain leads to no certificate of the trust store', signer);
  if (!identityTrusted(leaf, policy.trustedIdentities)) return fail('untrusted-identity', `signer ${signer} is not a trusted identity`, signer);

  if (expiry && now.getTime() >= expiry.getTime()) return fail('signature-expired', `the signature expired at ${expiry.toISOString()}`, signer);
  const staleAtSigning = chain.find((c) => !validAt(c, signingTime));
  if (staleAtSigning) return fail('certificate-expired', `${subjectText(staleAtSigning)} was not valid at signing time ${signingTime.toISOString()}`, signer);
  const staleNow = chain.find((c) => !validAt(c, now));
  if (staleNow) return fail('certificate-expired', `${subjectText(staleNow)} is not valid now`, signer);

  return { signer, signedAt: signingTime.toISOString() };
}

/** signature-specification.md "Algorithm Selection": the key decides the algorithm. */
function keyAlgorithm(key: KeyObject): string | undefined {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') return { 2048: 'PS256', 3072: 'PS384', 4096: 'PS512' }[details?.modulusLength ?? 0];
  if (key.asymmetricKeyType === 'ec') return { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }[details?.namedCurve ?? ''];
  return undefined;
}

/**
 * ES* signatures are r||s in both envelopes (RFC 7518 3.4, RFC 9053 2.1); PS* is RSASSA-PSS
 * with MGF1 and a salt as long as the hash (RFC 7518 3.5, RFC 8230 2).
 */
function verifySignature(key: KeyObject, hash: string, input: Buffer, signature: Buffer): boolean {
  try {
    if (key.asymmetricKeyType === 'ec') return verify(hash, input, { key, dsaEncoding: 'ieee-p1363' }, signature);
    return verify(hash, input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature);
  } catch {
    return false;
  }
}

/** The payload's target artifact must be the subject: digest, and media type and size where the manifest names them. */
function checkPayload(bytes: Buffer, subjectDigest: string, manifest: ParsedManifest, signer: string): void {
  const doc = parseJson(bytes, 'Notation payload');
  const target = isObject(doc) && isObject(doc.targetArtifact) ? doc.targetArtifact : undefined;
  if (!target || typeof target.digest !== 'string' || typeof target.mediaType !== 'string' || typeof target.size !== 'number') {
    return fail('malformed', 'payload has no targetArtifact descriptor', signer);
  }
  if (target.digest !== subjectDigest) fail('digest-mismatch', `the signature is for ${target.digest.slice(0, 80)}, not ${subjectDigest}`, signer);
  const subject = manifest.subject;
  if (subject && (subject.digest !== target.digest || subject.mediaType !== target.mediaType || subject.size !== target.size)) {
    fail('digest-mismatch', "the signed descriptor differs from the signature manifest's subject", signer);
  }
}

const forbiddenLeafUsages = ['keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly'] as const;
const forbiddenLeafEkus: string[] = [Oid.ekuAny, Oid.ekuServerAuth, Oid.ekuClientAuth, Oid.ekuEmailProtection, Oid.ekuTimeStamping];

/**
 * signature-specification.md "Certificate Requirements" for code signing, and the chain's
 * order: each certificate issued (name and signature) by the next, ending in a self-signed root.
 */
function checkCertificateRequirements(chain: CertificateInfo[], signer: string): void {
  const unfit = (why: string) => fail('untrusted-key', why, signer);
  const root = chain[chain.length - 1]!;
  if (!isSelfSigned(root)) unfit('the certificate chain does not end with a self-signed root');
  for (let i = 0; i < chain.length - 1; i++) {
    if (!issuedBy(chain[i]!, chain[i + 1]!)) unfit(`certificate ${i} of the chain is not issued by certificate ${i + 1}`);
  }
  for (const [i, cert] of chain.entries()) {
    if (cert.signatureAlgorithm === Oid.sha1WithRsa || cert.signatureAlgorithm === Oid.ecdsaWithSha1) unfit('a certificate is signed with SHA-1');
    const ku = cert.extensions.get(Oid.keyUsage);
    if (!ku?.critical || !cert.keyUsage) unfit(`certificate ${i} lacks a critical keyUsage extension`);
    // A lone self-signed certificate is a leaf for these rules.
    const isLeaf = i === 0;
    if (!isLeaf) {
      const bc = cert.extensions.get(Oid.basicConstraints);
      if (!bc?.critical || !cert.basicConstraints?.ca) unfit(`CA certificate ${i} lacks critical basicConstraints with cA`);
      const pathLen = cert.basicConstraints?.pathLen;
      if (pathLen !== undefined && i - 1 > pathLen) unfit(`CA certificate ${i} allows ${pathLen} intermediates below it`);
      if (!cert.keyUsage?.has('keyCertSign')) unfit(`CA certificate ${i} lacks keyCertSign`);
    }
  }
  const leaf = chain[0]!;
  if (leaf.basicConstraints?.ca) unfit('the signing certificate is a CA');
  if (!leaf.keyUsage?.has('digitalSignature')) unfit('the signing certificate lacks the digitalSignature key usage');
  if (forbiddenLeafUsages.some((u) => leaf.keyUsage?.has(u))) unfit('the signing certificate has key usages a code-signing certificate must not have');
  if (leaf.extendedKeyUsage?.some((eku) => forbiddenLeafEkus.includes(eku))) unfit('the signing certificate has an extended key usage other than code signing');
  const key = leaf.cert.publicKey;
  const bits = key.asymmetricKeyType === 'rsa' ? (key.asymmetricKeyDetails?.modulusLength ?? 0) : (curveBits[key.asymmetricKeyDetails?.namedCurve ?? ''] ?? 0);
  if ((key.asymmetricKeyType === 'rsa' && bits < 2048) || (key.asymmetricKeyType === 'ec' && bits < 256)) unfit('the signing key is too short');
}

/** trust-store-trust-policy.md "Trusted Identities Constraints": every RDN the identity names must be in the leaf's subject. */
function identityTrusted(leaf: CertificateInfo, identities: readonly string[]): boolean {
  return identities.some((identity) => {
    if (identity === '*') return true;
    const rdns = parseTrustedIdentity(identity);
    return rdns !== undefined && rdns.every((want) => leaf.subject.some((have) => have.type === want.type && have.value === want.value));
  });
}
