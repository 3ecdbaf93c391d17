import { describe, expect, it } from 'vitest';
import { createHash, generateKeyPairSync, sign, X509Certificate, type KeyObject } from 'node:crypto';
import {
  verifySignatureArtifact,
  parseSignatureTrust,
  cosignSignatureTag,
  type SignatureTrustInput,
  type SignatureVerdict,
} from '../../../src/services/security/signatures/index.js';

// ---------------------------------------------------------------------------------------------
// DER and X.509 built from RFC 5280 in the test, so every field (dates, criticality, Fulcio
// extensions) is under the test's control. node:crypto (OpenSSL) parses and verifies what this
// builds, and one test cross-checks a chain with the openssl CLI.
// ---------------------------------------------------------------------------------------------

function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const content = Buffer.concat(parts);
  const n = content.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : n < 0x10000 ? Buffer.from([0x82, n >> 8, n & 0xff]) : Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, content]);
}
const seq = (...parts: Buffer[]) => tlv(0x30, ...parts);
const set = (...parts: Buffer[]) => tlv(0x31, ...parts);
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
const octets = (b: Buffer) => tlv(0x04, b);
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const bytes = [40 * a + b];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}
function int(n: number | Buffer): Buffer {
  let b = typeof n === 'number' ? Buffer.from(n.toString(16).padStart(2, '0').replace(/^(.(..)*)$/, '0$1'), 'hex') : n;
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}
function bitString(bits: number[]): Buffer {
  const high = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(high / 8) + 1);
  for (const bit of bits) bytes[Math.floor(bit / 8)]! |= 0x80 >> bit % 8;
  return tlv(0x03, Buffer.from([bytes.length * 8 - (high + 1)]), bytes);
}
const rdnOids: Record<string, string> = { C: '2.5.4.6', ST: '2.5.4.8', L: '2.5.4.7', O: '2.5.4.10', OU: '2.5.4.11', CN: '2.5.4.3' };
function name(rdns: Array<[string, string]>): Buffer {
  return seq(...rdns.map(([type, value]) => set(seq(oid(rdnOids[type]!), type === 'C' ? tlv(0x13, Buffer.from(value)) : utf8(value)))));
}

const KU = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

interface Cert {
  der: Buffer;
  pem: string;
  key: KeyObject;
  publicKey: KeyObject;
  name: Array<[string, string]>;
}

interface CertSpec {
  subject: Array<[string, string]>;
  /** Signed by this certificate's key; self-signed when absent. */
  issuer?: Cert;
  keyType?: 'ec' | 'rsa' | 'ed25519';
  notBefore?: Date;
  notAfter?: Date;
  ca?: boolean;
  keyUsage?: number[];
  keyUsageCritical?: boolean;
  eku?: string[];
  emails?: string[];
  uris?: string[];
  extensions?: Array<{ oid: string; critical?: boolean; value: Buffer }>;
}

let serial = 1;
function makeKey(type: 'ec' | 'rsa' | 'ed25519' = 'ec') {
  if (type === 'rsa') return generateKeyPairSync('rsa', { modulusLength: 2048 });
  if (type === 'ed25519') return generateKeyPairSync('ed25519');
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

function makeCert(spec: CertSpec): Cert {
  const { privateKey, publicKey } = makeKey(spec.keyType);
  const signerKey = spec.issuer?.key ?? privateKey;
  const sigAlg =
    signerKey.asymmetricKeyType === 'rsa'
      ? seq(oid('1.2.840.113549.1.1.11'), tlv(0x05))
      : signerKey.asymmetricKeyType === 'ed25519'
        ? seq(oid('1.3.101.112'))
        : seq(oid('1.2.840.10045.4.3.2'));
  const exts: Buffer[] = [];
  const ext = (id: string, critical: boolean, value: Buffer) => exts.push(seq(oid(id), ...(critical ? [bool(true)] : []), octets(value)));
  if (spec.ca !== undefined) ext('2.5.29.19', true, seq(...(spec.ca ? [bool(true)] : [])));
  if (spec.keyUsage) ext('2.5.29.15', spec.keyUsageCritical ?? true, bitString(spec.keyUsage));
  if (spec.eku) ext('2.5.29.37', false, seq(...spec.eku.map(oid)));
  if (spec.emails || spec.uris) {
    ext('2.5.29.17', false, seq(...(spec.emails ?? []).map((e) => tlv(0x81, Buffer.from(e))), ...(spec.uris ?? []).map((u) => tlv(0x86, Buffer.from(u)))));
  }
  for (const e of spec.extensions ?? []) ext(e.oid, e.critical ?? false, e.value);
  const notBefore = spec.notBefore ?? new Date(Date.now() - 3600_000);
  const notAfter = spec.notAfter ?? new Date(Date.now() + 365 * 86400_000);
  const tbs = seq(
    tlv(0xa0, int(2)),
    int(serial++),
    sigAlg,
    name(spec.issuer?.name ?? spec.subject),
    seq(time(notBefore), time(notAfter)),
    name(spec.subject),
    publicKey.export({ type: 'spki', format: 'der' }),
    ...(exts.length ? [tlv(0xa3, seq(...exts))] : []),
  );
  const signature = sign(signerKey.asymmetricKeyType === 'ed25519' ? null : 'sha256', tbs, signerKey);
  const der = seq(tbs, sigAlg, tlv(0x03, Buffer.from([0]), signature));
  const pem = new X509Certificate(der).toString();
  return { der, pem, key: privateKey, publicKey, name: spec.subject };
}

const pemOf = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();
const fingerprint = (key: KeyObject) => createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex');
const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64');

// ---------------------------------------------------------------------------------------------
// A blob store and manifests shaped as cosign and Notation push them.
// ---------------------------------------------------------------------------------------------

class Blobs {
  readonly map = new Map<string, Buffer>();
  reads: Array<{ digest: string; maxBytes: number }> = [];
  put(bytes: Buffer | string): { digest: string; size: number } {
    const buf = Buffer.from(bytes);
    const digest = sha256(buf);
    this.map.set(digest, buf);
    return { digest, size: buf.length };
  }
  readBlob = async (digest: string, maxBytes: number): Promise<Buffer> => {
    this.reads.push({ digest, maxBytes });
    const found = this.map.get(digest);
    if (!found) throw new Error(`blob ${digest} unknown`);
    return found;
  };
}

const subjectManifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256('{}'), size: 2 }, layers: [] }));
const subjectDigest = sha256(subjectManifest);
const otherDigest = sha256('another image');

