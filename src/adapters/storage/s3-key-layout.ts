import type { Digest } from '../../domain/digest.js';
import { tryParseDigest } from '../../domain/digest.js';

/** Same rule as the filesystem driver: an id can never name anything outside its session. */
const uploadIdPattern = /^[A-Za-z0-9_-]{1,128}$/;
const chunkNamePattern = /^chunk-(\d{16})$/;

/**
 * Where things live in the bucket, under an optional prefix:
 *   <prefix>blobs/<algorithm>/<first two hex>/<hex>      committed objects
 *   <prefix>uploads/<id>/session                          marker: the session exists
 *   <prefix>uploads/<id>/chunk-<start, 16 digits>         one object per appended chunk
 * Chunk offsets are zero-padded so S3's lexicographic listing order is byte order
 * (16 digits cover Number.MAX_SAFE_INTEGER).
 */
export class S3KeyLayout {
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

  session(id: string): string {
    return `${this.upload(id)}session`;
  }

  chunk(id: string, start: number): string {
    return `${this.upload(id)}chunk-${String(start).padStart(16, '0')}`;
  }

  /** The start offset a key in the session's folder names, or undefined when it is not a chunk. */
  chunkStart(id: string, key: string): number | undefined {
    const folder = this.upload(id);
    if (!key.startsWith(folder)) return undefined;
    const match = chunkNamePattern.exec(key.slice(folder.length));
    return match ? Number(match[1]) : undefined;
  }
}
