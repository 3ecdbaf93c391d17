import { X509Certificate, createHash, type KeyObject } from 'node:crypto';

/**
 * The few X.509 facts signature verification needs that node:crypto does not expose
 * (key-usage bits, extension criticality, SAN URIs, the Fulcio issuer extensions, RDNs),
 * read from the DER with a bounded reader. node:crypto (OpenSSL) still does the parsing
 * that matters for trust: names, issuance and signatures.
 */

interface Tlv {
  tag: number;
  /** Content bytes. */
  value: Buffer;
  /** The whole element, header included. */
  raw: Buffer;
}

function readTlv(buf: Buffer, offset: number): { tlv: Tlv; next: number } {
  if (offset + 2 > buf.length) throw new Error('truncated DER');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new Error('high-tag-number DER is not used in certificates');
  let length = buf[offset + 1]!;
  let header = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new Error('unsupported DER length');
    if (offset + 2 + count > buf.length) throw new Error('truncated DER');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[offset + 2 + i]!;
    header += count;
  }
  const end = offset + header + length;
  if (end > buf.length) throw new Error('truncated DER');
  return { tlv: { tag, value: buf.subarray(offset + header, end), raw: buf.subarray(offset, end) }, next: end };
}

function children(tlv: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let offset = 0;
  while (offset < tlv.value.length) {
    const { tlv: child, next } = readTlv(tlv.value, offset);
    out.push(child);
    offset = next;
  }
  return out;
}

function decodeOid(value: Buffer): string {
  if (value.length === 0 || value.length > 64) throw new Error('bad OID');
  const parts: number[] = [];
  let n = 0;
  for (const byte of value) {
    n = n * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(n);
      n = 0;
    }
  }
  const first = parts.shift()!;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...parts].join('.');
}

function decodeString(tlv: Tlv): string {
  // BMPString (0x1e) is UTF-16BE; everything else certificates use is ASCII or UTF-8.
  if (tlv.tag === 0x1e) return Buffer.from(tlv.value).swap16().toString('utf16le');
  return tlv.value.toString('utf8');
}

const rdnNames: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.5': 'SERIALNUMBER',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.17': 'POSTALCODE',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'EMAILADDRESS',
};

export interface Rdn {
  /** Upper-case short name (`CN`, `O`, ...), or the dotted OID when it has none. */
  type: string;
  value: string;
}

/** Key-usage bits (RFC 5280 4.2.1.3), in bit order. */
export const keyUsageBits = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;
export type KeyUsage = (typeof keyUsageBits)[number];

export interface CertificateInfo {
  cert: X509Certificate;
  der: Buffer;
  /** OID of the certificate's signature algorithm. */
  signatureAlgorithm: string;
  subject: Rdn[];
  notBefore: Date;
  notAfter: Date;
  /** Extension OID → criticality and raw extnValue contents. */
  extensions: Map<string, { critical: boolean; value: Buffer }>;
  keyUsage?: Set<KeyUsage>;
  basicConstraints?: { ca: boolean; pathLen?: number };
  extendedKeyUsage?: string[];
  sanEmails: string[];
  sanUris: string[];
}

export const Oid = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extendedKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  ekuAny: '2.5.29.37.0',
  ekuServerAuth: '1.3.6.1.5.5.7.3.1',
  ekuClientAuth: '1.3.6.1.5.5.7.3.2',
  ekuCodeSigning: '1.3.6.1.5.5.7.3.3',
  ekuEmailProtection: '1.3.6.1.5.5.7.3.4',
  ekuTimeStamping: '1.3.6.1.5.5.7.3.8',
  /** Fulcio: OIDC issuer as the raw extension bytes (deprecated, still issued). */
  fulcioIssuerV1: '1.3.6.1.4.1.57264.1.1',
  /** Fulcio: OIDC issuer as a DER UTF8String. */
  fulcioIssuerV2: '1.3.6.1.4.1.57264.1.8',
  sha1WithRsa: '1.2.840.113549.1.1.5',
  ecdsaWithSha1: '1.2.840.10045.4.1',
} as const;

function parseTime(tlv: Tlv): Date {
  const text = tlv.value.toString('latin1');
  // UTCTime YYMMDDHHMMSSZ (RFC 5280: years 50-99 are 19xx); GeneralizedTime YYYYMMDDHHMMSSZ.
  const m = tlv.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) throw new Error('bad certificate time');
  let year = Number(m[1]);
  if (tlv.tag === 0x17) year += year >= 50 ? 1900 : 2000;
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

function parseName(tlv: Tlv): Rdn[] {
  const out: Rdn[] = [];
  for (const set of children(tlv)) {
    for (const atv of children(set)) {
      const [oid, value] = children(atv);
      if (!oid || !value || oid.tag !== 0x06) throw new Error('bad RDN');
      const dotted = decodeOid(oid.value);
      out.push({ type: rdnNames[dotted] ?? dotted, value: decodeString(value) });
    }
  }
  return out;
}

/**
 * Parses a DER certificate. Throws on anything malformed; callers turn that into
 * a `malformed` verdict.
 */
