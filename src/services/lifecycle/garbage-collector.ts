import { randomUUID } from 'node:crypto';
import type { Digest } from '../../domain/digest.js';
import { BerthError } from '../../domain/errors.js';
import { projectOf } from '../../domain/names.js';
import type { BlobStore } from '../../ports/blob-store.js';
import type { OutboxEvent } from '../../ports/event-store.js';
import { maxManifestPasses, type GcCounts, type GcOptions, type GcPhase, type GcPreview, type GcRunRow, type GcStore, type BlobCandidate } from '../../ports/gc-store.js';

export interface GarbageCollectorOptions {
  /**
   * A store on connections of the run's own (opened at its start, closed at its end), for the
   * scans and deletions, so they neither hold the connections requests are served on nor leave
   * a large cache behind. Defaults to the store given to the constructor.
   */
  openWorkStore?: () => Promise<{ store: GcStore; close(): Promise<void> }>;
  /** Candidates handled per transaction. */
  batchSize: number;
  /** A run's lease; renewed with every batch, so a run whose process died is taken over after this long. */
  leaseMs: number;
  /** Expires upload sessions idle this long (the first phase). */
  expireUploads: (before: number) => Promise<number>;
  uploadTtlMs: number;
  /** A pause after every batch, so requests waiting for the database (SQLite's one connection) go first. */
  pauseMs?: number;
  /**
   * The shortest grace period that is safe: a blob a client was told exists has been touched
   * within the metadata store's touch interval, so a grace period of twice that leaves the
   * client at least one interval to finish its push (docs/lifecycle.md).
   */
  minGraceMs: number;
  /** Told after every batch (metrics, logs). */
  onProgress?: (run: GcRunRow, phase: GcPhase, counts: GcCounts) => void;
  /** Told when a run ends, with its events written (webhooks, metrics). */
  onFinished?: (run: GcRunRow) => void;
  now?: () => number;
}

export interface GcResult {
  run: GcRunRow;
  /** Set for a dry run: what would go. */
  preview?: GcPreview;
}

/**
 * Online garbage collection (docs/lifecycle.md). No read-only window: candidates come from the
 * database, each is re-checked holding its row when it is deleted, and a blob's bytes go only
 * once its row, still marked and unpinned, is taken for removal (writers of that digest then
 * wait for it), so a push that starts using a blob always wins. In
 * order: stale upload sessions; manifests (untagged ones when asked, and referrers whose
 * subject is gone), pass after pass; repository links no manifest uses; then blobs nothing
 * holds, marked first and deleted after. A run that dies is taken over when its lease runs out
 * and carries on where the database says it was (marked blobs first).
 */
export class GarbageCollector {
  readonly owner = randomUUID();
  private readonly now: () => number;

