import { describe, expect, it } from 'vitest';
import { createHash, generateKeyPairSync, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  verifySignatureArtifact,
  parseSignatureTrust,
  cosignSignatureTag,
  type SignatureTrustInput,
  type SignatureVerdict,
} from '../../../src/services/security/signatures/index.js';
import { decode as cborDecode, encode as cborEncode, Tag } from 'cbor2';
import { prng, testSeed } from '../../helpers/prng.js';

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
  const notBefore = spec.notBefore ?? new Date(Date.now() - 60 * 86400_000);
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

// ---------------------------------------------------------------------------------------------
// Notation: JWS envelopes as signature-envelope-jws.md describes them.
// ---------------------------------------------------------------------------------------------

const acme: Array<[string, string]> = [['C', 'US'], ['ST', 'WA'], ['L', 'Seattle'], ['O', 'acme-rockets.io'], ['OU', 'Finance'], ['CN', 'SecureBuilder']];
const hour = 3600_000;
const day = 24 * hour;

function notationPki(leafSpec: Partial<CertSpec> = {}) {
  const root = makeCert({ subject: [['C', 'US'], ['O', 'acme-rockets.io'], ['CN', 'Acme Root']], ca: true, keyUsage: [KU.keyCertSign, KU.cRLSign], keyType: 'rsa' });
  const intermediate = makeCert({ subject: [['C', 'US'], ['O', 'acme-rockets.io'], ['CN', 'Acme Signing CA']], issuer: root, ca: true, keyUsage: [KU.keyCertSign] });
  const leaf = makeCert({ subject: acme, issuer: intermediate, keyUsage: [KU.digitalSignature], eku: ['1.3.6.1.5.5.7.3.3'], ...leafSpec });
  return { root, intermediate, leaf, chain: [leaf, intermediate, root] };
}

interface JwsOptions {
  chain: Cert[];
  target?: { mediaType: string; digest: string; size: number };
  signingTime?: Date;
  expiry?: Date;
  extraHeader?: Record<string, unknown>;
  alg?: string;
  tamperPayload?: boolean;
  /** Leave io.cncf.notary.signingAgent out (it is unsigned, so flipping it changes nothing that counts). */
  noAgent?: boolean;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');
const rfc3339 = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

function notationEnvelope(o: JwsOptions): Buffer {
  const leaf = o.chain[0]!;
  const ph: Record<string, unknown> = {
    alg: o.alg ?? (leaf.key.asymmetricKeyType === 'rsa' ? 'PS256' : 'ES256'),
    cty: 'application/vnd.cncf.notary.payload.v1+json',
    'io.cncf.notary.signingScheme': 'notary.x509',
    'io.cncf.notary.signingTime': rfc3339(o.signingTime ?? new Date(Date.now() - 60_000)),
    crit: ['io.cncf.notary.signingScheme', ...(o.expiry ? ['io.cncf.notary.expiry'] : [])],
    ...(o.expiry ? { 'io.cncf.notary.expiry': rfc3339(o.expiry) } : {}),
    ...o.extraHeader,
  };
  const target = o.target ?? { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subjectDigest, size: subjectManifest.length };
  const protectedB64 = b64url(JSON.stringify(ph));
  const payloadB64 = b64url(JSON.stringify({ targetArtifact: target }));
  const input = Buffer.from(`${protectedB64}.${payloadB64}`);
  const signature =
    leaf.key.asymmetricKeyType === 'rsa'
      ? sign('sha256', input, { key: leaf.key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 })
      : sign('sha256', input, { key: leaf.key, dsaEncoding: 'ieee-p1363' });
  const payload = o.tamperPayload ? b64url(JSON.stringify({ targetArtifact: { ...target, annotations: { evil: 'yes' } } })) : payloadB64;
  return Buffer.from(
    JSON.stringify({
      payload,
      protected: protectedB64,
      header: { x5c: o.chain.map((c) => c.der.toString('base64')), ...(o.noAgent ? {} : { 'io.cncf.notary.signingAgent': 'berth-test/1.0' }) },
      signature: b64url(signature),
    }),
  );
}

function notationManifest(blobs: Blobs, envelope: Buffer, mediaType = 'application/jose+json', sizeOverride?: number): Buffer {
  const empty = blobs.put('{}');
  const layer = blobs.put(envelope);
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.cncf.notary.signature',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', ...empty },
      layers: [{ mediaType, digest: layer.digest, size: sizeOverride ?? layer.size }],
      subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subjectDigest, size: subjectManifest.length },
      annotations: { 'io.cncf.notary.x509chain.thumbprint#S256': '[]' },
    }),
  );
}

const notationTrust = (root: Cert, identities = ['x509.subject: C=US, ST=WA, O=acme-rockets.io, OU=Finance']): SignatureTrustInput => ({
  notation: { trustStore: [root.pem], trustedIdentities: identities },
});

