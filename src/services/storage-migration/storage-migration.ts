import { createHash } from 'node:crypto';
import { finished } from 'node:stream';
import { hashToDigest, newHash, parseDigest, type Digest } from '../../domain/digest.js';
import type { BlobStore } from '../../ports/blob-store.js';
import { HashingStream } from '../registry/index.js';

export interface MigrationOptions {
  /** Blobs copied at once. */
  concurrency?: number;
  /** Only find out what would be copied; write nothing. */
  dryRun?: boolean;
  /** The run stops starting new copies after this many blobs failed (they are listed; a re-run retries them). */
  maxFailures?: number;
  /** Told whenever the numbers move (after each blob, and as bytes stream). */
  onProgress?: (progress: MigrationProgress) => void;
}

export interface MigrationProgress {
  phase: 'scanning' | 'copying' | 'done';
  /** Every committed blob in the source, and their bytes (known once scanning is done). */
  totalBlobs: number;
  totalBytes: number;
  /** Blobs dealt with so far: copied, skipped or failed. */
  doneBlobs: number;
  copiedBlobs: number;
  copiedBytes: number;
  /** Already in the destination with the same size (content addressing: same digest, same bytes). */
  skippedBlobs: number;
  skippedBytes: number;
  failedBlobs: number;
  /** Bytes streamed to the destination so far, including blobs still in flight. */
  transferredBytes: number;
}

export interface MigrationFailure {
  digest: string;
  reason: string;
}

export interface MigrationResult extends MigrationProgress {
  failures: MigrationFailure[];
  /** True when the run stopped early at `maxFailures`. */
  aborted: boolean;
  dryRun: boolean;
  elapsedMs: number;
}

/**
 * Copies every committed blob (layers, configs, manifests) from one BlobStore into another,
 * e.g. a filesystem deployment into S3. Each blob streams through a hash and is committed in
 * the destination only when its bytes match its digest, through an ordinary upload session,
 * so the destination never holds a partial or wrong object under a digest. Blobs already
 * there are skipped, which makes an interrupted run resumable by running it again.
 */
export class StorageMigration {
  private readonly progress: MigrationProgress = {
    phase: 'scanning',
    totalBlobs: 0,
    totalBytes: 0,
    doneBlobs: 0,
    copiedBlobs: 0,
    copiedBytes: 0,
    skippedBlobs: 0,
    skippedBytes: 0,
    failedBlobs: 0,
    transferredBytes: 0,
  };
  private readonly failures: MigrationFailure[] = [];

  constructor(
    private readonly source: BlobStore,
    private readonly target: BlobStore,
    private readonly options: MigrationOptions = {},
  ) {}

  async run(): Promise<MigrationResult> {
    const started = performance.now();
    // First pass: totals for the progress display (a listing and a stat per blob, no bytes).
    for await (const digest of this.source.list()) {
      const size = (await this.source.stat(digest))?.size ?? 0;
      this.progress.totalBlobs++;
      this.progress.totalBytes += size;
      if (this.progress.totalBlobs % 1000 === 0) this.report();
    }
    this.progress.phase = 'copying';
    this.report();

    const maxFailures = this.options.maxFailures ?? 10;
    const digests = this.source.list()[Symbol.asyncIterator]();
    // Workers share one iterator; an async generator queues concurrent next() calls.
    const worker = async () => {
      while (this.failures.length < maxFailures) {
        const next = await digests.next();
        if (next.done) return;
        await this.migrate(next.value);
        this.progress.doneBlobs++;
        this.report();
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, this.options.concurrency ?? 4) }, worker));
    this.progress.phase = 'done';
    this.report();
    return {
      ...this.progress,
      failures: [...this.failures],
      aborted: this.failures.length >= maxFailures && this.progress.doneBlobs < this.progress.totalBlobs,
      dryRun: this.options.dryRun ?? false,
      elapsedMs: performance.now() - started,
    };
  }

  private report(): void {
    this.options.onProgress?.({ ...this.progress });
  }

  private async migrate(digest: Digest): Promise<void> {
    try {
      const size = (await this.source.stat(digest))?.size;
      if (size === undefined) return this.fail(digest, 'deleted from the source during the run');
      const present = await this.target.stat(digest);
      if (present) {
        if (present.size !== size) return this.fail(digest, `the destination holds ${present.size} bytes under this digest, the source ${size}; delete it there and run again`);
        this.progress.skippedBlobs++;
        this.progress.skippedBytes += size;
        return;
      }
      if (this.options.dryRun) {
        this.progress.copiedBlobs++;
        this.progress.copiedBytes += size;
        return;
      }
      await this.copy(digest, size);
    } catch (err) {
      this.fail(digest, (err as Error)?.message ?? String(err));
    }
  }

  private async copy(digest: Digest, size: number): Promise<void> {
    const { algorithm } = parseDigest(digest);
    // The same session id for the same digest on every run: a session an interrupted run left
    // behind is removed before the blob is copied again.
    const id = `migrate-${createHash('sha256').update(digest).digest('hex').slice(0, 40)}`;
    await this.target.deleteUpload(id);
    await this.target.createUpload(id);
    let committed = false;
    try {
      const hash = newHash(algorithm);
      const reader = await this.source.read(digest);
      const meter = new HashingStream(hash, size, (bytes) => {
        this.progress.transferredBytes += bytes;
        this.report();
      });
      finished(reader, (err) => {
        if (err) meter.destroy(err);
      });
      const written = await this.target.append(id, 0, reader.pipe(meter));
      const actual = hashToDigest(algorithm, hash);
      if (actual !== digest || written !== size) {
        return this.fail(digest, `the source's bytes do not match their digest (read ${written} bytes hashing to ${actual}); not copied`);
      }
      await this.target.commitUpload(id, digest);
      committed = true;
      this.progress.copiedBlobs++;
      this.progress.copiedBytes += size;
    } finally {
      if (!committed) await this.target.deleteUpload(id).catch(() => undefined);
    }
  }

  private fail(digest: Digest, reason: string): void {
    this.progress.failedBlobs++;
    this.failures.push({ digest, reason });
  }
}
