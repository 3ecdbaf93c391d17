import { projectOf } from '../../domain/names.js';
import type { OutboxEvent } from '../../ports/event-store.js';
import type { ImageIndexStore } from '../../ports/image-index-store.js';
import type { BaseTagMove, HeldImage, RecommendationStore } from '../../ports/recommendation-store.js';
import type { ScanReport, ScanStore } from '../../ports/scan-store.js';
import type { Registry } from '../registry/index.js';
import { isNewerOfLine } from '../../domain/tag-line.js';
import { imagesOf } from './image-layers.js';
import { findingKey, succeeded, type VulnerabilityRef } from './recommendations.js';

export const rebuildConsumer = 'rebuild-hints';

/** An image to rebuild: a tagged manifest (or a platform of a tagged index) built on the base's previous digest. */
export interface RebuildImage {
  repository: string;
  digest: string;
  tags: string[];
  indexTags: string[];
  /** With scan data: vulnerabilities the image carries that the previous base had and the new one has not. */
  fixedVulnerabilities?: VulnerabilityRef[];
}

/** One base tag that moved, and a project's images built on what it named before. */
export interface RebuildHint {
  base: { repository: string; tag: string; previousDigest: string; digest: string; movedAt: number };
  images: RebuildImage[];
}

/** What a `rebuild` event's `details` hold (docs/insights.md, "Rebuild hints"). */
export interface RebuildDetails {
  /**
   * `base-moved`: the base's tag names a new build (the event's `previousDigest` → `digest`);
   * `vulnerabilities-fixed`: a newer build of the base (`digest`, tagged `tag`) was scanned and
   * fixes vulnerabilities these images carry from the older one (`previousDigest`).
   */
  reason: 'base-moved' | 'vulnerabilities-fixed';
  project: string;
  images: RebuildImage[];
  /** More images than an event lists (maxImagesPerEvent). */
  truncated: boolean;
  /** Whether both bases' scan reports were there to compare (fixedVulnerabilities is then set per image). */
  scanned: boolean;
}

/** Derived images looked at per move, images listed per event, moves listed by the API. */
const maxDerived = 2000;
const maxImagesPerEvent = 500;
const maxMovesListed = 200;
const maxFixes = 50;
/** Older builds of a scanned base looked at (moves to it, older tags of its line). */
const maxOlderBuilds = 10;
const batch = 200;

/**
 * Rebuild hints (issue 17): when a tag moves to a new digest, the tagged images built on the
 * digest it named before are due a rebuild. The outbox's push and tag events carry the digest a
 * moved tag named (previousDigest); each move is recorded with the cursor's move, then worked
 * out — the previous image's layers, the indexed images whose lowest layers they are, grouped by
 * project — into one `rebuild` event per project, so a project's webhooks hear only of its own
 * images. A project other than the base's hears of a base only when anyone may pull it (a base
 * in a private project is never named to another project).
 */
export class RebuildHints {
  constructor(
    private readonly deps: {
      registry: Registry;
      index: ImageIndexStore;
      store: RecommendationStore;
      scans?: ScanStore;
      /** Whether anyone may pull from `repository` (the Authorizer's answer for an anonymous caller). */
      publiclyPullable: (repository: string) => Promise<boolean>;
      onEvents: () => void;
      now?: () => number;
    },
  ) {}

  /**
   * Rows another drain may have left pending (this process's first drain, or one that failed);
   * otherwise pending rows are looked for only when this drain recorded some.
   */
  private mayHavePending = true;

  /** Records the moves after the cursor and works out every pending one; resolves how many events were read. */
  async drain(): Promise<number> {
    const now = this.deps.now ?? Date.now;
    let read = 0;
    let recorded = 0;
    for (;;) {
      const n = await this.deps.store.recordMoves({ consumer: rebuildConsumer, batch, now: now() });
      read += n.events;
      recorded += n.recorded;
      if (n.events < batch) break;
    }
    if (recorded === 0 && !this.mayHavePending) return read;
    this.mayHavePending = true;
    for (;;) {
      const moves = await this.deps.store.pendingMoves(50);
      // One move failing (left pending, retried by the next drain) does not hold up the others.
      let failed: unknown;
      for (const move of moves) {
        try {
          const { layers, events, keep } = await this.workOut(move);
          if ((await this.deps.store.completeMove(move.id, layers, events, now(), keep)) && events.length > 0) this.deps.onEvents();
        } catch (err) {
          failed ??= err;
        }
      }
      if (failed !== undefined) throw failed;
      if (moves.length < 50) {
        this.mayHavePending = false;
        return read;
      }
    }
  }

