import { createPublicKey } from 'node:crypto';
import { z } from 'zod';
import { certificatesFromPem } from './x509.js';

/** A pattern as configured: an exact string, or a regular expression written `/…/` (matched against the whole value). */
const pattern = z
  .string()
  .min(1)
  .refine((value) => compilePattern(value) !== undefined, { message: 'a /regexp/ that does not compile' });

const publicKeyPem = z.string().refine(
  (pem) => {
    try {
      createPublicKey(pem);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be a PEM public key (-----BEGIN PUBLIC KEY-----)' },
);

const certificatePem = z.string().refine((pem) => certificatesFromPem(pem).length > 0, { message: 'must hold at least one PEM certificate' });

const trustedIdentity = z
  .string()
  .refine((value) => value === '*' || parseTrustedIdentity(value) !== undefined, {
    message: "must be '*' or 'x509.subject: C=…, ST=…, O=…[, …]' (C, ST or S, and O are required)",
  });

export const signatureTrustSchema = z.strictObject({
  cosign: z
    .strictObject({
      publicKeys: z.array(publicKeyPem).default([]).describe('PEM public keys (ECDSA, RSA or Ed25519) trusted for key-based cosign and Sigstore-bundle signatures.'),
      keyless: z
        .strictObject({
          fulcioRoots: z.array(certificatePem).min(1).describe('PEM certificates of the Fulcio CAs (roots, and intermediates if the signatures omit them).'),
          rekorPublicKeys: z.array(publicKeyPem).min(1).describe('PEM public keys of the Rekor logs whose signed entry timestamps are accepted.'),
          identities: z
            .array(z.strictObject({ issuer: pattern, subject: pattern }))
            .min(1)
            .describe('Signers accepted: OIDC issuer and certificate SAN (email or URI), each exact or a /regexp/.'),
        })
        .optional(),
    })
    .optional(),
  notation: z
    .strictObject({
      trustStore: z.array(certificatePem).min(1).describe('PEM root (or intermediate) certificates signatures must chain to.'),
      trustedIdentities: z
        .array(trustedIdentity)
        .min(1)
        .describe("'*' or Notation trust-policy identities such as 'x509.subject: C=US, ST=WA, O=Acme, CN=builder'."),
    })
    .optional(),
});

export type SignatureTrust = z.infer<typeof signatureTrustSchema>;
export type SignatureTrustInput = z.input<typeof signatureTrustSchema>;

/** Validates a trust configuration (throws zod's error listing every problem). */
export function parseSignatureTrust(value: unknown): SignatureTrust {
  return signatureTrustSchema.parse(value);
}

/** `/…/` → an anchored RegExp; anything else → exact match. Undefined when the regexp does not compile. */
export function compilePattern(value: string): ((candidate: string) => boolean) | undefined {
  if (value.length >= 2 && value.startsWith('/') && value.endsWith('/')) {
    try {
      // Anchored on purpose: `/.*@acme.com/` must not accept `x@acme.com.evil.org`.
      const re = new RegExp(`^(?:${value.slice(1, -1)})$`, 'u');
      return (candidate) => re.test(candidate);
    } catch {
      return undefined;
    }
  }
  return (candidate) => candidate === value;
}

/**
 * Notation trust policy "Trusted Identities Constraints": `x509.subject:` followed by RDNs
 * separated by unescaped commas, with `\,` `\;` `\\` and escaped leading/trailing spaces;
 * C, ST (or S) and O are required. Returns the RDNs, types upper-cased (S → ST).
 */
export function parseTrustedIdentity(value: string): Array<{ type: string; value: string }> | undefined {
  const prefix = 'x509.subject:';
  if (!value.startsWith(prefix)) return undefined;
  const rdns: Array<{ type: string; value: string }> = [];
  let current = '';
  const pieces: string[] = [];
  const body = value.slice(prefix.length);
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch === '\\' && i + 1 < body.length) {
      // Keep the escape marker so trimming below spares escaped spaces.
      current += `\uE000${body[++i]!}`;
    } else if (ch === ',') {
      pieces.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  pieces.push(current);
  for (const piece of pieces) {
    const trimmed = piece.replace(/^ +/, '').replace(/(?<!\uE000) +$/, '');
    const eq = trimmed.indexOf('=');
    if (eq <= 0) return undefined;
    let type = trimmed.slice(0, eq).trim().toUpperCase();
    if (type === 'S') type = 'ST';
    const rdnValue = trimmed.slice(eq + 1).replace(/\uE000(.)/gu, '$1');
    if (rdnValue.length === 0) return undefined;
    rdns.push({ type, value: rdnValue });
  }
  const types = new Set(rdns.map((r) => r.type));
  if (!types.has('C') || !types.has('ST') || !types.has('O')) return undefined;
  return rdns;
}
