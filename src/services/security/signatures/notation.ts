import { constants, verify, type KeyObject } from 'node:crypto';
import type { ParsedManifest } from '../../../domain/manifest.js';
import { decodeBase64, isObject, parseJson, readSignatureLayer, type ReadBlob } from './signature-layer.js';
import { parseTrustedIdentity, type SignatureTrust } from './trust.js';
import { fail, type SignatureVerdict } from './verdict.js';
import { certificatesFromPem, isSelfSigned, issuedBy, Oid, parseCertificate, subjectText, validAt, type CertificateInfo } from './x509.js';

/** Notary Project signature specification: how a signature manifest and its envelope are typed. */
export const NotationArtifactType = 'application/vnd.cncf.notary.signature';
export const NotationMediaType = { jws: 'application/jose+json', cose: 'application/cose' } as const;
const payloadContentType = 'application/vnd.cncf.notary.payload.v1+json';

const Header = {
  signingScheme: 'io.cncf.notary.signingScheme',
  signingTime: 'io.cncf.notary.signingTime',
  authenticSigningTime: 'io.cncf.notary.authenticSigningTime',
  expiry: 'io.cncf.notary.expiry',
  verificationPlugin: 'io.cncf.notary.verificationPlugin',
  verificationPluginMinVersion: 'io.cncf.notary.verificationPluginMinVersion',
} as const;

/** JWS `alg` values the Notary Project allows (signature-envelope-jws.md), with how node:crypto verifies each. */
const algorithms: Record<string, { hash: string; key: 'rsa' | 'ec'; size: number }> = {
  PS256: { hash: 'sha256', key: 'rsa', size: 2048 },
  PS384: { hash: 'sha384', key: 'rsa', size: 3072 },
  PS512: { hash: 'sha512', key: 'rsa', size: 4096 },
  ES256: { hash: 'sha256', key: 'ec', size: 256 },
  ES384: { hash: 'sha384', key: 'ec', size: 384 },
  ES512: { hash: 'sha512', key: 'ec', size: 521 },
};
const curveBits: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521 };

export function isNotationSignatureManifest(manifest: ParsedManifest): boolean {
  return manifest.kind === 'image' && (manifest.artifactType === NotationArtifactType || manifest.config?.mediaType === NotationArtifactType);
}

