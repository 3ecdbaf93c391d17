import { KeyLayout } from './key-layout.js';

const chunkNamePattern = /^chunk-(\d{16})$/;

/**
 * The shared KeyLayout, plus how an S3 upload session keeps its chunks:
 *   <prefix>uploads/<id>/session                          marker: the session exists
 *   <prefix>uploads/<id>/chunk-<start, 16 digits>         one object per appended chunk
 * Chunk offsets are zero-padded so S3's lexicographic listing order is byte order
 * (16 digits cover Number.MAX_SAFE_INTEGER).
 */
export class S3KeyLayout extends KeyLayout {
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
