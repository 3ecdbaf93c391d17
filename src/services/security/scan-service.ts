import { ConcurrencyLimit } from '../../domain/concurrency-limit.js';
import { BerthError } from '../../domain/errors.js';
import { parseManifest, type ParsedManifest } from '../../domain/manifest.js';
import { MediaType } from '../../domain/media-types.js';
import { severities, type Severity } from '../../domain/vulns/cvss.js';
import { findingsOf, matchTargets, rateByAlias, sortFindings, type Candidate, type Finding, type MatchTarget } from '../../domain/vulns/match.js';
import type { ScanReport, ScanStore } from '../../ports/scan-store.js';
import type { VulnStore } from '../../ports/vuln-store.js';
import type { Registry } from '../registry/registry.js';
import type { Inventory } from './inventory.js';
import type { InventoryService } from './inventory-service.js';

/** The built-in scanner's name in reports (Harbor's scanner API names a scanner the same way). */
export const builtInScanner = 'berth';

/** Where a scan reads an image: this registry, or another one (Berth as a scanner adapter, docs/scanners.md). */
export interface ImageSource {
  manifest(repository: string, digest: string): Promise<{ body: Buffer; mediaType: string }>;
  /** The package inventory of the image `digest` whose layers (lowest first) are in `repository`. */
  inventory(repository: string, layers: ReadonlyArray<{ digest: string }>, digest: string): Promise<Inventory>;
}

export interface ScanServiceOptions {
  now?: () => number;
  /** Scans run at once in this process (more wait their turn). */
  concurrency?: number;
  /** After each scan that finished (stored), failed or not: events, metrics. */
  onScanned?: (report: ScanReport, repository: string) => void;
  /**
   * The inventory the image index stored for an image (insights' image-indexer.ts), when it has
   * one: a pushed image is indexed before it is scanned, so its scan reads no layer.
   */
  storedInventory?: (digest: string) => Promise<Inventory | undefined>;
  /** The content of a manifest its push's job has just read (insights' indexPushed), so the scan reads it no more. */
  pushedManifest?: (repository: string, digest: string) => { body: Buffer; mediaType: string } | undefined;
}

/**
 * Vulnerability scanning (issue 16): an image's package inventory matched against the imported
 * OSV advisories, stored as one report per manifest digest. An index's report is its platform
 * images' findings together, so a policy can judge what a client pulls by tag.
 */
export class ScanService {
  private readonly local: ImageSource;
  private readonly limit: ConcurrencyLimit;

  constructor(
    registry: Registry,
    inventory: InventoryService,
    private readonly vulns: VulnStore,
    private readonly reports: ScanStore,
    private readonly options: ScanServiceOptions = {},
  ) {
    this.local = {
      manifest: async (repository, digest) => options.pushedManifest?.(repository, digest) ?? registry.manifests.get(repository, digest),
      // Else through the walk shared with the file index, which stores what it walks.
      inventory: async (repository, layers, digest) => (await options.storedInventory?.(digest)) ?? inventory.ofImage(repository, layers),
    };
    this.limit = new ConcurrencyLimit(options.concurrency ?? 2);
  }

  /** Scans the manifest `digest` of `repository` now (a scan of the same digest already running is joined). */
  scan(repository: string, digest: string): Promise<ScanReport> {
    return this.limit.once(digest, () => this.run(repository, digest));
  }

  report(digest: string): Promise<ScanReport | undefined> {
    return this.reports.get(digest);
  }

  /**
   * The findings of an image or index that `source` holds, matched against the imported
   * advisories, and the database version they were matched against; nothing stored. Taking turns
   * with the scans of this process.
   */
  async match(source: ImageSource, repository: string, digest: string): Promise<{ findings: Finding[]; packages: number; dbVersion: number }> {
    return this.limit.run(async () => {
      const version = await this.vulns.version();
      return { ...(await this.findings(source, repository, digest, 0)), dbVersion: version };
    });
  }

