import { randomUUID } from 'node:crypto';
import { hashToDigest, newHash, parseDigest } from '../../domain/digest.js';
import { BerthError } from '../../domain/errors.js';
import type { Quarantine } from '../../domain/quarantine.js';
import { StoreNotFoundError, type BlobStore } from '../../ports/blob-store.js';
import type { QuarantinedObject, ScrubCounts, ScrubDependent, ScrubProblem, ScrubRunRow, ScrubStore, StoredObject } from '../../ports/scrub-store.js';
import { Throttle } from './throttle.js';

export interface ScrubberOptions {
  /** A run's lease; renewed with every batch and during long reads, so a run whose process died is taken over after this long. */
  leaseMs: number;
  /** Read rate over all of a run's reads; 0: as fast as storage answers. */
  bytesPerSecond: number;
  /** Objects read at once. */
  concurrency?: number;
  batchSize?: number;
  /** Problems a run's report lists (each with what depends on it). */
  reportLimit?: number;
  onProgress?: (run: ScrubRunRow, counts: ScrubCounts) => void;
  /** Told when a run ends (events, metrics, logs). */
  onFinished?: (run: ScrubRunRow, report: ScrubProblem[]) => void;
  now?: () => number;
}

/** Manifests listed per problem. */
const dependentsLimit = 100;

/**
 * Scrub (docs/lifecycle.md): reads every stored blob and manifest back, hashes it and compares
 * with its digest and size. What is corrupt or missing is quarantined, so it is never served
 * (a push of the same content repairs it), and reported with the repositories and tags that
 * need it; what was quarantined and is intact again is released. Throttled; a run that stops
 * is taken over, or continued by the next run, after the last digest it recorded.
 */
export class Scrubber {
  readonly owner = randomUUID();
  private readonly now: () => number;

  constructor(
    private readonly scrubs: ScrubStore,
    private readonly store: BlobStore,
    private readonly options: ScrubberOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Queues a run (CONFLICT while another is queued or running). */
  request(triggeredBy: string): Promise<ScrubRunRow> {
    return this.scrubs.createRun(triggeredBy, this.now());
  }

  run(id: number): Promise<ScrubRunRow | undefined> {
    return this.scrubs.getRun(id);
  }

  report(id: number): Promise<ScrubProblem[] | null> {
    return this.scrubs.runReport(id);
  }

  runs(page: { offset: number; limit: number }): Promise<{ items: ScrubRunRow[]; total: number }> {
    return this.scrubs.listRuns(page);
  }

  /** What is quarantined now, each with what depends on it. */
  async quarantined(page: { offset: number; limit: number }): Promise<{ items: Array<QuarantinedObject & { dependents: ScrubDependent[] }>; total: number }> {
    const { items, total } = await this.scrubs.quarantined(page);
    return { items: await Promise.all(items.map(async (o) => ({ ...o, dependents: await this.scrubs.dependents(o.digest, dependentsLimit) }))), total };
  }

  /** Carries out a queued run, or takes over one whose process died; undefined when another process holds it. */
  async execute(id: number): Promise<ScrubRunRow | undefined> {
    const claimed = await this.scrubs.claimRun(id, this.owner, this.options.leaseMs, this.now());
    if (!claimed) return undefined;
    const counts: ScrubCounts = { objectsChecked: claimed.objectsChecked, bytesChecked: claimed.bytesChecked, corrupt: claimed.corrupt, missing: claimed.missing, released: claimed.released };
    // A run taken over starts its report again; its counts carry on.
    const report: ScrubProblem[] = [];
    let cursor = claimed.cursor;
    let beat = this.now();
    const renew = async () => {
      if (!(await this.scrubs.progress(id, this.owner, this.options.leaseMs, this.now(), cursor, counts))) throw new LeaseLost();
      beat = this.now();
      this.options.onProgress?.(claimed, counts);
    };
    const throttle = new Throttle(this.options.bytesPerSecond, this.now);
    const onBytes = async (n: number) => {
      counts.bytesChecked += n;
      await throttle.take(n);
      if (this.now() - beat > this.options.leaseMs / 3) await renew();
    };
    try {
      for (;;) {
        const batch = await this.scrubs.objects(cursor ?? undefined, this.options.batchSize ?? 32);
        if (batch.length === 0) break;
        await this.each(batch, async (object) => {
          const found = await this.check(object, onBytes);
          counts.objectsChecked++;
          if (found === 'intact') {
            if (object.quarantine !== null && (await this.scrubs.release(object.digest))) counts.released++;
            return;
          }
          // Already quarantined, or quarantined now: either way a problem this run reports. A
          // row changed meanwhile (pushed again, collected) is left for the next run.
          if (object.quarantine === null && !(await this.scrubs.quarantine(object, found, this.now()))) return;
          counts[found]++;
          if (report.length < (this.options.reportLimit ?? 1000)) {
            report.push({ digest: object.digest, size: object.size, kind: found, dependents: await this.scrubs.dependents(object.digest, dependentsLimit) });
          }
        });
        cursor = batch[batch.length - 1]!.digest;
        await renew();
      }
      report.sort((a, b) => a.digest.localeCompare(b.digest));
      await this.scrubs.finishRun(id, this.owner, this.now(), 'succeeded', counts, null, report);
      const run = (await this.scrubs.getRun(id))!;
      this.options.onFinished?.(run, report);
      return run;
    } catch (err) {
      if (err instanceof LeaseLost) throw new BerthError('CONFLICT', { message: `scrub run ${id} was taken over by another process` });
      await this.scrubs.finishRun(id, this.owner, this.now(), 'failed', counts, (err as Error).message.slice(0, 2000), report);
      const run = await this.scrubs.getRun(id);
      if (run) this.options.onFinished?.(run, report);
      throw err;
    }
  }

  /** Reads the object back whole: intact when it hashes to its digest with its recorded size. */
  private async check(object: StoredObject, onBytes: (n: number) => Promise<void>): Promise<'intact' | Quarantine> {
    const { algorithm } = parseDigest(object.digest);
    const hash = newHash(algorithm);
    let size = 0;
    try {
      const stream = await this.store.read(object.digest);
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        hash.update(chunk);
        size += chunk.length;
        await onBytes(chunk.length);
      }
    } catch (err) {
      if (err instanceof StoreNotFoundError) return 'missing';
      throw err;
    }
    return size === object.size && hashToDigest(algorithm, hash) === object.digest ? 'intact' : 'corrupt';
  }

  private async each(objects: StoredObject[], work: (object: StoredObject) => Promise<void>): Promise<void> {
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(this.options.concurrency ?? 4, objects.length) }, async () => {
        while (next < objects.length) await work(objects[next++]!);
      }),
    );
  }
}

class LeaseLost extends Error {}