function simpleSigning(digest = subjectDigest, type = 'cosign container image signature'): Buffer {
  return Buffer.from(
    JSON.stringify({ critical: { identity: { 'docker-reference': 'registry.example/team/app' }, image: { 'docker-manifest-digest': digest }, type }, optional: { creator: 'test' } }),
  );
}

/** ECDSA and RSA sign SHA-256 of the payload; Ed25519 signs the payload itself (cosign's defaults). */
function cosignSign(payload: Buffer, key: KeyObject): Buffer {
  return sign(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', payload, key);
}

function cosignManifest(blobs: Blobs, layers: Array<{ payload: Buffer; annotations: Record<string, string>; descriptorDigest?: string }>): Buffer {
  const config = blobs.put('{"architecture":"","config":{},"os":""}');
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: layers.map((l) => {
        const stored = blobs.put(l.payload);
        return { mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', size: stored.size, digest: l.descriptorDigest ?? stored.digest, annotations: l.annotations };
      }),
    }),
  );
}

async function verify(blobs: Blobs, manifest: Buffer, trust: SignatureTrustInput, extra: { subject?: string; now?: Date } = {}): Promise<SignatureVerdict[]> {
  return verifySignatureArtifact(
    { subjectDigest: extra.subject ?? subjectDigest, manifest, readBlob: blobs.readBlob, subjectManifest, ...(extra.now ? { now: extra.now } : {}) },
    parseSignatureTrust(trust),
  );
}

