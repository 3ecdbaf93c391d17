import { projectOf } from '../../domain/names.js';
import { compareTagLines, isNewerOfLine } from '../../domain/tag-line.js';
import type { ImageIndexRecord, ImageIndexStore, SearchScope } from '../../ports/image-index-store.js';
import type { HeldImage, RecommendationStore } from '../../ports/recommendation-store.js';
import type { ScanReport, ScanStore } from '../../ports/scan-store.js';
import type { Principal } from '../identity/principal.js';
import type { Registry } from '../registry/index.js';
import { imagesOf } from './image-layers.js';
import { storedImage } from './stored-image.js';

/**
 * A slimmer base is recommended only when it saves at least this many bytes and this share of
 * the base (uncompressed): a base a few hundred kB smaller is not worth a rebuild and a retest.
 */
export const slimmerBaseThreshold = { minBytes: 5_000_000, minRatio: 0.1 } as const;

/** Who decides what a caller may see: the Authorizer (services/access/authorizer.ts). */
export interface RecommendationAccess {
  searchScope(principal: Principal): Promise<SearchScope>;
  repositoryActions(principal: Principal, repository: string): Promise<ReadonlySet<string>>;
}

/** An image named in a recommendation: a repository the caller may pull from, a tag when it has one, its digest. */
export interface RecommendedImage {
  repository: string;
  tag?: string;
  digest: string;
}

export interface VulnerabilityRef {
  id: string;
  severity: string;
  package: string;
}

export type Recommendation =
  | { kind: 'slimmer-base'; message: string; image: RecommendedImage; savingBytes: number; baseBytes: number; candidateBytes: number }
  | { kind: 'patched-base'; message: string; image: RecommendedImage; fixes: VulnerabilityRef[]; baseFindings: number; candidateFindings: number }
  | { kind: 'stale-base'; message: string; image: RecommendedImage; previousDigest: string };

export interface ImageRecommendations {
  repository: string;
  digest: string;
  /** False until the image index has read the image: nothing can be recommended yet. */
  indexed: boolean;
  os: { id: string; versionId?: string } | null;
  /** The image it was built on, among images the caller may pull (null when none is found). */
  base: (RecommendedImage & { layers: number; uncompressedBytes: number | null; tagMoved: boolean }) | null;
  recommendations: Recommendation[];
}

/** Bases, slimmer candidates and newer builds looked at per request (each bounded query). */
const maxBases = 20;
const maxSlimCandidates = 40;
const maxNewerBuilds = 10;
const maxSlimmerShown = 3;
const maxFixesShown = 50;

/**
 * Recommendations for one image (issue 17): a slimmer base of the same distribution already in
 * the registry, a newer build of its base with fewer known vulnerabilities, and a base whose tag
 * has moved on. Everything named is an image the caller may pull (the Authorizer's search scope,
 * as search results are): nothing in a project the caller cannot pull from is recommended, or
 * even hinted at.
 */
export class RecommendationService {
  constructor(
    private readonly deps: {
      registry: Registry;
      index: ImageIndexStore;
      store: RecommendationStore;
      access: RecommendationAccess;
      /** Absent: no vulnerability-based recommendation. */
      scans?: ScanStore;
    },
  ) {}