describe('Notation signatures (JWS)', () => {
  const pki = notationPki();

  it('verifies a JWS signature chaining to the trust store, signed by a trusted identity', async () => {
    const blobs = new Blobs();
    const signingTime = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
    const envelope = notationEnvelope({ chain: pki.chain, signingTime, expiry: new Date(Date.now() + day) });
    const manifest = notationManifest(blobs, envelope);
    expect(await verify(blobs, manifest, notationTrust(pki.root))).toEqual([
      {
        format: 'notation',
        signatureDigest: sha256(manifest),
        layerDigest: sha256(envelope),
        verified: true,
        signer: 'C=US, ST=WA, L=Seattle, O=acme-rockets.io, OU=Finance, CN=SecureBuilder',
        signedAt: signingTime.toISOString(),
      },
    ]);
  });

  it('verifies an RSA-PSS (PS256) signature and a wildcard identity', async () => {
    const rsaPki = notationPki({ keyType: 'rsa' });
    const blobs = new Blobs();
    const manifest = notationManifest(blobs, notationEnvelope({ chain: rsaPki.chain }));
    const [verdict] = await verify(blobs, manifest, notationTrust(rsaPki.root, ['*']));
    expect(verdict).toMatchObject({ verified: true });
  });

  it('rejects a payload changed after signing (bad-signature)', async () => {
    const blobs = new Blobs();
    const manifest = notationManifest(blobs, notationEnvelope({ chain: pki.chain, tamperPayload: true }));
    const [verdict] = await verify(blobs, manifest, notationTrust(pki.root));
    expect(verdict).toMatchObject({ verified: false, reason: 'bad-signature' });
  });

  it('rejects an alg that does not match the signing key (bad-signature)', async () => {
    const blobs = new Blobs();
    const manifest = notationManifest(blobs, notationEnvelope({ chain: pki.chain, alg: 'ES384' }));
    const [verdict] = await verify(blobs, manifest, notationTrust(pki.root));
    expect(verdict).toMatchObject({ verified: false, reason: 'bad-signature' });
  });

  it('rejects a signature for another artifact (digest-mismatch)', async () => {
    const blobs = new Blobs();
    const manifest = notationManifest(blobs, notationEnvelope({ chain: pki.chain, target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: otherDigest, size: 10 } }));
    const [verdict] = await verify(blobs, manifest, notationTrust(pki.root));
    expect(verdict).toMatchObject({ verified: false, reason: 'digest-mismatch' });
  });

  it('rejects a chain whose root is not in the trust store (untrusted-key)', async () => {
    const blobs = new Blobs();
    const manifest = notationManifest(blobs, notationEnvelope({ chain: pki.chain }));
    const otherRoot = notationPki().root;
    const [verdict] = await verify(blobs, manifest, notationTrust(otherRoot));
    expect(verdict).toMatchObject({ verified: false, reason: 'untrusted-key' });
  });

  it('rejects a chain presenting the trusted root but a leaf another CA issued (untrusted-key)', async () => {
    const blobs = new Blobs();
    const rogue = notationPki();
    const manifest = notationManifest(blobs, notationEnvelope({ chain: [rogue.leaf, rogue.intermediate, pki.root] }));
    const [verdict] = await verify(blobs, manifest, notationTrust(pki.root));
    expect(verdict).toMatchObject({ verified: false, reason: 'untrusted-key' });
  });

  it('rejects a signing certificate without the digitalSignature key usage, or with the serverAuth EKU (untrusted-key)', async () => {
    for (const leafSpec of [{ keyUsage: [KU.keyEncipherment] }, { eku: ['1.3.6.1.5.5.7.3.1'] }, { keyUsageCritical: false }]) {
      const bad = notationPki(leafSpec);
      const blobs = new Blobs();
      const manifest = notationManifest(blobs, notationEnvelope({ chain: bad.chain }));
      const [verdict] = await verify(blobs, manifest, notationTrust(bad.root));
      expect(verdict, JSON.stringify(leafSpec)).toMatchObject({ verified: false, reason: 'untrusted-key' });
    }
  });

  it('rejects a leaf certificate that had expired at signing time (certificate-expired)', async () => {
    const expired = notationPki({ notBefore: new Date(Date.now() - 30 * day), notAfter: new Date(Date.now() - 10 * day) });
    const blobs = new Blobs();
    const manifest = notationManifest(blobs, notationEnvelope({ chain: expired.chain, signingTime: new Date(Date.now() - 5 * day) }));
    const [verdict] = await verify(blobs, manifest, notationTrust(expired.root));
    expect(verdict).toMatchObject({ verified: false, reason: 'certificate-expired' });
    expect(verdict?.detail).toContain('signing time');
  });

  it('rejects a leaf valid at signing time but expired now, as notary.x509 without a timestamp requires (certificate-expired)', async () => {
    const lapsed = notationPki({ notBefore: new Date(Date.now() - 30 * day), notAfter: new Date(Date.now() - 10 * day) });
    const blobs = new Blobs();
    const manifest = notationManifest(blobs, notationEnvelope({ chain: lapsed.chain, signingTime: new Date(Date.now() - 20 * day) }));
    const [verdict] = await verify(blobs, manifest, notationTrust(lapsed.root));
    expect(verdict).toMatchObject({ verified: false, reason: 'certificate-expired' });
    expect(verdict?.detail).toContain('not valid now');
  });

  it('rejects a signature past its signer-set expiry (signature-expired)', async () => {
    const blobs = new Blobs();
    const manifest = notationManifest(blobs, notationEnvelope({ chain: pki.chain, signingTime: new Date(Date.now() - 2 * hour), expiry: new Date(Date.now() - hour) }));
    const [verdict] = await verify(blobs, manifest, notationTrust(pki.root));
    expect(verdict).toMatchObject({ verified: false, reason: 'signature-expired' });
    // The same signature verified while it was fresh.
    const [earlier] = await verify(blobs, manifest, notationTrust(pki.root), { now: new Date(Date.now() - 90 * 60_000) });
    expect(earlier).toMatchObject({ verified: true });
  });

  it('rejects a signer whose subject matches no trusted identity (untrusted-identity)', async () => {
    const blobs = new Blobs();
    const manifest = notationManifest(blobs, notationEnvelope({ chain: pki.chain }));
    const [verdict] = await verify(blobs, manifest, notationTrust(pki.root, ['x509.subject: C=US, ST=WA, O=acme-rockets.io, OU=Marketing']));
    expect(verdict).toMatchObject({ verified: false, reason: 'untrusted-identity', signer: 'C=US, ST=WA, L=Seattle, O=acme-rockets.io, OU=Finance, CN=SecureBuilder' });
  });

  it('rejects an unknown critical header and a verification plugin (unsupported)', async () => {
    for (const extra of [{ crit: ['io.cncf.notary.signingScheme', 'com.example.magic'], 'com.example.magic': 1 }, { crit: ['io.cncf.notary.signingScheme', 'io.cncf.notary.verificationPlugin'], 'io.cncf.notary.verificationPlugin': 'x' }]) {
      const blobs = new Blobs();
      const manifest = notationManifest(blobs, notationEnvelope({ chain: pki.chain, extraHeader: extra }));
      const [verdict] = await verify(blobs, manifest, notationTrust(pki.root));
      expect(verdict).toMatchObject({ verified: false, reason: 'unsupported' });
    }
  });

  it('reports an envelope type that is neither JWS nor COSE as unsupported', async () => {
    const blobs = new Blobs();
    const manifest = notationManifest(blobs, notationEnvelope({ chain: pki.chain }), 'application/vnd.example.envelope');
    const [verdict] = await verify(blobs, manifest, notationTrust(pki.root));
    expect(verdict).toMatchObject({ format: 'notation', verified: false, reason: 'unsupported' });
  });

  it('answers no-trust-configured without a Notation trust store', async () => {
    const blobs = new Blobs();
    const manifest = notationManifest(blobs, notationEnvelope({ chain: pki.chain }));
    const [verdict] = await verify(blobs, manifest, { cosign: { publicKeys: [pemOf(generateKeyPairSync('ed25519').publicKey)] } });
    expect(verdict).toMatchObject({ format: 'notation', verified: false, reason: 'no-trust-configured' });
  });

  it('produces certificates openssl itself accepts as a chain', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-sig-'));
    try {
      writeFileSync(join(dir, 'root.pem'), pki.root.pem);
      writeFileSync(join(dir, 'inter.pem'), pki.intermediate.pem);
      writeFileSync(join(dir, 'leaf.pem'), pki.leaf.pem);
      const out = execFileSync('openssl', ['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'inter.pem'), join(dir, 'leaf.pem')], { encoding: 'utf8' });
      expect(out.trim()).toBe(`${join(dir, 'leaf.pem')}: OK`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Notation: COSE_Sign1 envelopes as signature-envelope-cose.md describes them, encoded with
// cbor2 and signed over RFC 9052's Sig_structure here, independently of Berth's decoder.
// ---------------------------------------------------------------------------------------------

type Label = string | number;

interface CoseOptions {
  chain: Cert[];
  target?: { mediaType: string; digest: string; size: number };
  signingTime?: Date;
  expiry?: Date;
  /** COSE alg label; the one the leaf's key implies when absent. */
  alg?: unknown;
  crit?: Label[];
  extraProtected?: Array<[Label, unknown]>;
  extraUnprotected?: Array<[Label, unknown]>;
  /** Replaces the x5chain (label 33) of the unprotected header. */
  x5chain?: unknown;
  /** Leave io.cncf.notary.signingAgent out (it is unsigned, so flipping it changes nothing that counts). */
  noAgent?: boolean;
  tamperPayload?: boolean;
  /** COSE_Sign1_Tagged (18) unless false. */
  tagged?: boolean;
}

/** cbor2 writes a Buffer as a JSON-like map, so every byte string handed to it is a plain Uint8Array. */
const u8 = (b: Uint8Array) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const epoch = (d: Date) => new Tag(1, Math.floor(d.getTime() / 1000));
const wholeSeconds = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);

function coseEnvelope(o: CoseOptions): Buffer {
  const leaf = o.chain[0]!;
  const rsa = leaf.key.asymmetricKeyType === 'rsa';
  const ph = new Map<Label, unknown>([
    [1, o.alg ?? (rsa ? -37 : -7)],
    [2, o.crit ?? ['io.cncf.notary.signingScheme', ...(o.expiry ? ['io.cncf.notary.expiry'] : [])]],
    [3, 'application/vnd.cncf.notary.payload.v1+json'],
    ['io.cncf.notary.signingScheme', 'notary.x509'],
    ['io.cncf.notary.signingTime', epoch(o.signingTime ?? new Date(Date.now() - 60_000))],
    ...(o.expiry ? ([['io.cncf.notary.expiry', epoch(o.expiry)]] as Array<[Label, unknown]>) : []),
    ...(o.extraProtected ?? []),
  ]);
  const protectedBytes = cborEncode(ph);
  const target = o.target ?? { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subjectDigest, size: subjectManifest.length };
  const payload = u8(Buffer.from(JSON.stringify({ targetArtifact: target })));
  // RFC 9052 4.4: Sig_structure for COSE_Sign1, no external AAD.
  const toBeSigned = cborEncode(['Signature1', protectedBytes, new Uint8Array(0), payload]);
  const signature = rsa
    ? sign('sha256', toBeSigned, { key: leaf.key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 })
    : sign('sha256', toBeSigned, { key: leaf.key, dsaEncoding: 'ieee-p1363' });
  const sent = o.tamperPayload ? u8(Buffer.from(JSON.stringify({ targetArtifact: { ...target, annotations: { evil: 'yes' } } }))) : payload;
  const unprotected = new Map<Label, unknown>([
    [33, 'x5chain' in o ? o.x5chain : o.chain.map((c) => u8(c.der))],
    ...(o.noAgent ? [] : ([['io.cncf.notary.signingAgent', 'berth-test/1.0']] as Array<[Label, unknown]>)),
    ...(o.extraUnprotected ?? []),
  ]);
  const message = [protectedBytes, unprotected, sent, u8(signature)];
  return Buffer.from(cborEncode(o.tagged === false ? message : new Tag(18, message)));
}

const coseManifest = (blobs: Blobs, envelope: Buffer) => notationManifest(blobs, envelope, 'application/cose');

async function verifyCose(o: CoseOptions, trust: SignatureTrustInput, extra: { now?: Date } = {}): Promise<SignatureVerdict | undefined> {
  const blobs = new Blobs();
  const [verdict] = await verify(blobs, coseManifest(blobs, coseEnvelope(o)), trust, extra);
  return verdict;
}

describe('Notation signatures (COSE)', () => {
  const pki = notationPki();
  const rsaPki = notationPki({ keyType: 'rsa' });
  const signer = 'C=US, ST=WA, L=Seattle, O=acme-rockets.io, OU=Finance, CN=SecureBuilder';

  it('verifies an ES256 COSE_Sign1 chaining to the trust store, signed by a trusted identity', async () => {
    const blobs = new Blobs();
    const signingTime = wholeSeconds(new Date(Date.now() - 60_000));
    const envelope = coseEnvelope({ chain: pki.chain, signingTime, expiry: new Date(Date.now() + day) });
    const manifest = coseManifest(blobs, envelope);
    expect(await verify(blobs, manifest, notationTrust(pki.root))).toEqual([
      { format: 'notation', signatureDigest: sha256(manifest), layerDigest: sha256(envelope), verified: true, signer, signedAt: signingTime.toISOString() },
    ]);
  });

  it('verifies a PS256 (RSASSA-PSS) COSE_Sign1 and a wildcard identity', async () => {
    expect(await verifyCose({ chain: rsaPki.chain }, notationTrust(rsaPki.root, ['*']))).toMatchObject({ verified: true, signer });
  });

  it('verifies COSE_Sign1 tagged 18 and untagged, and refuses another tag (malformed)', async () => {
    expect(await verifyCose({ chain: pki.chain, tagged: true }, notationTrust(pki.root))).toMatchObject({ verified: true });
    expect(await verifyCose({ chain: pki.chain, tagged: false }, notationTrust(pki.root))).toMatchObject({ verified: true });
    const untagged = coseEnvelope({ chain: pki.chain, tagged: false });
    expect(untagged[0]).toBe(0x84);
    expect(coseEnvelope({ chain: pki.chain })[0]).toBe(0xd2);
    // Tag 98 is COSE_Sign, a different structure.
    const blobs = new Blobs();
    const [verdict] = await verify(blobs, coseManifest(blobs, Buffer.concat([Buffer.from([0xd8, 0x62]), untagged])), notationTrust(pki.root));
    expect(verdict).toMatchObject({ verified: false, reason: 'malformed' });
  });

  it('rejects a payload changed after signing (bad-signature)', async () => {
    expect(await verifyCose({ chain: pki.chain, tamperPayload: true }, notationTrust(pki.root))).toMatchObject({ verified: false, reason: 'bad-signature' });
    expect(await verifyCose({ chain: rsaPki.chain, tamperPayload: true }, notationTrust(rsaPki.root))).toMatchObject({ verified: false, reason: 'bad-signature' });
  });

  it('rejects an alg that does not match the signing key (bad-signature), and one the Notary Project does not allow (unsupported)', async () => {
    expect(await verifyCose({ chain: pki.chain, alg: -35 }, notationTrust(pki.root))).toMatchObject({ verified: false, reason: 'bad-signature' });
    expect(await verifyCose({ chain: pki.chain, alg: -37 }, notationTrust(pki.root))).toMatchObject({ verified: false, reason: 'bad-signature' });
    expect(await verifyCose({ chain: rsaPki.chain, alg: -7 }, notationTrust(rsaPki.root))).toMatchObject({ verified: false, reason: 'bad-signature' });
    for (const alg of [-8 /* EdDSA */, 5 /* HMAC 256/256 */, 'ES256']) {
      expect(await verifyCose({ chain: pki.chain, alg }, notationTrust(pki.root)), String(alg)).toMatchObject({ verified: false, reason: 'unsupported' });
    }
  });

  it('rejects a signature for another artifact (digest-mismatch)', async () => {
    const target = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: otherDigest, size: 10 };
    expect(await verifyCose({ chain: pki.chain, target }, notationTrust(pki.root))).toMatchObject({ verified: false, reason: 'digest-mismatch' });
  });

  it('rejects a chain whose root is not in the trust store, or a leaf another CA issued (untrusted-key)', async () => {
    expect(await verifyCose({ chain: pki.chain }, notationTrust(notationPki().root))).toMatchObject({ verified: false, reason: 'untrusted-key' });
    const rogue = notationPki();
    expect(await verifyCose({ chain: [rogue.leaf, rogue.intermediate, pki.root] }, notationTrust(pki.root))).toMatchObject({ verified: false, reason: 'untrusted-key' });
  });

  it('rejects a leaf certificate that had expired at signing time (certificate-expired)', async () => {
    const expired = notationPki({ notBefore: new Date(Date.now() - 30 * day), notAfter: new Date(Date.now() - 10 * day) });
    const verdict = await verifyCose({ chain: expired.chain, signingTime: new Date(Date.now() - 5 * day) }, notationTrust(expired.root));
    expect(verdict).toMatchObject({ verified: false, reason: 'certificate-expired' });
    expect(verdict?.detail).toContain('signing time');
  });

  it('rejects a signature past its signer-set expiry (signature-expired), which verified while fresh', async () => {
    const blobs = new Blobs();
    const manifest = coseManifest(blobs, coseEnvelope({ chain: pki.chain, signingTime: new Date(Date.now() - 2 * hour), expiry: new Date(Date.now() - hour) }));
    expect((await verify(blobs, manifest, notationTrust(pki.root)))[0]).toMatchObject({ verified: false, reason: 'signature-expired' });
    expect((await verify(blobs, manifest, notationTrust(pki.root), { now: new Date(Date.now() - 90 * 60_000) }))[0]).toMatchObject({ verified: true });
  });

  it('rejects a signer whose subject matches no trusted identity (untrusted-identity)', async () => {
    const verdict = await verifyCose({ chain: pki.chain }, notationTrust(pki.root, ['x509.subject: C=US, ST=WA, O=acme-rockets.io, OU=Marketing']));
    expect(verdict).toMatchObject({ verified: false, reason: 'untrusted-identity', signer });
  });

  it('rejects unknown critical headers, text or integer, and a verification plugin (unsupported)', async () => {
    const cases: Array<[Pick<CoseOptions, 'crit' | 'extraProtected'>, string]> = [
      [{ crit: ['io.cncf.notary.signingScheme', 'com.example.magic'], extraProtected: [['com.example.magic', 1]] }, 'unknown critical header com.example.magic'],
      [{ crit: ['io.cncf.notary.signingScheme', 99], extraProtected: [[99, 1]] }, 'unknown critical header 99'],
      [{ crit: ['io.cncf.notary.signingScheme', 'io.cncf.notary.verificationPlugin'], extraProtected: [['io.cncf.notary.verificationPlugin', 'x']] }, 'verification plugin'],
    ];
    for (const [c, detail] of cases) {
      const verdict = await verifyCose({ chain: pki.chain, ...c }, notationTrust(pki.root));
      expect(verdict, detail).toMatchObject({ verified: false, reason: 'unsupported', detail: expect.stringContaining(detail) });
    }
    // The same header, present but not critical, is ignored.
    expect(await verifyCose({ chain: pki.chain, extraProtected: [['com.example.magic', 1]] }, notationTrust(pki.root))).toMatchObject({ verified: true });
  });

  it('rejects header mistakes the specifications forbid (malformed)', async () => {
    const cases: Array<[Partial<CoseOptions>, string]> = [
      [{ crit: ['io.cncf.notary.expiry'], expiry: new Date(Date.now() + day) }, 'crit must contain io.cncf.notary.signingScheme'],
      [{ crit: ['io.cncf.notary.signingScheme', 1] }, 'crit must not list the COSE header labels 0 to 8'],
      [{ crit: [] }, 'crit must list the critical headers'],
      [{ crit: ['io.cncf.notary.signingScheme', 'io.cncf.notary.expiry'] }, 'critical header io.cncf.notary.expiry is absent'],
      [{ crit: ['io.cncf.notary.signingScheme'], expiry: new Date(Date.now() + day) }, 'io.cncf.notary.expiry must be marked critical'],
      [{ extraProtected: [['io.cncf.notary.signingTime', '2024-01-01T00:00:00Z']] }, 'signingTime is not a CBOR epoch date/time (tag 1)'],
      [{ extraProtected: [['io.cncf.notary.signingTime', new Tag(0, '2024-01-01T00:00:00Z')]] }, 'signingTime is not a CBOR epoch date/time (tag 1)'],
      [{ extraUnprotected: [['io.cncf.notary.expiry', epoch(new Date(Date.now() + day))]] }, 'io.cncf.notary.expiry must be protected'],
      [{ noAgent: true, extraUnprotected: [['io.cncf.notary.signingAgent', 7]] }, 'signingAgent is not a text string'],
      [{ extraProtected: [[33, pki.chain.map((c) => u8(c.der))]] }, 'COSE header 33 is both protected and unprotected'],
      [{ x5chain: [1, 2] }, "x5chain entry is not a certificate's bytes"],
      [{ x5chain: [] }, 'x5chain must hold the certificate chain'],
      [{ x5chain: 'leaf' }, 'x5chain must hold the certificate chain'],
      [{ x5chain: [u8(Buffer.from('not a certificate'))] }, 'x5chain: '],
    ];
    for (const [options, detail] of cases) {
      const verdict = await verifyCose({ chain: pki.chain, ...options }, notationTrust(pki.root));
      expect(verdict, detail).toMatchObject({ verified: false, reason: 'malformed', detail: expect.stringContaining(detail) });
    }
  });

  it('reads a lone certificate given as a byte string (RFC 9360) as an x5chain of one', async () => {
    const leaf = pki.leaf;
    const lone = await verifyCose({ chain: [leaf], x5chain: u8(leaf.der) }, notationTrust(pki.root));
    const arrayOfOne = await verifyCose({ chain: [leaf], x5chain: [u8(leaf.der)] }, notationTrust(pki.root));
    // Past decoding, to the chain check: the leaf alone does not end in a self-signed root.
    expect(lone).toMatchObject({ verified: false, reason: 'untrusted-key', signer, detail: arrayOfOne?.detail });
  });

  it('applies the same checks as the JWS envelope: each fault gets the same reason in both', async () => {
    const expired = notationPki({ notBefore: new Date(Date.now() - 30 * day), notAfter: new Date(Date.now() - 10 * day) });
    const faults: Array<[string, { chain: Cert[]; signingTime?: Date; expiry?: Date; tamperPayload?: boolean; target?: CoseOptions['target'] }, SignatureTrustInput, string | undefined]> = [
      ['valid', { chain: pki.chain }, notationTrust(pki.root), undefined],
      ['tampered', { chain: pki.chain, tamperPayload: true }, notationTrust(pki.root), 'bad-signature'],
      ['other subject', { chain: pki.chain, target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: otherDigest, size: 3 } }, notationTrust(pki.root), 'digest-mismatch'],
      ['foreign root', { chain: pki.chain }, notationTrust(rsaPki.root), 'untrusted-key'],
      ['identity', { chain: pki.chain }, notationTrust(pki.root, ['x509.subject: C=US, ST=CA, O=acme-rockets.io']), 'untrusted-identity'],
      ['expired signature', { chain: pki.chain, signingTime: new Date(Date.now() - 2 * hour), expiry: new Date(Date.now() - hour) }, notationTrust(pki.root), 'signature-expired'],
      ['lapsed leaf', { chain: expired.chain, signingTime: new Date(Date.now() - 20 * day) }, notationTrust(expired.root), 'certificate-expired'],
    ];
    for (const [what, options, trust, reason] of faults) {
      const jwsBlobs = new Blobs();
      const [jws] = await verify(jwsBlobs, notationManifest(jwsBlobs, notationEnvelope(options)), trust);
      const cose = await verifyCose(options, trust);
      expect({ jws: jws?.reason, cose: cose?.reason }, what).toEqual({ jws: reason, cose: reason });
      expect(cose?.detail, what).toBe(jws?.detail);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Hostile input: every answer is a verdict, never an exception.
// ---------------------------------------------------------------------------------------------

describe('hostile signature artifacts', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const cosignTrust: SignatureTrustInput = { cosign: { publicKeys: [pemOf(ec.publicKey)] } };
  const pki = notationPki();

  it('answers malformed for a manifest that is not JSON, and nothing for a manifest that is no signature', async () => {
    const blobs = new Blobs();
    expect(await verify(blobs, Buffer.from('{"schemaVersion": 2, "layers": [nope'), cosignTrust)).toEqual([
      expect.objectContaining({ format: 'unknown', verified: false, reason: 'malformed' }),
    ]);
    expect(await verify(blobs, subjectManifest, cosignTrust)).toEqual([]);
  });

  it('refuses a signature layer over 1 MiB without reading it', async () => {
    const blobs = new Blobs();
    const payload = simpleSigning();
    const big = Buffer.concat([payload, Buffer.alloc(1024 * 1024)]);
    const manifest = cosignManifest(blobs, [{ payload: big, annotations: { 'dev.cosignproject.cosign/signature': b64(cosignSign(big, ec.privateKey)) } }]);
    const [verdict] = await verify(blobs, manifest, cosignTrust);
    expect(verdict).toMatchObject({ verified: false, reason: 'malformed' });
    expect(blobs.reads).toEqual([]);
  });

  it('refuses a store answer over 1 MiB even when the descriptor claims a small layer, and passes the cap to the store', async () => {
    const blobs = new Blobs();
    const payload = simpleSigning();
    const manifest = cosignManifest(blobs, [{ payload, annotations: { 'dev.cosignproject.cosign/signature': b64(cosignSign(payload, ec.privateKey)) } }]);
    blobs.map.set(sha256(payload), Buffer.alloc(2 * 1024 * 1024));
    const [verdict] = await verify(blobs, manifest, cosignTrust);
    expect(verdict).toMatchObject({ verified: false, reason: 'malformed' });
    expect(blobs.reads).toEqual([{ digest: sha256(payload), maxBytes: 1024 * 1024 }]);
  });

  it('answers malformed when the store cannot produce the layer', async () => {
    const blobs = new Blobs();
    const payload = simpleSigning();
    const manifest = cosignManifest(blobs, [{ payload, annotations: { 'dev.cosignproject.cosign/signature': b64(cosignSign(payload, ec.privateKey)) } }]);
    blobs.map.clear();
    const [verdict] = await verify(blobs, manifest, cosignTrust);
    expect(verdict).toMatchObject({ verified: false, reason: 'malformed' });
  });

  it('answers malformed for a signature annotation that is not base64 and a signed payload that is not JSON', async () => {
    const blobs = new Blobs();
    const garbage = Buffer.from('not json at all');
    const manifest = cosignManifest(blobs, [
      { payload: simpleSigning(), annotations: { 'dev.cosignproject.cosign/signature': '%%%not-base64%%%' } },
      { payload: garbage, annotations: { 'dev.cosignproject.cosign/signature': b64(cosignSign(garbage, ec.privateKey)) } },
    ]);
    const verdicts = await verify(blobs, manifest, cosignTrust);
    expect(verdicts.map((v) => v.reason)).toEqual(['malformed', 'malformed']);
  });

  it('answers malformed for Notation envelopes of garbage: not JSON, general serialization, bad base64, certificate garbage', async () => {
    const good = JSON.parse(notationEnvelope({ chain: pki.chain }).toString()) as Record<string, unknown>;
    const envelopes = [
      'garbage{',
      JSON.stringify({ ...good, signatures: [] }),
      JSON.stringify({ ...good, protected: '***' }),
      JSON.stringify({ ...good, header: { x5c: ['AAAA'] } }),
      JSON.stringify({ ...good, header: { x5c: 'not-an-array' } }),
      JSON.stringify({ ...good, header: { x5c: [Buffer.from('-----BEGIN CERTIFICATE-----').toString('base64')] } }),
      JSON.stringify({ ...good, payload: b64url('[1,2') }),
      JSON.stringify([1, 2, 3]),
    ];
    for (const text of envelopes) {
      const blobs = new Blobs();
      const [verdict] = await verify(blobs, notationManifest(blobs, Buffer.from(text)), notationTrust(pki.root));
      expect(verdict, text.slice(0, 60)).toMatchObject({ verified: false });
      expect(['malformed', 'bad-signature'], text.slice(0, 60)).toContain(verdict?.reason);
    }
  });

  it('never throws and never verifies when bytes of a valid Notation envelope or cosign layer are flipped at random', async () => {
    const seed = testSeed();
    const random = prng(seed);
    // Without the signing agent: it is an unsigned hint, so a flip inside it would rightly still verify.
    const envelope = notationEnvelope({ chain: pki.chain, noAgent: true });
    const payload = simpleSigning();
    const signature = b64(cosignSign(payload, ec.privateKey));
    for (let round = 0; round < 150; round++) {
      const mutated = Buffer.from(round % 2 ? envelope : payload);
      for (let n = 1 + Math.floor(random() * 3); n > 0; n--) mutated[Math.floor(random() * mutated.length)] = Math.floor(random() * 256);
      if (mutated.equals(round % 2 ? envelope : payload)) continue;
      const blobs = new Blobs();
      const manifest = round % 2 ? notationManifest(blobs, mutated) : cosignManifest(blobs, [{ payload: mutated, annotations: { 'dev.cosignproject.cosign/signature': signature } }]);
      const verdicts = await verify(blobs, manifest, { ...cosignTrust, ...notationTrust(pki.root, ['*']) });
      expect(verdicts, `seed ${seed} round ${round}`).toHaveLength(1);
      expect(verdicts[0]?.verified, `seed ${seed} round ${round}`).toBe(false);
    }
  });

  it('never throws and never verifies when bytes of a valid COSE envelope are flipped at random', async () => {
    const seed = testSeed();
    const random = prng(seed);
    // Without the signing agent: it is an unsigned hint, so a flip inside it would rightly still verify.
    const envelope = coseEnvelope({ chain: pki.chain, noAgent: true });
    const trust = notationTrust(pki.root, ['*']);
    expect(await verifyCose({ chain: pki.chain, noAgent: true }, trust)).toMatchObject({ verified: true });
    for (let round = 0; round < 200; round++) {
      const mutated = Buffer.from(envelope);
      for (let n = 1 + Math.floor(random() * 3); n > 0; n--) mutated[Math.floor(random() * mutated.length)] = Math.floor(random() * 256);
      if (mutated.equals(envelope)) continue;
      const blobs = new Blobs();
      const verdicts = await verify(blobs, coseManifest(blobs, mutated), trust);
      expect(verdicts, `seed ${seed} round ${round}`).toHaveLength(1);
      expect(verdicts[0]?.verified, `seed ${seed} round ${round}`).toBe(false);
    }
  });

  it('answers malformed for COSE envelopes of garbage: not CBOR, truncated, huge lengths, deep nesting, wrong types', async () => {
    const good = coseEnvelope({ chain: pki.chain });
    const [protectedBytes, unprotected, payload, signature] = (cborDecode(good, { preferMap: true }) as { contents: unknown[] }).contents as [Uint8Array, Map<Label, unknown>, Uint8Array, Uint8Array];
    const sign1 = (...parts: unknown[]) => Buffer.from(cborEncode(new Tag(18, parts)));
    const hex = (h: string) => Buffer.from(h, 'hex');
    const envelopes: Array<[string, Buffer]> = [
      ['empty', Buffer.alloc(0)],
      ['JSON', Buffer.from(notationEnvelope({ chain: pki.chain }))],
      ['truncated', good.subarray(0, good.length - 10)],
      ['trailing bytes', Buffer.concat([good, hex('00')])],
      ['a byte string claiming 2^64-1 bytes', hex('5bffffffffffffffff00')],
      ['an array claiming 2^32-1 items', hex('d2' + '9affffffff')],
      ['a map claiming 2^64-1 pairs', hex('bbffffffffffffffff')],
      ['arrays nested 100000 deep', Buffer.concat([Buffer.alloc(100_000, 0x81), hex('00')])],
      ['tags nested 100000 deep', Buffer.concat([Buffer.alloc(100_000, 0xd2), hex('00')])],
      ['an indefinite array never closed', hex('d29f0102')],
      ['a reserved additional-information value', hex('1c')],
      ['invalid UTF-8 in a text string', hex('62c328')],
      ['1 MiB of one-byte items', Buffer.concat([hex('9a000ffffb'), Buffer.alloc(0xffffb, 0xa0)])],
      ['an array of three', sign1(protectedBytes, unprotected, payload)],
      ['a map instead of an array', Buffer.from(cborEncode(new Tag(18, new Map([[1, 2]]))))],
      ['protected header of text', sign1('a10126', unprotected, payload, signature)],
      ['protected header an array', sign1(cborEncode([1, -7]), unprotected, payload, signature)],
      ['protected header with a duplicate label', sign1(u8(hex('a201260126')), unprotected, payload, signature)],
      ['protected header with a float label', sign1(cborEncode(new Map([[1.5, 1]])), unprotected, payload, signature)],
      ['protected header nested too deep', sign1(u8(Buffer.concat([hex('a101'), Buffer.alloc(20, 0x81), hex('00')])), unprotected, payload, signature)],
      ['unprotected header an array', sign1(protectedBytes, [], payload, signature)],
      ['a detached (nil) payload', sign1(protectedBytes, unprotected, null, signature)],
      ['a signature of text', sign1(protectedBytes, unprotected, payload, 'sig')],
    ];
    for (const [what, bytes] of envelopes) {
      const blobs = new Blobs();
      const [verdict] = await verify(blobs, coseManifest(blobs, bytes), notationTrust(pki.root));
      expect(verdict, what).toMatchObject({ format: 'notation', verified: false, reason: 'malformed' });
      if (what === '1 MiB of one-byte items') expect(verdict?.detail).toContain('more than 1024 data items');
    }
  });

  it('rejects a trust configuration with keys or certificates that do not parse, or identities Notation would refuse', () => {
    expect(() => parseSignatureTrust({ cosign: { publicKeys: ['-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----'] } })).toThrow();
    expect(() => parseSignatureTrust({ notation: { trustStore: ['not a certificate'], trustedIdentities: ['*'] } })).toThrow();
    expect(() => parseSignatureTrust({ notation: { trustStore: [pki.root.pem], trustedIdentities: ['x509.subject: CN=only a name'] } })).toThrow();
    expect(() => parseSignatureTrust({ cosign: { keyless: { fulcioRoots: [pki.root.pem], rekorPublicKeys: [pemOf(ec.publicKey)], identities: [{ issuer: '/(/', subject: 'x' }] } } })).toThrow();
    expect(parseSignatureTrust({ notation: { trustStore: [pki.root.pem], trustedIdentities: ['x509.subject: C=US, S=WA, O=Acme\\, Inc.'] } }).notation?.trustedIdentities).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------
// cosign keyless: a test "Fulcio" CA and "Rekor" log key, shaped as cosign's annotations.
// ---------------------------------------------------------------------------------------------

const fulcioIssuerV2 = (issuer: string) => ({ oid: '1.3.6.1.4.1.57264.1.8', value: utf8(issuer) });
const fulcioIssuerV1 = (issuer: string) => ({ oid: '1.3.6.1.4.1.57264.1.1', value: Buffer.from(issuer) });

function fulcio() {
  const root = makeCert({ subject: [['O', 'sigstore.dev'], ['CN', 'sigstore']], ca: true, keyUsage: [KU.keyCertSign, KU.cRLSign] });
  const intermediate = makeCert({ subject: [['O', 'sigstore.dev'], ['CN', 'sigstore-intermediate']], issuer: root, ca: true, keyUsage: [KU.keyCertSign] });
  return { root, intermediate };
}

interface KeylessOptions {
  ca: ReturnType<typeof fulcio>;
  rekor: { publicKey: KeyObject; privateKey: KeyObject };
  /** Key that signs the SET; the configured Rekor key when absent. */
  setKey?: KeyObject;
  leaf?: Partial<CertSpec>;
  /** Seconds since the epoch at which the log integrated the entry. */
  integratedTime?: number;
  /** A log entry for other content than this signature. */
  entryHash?: string;
  payload?: Buffer;
}

const signedAtTime = Math.floor(Date.now() / 1000) - 86400;

function keylessLayer(o: KeylessOptions) {
  const issuedAt = new Date((signedAtTime - 60) * 1000);
  const leaf = makeCert({
    subject: [],
    issuer: o.ca.intermediate,
    notBefore: issuedAt,
    notAfter: new Date(issuedAt.getTime() + 10 * 60_000),
    keyUsage: [KU.digitalSignature],
    eku: ['1.3.6.1.5.5.7.3.3'],
    emails: ['dev@acme.example'],
    extensions: [fulcioIssuerV2('https://accounts.acme.example')],
    ...o.leaf,
  });
  const payload = o.payload ?? simpleSigning();
  const signature = sign('sha256', payload, leaf.key);
  const body = {
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: { hash: { algorithm: 'sha256', value: o.entryHash ?? createHash('sha256').update(payload).digest('hex') } },
      signature: { content: b64(signature), publicKey: { content: b64(leaf.pem) } },
    },
  };
  const entry = { body: b64(JSON.stringify(body)), integratedTime: o.integratedTime ?? signedAtTime, logID: fingerprint(o.rekor.publicKey), logIndex: 4242 };
  // RFC 8785 for this shape: keys in code-unit order, no whitespace.
  const canonical = JSON.stringify({ body: entry.body, integratedTime: entry.integratedTime, logID: entry.logID, logIndex: entry.logIndex });
  const set = sign('sha256', Buffer.from(canonical), o.setKey ?? o.rekor.privateKey);
  return {
    leaf,
    payload,
    annotations: {
      'dev.cosignproject.cosign/signature': b64(signature),
      'dev.sigstore.cosign/certificate': leaf.pem,
      'dev.sigstore.cosign/chain': o.ca.intermediate.pem + o.ca.root.pem,
      'dev.sigstore.cosign/bundle': JSON.stringify({ SignedEntryTimestamp: b64(set), Payload: entry }),
    },
  };
}

describe('cosign keyless signatures (Fulcio certificate, Rekor bundle)', () => {
  const ca = fulcio();
  const rekor = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const trust = (identities = [{ issuer: 'https://accounts.acme.example', subject: 'dev@acme.example' }], roots = [ca.root.pem]): SignatureTrustInput => ({
    cosign: { keyless: { fulcioRoots: roots, rekorPublicKeys: [pemOf(rekor.publicKey)], identities } },
  });

  it('verifies a signature whose short-lived certificate expired long ago, at the time the log proves', async () => {
    const blobs = new Blobs();
    const layer = keylessLayer({ ca, rekor });
    expect(new Date(new X509Certificate(layer.leaf.der).validTo).getTime()).toBeLessThan(Date.now());
    const manifest = cosignManifest(blobs, [layer]);
    expect(await verify(blobs, manifest, trust())).toEqual([
      {
        format: 'cosign',
        signatureDigest: sha256(manifest),
        layerDigest: sha256(layer.payload),
        verified: true,
        signer: 'dev@acme.example',
        issuer: 'https://accounts.acme.example',
        signedAt: new Date(signedAtTime * 1000).toISOString(),
      },
    ]);
  });

  it('reads the legacy raw issuer extension and matches a URI SAN against an anchored /regexp/', async () => {
    const blobs = new Blobs();
    const uri = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
    const layer = keylessLayer({ ca, rekor, leaf: { emails: undefined, uris: [uri], extensions: [fulcioIssuerV1('https://token.actions.githubusercontent.com')] } });
    const manifest = cosignManifest(blobs, [layer]);
    const accepted = await verify(blobs, manifest, trust([{ issuer: 'https://token.actions.githubusercontent.com', subject: '/https://github\\.com/acme/.+/' }]));
    expect(accepted[0]).toMatchObject({ verified: true, signer: uri, issuer: 'https://token.actions.githubusercontent.com' });
    // Anchored: a pattern matching only a prefix of the SAN does not accept it.
    const prefixOnly = await verify(blobs, manifest, trust([{ issuer: 'https://token.actions.githubusercontent.com', subject: '/https://github\\.com/acme/app/' }]));
    expect(prefixOnly[0]).toMatchObject({ verified: false, reason: 'untrusted-identity' });
  });

  it('rejects a signer or an issuer nobody configured (untrusted-identity)', async () => {
    const blobs = new Blobs();
    const manifest = cosignManifest(blobs, [keylessLayer({ ca, rekor })]);
    const [otherSubject] = await verify(blobs, manifest, trust([{ issuer: 'https://accounts.acme.example', subject: 'boss@acme.example' }]));
    expect(otherSubject).toMatchObject({ verified: false, reason: 'untrusted-identity', signer: 'dev@acme.example' });
    const [otherIssuer] = await verify(blobs, manifest, trust([{ issuer: 'https://evil.example', subject: 'dev@acme.example' }]));
    expect(otherIssuer).toMatchObject({ verified: false, reason: 'untrusted-identity' });
  });

  it('rejects a certificate that does not chain to a configured Fulcio root (untrusted-key)', async () => {
    const blobs = new Blobs();
    const rogue = fulcio();
    const manifest = cosignManifest(blobs, [keylessLayer({ ca: rogue, rekor })]);
    const [verdict] = await verify(blobs, manifest, trust());
    expect(verdict).toMatchObject({ verified: false, reason: 'untrusted-key' });
  });

  it('rejects a signed entry timestamp made by another key under the log ID of the configured one (bad-signature)', async () => {
    const blobs = new Blobs();
    const forger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const manifest = cosignManifest(blobs, [keylessLayer({ ca, rekor, setKey: forger.privateKey })]);
    const [verdict] = await verify(blobs, manifest, trust());
    expect(verdict).toMatchObject({ verified: false, reason: 'bad-signature' });
    expect(verdict?.detail).toContain('signed entry timestamp');
  });

  it('rejects an entry from a log nobody configured (untrusted-key)', async () => {
    const blobs = new Blobs();
    const otherLog = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const manifest = cosignManifest(blobs, [keylessLayer({ ca, rekor: otherLog })]);
    const [verdict] = await verify(blobs, manifest, trust());
    expect(verdict).toMatchObject({ verified: false, reason: 'untrusted-key' });
  });

  it('rejects a log entry that is about other content (bad-signature)', async () => {
    const blobs = new Blobs();
    const manifest = cosignManifest(blobs, [keylessLayer({ ca, rekor, entryHash: 'ab'.repeat(32) })]);
    const [verdict] = await verify(blobs, manifest, trust());
    expect(verdict).toMatchObject({ verified: false, reason: 'bad-signature' });
  });

  it('rejects a certificate that was not valid when the log integrated the entry (certificate-expired)', async () => {
    const blobs = new Blobs();
    const manifest = cosignManifest(blobs, [keylessLayer({ ca, rekor, integratedTime: signedAtTime + 3600 })]);
    const [verdict] = await verify(blobs, manifest, trust());
    expect(verdict).toMatchObject({ verified: false, reason: 'certificate-expired' });
  });

  it('rejects a keyless signature naming another image (digest-mismatch) and one whose certificate key did not sign it (bad-signature)', async () => {
    const blobs = new Blobs();
    const manifest = cosignManifest(blobs, [keylessLayer({ ca, rekor, payload: simpleSigning(otherDigest) })]);
    expect((await verify(blobs, manifest, trust()))[0]).toMatchObject({ verified: false, reason: 'digest-mismatch' });

    const layer = keylessLayer({ ca, rekor });
    const swapped = keylessLayer({ ca, rekor });
    const mixed = cosignManifest(blobs, [{ payload: layer.payload, annotations: { ...layer.annotations, 'dev.sigstore.cosign/certificate': swapped.leaf.pem } }]);
    expect((await verify(blobs, mixed, trust()))[0]).toMatchObject({ verified: false, reason: 'bad-signature' });
  });

  it('answers no-trust-configured for a keyless signature when only keys are configured', async () => {
    const blobs = new Blobs();
    const manifest = cosignManifest(blobs, [keylessLayer({ ca, rekor })]);
    const [verdict] = await verify(blobs, manifest, { cosign: { publicKeys: [pemOf(rekor.publicKey)] } });
    expect(verdict).toMatchObject({ verified: false, reason: 'no-trust-configured' });
  });
});

// ---------------------------------------------------------------------------------------------
// Sigstore bundle v0.3 as an OCI 1.1 referrer, shaped as `cosign sign --new-bundle-format` pushes it.
// ---------------------------------------------------------------------------------------------

function pae(type: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${body.length} `), body]);
}

function statement(digest = subjectDigest): Buffer {
  const [alg, hex] = digest.split(':') as [string, string];
  return Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ digest: { [alg]: hex } }], predicateType: 'https://sigstore.dev/cosign/sign/v1', predicate: {} }));
}

function bundleManifest(blobs: Blobs, bundle: unknown): Buffer {
  const empty = blobs.put('{}');
  const layer = blobs.put(JSON.stringify(bundle));
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', ...empty },
      layers: [{ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', ...layer }],
      subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subjectDigest, size: subjectManifest.length },
    }),
  );
}

function dsseBundle(key: KeyObject, material: unknown, payload = statement()) {
  const sig = sign(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', pae('application/vnd.in-toto+json', payload), key);
  return {
    sig,
    payload,
    bundle: {
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: material,
      dsseEnvelope: { payload: b64(payload), payloadType: 'application/vnd.in-toto+json', signatures: [{ sig: b64(sig), keyid: '' }] },
    },
  };
}

describe('Sigstore bundles (OCI referrers)', () => {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyTrust: SignatureTrustInput = { cosign: { publicKeys: [pemOf(key.publicKey)] } };

  it('verifies a key-signed DSSE bundle whose in-toto statement names the image', async () => {
    const blobs = new Blobs();
    const manifest = bundleManifest(blobs, dsseBundle(key.privateKey, { publicKey: { hint: 'k' } }).bundle);
    expect(await verify(blobs, manifest, keyTrust)).toEqual([
      expect.objectContaining({ format: 'sigstore-bundle', signatureDigest: sha256(manifest), verified: true, signer: fingerprint(key.publicKey) }),
    ]);
  });

  it('rejects a statement about another image (digest-mismatch), a foreign key (untrusted-key) and an altered statement (untrusted-key)', async () => {
    const blobs = new Blobs();
    const other = bundleManifest(blobs, dsseBundle(key.privateKey, { publicKey: {} }, statement(otherDigest)).bundle);
    expect((await verify(blobs, other, keyTrust))[0]).toMatchObject({ verified: false, reason: 'digest-mismatch' });
    const foreign = bundleManifest(blobs, dsseBundle(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, { publicKey: {} }).bundle);
    expect((await verify(blobs, foreign, keyTrust))[0]).toMatchObject({ verified: false, reason: 'untrusted-key' });
    const { bundle } = dsseBundle(key.privateKey, { publicKey: {} }, statement(otherDigest));
    bundle.dsseEnvelope.payload = b64(statement());
    expect((await verify(blobs, bundleManifest(blobs, bundle), keyTrust))[0]).toMatchObject({ verified: false, reason: 'untrusted-key' });
  });

  it('verifies a message signature over the subject manifest bytes', async () => {
    const blobs = new Blobs();
    const bundle = {
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: { publicKey: { hint: '' } },
      messageSignature: { messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(subjectManifest).digest('base64') }, signature: b64(sign('sha256', subjectManifest, key.privateKey)) },
    };
    const [verdict] = await verify(blobs, bundleManifest(blobs, bundle), keyTrust);
    expect(verdict).toMatchObject({ verified: true, signer: fingerprint(key.publicKey) });
  });

  it('verifies a keyless DSSE bundle by its inclusion promise, and rejects it for an identity nobody configured', async () => {
    const ca = fulcio();
    const rekor = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const leaf = makeCert({
      subject: [],
      issuer: ca.intermediate,
      notBefore: new Date((signedAtTime - 60) * 1000),
      notAfter: new Date((signedAtTime + 540) * 1000),
      keyUsage: [KU.digitalSignature],
      eku: ['1.3.6.1.5.5.7.3.3'],
      emails: ['dev@acme.example'],
      extensions: [fulcioIssuerV2('https://accounts.acme.example')],
    });
    const draft = dsseBundle(leaf.key, {});
    const body = b64(
      JSON.stringify({
        apiVersion: '0.0.1',
        kind: 'dsse',
        spec: { payloadHash: { algorithm: 'sha256', value: createHash('sha256').update(draft.payload).digest('hex') }, signatures: [{ signature: b64(draft.sig), verifier: b64(leaf.pem) }] },
      }),
    );
    const logID = fingerprint(rekor.publicKey);
    const set = sign('sha256', Buffer.from(JSON.stringify({ body, integratedTime: signedAtTime, logID, logIndex: 7 })), rekor.privateKey);
    const bundle = {
      ...draft.bundle,
      verificationMaterial: {
        certificate: { rawBytes: b64(leaf.der) },
        tlogEntries: [
          {
            logIndex: '7',
            logId: { keyId: Buffer.from(logID, 'hex').toString('base64') },
            kindVersion: { kind: 'dsse', version: '0.0.1' },
            integratedTime: String(signedAtTime),
            inclusionPromise: { signedEntryTimestamp: b64(set) },
            canonicalizedBody: body,
          },
        ],
      },
    };
    const blobs = new Blobs();
    const manifest = bundleManifest(blobs, bundle);
    const keyless = (subject: string): SignatureTrustInput => ({
      cosign: { keyless: { fulcioRoots: [ca.root.pem, ca.intermediate.pem], rekorPublicKeys: [pemOf(rekor.publicKey)], identities: [{ issuer: 'https://accounts.acme.example', subject }] } },
    });
    expect((await verify(blobs, manifest, keyless('dev@acme.example')))[0]).toMatchObject({
      verified: true,
      signer: 'dev@acme.example',
      issuer: 'https://accounts.acme.example',
      signedAt: new Date(signedAtTime * 1000).toISOString(),
    });
    expect((await verify(blobs, manifest, keyless('/.*@other\\.example/')))[0]).toMatchObject({ verified: false, reason: 'untrusted-identity' });
    expect((await verify(blobs, manifest, keyTrust))[0]).toMatchObject({ verified: false, reason: 'no-trust-configured' });
  });
});