  /**
   * Removes the kept moves that no indexed image is built on any more (the images built on the
   * previous digest were deleted, and the index pruned): the rule `workOut` keeps a move by,
   * applied again. Nothing would list them, and no base is looked up through them that an image
   * needs. Resolves how many went.
   */
  async pruneMoves(): Promise<number> {
    let removed = 0;
    for (let after = 0; ; ) {
      const moves = await this.deps.store.keptMoves(after, batch);
      const unused: number[] = [];
      for (const move of moves) if (!(await this.builtOn(move.previousLayers ?? []))) unused.push(move.id);
      removed += await this.deps.store.deleteMoves(unused);
      if (moves.length < batch) return removed;
      after = moves.at(-1)!.id;
    }
  }

  /** Whether an indexed image is built on any of `layers` (each list one image, lowest layer first). */
  private async builtOn(layers: readonly string[][]): Promise<boolean> {
    for (const list of layers) if (list.length > 0 && (await this.deps.index.derivedFrom(list, 1)).length > 0) return true;
    return false;
  }

  /**
   * The events a move makes: one per project holding tagged images built on the previous digest.
   * `keep`: whether the move is kept for the project listings and the tag an untagged base had —
   * only when something is built on the previous digest (most moves are of application tags
   * that nothing is built on, `latest` moving with every build), and never a scan.
   */
  async workOut(move: BaseTagMove): Promise<{ layers: string[][]; events: OutboxEvent[]; keep: boolean }> {
    if (move.kind === 'scan') return { layers: [], events: await this.workOutScan(move), keep: false };
    const previous = await imagesOf(this.deps.registry, this.deps.index, move.repository, move.previousDigest);
    const layers = previous.map((p) => p.layers).filter((l) => l.length > 0);
    if (!(await this.builtOn(layers))) return { layers, events: [], keep: false };
    const images = await this.derived(move.repository, layers, move.digest, undefined);
    if (images.length === 0) return { layers, events: [], keep: true };
    const fixed = await this.fixes(previous.map((p) => p.digest), move.repository, move.digest);
    const withFixes = fixed ? await this.allWithFixes(images, fixed) : images;
    const events = await this.eventsFor(withFixes, { reason: 'base-moved', scanned: fixed !== undefined, operator: move.operator, repository: move.repository, tag: move.tag, digest: move.digest, previousDigest: move.previousDigest });
    return { layers, events, keep: true };
  }

  /**
   * The events a scanned image makes when it is a newer build of a base — what a moved tag names
   * now, or a newer tag of the same line (`12.5` after `12.4`) — and its report no longer has
   * vulnerabilities the older build had: one per project with tagged images built on the older
   * build that carry one of them, listing only those images.
   */
  private async workOutScan(scan: BaseTagMove): Promise<OutboxEvent[]> {
    const { registry, index, store, scans } = this.deps;
    if (!scans) return [];
    // Every pushed image is scanned, and nearly none is a newer build of a base: three queries
    // (its tags, the moves to it, its repository's tags) say so before anything else is read.
    const tags = await store.tagsNaming(scan.repository, scan.digest);
    if (tags.length === 0) return [];
    const older = new Map<string, string>();
    for (const move of await store.movesTo(scan.repository, scan.digest, maxOlderBuilds)) older.set(move.previousDigest, move.tag);
    for (const other of await store.tagsOf(scan.repository)) {
      if (older.size >= maxOlderBuilds) break;
      if (tags.some((tag) => isNewerOfLine(other.name, tag)) && !older.has(other.digest)) older.set(other.digest, other.name);
    }
    if (older.size === 0) return [];
    const fresh = (await imagesOf(registry, index, scan.repository, scan.digest)).find((i) => i.digest === scan.digest);
    if (!fresh || fresh.layers.length === 0) return [];
    const report = succeeded(await scans.get(scan.digest));
    if (!report) return [];
    const remaining = new Set(report.findings.map(findingKey));
    const events: OutboxEvent[] = [];
    for (const [previous] of older) {
      for (const old of await imagesOf(registry, index, scan.repository, previous)) {
        if (old.digest === scan.digest || (old.platform && fresh.platform && old.platform !== fresh.platform)) continue;
        // Most scans are of images nothing is built on: the index says so before any report is read.
        const derived = await this.derived(scan.repository, [old.layers], scan.digest, undefined);
        if (derived.length === 0) continue;
        const oldReport = succeeded(await scans.get(old.digest));
        const fixed = new Set((oldReport?.findings ?? []).map(findingKey).filter((k) => !remaining.has(k)));
        if (fixed.size === 0) continue;
        const images = (await this.allWithFixes(derived, fixed)).filter(
          (image) => (image.fixedVulnerabilities?.length ?? 0) > 0,
        );
        events.push(...(await this.eventsFor(images, { reason: 'vulnerabilities-fixed', scanned: true, operator: scan.operator, repository: scan.repository, tag: tags[0]!, digest: scan.digest, previousDigest: previous })));
      }
    }
    return events;
  }

