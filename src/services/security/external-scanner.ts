import { setTimeout as sleep } from 'node:timers/promises';
import { ConcurrencyLimit } from '../../domain/concurrency-limit.js';
import { BerthError } from '../../domain/errors.js';
import { parseManifest } from '../../domain/manifest.js';
import { findingsFromHarbor } from '../../domain/vulns/harbor-report.js';
import { sortFindings, type Finding } from '../../domain/vulns/match.js';
import { ScannerAdapterError, type ScannerAdapter } from '../../ports/scanner-adapter.js';
import type { ScanReport, ScanStore } from '../../ports/scan-store.js';
import type { VulnStore } from '../../ports/vuln-store.js';
import type { Registry } from '../registry/registry.js';
import { isFilesystemImage, summaryOf } from './scan-service.js';
import type { ChosenScanner } from './scanner-registrations.js';

/** Pull credentials a scanner uses to fetch the image: a robot of the project that expires. */
export interface ScannerPullCredentials {
  username: string;
  password: string;
  /** Removes them once the scan is over. */
  revoke(): Promise<void>;
}

export interface ExternalScannerOptions {
  registry: Registry;
  vulns: VulnStore;
  reports: ScanStore;
  /** Pull-only credentials for the project of `repository`, valid `ttlMs`. */
  pullCredentials: (repository: string, ttlMs: number) => Promise<ScannerPullCredentials>;
  /** The registry's address as the scanner reaches it (server.publicUrl, else where this instance listens). */
  registryUrl: () => string;
  /** After each scan that finished (stored), failed or not: events, metrics. */
  onScanned?: (report: ScanReport, repository: string) => void;
  /** How long a scanner may take over one image before the scan fails. */
  timeoutMs?: number;
  /** Wait between report polls when the scanner names none (Refresh-After / Retry-After are honoured, within 100 ms and 60 s). */
  pollMs?: number;
  concurrency?: number;
  now?: () => number;
}

/**
 * Scans with an external scanner through Harbor's pluggable scanner API v1.1 (docs/scanners.md):
 * the scanner is given Berth's registry URL and short-lived pull-only credentials of the
 * project, asked to scan each image (an index: each platform image, findings together, as the
 * built-in scanner does), and polled for its report; the report becomes Berth's ScanReport,
 * stored like the built-in scanner's so reports, pull policies, events and the console are the
 * same whichever scanner made it. A scanner that fails makes a failed report saying why.
 */
export class ExternalScanner {
  private readonly now: () => number;
  private readonly limit: ConcurrencyLimit;

  constructor(private readonly options: ExternalScannerOptions) {
    this.now = options.now ?? Date.now;
    this.limit = new ConcurrencyLimit(options.concurrency ?? 2);
  }

  /** Scans `digest` of `repository` with `scanner` (the same scan already running is joined). */
  scan(scanner: ChosenScanner, repository: string, digest: string): Promise<ScanReport> {
    return this.limit.once(`${scanner.name}\n${digest}`, () => this.run(scanner, repository, digest));
  }

  private async run(scanner: ChosenScanner, repository: string, digest: string): Promise<ScanReport> {
    const started = performance.now();
    const version = await this.options.vulns.version();
    const images = await this.images(repository, digest);
    const base = { digest, dbVersion: version, scanner: scanner.name };
    let report: ScanReport;
    const timeout = this.options.timeoutMs ?? 10 * 60_000;
    const credentials = await this.options.pullCredentials(repository, timeout * images.length + 5 * 60_000);
    try {
      const merged = new Map<string, Finding>();
      for (const image of images) {
        for (const f of await this.scanImage(scanner.adapter, credentials, repository, image, timeout)) merged.set(`${f.package.purl}\n${f.id}`, f);
      }
      const findings = sortFindings([...merged.values()]);
      // A scanner says which packages are vulnerable, not how many it looked at: those are counted.
      const packages = new Set(findings.map((f) => f.package.purl)).size;
      report = { ...base, status: 'succeeded', packages, summary: summaryOf(findings), findings, durationMs: performance.now() - started, scannedAt: this.now() };
    } catch (err) {
      if (!(err instanceof ScannerAdapterError)) throw err;
      report = { ...base, status: 'failed', packages: 0, summary: {}, findings: [], error: `scanner ${scanner.name}: ${err.message}`.slice(0, 2000), durationMs: performance.now() - started, scannedAt: this.now() };
    } finally {
      await credentials.revoke().catch(() => undefined);
    }
    await this.options.reports.put(report);
    this.options.onScanned?.(report, repository);
    return report;
  }

  /** The image manifests to hand the scanner: the image, or an index's platform images (attestations skipped). */
  private async images(repository: string, digest: string): Promise<Array<{ digest: string; mediaType: string }>> {
    const manifest = await this.options.registry.manifests.get(repository, digest);
    const parsed = parseManifest(manifest.body, manifest.mediaType);
    if (parsed.kind === 'image') {
      if (!isFilesystemImage(parsed)) throw new BerthError('NOT_SCANNABLE', { message: `${digest} is not a container image (its type is ${parsed.artifactType ?? 'unknown'})` });
      return [{ digest, mediaType: manifest.mediaType }];
    }
    const images: Array<{ digest: string; mediaType: string }> = [];
    for (const child of parsed.manifests) {
      if (child.platform?.os === 'unknown') continue;
      const content = await this.options.registry.manifests.get(repository, child.digest);
      const childParsed = parseManifest(content.body, content.mediaType);
      if (childParsed.kind === 'image' && isFilesystemImage(childParsed)) images.push({ digest: child.digest, mediaType: content.mediaType });
    }
    return images;
  }

  private async scanImage(adapter: ScannerAdapter, credentials: ScannerPullCredentials, repository: string, image: { digest: string; mediaType: string }, timeoutMs: number): Promise<Finding[]> {
    const deadline = this.now() + timeoutMs;
    const id = await adapter.scan({
      registry: { url: this.options.registryUrl().replace(/\/+$/, ''), authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` },
      artifact: { repository, digest: image.digest, mime_type: image.mediaType },
    });
    for (;;) {
      const poll = await adapter.report(id);
      if (poll.state === 'done') return findingsFromHarbor(poll.report);
      const left = deadline - this.now();
      if (left <= 0) throw new ScannerAdapterError(`no report for ${image.digest} after ${Math.round(timeoutMs / 1000)} s (scan request ${id})`);
      const wait = Math.min(Math.max(poll.retryAfterMs ?? this.options.pollMs ?? 2_000, 100), 60_000, left);
      await sleep(wait);
    }
  }
}
