import { createHash } from 'node:crypto';
import type { Descriptor } from '../../../domain/manifest.js';
import { fail } from './verdict.js';

/** Signature layers are envelopes of a few KiB; anything past this is refused unread. */
export const maxSignatureLayerBytes = 1024 * 1024;

/** Reads a blob the signature artifact references; `maxBytes` lets the store stop early. */
export type ReadBlob = (digest: string, maxBytes: number) => Promise<Uint8Array>;

/**
 * Reads a signature layer, refusing one whose descriptor or content is over the cap, and
 * checks the bytes against the descriptor's digest and size (so a store returning other
 * bytes cannot smuggle a payload past the signature check).
 */
export async function readSignatureLayer(layer: Descriptor, readBlob: ReadBlob): Promise<Buffer> {
  if (layer.size > maxSignatureLayerBytes) fail('malformed', `signature layer is ${layer.size} bytes, over the ${maxSignatureLayerBytes}-byte limit`);
  let bytes: Uint8Array;
  try {
    bytes = await readBlob(layer.digest, maxSignatureLayerBytes);
  } catch (err) {
    return fail('malformed', `signature layer ${layer.digest} could not be read: ${(err as Error).message}`);
  }
  if (bytes.byteLength > maxSignatureLayerBytes) fail('malformed', `signature layer is over the ${maxSignatureLayerBytes}-byte limit`);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [algorithm, hex] = layer.digest.split(':') as [string, string];
  const actual = createHash(algorithm).update(buf).digest('hex');
  if (actual !== hex || buf.length !== layer.size) fail('bad-signature', `signature layer content does not match its descriptor ${layer.digest}`);
  return buf;
}

/** Strict standard or URL-safe base64 (padding optional); undefined for anything else. */
export function decodeBase64(value: unknown, urlSafe = false): Buffer | undefined {
  if (typeof value !== 'string' || value.length > 4 * maxSignatureLayerBytes) return undefined;
  const grammar = urlSafe ? /^[A-Za-z0-9_-]*$/ : /^[A-Za-z0-9+/]*={0,2}$/;
  if (!grammar.test(value) || value.replace(/=+$/, '').length % 4 === 1) return undefined;
  return Buffer.from(value, urlSafe ? 'base64url' : 'base64');
}

export function parseJson(bytes: Buffer | string, what: string): unknown {
  try {
    return JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch {
    return fail('malformed', `${what} is not valid JSON`);
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