  constructor(
    private readonly gc: GcStore,
    private readonly store: BlobStore,
    private readonly options: GarbageCollectorOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Queues a run (CONFLICT while another is queued or running). */
  request(options: GcOptions, triggeredBy: string): Promise<GcRunRow> {
    if (!Number.isFinite(options.graceMs) || options.graceMs < this.options.minGraceMs) {
      throw new BerthError('BAD_REQUEST', {
        message: `the grace period must be at least ${hours(this.options.minGraceMs)} h (twice the interval at which pushes refresh what they use, a quarter of lifecycle.gc.graceHours)`,
      });
    }
    return this.gc.createRun(options, triggeredBy, this.now());
  }

  /**
   * Carries out a queued run, or takes over one whose process died. Resolves undefined when
   * another process holds it.
   */
  async execute(id: number): Promise<GcResult | undefined> {
    const claimed = await this.gc.claimRun(id, this.owner, this.options.leaseMs, this.now());
    if (!claimed) return undefined;
    const counts: GcCounts = { manifestsDeleted: claimed.manifestsDeleted, linksDeleted: claimed.linksDeleted, blobsDeleted: claimed.blobsDeleted, bytesFreed: claimed.bytesFreed, uploadsExpired: claimed.uploadsExpired };
    const work = this.options.openWorkStore ? await this.options.openWorkStore() : { store: this.gc, close: async () => undefined };
    try {
      let preview: GcPreview | undefined;
      try {
        if (claimed.dryRun) {
          preview = await work.store.dryRun(this.now() - claimed.options.graceMs, claimed.options.deleteUntagged, this.now(), 1000);
          Object.assign(counts, { manifestsDeleted: preview.manifests, linksDeleted: preview.links, blobsDeleted: preview.blobs, bytesFreed: preview.bytes });
        } else {
          await this.collect(work.store, claimed, counts);
        }
      } finally {
        await work.close();
      }
      await this.gc.finishRun(id, this.owner, this.now(), 'succeeded', counts, null, preview?.manifestList);
      const run = (await this.gc.getRun(id))!;
      this.options.onFinished?.(run);
      return { run, preview };
    } catch (err) {
      if (err instanceof LeaseLost) throw new BerthError('CONFLICT', { message: `garbage collection run ${id} was taken over by another process` });
      await this.gc.finishRun(id, this.owner, this.now(), 'failed', counts, (err as Error).message.slice(0, 2000));
      const run = await this.gc.getRun(id);
      if (run) this.options.onFinished?.(run);
      throw err;
    }
  }

  run(id: number): Promise<GcRunRow | undefined> {
    return this.gc.getRun(id);
  }

  runs(page: { offset: number; limit: number }): Promise<{ items: GcRunRow[]; total: number }> {
    return this.gc.listRuns(page);
  }

  private async collect(store: GcStore, run: GcRunRow, counts: GcCounts): Promise<void> {
    const { options } = run;
    const before = this.now() - options.graceMs;
    const step = async (phase: GcPhase) => {
      if (!(await this.gc.progress(run.id, this.owner, this.options.leaseMs, this.now(), phase, counts))) throw new LeaseLost();
      this.options.onProgress?.(run, phase, counts);
      if (this.options.pauseMs) await new Promise((resolve) => setTimeout(resolve, this.options.pauseMs));
    };

    await step('uploads');
    counts.uploadsExpired += await this.options.expireUploads(this.now() - this.options.uploadTtlMs);
    await store.prunePins(this.now());

    await step('manifests');
    for (let pass = 0; pass < maxManifestPasses; pass++) {
      let deletedThisPass = 0;
      let after: { repositoryId: number; digest: string } | undefined;
      for (;;) {
        const batch = await store.manifestCandidates(before, options.deleteUntagged, after, this.options.batchSize);
        if (batch.length === 0) break;
        for (const candidate of batch) {
          const events: OutboxEvent[] = [
            { type: 'delete', project: projectOf(candidate.repository), repository: candidate.repository, data: { operator: 'gc', repository: candidate.repository, digest: candidate.digest } },
          ];
          if (await store.deleteManifestIfCollectable(candidate, before, options.deleteUntagged, events)) {
            counts.manifestsDeleted++;
            deletedThisPass++;
          }
        }
        after = batch[batch.length - 1];
        await step('manifests');
      }
      if (deletedThisPass === 0) break;
    }

    await step('links');
    let afterLink: { repositoryId: number; digest: Digest } | undefined;
    for (;;) {
      const batch = await store.linkCandidates(before, afterLink, this.options.batchSize);
      if (batch.length === 0) break;
      counts.linksDeleted += await store.deleteLinksIfCollectable(batch, before);
      afterLink = batch[batch.length - 1];
      await step('links');
    }

    await step('blobs');
    // First what a run that died left marked, then new candidates: mark, take for removal, then
    // delete bytes and rows. A batch's bytes are deleted while the next batch is looked up and
    // taken (storage and database work side by side); at most one batch's bytes are under way.
    const removal = new Removal(store, (digests) => this.removeObjects(digests), counts);
    try {
      let afterMarked: string | undefined;
      for (;;) {
        const batch = await store.deletingBlobs(afterMarked, this.options.batchSize);
        if (batch.length === 0) break;
        afterMarked = batch[batch.length - 1]!.digest;
        await removal.take(
          batch.map((b) => b.digest),
          this.now(),
        );
        await step('blobs');
      }
      let afterBlob: string | undefined;
      for (;;) {
        const batch = await store.blobCandidates(before, afterBlob, this.options.batchSize);
        if (batch.length === 0) break;
        afterBlob = batch[batch.length - 1]!.digest;
        const marked = await store.markBlobsDeleting(
          batch.map((b) => b.digest),
          before,
        );
        await removal.take(
          marked.map((b) => b.digest),
          this.now(),
        );
        await step('blobs');
      }
    } finally {
      await removal.settle();
    }
  }

  /** Deletes the bytes in as few requests as the driver allows; an object already gone (a run that died midway) is fine. */
  private removeObjects(digests: Digest[]): Promise<void> {
    return this.store.deleteMany(digests);
  }
}

class LeaseLost extends Error {}

/**
 * Blobs taken for removal, a batch at a time: `take` claims the rows of a batch, waits for the
 * previous batch's bytes and rows to go, and starts deleting this one's, so storage works while
 * the caller looks up the next batch. A failure surfaces at the next `take` or at `settle`.
 */
class Removal {
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: GcStore,
    private readonly removeObjects: (digests: Digest[]) => Promise<void>,
    private readonly counts: GcCounts,
  ) {}

  async take(digests: Digest[], since: number): Promise<void> {
    // Taken in a short transaction: from here on a writer of these digests waits for them to go.
    const doomed = await this.store.claimForRemoval(digests, since);
    await this.pending;
    if (doomed.length === 0) return;
    this.pending = this.remove(doomed, since);
    // Handled when awaited; until then an early failure must not count as unhandled.
    this.pending.catch(() => undefined);
  }

  async settle(): Promise<void> {
    await this.pending;
  }

  private async remove(doomed: BlobCandidate[], since: number): Promise<void> {
    await this.removeObjects(doomed.map((b) => b.digest));
    const gone = await this.store.deleteRemoved(
      doomed.map((b) => b.digest),
      since,
    );
    this.counts.blobsDeleted += gone.length;
    this.counts.bytesFreed += gone.reduce((sum, b) => sum + b.size, 0);
  }
}

function hours(ms: number): string {
  return String(Math.round((ms / 3_600_000) * 10_000) / 10_000);
}