  async recommendations(principal: Principal, repository: string, reference: string): Promise<ImageRecommendations> {
    const image = await storedImage(this.deps.registry, repository, reference, 'recommendations are for images');
    const record = await this.deps.index.getImage(image.digest);
    const result: ImageRecommendations = { repository, digest: image.digest, indexed: record?.status === 'indexed', os: null, base: null, recommendations: [] };
    if (!record || record.status !== 'indexed') return result;
    if (record.os) result.os = { id: record.os.id, ...(record.os.versionId ? { versionId: record.os.versionId } : {}) };
    const scope = await this.deps.access.searchScope(principal);
    const base = await this.baseOf(record, scope);
    if (!base) return result;
    const baseRecord = await this.deps.index.getImage(base.held.digest);
    // Stale when a tag the base had (the newest recorded move away from it) names another build
    // now, even if other tags still name the base (`12` moved on, `12.4` did not).
    const moved = base.formerTag ?? (await this.deps.store.lastMoveFrom(base.held.repository, base.held.digest))?.tag;
    const current = moved ? (await this.deps.store.tagsOf(base.held.repository)).find((t) => t.name === moved) : undefined;
    const tagMoved = current !== undefined && !(await this.builtOn(base.held.repository, current.digest, base.held.digest));
    const tag = tagMoved ? moved : (base.held.tags[0] ?? base.held.indexTags[0] ?? moved);
    result.base = {
      repository: base.held.repository,
      ...(tag ? { tag } : {}),
      digest: base.held.digest,
      layers: base.layers,
      uncompressedBytes: baseRecord?.uncompressedBytes ?? null,
      tagMoved,
    };
    if (tagMoved && current && tag) {
      result.recommendations.push({
        kind: 'stale-base',
        message: `${base.held.repository}:${tag} now names a newer build (${current.digest.slice(0, 19)}…) than the one this image was built on: rebuild it`,
        image: { repository: base.held.repository, tag, digest: current.digest },
        previousDigest: base.held.digest,
      });
    }
    // Every tag the base has or had (12, 12.4, bookworm…) may have a newer build or a newer tag of its line.
    const baseTags = [...new Set([...base.held.tags, ...base.held.indexTags, ...(moved ? [moved] : [])])];
    if (baseTags.length > 0) {
      const patched = await this.patchedBase(image.digest, record, base.held, baseTags);
      if (patched) result.recommendations.push(patched);
    }
    if (record.os && baseRecord) result.recommendations.push(...(await this.slimmerBases(record, base.held, baseRecord, scope)));
    return result;
  }

  /** The longest indexed image this one's layers start with that the caller may pull, a tagged one before an untagged one of as many layers. */
  private async baseOf(record: ImageIndexRecord, scope: SearchScope): Promise<{ held: HeldImage; layers: number; formerTag?: string } | undefined> {
    const bases = (await this.deps.index.basesOf(record.layers, maxBases)).filter((b) => b.digest !== record.digest);
    if (bases.length === 0) return undefined;
    const held = await this.deps.store.holders(
      bases.map((b) => b.digest),
      { scope, limit: 200 },
    );
    for (const length of [...new Set(bases.map((b) => b.layers))].sort((a, b) => b - a)) {
      const digests = new Set(bases.filter((b) => b.layers === length).map((b) => b.digest));
      const here = held.filter((h) => digests.has(h.digest));
      const tagged = here.find((h) => h.tags.length > 0) ?? here.find((h) => h.indexTags.length > 0);
      if (tagged) return { held: tagged, layers: length };
      if (here.length > 0) {
        // Untagged now: the tag it had (if a move of it was recorded) is what "stale" compares with.
        for (const h of here) {
          const move = await this.deps.store.lastMoveFrom(h.repository, h.digest);
          if (move) return { held: h, layers: length, formerTag: move.tag };
        }
        return { held: here[0]!, layers: length };
      }
    }
    return undefined;
  }

  /** Whether `reference`'s manifest in `repository` is `digest` or an index listing it. */
  private async builtOn(repository: string, current: string, digest: string): Promise<boolean> {
    if (current === digest) return true;
    return (await imagesOf(this.deps.registry, this.deps.index, repository, current)).some((i) => i.digest === digest);
  }

  /**
   * A newer build of the base (its tag moved, or a newer tag of its line) whose scan report has
   * fewer findings than the base's, naming the vulnerabilities of this image it fixes.
   */
  private async patchedBase(self: string, record: ImageIndexRecord, base: HeldImage, baseTags: readonly string[]): Promise<Recommendation | undefined> {
    const scans = this.deps.scans;
    if (!scans) return undefined;
    const baseReport = succeeded(await scans.get(base.digest));
    if (!baseReport) return undefined;
    const tags = await this.deps.store.tagsOf(base.repository);
    const newer = tags
      .filter((t) => t.digest !== base.digest && baseTags.some((tag) => t.name === tag || isNewerOfLine(tag, t.name)))
      .sort((a, b) => compareTagLines(b.name, a.name))
      .slice(0, maxNewerBuilds);
    const carried = succeeded(await scans.get(self)) ?? baseReport;
    const carriedKeys = new Set(carried.findings.map(findingKey));
    let best: Extract<Recommendation, { kind: 'patched-base' }> | undefined;
    for (const candidate of newer) {
      const platformImage = (await imagesOf(this.deps.registry, this.deps.index, base.repository, candidate.digest)).find((i) => i.platform === undefined || i.platform === record.platform);
      if (!platformImage || platformImage.digest === base.digest) continue;
      const report = succeeded(await scans.get(platformImage.digest));
      if (!report || report.findings.length >= baseReport.findings.length) continue;
      const remaining = new Set(report.findings.map(findingKey));
      const fixes = baseReport.findings.filter((f) => !remaining.has(findingKey(f)) && carriedKeys.has(findingKey(f)));
      if (fixes.length === 0) continue;
      if (best && report.findings.length >= best.candidateFindings) continue;
      const ids = [...new Set(fixes.map((f) => f.id))];
      best = {
        kind: 'patched-base',
        message: `${base.repository}:${candidate.name} is a newer build of this image's base with ${baseReport.findings.length - report.findings.length} fewer known vulnerabilities; rebuilding on it fixes ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ` and ${ids.length - 5} more` : ''}`,
        image: { repository: base.repository, tag: candidate.name, digest: platformImage.digest },
        fixes: fixes.slice(0, maxFixesShown).map((f) => ({ id: f.id, severity: f.severity, package: f.package.name })),
        baseFindings: baseReport.findings.length,
        candidateFindings: report.findings.length,
      };
    }
    return best;
  }