  /** One event per project of `images` (sorted), leaving out projects that may not hear of the base. */
  private async eventsFor(
    images: RebuildImage[],
    base: { reason: RebuildDetails['reason']; scanned: boolean; operator: string; repository: string; tag: string; digest: string; previousDigest: string },
  ): Promise<OutboxEvent[]> {
    const byProject = new Map<string, RebuildImage[]>();
    for (const image of images) {
      const project = projectOf(image.repository);
      byProject.set(project, [...(byProject.get(project) ?? []), image]);
    }
    const events: OutboxEvent[] = [];
    const baseProject = projectOf(base.repository);
    const publicBase = byProject.size > 0 && (await this.deps.publiclyPullable(base.repository));
    for (const [project, list] of [...byProject].sort(([a], [b]) => a.localeCompare(b))) {
      if (project !== baseProject && !publicBase) continue;
      const details: RebuildDetails = { reason: base.reason, project, images: list.slice(0, maxImagesPerEvent), truncated: list.length > maxImagesPerEvent, scanned: base.scanned };
      events.push({
        type: 'rebuild',
        project,
        repository: base.repository,
        data: { operator: base.operator, repository: base.repository, tag: base.tag, digest: base.digest, previousDigest: base.previousDigest, details: { ...details } },
      });
    }
    return events;
  }

  /**
   * A project's images whose base's tag has moved on since they were built (the tag names
   * another digest now than the one they were built on), newest move first; bases the caller
   * may not pull are left out.
   */
  async projectHints(project: string, canPull: (repository: string) => Promise<boolean>): Promise<{ project: string; hints: RebuildHint[] }> {
    const hints: RebuildHint[] = [];
    const seen = new Set<string>();
    const current = new Map<string, Map<string, string>>();
    for (const move of await this.deps.store.movedOn(maxMovesListed)) {
      const key = `${move.repository}\0${move.tag}\0${move.previousDigest}`;
      if (seen.has(key) || !move.previousLayers || move.previousLayers.length === 0) continue;
      seen.add(key);
      if (!(await canPull(move.repository))) continue;
      let tags = current.get(move.repository);
      if (!tags) current.set(move.repository, (tags = new Map((await this.deps.store.tagsOf(move.repository)).map((t) => [t.name, t.digest]))));
      const now = tags.get(move.tag);
      if (!now) continue;
      const images = await this.derived(move.repository, move.previousLayers, now, project);
      if (images.length === 0) continue;
      const fixed = await this.fixes(await this.previousDigests(move), move.repository, now);
      hints.push({
        base: { repository: move.repository, tag: move.tag, previousDigest: move.previousDigest, digest: now, movedAt: move.movedAt },
        images: fixed ? await this.allWithFixes(images.slice(0, maxImagesPerEvent), fixed) : images.slice(0, maxImagesPerEvent),
      });
    }
    return { project, hints };
  }

