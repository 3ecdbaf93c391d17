import { createHash, type Hash } from 'node:crypto';
import { BerthError } from './errors.js';

/** OCI image-spec "Digests": the algorithms Berth computes and verifies. */
export const supportedAlgorithms = {
  sha256: { hexLength: 64 },
  sha512: { hexLength: 128 },
} as const;

export type DigestAlgorithm = keyof typeof supportedAlgorithms;

/** A validated digest string such as `sha256:<64 hex>`. */
export type Digest = string & { readonly __digest: unique symbol };

const digestGrammar = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
  digest: Digest;
}

/** Parses a digest, throwing DIGEST_INVALID for anything malformed or of an unsupported algorithm. */
export function parseDigest(value: string): ParsedDigest {
  const parsed = tryParseDigest(value);
  if (!parsed) throw new BerthError('DIGEST_INVALID', { message: `invalid digest: ${truncate(value)}`, detail: { digest: truncate(value) } });
  return parsed;
}

export function tryParseDigest(value: string): ParsedDigest | undefined {
  if (value.length > 200 || !digestGrammar.test(value)) return undefined;
  const colon = value.indexOf(':');
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (!isSupportedAlgorithm(algorithm)) return undefined;
  if (hex.length !== supportedAlgorithms[algorithm].hexLength || !/^[0-9a-f]+$/.test(hex)) return undefined;
  return { algorithm, hex, digest: value as Digest };
}

export function isDigest(value: string): boolean {
  return tryParseDigest(value) !== undefined;
}

function isSupportedAlgorithm(value: string): value is DigestAlgorithm {
  return Object.hasOwn(supportedAlgorithms, value);
}

export function newHash(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

export function digestOf(data: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}` as Digest;
}

export function hashToDigest(algorithm: DigestAlgorithm, hash: Hash): Digest {
  return `${algorithm}:${hash.digest('hex')}` as Digest;
}

function truncate(value: string): string {
  return value.length > 80 ? `${value.slice(0, 80)}…` : value;
}
