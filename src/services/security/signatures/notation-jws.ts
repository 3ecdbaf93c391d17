import { decodeBase64, isObject, parseJson } from './signature-layer.js';
import { fail } from './verdict.js';
import {
  checkContentType,
  checkCritical,
  checkSigningScheme,
  Header,
  notaryAlgorithm,
  parseChain,
  requireSigningTime,
  type NotationEnvelope,
} from './notation-envelope.js';

/** Decodes a Notary Project JWS envelope (signature-envelope-jws.md) and checks its headers. */
export function parseJwsEnvelope(bytes: Buffer): NotationEnvelope {
  const envelope = parseJson(bytes, 'JWS envelope');

  // signature-envelope-jws.md "Signature Envelope": flattened JSON serialization, no other members.
  if (!isObject(envelope) || Object.keys(envelope).some((k) => !['payload', 'protected', 'header', 'signature'].includes(k))) {
    return fail('malformed', 'not a flattened JWS JSON envelope');
  }
  const { payload: payloadB64, protected: protectedB64, header, signature: signatureB64 } = envelope;
  if (typeof payloadB64 !== 'string' || typeof protectedB64 !== 'string' || !isObject(header)) return fail('malformed', 'JWS payload, protected or header is missing');
  const protectedBytes = decodeBase64(protectedB64, true);
  const payload = decodeBase64(payloadB64, true);
  const signature = decodeBase64(signatureB64, true);
  if (!protectedBytes || !payload || !signature) return fail('malformed', 'JWS members are not base64url');
  const ph = parseJson(protectedBytes, 'JWS protected header');
  if (!isObject(ph)) return fail('malformed', 'JWS protected header is not an object');

  checkContentType(ph.cty);
  // RFC 7515 4.1.11: crit names header parameters, which JWS names with strings.
  const crit = ph.crit;
  if (!Array.isArray(crit) || !crit.every((c) => typeof c === 'string')) return fail('malformed', 'crit must list the critical headers');
  checkCritical(crit, (name) => (name as string) in ph);
  checkSigningScheme(ph[Header.signingScheme]);
  const signingTime = requireSigningTime(rfc3339(ph[Header.signingTime], Header.signingTime));
  const expiry = rfc3339(ph[Header.expiry], Header.expiry);

  const x5c = header.x5c;
  if (!Array.isArray(x5c)) return fail('malformed', 'x5c must hold the certificate chain, leaf first');
  const chain = parseChain(x5c, 'x5c', (entry) => decodeBase64(entry));

  return {
    alg: notaryAlgorithm(ph.alg),
    algLabel: String(ph.alg),
    chain,
    // RFC 7515 5.2: the signing input is the two encoded members as they appear, joined by a dot.
    signedBytes: Buffer.from(`${protectedB64}.${payloadB64}`, 'ascii'),
    signature,
    payload,
    signingTime,
    expiry,
  };
}

function rfc3339(value: unknown, what: string): Date | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) return fail('malformed', `${what} is not an RFC 3339 time`);
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return fail('malformed', `${what} is not an RFC 3339 time`);
  return date;
}
