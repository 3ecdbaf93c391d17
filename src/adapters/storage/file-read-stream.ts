import type { FileHandle } from 'node:fs/promises';
import { ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Readable } from 'node:stream';

const chunkBytes = 256 * 1024;
/** Buffers one piped stream cycles through: one being read while the others are being sent. */
const buffersPerPipe = 3;

/**
 * The bytes of an open file from `start` to `end` (inclusive), as a Readable that closes the
 * file when it ends or is destroyed.
 *
 * Read as an ordinary stream, every chunk is a fresh buffer. Piped into an HTTP response or a
 * socket (as Fastify sends a stream reply), it instead cycles through three buffers, reusing
 * each once the write callback says its bytes were handed to the kernel: a pull of any size
 * allocates 768 KiB. (Other destinations keep the fresh buffers: a Transform calls back while
 * it still holds the chunk.) Fresh buffers are external memory to V8, and allocating one per 256 KiB
 * sent made full garbage collections, not the copying, the main cost of a large pull.
 */
export class FileReadStream extends Readable {
  private position: number;
  private remaining: number;
  private piped = false;

  constructor(
    private readonly handle: FileHandle,
    start: number,
    end: number,
  ) {
    super({ highWaterMark: chunkBytes });
    this.position = start;
    this.remaining = end - start + 1;
  }

  override _read(): void {
    if (this.remaining <= 0) {
      this.push(null);
      return;
    }
    const buffer = Buffer.allocUnsafeSlow(Math.min(chunkBytes, this.remaining));
    this.readInto(buffer).then(
      (bytes) => {
        if (bytes !== undefined) this.push(bytes === buffer.length ? buffer : buffer.subarray(0, bytes));
      },
      (err: Error) => this.destroy(err),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.handle.close().then(
      () => callback(error),
      (closeError: Error) => callback(error ?? closeError),
    );
  }

  override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T {
    // Only a stream nobody has read from yet, going to one consuming destination, takes the recycling path.
    const consumes = destination instanceof ServerResponse || destination instanceof Socket;
    if (!consumes || this.piped || this.readableFlowing !== null || this.readableLength > 0 || this.destroyed) {
      return super.pipe(destination, options);
    }
    this.piped = true;
    this.pumpInto(destination, options?.end !== false);
    return destination;
  }

  private pumpInto(destination: NodeJS.WritableStream, endDestination: boolean): void {
    const free: Buffer[] = [];
    let allocated = 0;
    let inFlight = 0;
    let reading = false;
    let finished = false;
    // A destination that fails or closes early stops the reading and closes the file.
    const abandon = () => {
      if (!finished) this.destroy();
    };
    destination.once('error', abandon);
    destination.once('close', abandon);

    const finish = () => {
      finished = true;
      this.push(null);
      this.resume(); // emits 'end' (nothing is buffered), then autoDestroy closes the file
      if (endDestination) destination.end();
    };
    const next = (): void => {
      if (this.destroyed || finished || reading) return;
      if (this.remaining <= 0) {
        if (inFlight === 0) finish();
        return;
      }
      let buffer = free.pop();
      if (!buffer) {
        if (allocated === buffersPerPipe) return; // resumes when a write completes
        buffer = Buffer.allocUnsafeSlow(chunkBytes);
        allocated++;
      }
      const target = buffer;
      reading = true;
      this.readInto(target.subarray(0, Math.min(chunkBytes, this.remaining))).then(
        (bytes) => {
          reading = false;
          if (bytes === undefined) return;
          inFlight++;
          destination.write(target.subarray(0, bytes), (err?: Error | null) => {
            inFlight--;
            free.push(target);
            if (!err) next();
          });
          next();
        },
        (err: Error) => {
          reading = false;
          this.destroy(err);
        },
      );
    };
    next();
  }

  /** Reads the next bytes into `buffer`; undefined when the stream was destroyed meanwhile. */
  private async readInto(buffer: Buffer): Promise<number | undefined> {
    const { bytesRead } = await this.handle.read(buffer, 0, buffer.length, this.position);
    if (this.destroyed) return undefined;
    if (bytesRead === 0) throw new Error(`file ended ${this.remaining} bytes early`);
    this.position += bytesRead;
    this.remaining -= bytesRead;
    return bytesRead;
  }
}
