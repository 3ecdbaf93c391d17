import type { Severity } from '../domain/vulns/cvss.js';
import type { Finding } from '../domain/vulns/match.js';

export type ScanStatus = 'succeeded' | 'failed';

/** One manifest's scan: the same bytes give the same findings in every repository holding them. */
export interface ScanReport {
  digest: string;
  status: ScanStatus;
  /** The vulnerability database version (VulnDatabaseStatus.version) the findings were matched against. */
  dbVersion: number;
  scanner: string;
  packages: number;
  /** Findings per severity. */
  summary: Partial<Record<Severity, number>>;
  findings: Finding[];
  /** Why a failed scan failed (a coded error's message). */
  error?: string;
  durationMs: number;
  scannedAt: number;
}

export interface ScanStore {
  put(report: ScanReport): Promise<void>;
  get(digest: string): Promise<ScanReport | undefined>;
  /** Reports' status and version only (pull policies ask this on every pull; findings stay unread). */
  heads(digests: readonly string[]): Promise<Map<string, Pick<ScanReport, 'digest' | 'status' | 'dbVersion' | 'summary' | 'scannedAt'>>>;
  /**
   * Image manifests due for a (re)scan: a report older than `version`, or none at all while
   * `unscanned` is set; with one repository holding each, oldest reports first.
   */
  due(version: number, limit: number, unscanned: boolean): Promise<Array<{ digest: string; repository: string }>>;
  /** Removes reports of digests no repository holds any more; returns how many. */
  prune(): Promise<number>;
  /**
   * Scan on push: reads the outbox after `consumer`'s cursor and queues a `scan.artifact` job
   * for each manifest pushed that the push created in its repository (not one pushed again under
   * another tag), in one transaction with the cursor's move (the job decides whether the project
   * wants it). Resolves how many events were read and jobs queued.
   */
  fanOutPushes(options: { consumer: string; batch: number; now: number; maxAttempts: number }): Promise<{ events: number; jobs: number }>;
}
