import type { Digest } from '../../domain/digest.js';
import { tryParseDigest } from '../../domain/digest.js';

/** Same rule as the filesystem driver: an id can never name anything outside its session. */
const uploadIdPattern = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * Where committed objects live in an object store (S3 bucket, Azure container), under an
 * optional prefix:
 *   <prefix>blobs/<algorithm>/<first two hex>/<hex>      committed objects
 *   <prefix>uploads/<id>/...                              an upload session's scratch space
 * Every object-store driver uses this one layout (and the filesystem driver the same shape), so
 * moving between drivers is a copy of blobs/ (docs/storage.md).
 */
export class KeyLayout {
  /** '' or a prefix ending in '/'. */
  readonly prefix: string;
  readonly blobsPrefix: string;

  constructor(prefix: string) {
    const trimmed = prefix.replace(/^\/+|\/+$/g, '');
    this.prefix = trimmed === '' ? '' : `${trimmed}/`;
    this.blobsPrefix = `${this.prefix}blobs/`;
  }

  blob(digest: Digest): string {
    const parsed = tryParseDigest(digest);
    if (!parsed) throw new Error(`not a digest: ${digest}`);
    return `${this.blobsPrefix}${parsed.algorithm}/${parsed.hex.slice(0, 2)}/${parsed.hex}`;
  }

  /** The digest a key under blobs/ names, or undefined for anything else found there. */
  digestOf(key: string): Digest | undefined {
    if (!key.startsWith(this.blobsPrefix)) return undefined;
    const [algorithm, fanout, hex, ...rest] = key.slice(this.blobsPrefix.length).split('/');
    if (rest.length > 0 || algorithm === undefined || hex === undefined || fanout !== hex.slice(0, 2)) return undefined;
    return tryParseDigest(`${algorithm}:${hex}`)?.digest;
  }

  /** The session's folder, ending in '/'; throws for an id that is not one. */
  upload(id: string): string {
    if (!uploadIdPattern.test(id)) throw new Error(`not an upload id: ${id.slice(0, 140)}`);
    return `${this.prefix}uploads/${id}/`;
  }
}

/** A key as a URL path: each segment percent-encoded, the slashes kept (CDN URLs, copy sources). */
export function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}
