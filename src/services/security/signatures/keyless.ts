import { createHash, X509Certificate, type KeyObject } from 'node:crypto';
import type { SignatureTrust } from './trust.js';
import { compilePattern } from './trust.js';
import { publicKeysFromPem, verifySigstoreSignature } from './keys.js';
import { decodeBase64, isObject, parseJson } from './signature-layer.js';
import { fail } from './verdict.js';
import { certificatesFromPem, fulcioIssuer, isSelfSigned, issuedBy, keyFingerprint, Oid, parseCertificate, validAt, type CertificateInfo } from './x509.js';

type KeylessTrust = NonNullable<NonNullable<SignatureTrust['cosign']>['keyless']>;

/** What a Rekor signed entry timestamp covers (cosign's `Payload` of `dev.sigstore.cosign/bundle`). */
export interface RekorEntry {
  /** Base64 of the canonicalised log entry. */
  body: string;
  integratedTime: number;
  logIndex: number;
  /** Hex SHA-256 of the log's public key (SPKI DER). */
  logID: string;
}

export interface KeylessSigner {
  signer: string;
  issuer: string;
  signedAt: string;
}

/** RFC 8785 JSON canonicalisation for the values log entries hold (strings, integers, objects). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Reads cosign's Rekor bundle annotation: `{SignedEntryTimestamp, Payload:{body, integratedTime, logIndex, logID}}`. */
export function parseRekorBundle(text: string): { entry: RekorEntry; set: Buffer } {
  const doc = parseJson(text, 'Rekor bundle');
  if (!isObject(doc) || !isObject(doc.Payload)) return fail('malformed', 'Rekor bundle has no Payload');
  const set = decodeBase64(doc.SignedEntryTimestamp);
  const { body, integratedTime, logIndex, logID } = doc.Payload;
  if (!set || typeof body !== 'string' || typeof logID !== 'string' || !Number.isSafeInteger(integratedTime) || !Number.isSafeInteger(logIndex)) {
    return fail('malformed', 'Rekor bundle fields are missing or of the wrong type');
  }
  return { entry: { body, integratedTime: integratedTime as number, logIndex: logIndex as number, logID }, set };
}

/**
 * Verifies a signed entry timestamp: the log (found by its log ID among the configured keys)
 * signed the canonical JSON of the entry. This is what proves the entry's time.
 */
export function verifySignedEntryTimestamp(entry: RekorEntry, set: Buffer, rekorKeys: KeyObject[]): void {
  const key = rekorKeys.find((k) => keyFingerprint(k) === entry.logID.toLowerCase());
  if (!key) fail('untrusted-key', `no configured Rekor key has log ID ${entry.logID.slice(0, 64)}`);
  const canonical = Buffer.from(canonicalJson({ body: entry.body, integratedTime: entry.integratedTime, logID: entry.logID, logIndex: entry.logIndex }));
  if (!verifySigstoreSignature(key, canonical, set)) fail('bad-signature', 'the Rekor signed entry timestamp does not verify');
}

/**
 * The log entry must be about this signature: same signature bytes, same signed content
 * (hashedrekord: the payload's SHA-256; dsse: the payload hash) and, when it names one,
 * the same certificate. Otherwise a genuine entry for something else could lend its time.
 */
export function checkEntryMatches(entry: RekorEntry, signature: Buffer, signedBytes: Buffer, leaf: CertificateInfo | undefined): void {
  const body = decodeBase64(entry.body);
  if (!body) return fail('malformed', 'Rekor entry body is not base64');
  const doc = parseJson(body, 'Rekor entry body');
  if (!isObject(doc) || !isObject(doc.spec)) return fail('malformed', 'Rekor entry body has no spec');
  const sha256 = createHash('sha256').update(signedBytes).digest('hex');
  const spec = doc.spec;
  if (doc.kind === 'hashedrekord') {
    const data = isObject(spec.data) && isObject(spec.data.hash) ? spec.data.hash : undefined;
    const sig = isObject(spec.signature) ? spec.signature : undefined;
    if (!data || !sig) return fail('malformed', 'hashedrekord entry lacks data or signature');
    if (data.algorithm !== 'sha256' || data.value !== sha256) fail('bad-signature', 'the Rekor entry is for other content');
    if (!decodeBase64(sig.content)?.equals(signature)) fail('bad-signature', 'the Rekor entry holds another signature');
    const keyPem = isObject(sig.publicKey) ? decodeBase64(sig.publicKey.content)?.toString('utf8') : undefined;
    if (leaf && keyPem !== undefined) {
      const named = certificatesFromPem(keyPem)[0];
      if (!named?.der.equals(leaf.der)) fail('bad-signature', 'the Rekor entry names another certificate');
    }
    return;
  }
  if (doc.kind === 'dsse') {
    const payloadHash = isObject(spec.payloadHash) ? spec.payloadHash : undefined;
    const sigs = Array.isArray(spec.signatures) ? spec.signatures : [];
    if (payloadHash && (payloadHash.algorithm !== 'sha256' || payloadHash.value !== sha256)) fail('bad-signature', 'the Rekor entry is for another payload');
    if (!sigs.some((s) => isObject(s) && decodeBase64(s.signature)?.equals(signature))) fail('bad-signature', 'the Rekor entry holds another signature');
    return;
  }
  fail('unsupported', `Rekor entry kind ${String(doc.kind).slice(0, 40)} is not verified`);
}

