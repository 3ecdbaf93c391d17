import type { Severity } from '../domain/vulns/cvss.js';
import type { Candidate } from '../domain/vulns/match.js';
import type { Advisory } from '../domain/vulns/osv.js';

/** What one batch of an import did. */
export interface ImportCounts {
  added: number;
  updated: number;
  unchanged: number;
}

export interface VulnImportRow extends ImportCounts {
  id: number;
  source: string;
  rejected: number;
  importedBy: string | null;
  importedAt: number;
}

export interface VulnDatabaseStatus {
  /** The newest import's id: scan reports matched against an older one are due for a rescan. 0: nothing imported. */
  version: number;
  advisories: number;
  /** Affected-package rows, per ecosystem. */
  ecosystems: Record<string, number>;
  lastImport?: VulnImportRow;
}

/**
 * The vulnerability database (issue 16): OSV advisories an operator imports, looked up by
 * package at scan time. Nothing here reaches the network.
 */
export interface VulnStore {
  /** Stores advisories, each replacing a stored one only when its `modified` is newer, in one transaction. */
  upsert(advisories: readonly Advisory[], now: number): Promise<ImportCounts>;
  /** Records a finished import; its id becomes the database's version when anything changed. */
  recordImport(row: Omit<VulnImportRow, 'id'>): Promise<VulnImportRow>;
  status(): Promise<VulnDatabaseStatus>;
  /**
   * The database's version alone (`status().version`): what a scan records and rescans compare.
   * One read of the import log, where `status` also counts every advisory and affected package.
   */
  version(): Promise<number>;
  /** What the advisories say about these packages (by exact ecosystem and name). */
  candidates(lookups: ReadonlyArray<{ ecosystem: string; name: string }>): Promise<Candidate[]>;
  /** The highest severity any advisory with one of these ids or aliases states. */
  aliasSeverities(ids: readonly string[]): Promise<Map<string, Severity>>;
}
