import { Transform, type TransformCallback } from 'node:stream';
import type { Hash } from 'node:crypto';
import { BerthError } from '../../domain/errors.js';

/**
 * Passes bytes through while hashing and counting them, so a digest is known the moment
 * the last byte is stored (shared/DESIGN.md "Streams, never buffers").
 */
export class HashingStream extends Transform {
  bytes = 0;

  constructor(
    readonly hash: Hash | undefined,
    private readonly maxBytes = Number.POSITIVE_INFINITY,
    /** Told of every piece that passes (progress reporting). */
    private readonly onBytes?: (bytes: number) => void,
  ) {
    super({ highWaterMark: 256 * 1024 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      callback(new BerthError('BLOB_TOO_LARGE', { message: `blob exceeds the limit of ${this.maxBytes} bytes` }));
      return;
    }
    this.hash?.update(chunk);
    this.onBytes?.(chunk.length);
    callback(null, chunk);
  }
}
