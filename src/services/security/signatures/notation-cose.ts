import { decode, encode, SequenceEvents, Tag } from 'cbor2';
import { fail } from './verdict.js';
import { checkContentType, checkCritical, checkSigningScheme, Header, parseChain, requireSigningTime, type NotationEnvelope } from './notation-envelope.js';

/** COSE header labels (RFC 9052 3.1, RFC 9360 2) the Notary Project uses. */
const Label = { alg: 1, crit: 2, contentType: 3, x5chain: 33 } as const;

/** signature-envelope-cose.md "Supported alg header values": COSE algorithm labels onto the Notary Project's names. */
const coseAlgorithms = new Map<number, string>([
  [-37, 'PS256'],
  [-38, 'PS384'],
  [-39, 'PS512'],
  [-7, 'ES256'],
  [-35, 'ES384'],
  [-36, 'ES512'],
]);

/** Headers the signature must cover: finding one unprotected is a forgery attempt or a broken signer. */
const protectedOnly: ReadonlyArray<string | number> = [Label.alg, Label.crit, Label.contentType, Header.signingScheme, Header.signingTime, Header.authenticSigningTime, Header.expiry];

/**
 * A Notation COSE_Sign1 holds a few dozen data items nested three deep. General CBOR decoders
 * spend about a microsecond per item, so a 1 MiB layer of one-byte items would cost seconds:
 * the items are counted (a cheap token walk that also stops at the depth limit) before anything
 * is built from them.
 */
const maxDepth = 8;
const maxItems = 1024;

/**
 * Decodes a Notary Project COSE envelope (signature-envelope-cose.md): a COSE_Sign1 (RFC 9052
 * 4.2), tagged 18 or not, whose protected header carries the Notary Project headers, and whose
 * unprotected header carries the x5chain. Checks the headers in the order the JWS envelope's are.
 */
export function parseCoseEnvelope(bytes: Buffer): NotationEnvelope {
  const message = decodeCbor(bytes, 'COSE_Sign1');
  const sign1 = message instanceof Tag ? (Number(message.tag) === 18 ? message.contents : fail('malformed', `COSE envelope has tag ${String(message.tag).slice(0, 20)}, not 18 (COSE_Sign1)`)) : message;
  if (!Array.isArray(sign1) || sign1.length !== 4) return fail('malformed', 'COSE_Sign1 is an array of protected, unprotected, payload and signature');
  const [protectedBytes, unprotected, payload, signature] = sign1 as unknown[];
  if (!(protectedBytes instanceof Uint8Array) || !(unprotected instanceof Map) || !(signature instanceof Uint8Array)) {
    return fail('malformed', 'COSE_Sign1 protected, unprotected or signature has the wrong type');
  }
  // The Notary Project signs the payload inside the envelope; a detached (nil) payload has nothing to verify.
  if (!(payload instanceof Uint8Array)) return fail('malformed', 'COSE_Sign1 payload is not a byte string');
  // RFC 9052 3: an empty protected bstr stands for an empty map.
  const ph = protectedBytes.length === 0 ? new Map<unknown, unknown>() : decodeCbor(protectedBytes, 'COSE protected header');
  if (!(ph instanceof Map)) return fail('malformed', 'COSE protected header is not a map');
  for (const [bucket, headers] of [['protected', ph], ['unprotected', unprotected]] as const) {
    if (![...headers.keys()].every(isLabel)) fail('malformed', `COSE ${bucket} header has a label that is neither an integer nor a text string`);
  }
  // RFC 9052 3: a label appears in one bucket only.
  for (const label of unprotected.keys()) {
    if (ph.has(label)) fail('malformed', `COSE header ${String(label).slice(0, 80)} is both protected and unprotected`);
    if (protectedOnly.includes(label as string | number)) fail('malformed', `COSE header ${String(label).slice(0, 80)} must be protected`);
  }

  checkContentType(ph.get(Label.contentType));
  // RFC 9052 3.1: crit is a non-empty array of labels; signature-envelope-cose.md: never one of COSE's own 0 to 8.
  const crit: unknown = ph.get(Label.crit);
  if (!Array.isArray(crit) || crit.length === 0 || !crit.every(isLabel)) return fail('malformed', 'crit must list the critical headers');
  if (crit.some((label) => typeof label === 'number' && label >= 0 && label <= 8)) fail('malformed', 'crit must not list the COSE header labels 0 to 8');
  checkCritical(crit, (label) => ph.has(label));
  checkSigningScheme(ph.get(Header.signingScheme));
  const signingTime = requireSigningTime(epochTime(ph.get(Header.signingTime), Header.signingTime));
  const expiry = epochTime(ph.get(Header.expiry), Header.expiry);
  const agent: unknown = unprotected.get(Header.signingAgent);
  if (agent !== undefined && typeof agent !== 'string') fail('malformed', `${Header.signingAgent} is not a text string`);

  // signature-envelope-cose.md allows x5chain in either bucket; RFC 9360 2 lets one certificate stand alone as a bstr.
  const x5chain: unknown = ph.get(Label.x5chain) ?? unprotected.get(Label.x5chain);
  const entries: unknown[] = x5chain instanceof Uint8Array ? [x5chain] : Array.isArray(x5chain) ? x5chain : fail('malformed', 'x5chain must hold the certificate chain, leaf first');
  const chain = parseChain(entries, 'x5chain', (entry) => (entry instanceof Uint8Array ? asBuffer(entry) : undefined));

  const alg: unknown = ph.get(Label.alg);
  return {
    alg: typeof alg === 'number' ? coseAlgorithms.get(alg) : undefined,
    algLabel: String(alg),
    chain,
    signedBytes: sigStructure(protectedBytes, payload),
    signature: asBuffer(signature),
    payload: asBuffer(payload),
    signingTime,
    expiry,
  };
}

/** RFC 9052 4.4: what a COSE_Sign1 signs is the CBOR array ["Signature1", protected, external_aad, payload]; Notation has no external AAD. */
function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array): Buffer {
  return asBuffer(encode(['Signature1', plain(protectedBytes), new Uint8Array(0), plain(payload)]));
}

/** Well-formed CBOR of one data item, within the depth and item bounds; anything else is malformed, never a throw. */
function decodeCbor(bytes: Uint8Array, what: string): unknown {
  try {
    let items = 0;
    for (const _token of new SequenceEvents(bytes, { maxDepth })) {
      if (++items > maxItems) throw new Error(`more than ${maxItems} data items`);
    }
    return decode(bytes, { maxDepth, ignoreGlobalTags: true, preferMap: true, rejectDuplicateKeys: true });
  } catch (err) {
    return fail('malformed', `${what} is not well-formed CBOR: ${String((err as Error)?.message).slice(0, 120)}`);
  }
}

/** signature-envelope-cose.md: times are RFC 8949 3.4.2 epoch-based date/time, tag 1 over seconds. */
function epochTime(value: unknown, what: string): Date | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof Tag) || Number(value.tag) !== 1 || typeof value.contents !== 'number') return fail('malformed', `${what} is not a CBOR epoch date/time (tag 1)`);
  const date = new Date(value.contents * 1000);
  if (Number.isNaN(date.getTime())) return fail('malformed', `${what} is out of range`);
  return date;
}

/** RFC 9052 1.5: a label is an integer or a text string. */
function isLabel(value: unknown): value is string | number {
  return typeof value === 'string' || Number.isSafeInteger(value);
}

const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
/** The encoder writes a plain Uint8Array as a byte string; a Buffer view is turned into one so that holds for certain. */
const plain = (bytes: Uint8Array) => new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