describe('cosign key-based signatures (tag scheme)', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ed = generateKeyPairSync('ed25519');
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  it('names the tag cosign stores signatures under', () => {
    expect(cosignSignatureTag(`sha256:${'ab'.repeat(32)}`)).toBe(`sha256-${'ab'.repeat(32)}.sig`);
  });

  it('verifies an ECDSA P-256 signature and names the key by its SPKI fingerprint', async () => {
    const blobs = new Blobs();
    const payload = simpleSigning();
    const manifest = cosignManifest(blobs, [{ payload, annotations: { 'dev.cosignproject.cosign/signature': b64(cosignSign(payload, ec.privateKey)) } }]);
    const verdicts = await verify(blobs, manifest, { cosign: { publicKeys: [pemOf(ed.publicKey), pemOf(ec.publicKey)] } });
    expect(verdicts).toEqual([
      { format: 'cosign', signatureDigest: sha256(manifest), layerDigest: sha256(payload), verified: true, signer: fingerprint(ec.publicKey) },
    ]);
  });

  it('verifies an Ed25519 signature', async () => {
    const blobs = new Blobs();
    const payload = simpleSigning();
    const manifest = cosignManifest(blobs, [{ payload, annotations: { 'dev.cosignproject.cosign/signature': b64(cosignSign(payload, ed.privateKey)) } }]);
    const [verdict] = await verify(blobs, manifest, { cosign: { publicKeys: [pemOf(ed.publicKey)] } });
    expect(verdict).toMatchObject({ verified: true, signer: fingerprint(ed.publicKey) });
    expect(verdict?.reason).toBeUndefined();
  });

  it('verifies an RSA (PKCS#1 v1.5, SHA-256) signature', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const blobs = new Blobs();
    const payload = simpleSigning();
    const manifest = cosignManifest(blobs, [{ payload, annotations: { 'dev.cosignproject.cosign/signature': b64(cosignSign(payload, rsa.privateKey)) } }]);
    const [verdict] = await verify(blobs, manifest, { cosign: { publicKeys: [pemOf(rsa.publicKey)] } });
    expect(verdict).toMatchObject({ verified: true, signer: fingerprint(rsa.publicKey) });
  });

  it('rejects a payload altered after signing whose descriptor still names the signed bytes (bad-signature: layer digest mismatch)', async () => {
    const blobs = new Blobs();
    const payload = simpleSigning();
    const sig = b64(cosignSign(payload, ec.privateKey));
    const manifest = cosignManifest(blobs, [{ payload, annotations: { 'dev.cosignproject.cosign/signature': sig } }]);
    // The store hands back other bytes (same length) under the signed payload's digest.
    const tampered = simpleSigning(otherDigest);
    expect(tampered.length).toBe(payload.length);
    blobs.map.set(sha256(payload), tampered);
    const [verdict] = await verify(blobs, manifest, { cosign: { publicKeys: [pemOf(ec.publicKey)] } });
    expect(verdict).toMatchObject({ verified: false, reason: 'bad-signature' });
  });

  it('rejects a payload replaced together with its descriptor (no configured key verifies it: untrusted-key)', async () => {
    const blobs = new Blobs();
    const sig = b64(cosignSign(simpleSigning(), ec.privateKey));
    const manifest = cosignManifest(blobs, [{ payload: simpleSigning(otherDigest), annotations: { 'dev.cosignproject.cosign/signature': sig } }]);
    const [verdict] = await verify(blobs, manifest, { cosign: { publicKeys: [pemOf(ec.publicKey)] } }, { subject: otherDigest });
    expect(verdict).toMatchObject({ verified: false, reason: 'untrusted-key' });
  });

  it('rejects a valid signature over a payload naming another image (digest-mismatch)', async () => {
    const blobs = new Blobs();
    const payload = simpleSigning(otherDigest);
    const manifest = cosignManifest(blobs, [{ payload, annotations: { 'dev.cosignproject.cosign/signature': b64(cosignSign(payload, ec.privateKey)) } }]);
    const [verdict] = await verify(blobs, manifest, { cosign: { publicKeys: [pemOf(ec.publicKey)] } });
    expect(verdict).toMatchObject({ verified: false, reason: 'digest-mismatch', signer: fingerprint(ec.publicKey) });
  });

  it('rejects a payload of another type (malformed)', async () => {
    const blobs = new Blobs();
    const payload = simpleSigning(subjectDigest, 'atomic container signature');
    const manifest = cosignManifest(blobs, [{ payload, annotations: { 'dev.cosignproject.cosign/signature': b64(cosignSign(payload, ec.privateKey)) } }]);
    const [verdict] = await verify(blobs, manifest, { cosign: { publicKeys: [pemOf(ec.publicKey)] } });
    expect(verdict).toMatchObject({ verified: false, reason: 'malformed' });
  });

  it('rejects a signature made with a key nobody configured (untrusted-key)', async () => {
    const blobs = new Blobs();
    const payload = simpleSigning();
    const manifest = cosignManifest(blobs, [{ payload, annotations: { 'dev.cosignproject.cosign/signature': b64(cosignSign(payload, stranger.privateKey)) } }]);
    const [verdict] = await verify(blobs, manifest, { cosign: { publicKeys: [pemOf(ec.publicKey), pemOf(ed.publicKey)] } });
    expect(verdict).toMatchObject({ verified: false, reason: 'untrusted-key' });
  });

  it('answers no-trust-configured when no cosign keys are configured, without reading the layer', async () => {
    const blobs = new Blobs();
    const payload = simpleSigning();
    const manifest = cosignManifest(blobs, [{ payload, annotations: { 'dev.cosignproject.cosign/signature': b64(cosignSign(payload, ec.privateKey)) } }]);
    expect(await verify(blobs, manifest, {})).toEqual([
      expect.objectContaining({ format: 'cosign', verified: false, reason: 'no-trust-configured' }),
    ]);
    expect(await verify(blobs, manifest, { notation: { trustStore: [makeCert({ subject: [['CN', 'x']], ca: true, keyUsage: [KU.keyCertSign] }).pem], trustedIdentities: ['*'] } })).toEqual([
      expect.objectContaining({ verified: false, reason: 'no-trust-configured' }),
    ]);
    expect(blobs.reads).toEqual([]);
  });

  it('gives one verdict per signature layer: a trusted and an untrusted signer side by side', async () => {
    const blobs = new Blobs();
    const payload = simpleSigning();
    const manifest = cosignManifest(blobs, [
      { payload, annotations: { 'dev.cosignproject.cosign/signature': b64(cosignSign(payload, stranger.privateKey)) } },
      { payload, annotations: { 'dev.cosignproject.cosign/signature': b64(cosignSign(payload, ec.privateKey)) } },
    ]);
    const verdicts = await verify(blobs, manifest, { cosign: { publicKeys: [pemOf(ec.publicKey)] } });
    expect(verdicts.map((v) => [v.verified, v.reason])).toEqual([
      [false, 'untrusted-key'],
      [true, undefined],
    ]);
  });
});
