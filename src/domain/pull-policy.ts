import { severityRank, type Severity } from './vulns/cvss.js';
import type { Finding } from './vulns/match.js';

/** A project's security settings (docs/vulnerabilities.md, "Pull policies"). */
export interface SecurityPolicy {
  /** Scan each image when it is pushed. */
  scanOnPush: boolean;
  /** Attach Berth's SPDX and CycloneDX SBOMs to each image pushed, as OCI referrers. */
  sbomOnPush: boolean;
  /** Refuse pulls of images with a vulnerability at or above this severity (allowlisted ones aside). */
  preventVulnerable: Exclude<Severity, 'UNKNOWN' | 'NONE'> | null;
  /** Refuse pulls of images not scanned yet (or whose scan failed). */
  preventUnscanned: boolean;
  /** Refuse pulls of images without a signature that `trust` verifies (or an index of theirs with one). */
  preventUnsigned: boolean;
  /** Which signers are trusted: keys, keyless identities, Notation trust store (the signature verifiers' trust schema). */
  trust: Record<string, unknown> | null;
  /** Vulnerabilities (CVE or advisory ids) not held against images of this project, until they expire. */
  allowlist: Array<{ id: string; expiresAt?: string }>;
  /** Robot accounts (full names) these policies never refuse: scanners, replication. */
  exemptRobots: string[];
}

export const defaultSecurityPolicy: SecurityPolicy = { scanOnPush: true, sbomOnPush: false, preventVulnerable: null, preventUnscanned: false, preventUnsigned: false, trust: null, allowlist: [], exemptRobots: [] };

/** What a pull policy found. */
export type PullVerdict = { allowed: true } | { allowed: false; policy: 'prevent-vulnerable' | 'prevent-unscanned' | 'prevent-unsigned'; reason: string };

/** Whether a policy asks anything of a pull (most projects: no, and nothing is read). */
export function restrictsPulls(policy: SecurityPolicy): boolean {
  return policy.preventUnscanned || policy.preventVulnerable !== null || policy.preventUnsigned;
}

/** The reason an unsigned (or untrusted-signed) image is refused, naming why each signature found failed. */
export function unsignedReason(signatures: ReadonlyArray<{ format: string; reason?: string }>): string {
  if (signatures.length === 0) return 'it has no signature';
  const why = signatures.map((s) => `${s.format}: ${s.reason ?? 'not verified'}`);
  return `none of its ${signatures.length} ${signatures.length === 1 ? 'signature' : 'signatures'} verifies with the project's trusted signers (${why.join(', ')})`;
}

/** Whether `finding` is on the allowlist at `now` (an entry past its expiry no longer counts). */
export function allowlisted(policy: SecurityPolicy, finding: Pick<Finding, 'id' | 'aliases'>, now: number): boolean {
  return policy.allowlist.some((entry) => (entry.expiresAt === undefined || Date.parse(entry.expiresAt) > now) && (entry.id === finding.id || finding.aliases.includes(entry.id)));
}

/** Findings of severity `bar` or higher, from a report's counts. */
export function countAtOrAbove(summary: Partial<Record<Severity, number>>, bar: Severity): number {
  return Object.entries(summary).reduce((n, [severity, count]) => (severityRank(severity as Severity) >= severityRank(bar) ? n + (count ?? 0) : n), 0);
}

/**
 * Judges a pull of one manifest by its scan report (undefined: never scanned). `findings` is
 * read only when the severity counts say something at or above the bar exists.
 */
export function judgePull(
  policy: SecurityPolicy,
  report: { status: 'succeeded' | 'failed'; summary: Partial<Record<Severity, number>> } | undefined,
  findings: () => readonly Finding[] | undefined,
  now: number,
): PullVerdict {
  if (!report || report.status !== 'succeeded') {
    if (policy.preventUnscanned) return { allowed: false, policy: 'prevent-unscanned', reason: report ? 'its last scan failed' : 'it has not been scanned' };
    return { allowed: true };
  }
  const bar = policy.preventVulnerable;
  if (bar === null) return { allowed: true };
  const atOrAbove = countAtOrAbove(report.summary, bar);
  if (atOrAbove === 0) return { allowed: true };
  const all = findings();
  const blocking = (all ?? []).filter((f) => severityRank(f.severity) >= severityRank(bar) && !allowlisted(policy, f, now));
  if (all !== undefined && blocking.length === 0) return { allowed: true };
  const named = blocking.slice(0, 3).map((f) => `${f.id} (${f.severity.toLowerCase()}, ${f.package.name} ${f.package.version})`);
  const count = all === undefined ? atOrAbove : blocking.length;
  return {
    allowed: false,
    policy: 'prevent-vulnerable',
    reason: `it has ${count} ${count === 1 ? 'vulnerability' : 'vulnerabilities'} of severity ${bar.toLowerCase()} or higher${named.length > 0 ? `: ${named.join(', ')}${count > named.length ? ', …' : ''}` : ''}`,
  };
}
