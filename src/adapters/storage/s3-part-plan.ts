/**
 * Multipart arithmetic for S3 (AWS "Amazon S3 multipart upload limits"): parts are numbered
 * 1..10,000, every part but the last holds 5 MiB to 5 GiB, and CopyObject copies at most 5 GiB
 * in one request. Pure functions, so the limits are checked by unit tests without a server.
 */

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export const s3Limits = {
  /** Smallest part but the last (EntityTooSmall otherwise). */
  minPartBytes: 5 * MiB,
  /** Largest part, uploaded or copied. */
  maxPartBytes: 5 * GiB,
  maxParts: 10_000,
  /** Largest source a single CopyObject may copy. */
  maxCopyObjectBytes: 5 * GiB,
} as const;

/** One stored piece of an upload session, at its offset in the blob. */
export interface ChunkExtent {
  start: number;
  size: number;
}

/** A part of a server-side multipart copy: bytes [start, end] (inclusive) of chunk `chunk`. */
export interface CopyPart {
  chunk: number;
  start: number;
  end: number;
}

/**
 * The UploadPartCopy parts that assemble `chunks` in order, or undefined when S3's limits rule
 * a server-side copy out (a non-final chunk under 5 MiB, or more than 10,000 parts); the caller
 * then streams the bytes instead. A chunk over 5 GiB is split into equal parts of at most 5 GiB
 * (each at least 2.5 GiB, so well above the 5 MiB minimum).
 */
export function copyPartPlan(chunks: readonly ChunkExtent[]): CopyPart[] | undefined {
  const parts: CopyPart[] = [];
  for (const [index, chunk] of chunks.entries()) {
    const last = index === chunks.length - 1;
    if (chunk.size === 0 || (!last && chunk.size < s3Limits.minPartBytes)) return undefined;
    const pieces = Math.ceil(chunk.size / s3Limits.maxPartBytes);
    if (parts.length + pieces > s3Limits.maxParts) return undefined;
    const pieceSize = Math.ceil(chunk.size / pieces);
    for (let start = 0; start < chunk.size; start += pieceSize) {
      parts.push({ chunk: index, start, end: Math.min(start + pieceSize, chunk.size) - 1 });
    }
  }
  return parts.length > 0 ? parts : undefined;
}

/**
 * Part size for streaming `totalBytes` through a multipart upload: the configured size, grown
 * (in whole MiB) until the object fits in 10,000 parts. 50 GB at 16 MiB is 2,981 parts; at the
 * 5 MiB minimum it is 9,537. A 100 GB blob at 5 MiB needs 10 MiB parts.
 */
export function streamPartSize(totalBytes: number, configuredBytes: number): number {
  const needed = Math.ceil(totalBytes / s3Limits.maxParts / MiB) * MiB;
  return Math.min(Math.max(configuredBytes, needed, s3Limits.minPartBytes), s3Limits.maxPartBytes);
}