  private async run(repository: string, digest: string): Promise<ScanReport> {
    const now = this.options.now ?? Date.now;
    const started = performance.now();
    const version = await this.vulns.version();
    let report: ScanReport;
    try {
      const { findings, packages } = await this.findings(this.local, repository, digest, 0);
      report = { digest, status: 'succeeded', dbVersion: version, scanner: builtInScanner, packages, summary: summaryOf(findings), findings, durationMs: performance.now() - started, scannedAt: now() };
    } catch (err) {
      // A manifest that is gone is no report; an unreadable layer is a failed scan, recorded.
      if (!(err instanceof BerthError) || ['MANIFEST_UNKNOWN', 'NAME_UNKNOWN', 'NOT_SCANNABLE'].includes(err.key)) throw err;
      report = { digest, status: 'failed', dbVersion: version, scanner: builtInScanner, packages: 0, summary: {}, findings: [], error: `${err.code}: ${err.message}`, durationMs: performance.now() - started, scannedAt: now() };
    }
    await this.reports.put(report);
    this.options.onScanned?.(report, repository);
    return report;
  }

  private async findings(source: ImageSource, repository: string, digest: string, depth: number): Promise<{ findings: Finding[]; packages: number }> {
    const manifest = await source.manifest(repository, digest);
    const parsed = parseManifest(manifest.body, manifest.mediaType);
    if (parsed.kind === 'index') {
      if (depth > 0) return { findings: [], packages: 0 };
      const merged = new Map<string, Finding>();
      let packages = 0;
      for (const child of parsed.manifests) {
        // Attestation manifests (BuildKit's `unknown/unknown` platform) hold no filesystem.
        if (child.platform?.os === 'unknown') continue;
        const part = await this.findings(source, repository, child.digest, depth + 1);
        packages += part.packages;
        for (const f of part.findings) merged.set(`${f.package.purl}\n${f.id}`, f);
      }
      return { findings: sortFindings([...merged.values()]), packages };
    }
    if (!isFilesystemImage(parsed)) {
      if (depth > 0) return { findings: [], packages: 0 };
      throw new BerthError('NOT_SCANNABLE', { message: `${digest} is not a container image (its type is ${parsed.artifactType ?? 'unknown'})` });
    }
    const inventory = await source.inventory(repository, parsed.layers, digest);
    const targets = matchTargets(inventory.packages, inventory.os);
    const found = await this.vulns.candidates(targets.flatMap((t) => t.ecosystems.map((ecosystem) => ({ ecosystem, name: t.name }))));
    const byPackage = new Map<string, Candidate[]>();
    for (const c of found) {
      const key = `${c.affected.ecosystem}\n${c.affected.name}`;
      byPackage.set(key, [...(byPackage.get(key) ?? []), c]);
    }
    const candidates = (t: MatchTarget) => t.ecosystems.flatMap((ecosystem) => byPackage.get(`${ecosystem}\n${t.name}`) ?? []);
    let findings = findingsOf(targets, candidates);
    const unrated = findings.filter((f) => f.severity === 'UNKNOWN').flatMap((f) => [f.id, ...f.aliases]);
    if (unrated.length > 0) {
      const rated = await this.vulns.aliasSeverities(unrated);
      findings = rateByAlias(findings, (id) => rated.get(id));
    }
    return { findings, packages: inventory.packages.length };
  }
}

/** An image: an image config, and layers that are filesystems (cosign's signature manifests have the config but not the layers). */
export function isFilesystemImage(parsed: ParsedManifest): boolean {
  return (parsed.artifactType === MediaType.ociConfig || parsed.artifactType === MediaType.dockerConfig) && parsed.layers.every((l) => /tar/.test(l.mediaType));
}

/** Findings counted per severity, every band present. */
export function summaryOf(findings: readonly Finding[]): Partial<Record<Severity, number>> {
  const summary: Partial<Record<Severity, number>> = {};
  for (const s of severities) summary[s] = 0;
  for (const f of findings) summary[f.severity] = (summary[f.severity] ?? 0) + 1;
  return summary;
}
