import type { Readable } from 'node:stream';

/** A file being written that readers follow (ProxyBlobs): appended to by one writer, read at any offset by many. */
export interface SpoolFile {
  append(chunk: Buffer): Promise<void>;
  /** A reader of its own, for reads at any offset while the writer goes on. */
  openReader(): Promise<{ read(buffer: Buffer, position: number): Promise<number>; close(): Promise<void> }>;
  /** The whole file from its start (once written). */
  stream(): Readable;
  /** Ends writing (readers may go on). */
  close(): Promise<void>;
  /** Removes the file; readers that have it open keep reading. */
  remove(): Promise<void>;
}

/** Scratch space for blobs on their way in. */
export interface Spool {
  create(name: string): Promise<SpoolFile>;
}