export function parseCertificate(der: Buffer): CertificateInfo {
  const cert = new X509Certificate(der);
  const top = readTlv(der, 0);
  if (top.next !== der.length) throw new Error('trailing bytes after certificate');
  const [tbs, sigAlg] = children(top.tlv);
  if (!tbs || !sigAlg) throw new Error('bad certificate');
  const algOid = children(sigAlg)[0];
  if (!algOid || algOid.tag !== 0x06) throw new Error('bad signature algorithm');
  const fields = children(tbs);
  let i = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] version
  i += 3; // serialNumber, signature, issuer
  const validity = fields[i++];
  const subject = fields[i++];
  i++; // subjectPublicKeyInfo
  if (!validity || !subject) throw new Error('bad certificate');
  const [nb, na] = children(validity);
  if (!nb || !na) throw new Error('bad validity');

  const info: CertificateInfo = {
    cert,
    der,
    signatureAlgorithm: decodeOid(algOid.value),
    subject: parseName(subject),
    notBefore: parseTime(nb),
    notAfter: parseTime(na),
    extensions: new Map(),
    sanEmails: [],
    sanUris: [],
  };
  const extWrapper = fields.slice(i).find((f) => f.tag === 0xa3);
  if (extWrapper) {
    const [extSeq] = children(extWrapper);
    for (const ext of extSeq ? children(extSeq) : []) {
      const parts = children(ext);
      const oid = parts[0];
      const critical = parts.length === 3 && parts[1]!.tag === 0x01 && parts[1]!.value[0] !== 0;
      const octets = parts[parts.length - 1];
      if (!oid || oid.tag !== 0x06 || !octets || octets.tag !== 0x04) throw new Error('bad extension');
      const dotted = decodeOid(oid.value);
      if (info.extensions.has(dotted)) throw new Error('duplicate extension');
      info.extensions.set(dotted, { critical, value: octets.value });
    }
  }
  readKnownExtensions(info);
  return info;
}

function readKnownExtensions(info: CertificateInfo): void {
  const ku = info.extensions.get(Oid.keyUsage);
  if (ku) {
    const bits = readTlv(ku.value, 0).tlv.value; // BIT STRING: unused-bits byte, then bits
    const set = new Set<KeyUsage>();
    keyUsageBits.forEach((name, index) => {
      const byte = bits[1 + Math.floor(index / 8)];
      if (byte !== undefined && byte & (0x80 >> index % 8)) set.add(name);
    });
    info.keyUsage = set;
  }
  const bc = info.extensions.get(Oid.basicConstraints);
  if (bc) {
    const parts = children(readTlv(bc.value, 0).tlv);
    let ca = false;
    let pathLen: number | undefined;
    for (const part of parts) {
      if (part.tag === 0x01) ca = part.value[0] !== 0;
      if (part.tag === 0x02 && part.value.length <= 4) pathLen = part.value.readUIntBE(0, part.value.length);
    }
    info.basicConstraints = pathLen === undefined ? { ca } : { ca, pathLen };
  }
  const eku = info.extensions.get(Oid.extendedKeyUsage);
  if (eku) info.extendedKeyUsage = children(readTlv(eku.value, 0).tlv).map((t) => decodeOid(t.value));
  const san = info.extensions.get(Oid.subjectAltName);
  if (san) {
    for (const name of children(readTlv(san.value, 0).tlv)) {
      if (name.tag === 0x81) info.sanEmails.push(name.value.toString('utf8')); // [1] rfc822Name
      if (name.tag === 0x86) info.sanUris.push(name.value.toString('utf8')); // [6] uniformResourceIdentifier
    }
  }
}

/** The OIDC issuer Fulcio wrote into the certificate, preferring the DER-encoded extension. */
export function fulcioIssuer(info: CertificateInfo): string | undefined {
  const v2 = info.extensions.get(Oid.fulcioIssuerV2);
  if (v2) {
    const { tlv } = readTlv(v2.value, 0);
    if (tlv.tag === 0x0c) return tlv.value.toString('utf8');
  }
  return info.extensions.get(Oid.fulcioIssuerV1)?.value.toString('utf8');
}

/** Hex SHA-256 of a public key's SubjectPublicKeyInfo DER: Berth's key fingerprint. */
export function keyFingerprint(key: KeyObject): string {
  return createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex');
}

/** True when `time` lies within the certificate's validity period, bounds included. */
export function validAt(info: CertificateInfo, time: Date): boolean {
  return info.notBefore.getTime() <= time.getTime() && time.getTime() <= info.notAfter.getTime();
}

/** `child` names `parent` as its issuer and `parent`'s key verifies `child`'s signature. */
export function issuedBy(child: CertificateInfo, parent: CertificateInfo): boolean {
  return child.cert.checkIssued(parent.cert) && child.cert.verify(parent.cert.publicKey);
}

export function isSelfSigned(info: CertificateInfo): boolean {
  return issuedBy(info, info);
}

/** Certificates from PEM text (one or several blocks); unreadable blocks are skipped. */
export function certificatesFromPem(pem: string): CertificateInfo[] {
  const out: CertificateInfo[] = [];
  for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
    try {
      out.push(parseCertificate(new X509Certificate(block).raw));
    } catch {
      // A broken trust-store entry must not stop the others from working; the config schema reports it.
    }
  }
  return out;
}

export function subjectText(info: CertificateInfo): string {
  return info.subject.map((r) => `${r.type}=${r.value}`).join(', ');
}