  /**
   * Tagged images built on any of `layers` (each list one previous image) and not on what
   * `digest` stands for now (a new base that merely adds layers on the old one), within `project` when given.
   */
  private async derived(repository: string, layers: readonly string[][], digest: string, project: string | undefined): Promise<RebuildImage[]> {
    const derived = new Set<string>();
    for (const list of layers) for (const d of await this.deps.index.derivedFrom(list, maxDerived)) derived.add(d.digest);
    if (derived.size === 0) return [];
    for (const image of await imagesOf(this.deps.registry, this.deps.index, repository, digest)) {
      derived.delete(image.digest);
      if (image.layers.length > 0) for (const d of await this.deps.index.derivedFrom(image.layers, maxDerived)) derived.delete(d.digest);
    }
    const held = await this.deps.store.holders([...derived], { ...(project ? { project } : {}), limit: maxDerived });
    return held
      .filter((h: HeldImage) => h.tags.length > 0 || h.indexTags.length > 0)
      .map((h) => ({ repository: h.repository, digest: h.digest, tags: h.tags, indexTags: h.indexTags }))
      .sort((a, b) => a.repository.localeCompare(b.repository) || a.digest.localeCompare(b.digest));
  }

  private async previousDigests(move: BaseTagMove): Promise<string[]> {
    return (await imagesOf(this.deps.registry, this.deps.index, move.repository, move.previousDigest)).map((i) => i.digest);
  }

  /** Findings the previous base had and the new one has not, when both were scanned (per platform, merged). */
  private async fixes(previous: readonly string[], repository: string, digest: string): Promise<Set<string> | undefined> {
    const scans = this.deps.scans;
    if (!scans) return undefined;
    const next = await imagesOf(this.deps.registry, this.deps.index, repository, digest);
    const oldReports = (await Promise.all(previous.map((d) => scans.get(d)))).map(succeeded);
    const newReports = (await Promise.all(next.map((i) => scans.get(i.digest)))).map(succeeded);
    if (oldReports.length === 0 || newReports.length === 0 || oldReports.some((r) => !r) || newReports.some((r) => !r)) return undefined;
    const remaining = new Set((newReports as ScanReport[]).flatMap((r) => r.findings.map(findingKey)));
    return new Set((oldReports as ScanReport[]).flatMap((r) => r.findings.map(findingKey)).filter((k) => !remaining.has(k)));
  }

  /** withFixes of each image, one report read at a time: reports can be large, and there may be thousands of images. */
  private async allWithFixes(images: readonly RebuildImage[], fixed: Set<string>): Promise<RebuildImage[]> {
    const out: RebuildImage[] = [];
    for (const image of images) out.push(await this.withFixes(image, fixed));
    return out;
  }

  private async withFixes(image: RebuildImage, fixed: Set<string>): Promise<RebuildImage> {
    // The new base fixes nothing the old one had: nothing to fix in any image, scanned or not.
    if (fixed.size === 0) return { ...image, fixedVulnerabilities: [] };
    const report = succeeded(await this.deps.scans?.get(image.digest));
    if (!report) return image;
    const fixes = report.findings.filter((f) => fixed.has(findingKey(f))).slice(0, maxFixes);
    return { ...image, fixedVulnerabilities: fixes.map((f) => ({ id: f.id, severity: f.severity, package: f.package.name })) };
  }
}

/**
 * Runs RebuildHints.drain when this process writes events (pushes and tags), one drain at a
 * time, notices during a drain taken together by one more, which starts no sooner than
 * `coalesceMs` after the one before did (a burst of pushes costs a few drains a second, not one
 * per push, as OutboxLoop does). No timer: a push on another instance wakes that instance's own
 * drain, and a drain at start takes up what a stop left; an idle registry costs nothing.
 */
export class RebuildTriggers {
  private running: Promise<void> | undefined;
  private again = false;
  private started = false;
  private lastStartedAt = -Infinity;

  constructor(
    private readonly hints: Pick<RebuildHints, 'drain'>,
    private readonly onError: (err: unknown) => void,
    private readonly coalesceMs = 250,
  ) {}

  start(): void {
    this.started = true;
    this.notify();
  }

  notify(): void {
    if (!this.started) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        // The next drain starts `coalesceMs` after the last one did, at the soonest.
        const wait = Math.ceil(this.lastStartedAt + this.coalesceMs - performance.now());
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        if (!this.started) break;
        this.again = false;
        this.lastStartedAt = performance.now();
        try {
          await this.hints.drain();
        } catch (err) {
          this.onError(err);
        }
      } while (this.again && this.started);
    })().finally(() => (this.running = undefined));
  }

  /** Resolves once the drain under way (if any) is done. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async stop(): Promise<void> {
    this.started = false;
    await this.idle();
  }
}