  /**
   * Tagged images of the same distribution and platform, smaller than the base by the threshold,
   * that are bases themselves (built on no indexed image) or variants in the base's own
   * repository (`debian:12-slim` beside `debian:12`): an application image is never proposed as
   * a base. Same repository first, then the largest saving.
   */
  private async slimmerBases(record: ImageIndexRecord, base: HeldImage, baseRecord: ImageIndexRecord, scope: SearchScope): Promise<Recommendation[]> {
    const os = record.os!;
    const minSaving = Math.max(slimmerBaseThreshold.minBytes, Math.ceil(baseRecord.uncompressedBytes * slimmerBaseThreshold.minRatio));
    const maxBytes = baseRecord.uncompressedBytes - minSaving;
    if (maxBytes <= 0) return [];
    const candidates = (await this.deps.store.slimmerImages({ id: os.id, versionId: os.versionId }, record.platform, maxBytes, maxSlimCandidates)).filter(
      (c) => c.digest !== base.digest && c.digest !== record.digest,
    );
    if (candidates.length === 0) return [];
    const held = (await this.deps.store.holders(candidates.map((c) => c.digest), { scope, limit: 500 })).filter((h) => h.tags.length > 0 || h.indexTags.length > 0);
    const found: Array<Extract<Recommendation, { kind: 'slimmer-base' }> & { sameRepository: boolean }> = [];
    for (const candidate of candidates) {
      const holders = held.filter((h) => h.digest === candidate.digest);
      if (holders.length === 0) continue;
      const sameRepository = holders.find((h) => h.repository === base.repository);
      const isBase = sameRepository !== undefined || (await this.deps.index.basesOf(candidate.layers, 1)).length === 0;
      if (!isBase) continue;
      const holder = sameRepository ?? holders[0]!;
      const tag = holder.tags[0] ?? holder.indexTags[0]!;
      const saving = baseRecord.uncompressedBytes - candidate.uncompressedBytes;
      found.push({
        kind: 'slimmer-base',
        message: `this image could be ${Math.floor(saving / 1_000_000)} MB smaller on ${holder.repository}:${tag} (${describeOs(os)}, as its base)`,
        image: { repository: holder.repository, tag, digest: candidate.digest },
        savingBytes: saving,
        baseBytes: baseRecord.uncompressedBytes,
        candidateBytes: candidate.uncompressedBytes,
        sameRepository: sameRepository !== undefined,
      });
    }
    found.sort((a, b) => Number(b.sameRepository) - Number(a.sameRepository) || b.savingBytes - a.savingBytes || a.image.repository.localeCompare(b.image.repository));
    return found.slice(0, maxSlimmerShown).map(({ sameRepository: _, ...r }) => r);
  }
}

export function succeeded(report: ScanReport | undefined): ScanReport | undefined {
  return report?.status === 'succeeded' ? report : undefined;
}

/** One vulnerability in one package: a fix is the pair gone, not the id (one CVE can hit several packages). */
export function findingKey(f: { id: string; package: { name: string } }): string {
  return `${f.id}\0${f.package.name}`;
}

function describeOs(os: { id: string; versionId?: string }): string {
  return os.versionId ? `${os.id} ${os.versionId}` : os.id;
}

/** Whether `repository` is in `scope`. */
export function inScope(scope: SearchScope, repository: string): boolean {
  return scope === 'all' || scope.projects.includes(projectOf(repository));
}