/**
 * Verifies a Notary Project signature in the order the trust-policy spec's "Signature
 * Verification" steps give: integrity (envelope, content type, algorithm, signature, payload),
 * authenticity (certificate requirements, chain to the trust store, trusted identity), expiry,
 * then certificate validity (no timestamp countersignature is verified, so the chain must be
 * valid both at the claimed signing time and now, as `notary.x509` asks in that case).
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
  if (layer.mediaType === NotationMediaType.cose) return fail('unsupported', 'COSE signature envelopes are not verified (JWS only)');
  if (layer.mediaType !== NotationMediaType.jws) return fail('unsupported', `unknown signature envelope type ${layer.mediaType}`);
  const envelope = parseJson(await readSignatureLayer(layer, options.readBlob), 'JWS envelope');

  // signature-envelope-jws.md "Signature Envelope": flattened JSON serialization, no other members.
  if (!isObject(envelope) || Object.keys(envelope).some((k) => !['payload', 'protected', 'header', 'signature'].includes(k))) {
    return fail('malformed', 'not a flattened JWS JSON envelope');
  }
  const { payload: payloadB64, protected: protectedB64, header, signature: signatureB64 } = envelope;
  if (typeof payloadB64 !== 'string' || typeof protectedB64 !== 'string' || !isObject(header)) return fail('malformed', 'JWS payload, protected or header is missing');
  const protectedBytes = decodeBase64(protectedB64, true);
  const payloadBytes = decodeBase64(payloadB64, true);
  const signature = decodeBase64(signatureB64, true);
  if (!protectedBytes || !payloadBytes || !signature) return fail('malformed', 'JWS members are not base64url');
  const ph = parseJson(protectedBytes, 'JWS protected header');
  if (!isObject(ph)) return fail('malformed', 'JWS protected header is not an object');

  if (ph.cty !== payloadContentType) return fail('unsupported', `payload content type ${String(ph.cty).slice(0, 80)} is not ${payloadContentType}`);
  checkCritical(ph);
  if (ph[Header.signingScheme] !== 'notary.x509') {
    return fail('unsupported', `signing scheme ${String(ph[Header.signingScheme]).slice(0, 40)} is not verified (notary.x509 only)`);
  }
  const signingTime = rfc3339(ph[Header.signingTime], Header.signingTime);
  if (!signingTime) return fail('malformed', `${Header.signingTime} is required by notary.x509`);
  const expiry = ph[Header.expiry] === undefined ? undefined : rfc3339(ph[Header.expiry], Header.expiry);

  const x5c = header.x5c;
  if (!Array.isArray(x5c) || x5c.length === 0 || x5c.length > 10) return fail('malformed', 'x5c must hold the certificate chain, leaf first');
  let chain: CertificateInfo[];
  try {
    chain = x5c.map((entry) => {
      const der = decodeBase64(entry);
      if (!der) throw new Error('x5c entry is not base64');
      return parseCertificate(der);
    });
  } catch (err) {
    return fail('malformed', `x5c: ${(err as Error).message}`);
  }
  const leaf = chain[0]!;
  const signer = subjectText(leaf);

  // Integrity: the algorithm follows from the signing key (no substitution), then the signature.
  const alg = algorithms[typeof ph.alg === 'string' ? ph.alg : ''];
  if (!alg) return fail('unsupported', `JWS alg ${String(ph.alg).slice(0, 20)} is not one the Notary Project allows`, signer);
  if (keyAlgorithm(leaf.cert.publicKey) !== ph.alg) return fail('bad-signature', `alg ${String(ph.alg)} does not match the signing certificate's key`, signer);
  if (!verifyJws(leaf.cert.publicKey, alg.hash, Buffer.from(`${protectedB64}.${payloadB64}`, 'ascii'), signature)) {
    return fail('bad-signature', 'the JWS signature does not verify with the signing certificate', signer);
  }
  checkPayload(payloadBytes, options.subjectDigest, manifest, signer);

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

/** JWS `crit` (RFC 7515 4.1.11) as the Notary Project constrains it. */
function checkCritical(ph: Record<string, unknown>): void {
  const crit = ph.crit;
  if (!Array.isArray(crit) || !crit.every((c) => typeof c === 'string')) return fail('malformed', 'crit must list the critical headers');
  if (!crit.includes(Header.signingScheme)) fail('malformed', `crit must contain ${Header.signingScheme}`);
  for (const name of crit as string[]) {
    if (!(name in ph)) fail('malformed', `critical header ${name.slice(0, 80)} is absent`);
    if (name === Header.verificationPlugin || name === Header.verificationPluginMinVersion) fail('unsupported', 'signatures needing a verification plugin are not verified');
    if (name !== Header.signingScheme && name !== Header.expiry && name !== Header.authenticSigningTime) fail('unsupported', `unknown critical header ${name.slice(0, 80)}`);
  }
  for (const name of [Header.expiry, Header.authenticSigningTime]) {
    if (name in ph && !crit.includes(name)) fail('malformed', `${name} must be marked critical`);
  }
}

function rfc3339(value: unknown, what: string): Date | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) return fail('malformed', `${what} is not an RFC 3339 time`);
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return fail('malformed', `${what} is not an RFC 3339 time`);
  return date;
}

/** signature-specification.md "Algorithm Selection": the key decides the algorithm. */
function keyAlgorithm(key: KeyObject): string | undefined {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') return { 2048: 'PS256', 3072: 'PS384', 4096: 'PS512' }[details?.modulusLength ?? 0];
  if (key.asymmetricKeyType === 'ec') return { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }[details?.namedCurve ?? ''];
  return undefined;
}

/** RFC 7518: ES* signatures are r||s; PS* is RSASSA-PSS with MGF1 and a salt as long as the hash. */
function verifyJws(key: KeyObject, hash: string, input: Buffer, signature: Buffer): boolean {
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