/**
 * Keyless (Fulcio) verification of one signature: the leaf's key verifies the signature, the
 * leaf chains to a configured Fulcio CA, the log's signed entry timestamp is genuine, every
 * certificate was valid at the log's time (Fulcio certificates live minutes: expiry now is
 * normal, the log time is what counts), and the OIDC issuer and SAN match a configured identity.
 */
export function verifyKeyless(options: {
  trust: KeylessTrust;
  leafDer: Buffer;
  chainDer: Buffer[];
  signedBytes: Buffer;
  signature: Buffer;
  entry: RekorEntry;
  set: Buffer;
  /** The bytes the log entry hashes when that differs from `signedBytes` (DSSE: the payload). */
  entryBytes?: Buffer;
}): KeylessSigner {
  const { trust } = options;
  let leaf: CertificateInfo;
  let chain: CertificateInfo[];
  try {
    leaf = parseCertificate(options.leafDer);
    chain = options.chainDer.map((der) => parseCertificate(der));
  } catch (err) {
    return fail('malformed', `certificate does not parse: ${(err as Error).message}`);
  }
  const signer = leaf.sanEmails[0] ?? leaf.sanUris[0] ?? leaf.subject.map((r) => `${r.type}=${r.value}`).join(', ');
  if (!verifySigstoreSignature(leaf.cert.publicKey, options.signedBytes, options.signature)) {
    fail('bad-signature', 'the signature does not verify with the certificate key', signer);
  }
  const anchors = trust.fulcioRoots.flatMap((pem) => certificatesFromPem(pem));
  const path = buildPath(leaf, [...chain, ...anchors], anchors);
  if (!path) fail('untrusted-key', 'the certificate does not chain to a configured Fulcio CA', signer);
  if (leaf.basicConstraints?.ca || !leaf.extendedKeyUsage?.includes(Oid.ekuCodeSigning)) {
    fail('untrusted-key', 'the certificate is not a code-signing certificate', signer);
  }

  verifySignedEntryTimestamp(options.entry, options.set, publicKeysFromPem(trust.rekorPublicKeys));
  checkEntryMatches(options.entry, options.signature, options.entryBytes ?? options.signedBytes, leaf);
  const loggedAt = new Date(options.entry.integratedTime * 1000);
  const stale = path.find((c) => !validAt(c, loggedAt));
  if (stale) fail('certificate-expired', `a certificate in the chain was not valid at the log time ${loggedAt.toISOString()}`, signer);

  const issuer = fulcioIssuer(leaf);
  const sans = [...leaf.sanEmails, ...leaf.sanUris];
  const matches = trust.identities.some((id) => {
    const issuerOk = compilePattern(id.issuer);
    const subjectOk = compilePattern(id.subject);
    return issuer !== undefined && issuerOk?.(issuer) === true && sans.some((san) => subjectOk?.(san) === true);
  });
  if (!matches) fail('untrusted-identity', `signer ${signer} (issuer ${issuer ?? 'none'}) matches no configured identity`, signer);
  return { signer, issuer: issuer ?? '', signedAt: loggedAt.toISOString() };
}

/**
 * The certification path from `leaf` up to a configured anchor, the anchor included;
 * `pool` holds the certificates that may serve as intermediates.
 */
export function buildPath(leaf: CertificateInfo, pool: CertificateInfo[], anchors: CertificateInfo[]): CertificateInfo[] | undefined {
  const isAnchor = (c: CertificateInfo) => anchors.some((a) => a.der.equals(c.der));
  const walk = (current: CertificateInfo, path: CertificateInfo[]): CertificateInfo[] | undefined => {
    if (path.length > 1 && isAnchor(current)) return path;
    if (path.length > 8 || isSelfSigned(current)) return undefined;
    for (const parent of pool) {
      if (path.some((c) => c.der.equals(parent.der))) continue;
      if (issuedBy(current, parent) && (parent.basicConstraints?.ca ?? false)) {
        const found = walk(parent, [...path, parent]);
        if (found) return found;
      }
    }
    return undefined;
  };
  return walk(leaf, [leaf]);
}

/** PEM (as cosign stores certificates in annotations) → DER of each certificate. */
export function pemCertificates(pem: string): Buffer[] {
  const out: Buffer[] = [];
  for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
    try {
      out.push(new X509Certificate(block).raw);
    } catch {
      fail('malformed', 'a certificate in the signature does not parse');
    }
  }
  return out;
}
