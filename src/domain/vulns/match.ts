import type { OperatingSystem, Package } from '../packages/package.js';
import { compareVersions, schemeOfEcosystem, type VersionScheme } from '../versions/index.js';
import { severityRank, type Severity } from './cvss.js';
import { packageName, type AffectedPackage, type AffectedRange, type Advisory } from './osv.js';

/** How one package of an image is looked up in the advisories: which ecosystems, which name, which version. */
export interface MatchTarget {
  package: Package;
  /** OSV ecosystems to look in, most specific first (`Ubuntu:22.04:LTS`, `Ubuntu:22.04`). */
  ecosystems: string[];
  name: string;
  version: string;
}

/** An advisory without its affected list: what a finding shows. */
export type AdvisoryHead = Omit<Advisory, 'affected'>;

export interface Finding {
  /** The CVE the advisories are about when one names it, else the advisory's own id. */
  id: string;
  /** Every advisory that reported it for this package (GHSA-…, PYSEC-…, DSA-…), sorted. */
  advisories: string[];
  aliases: string[];
  severity: Severity;
  cvss?: { score: number; vector: string };
  summary: string;
  package: { name: string; version: string; type: string; purl: string };
  /** Where the advisories were looked up (`Debian:12`, `PyPI`). */
  ecosystem: string;
  /** The lowest version that fixes it, when an advisory says. */
  fixedVersion?: string;
  /** Listed in the project's CVE allowlist (still shown, not held against the image). */
  allowlisted?: boolean;
}

/**
 * Where each package is looked up. OS packages go to their distribution's advisories only, by
 * source package (Debian, Ubuntu and Alpine publish per source package, at the source version);
 * language packages go to their ecosystem's. A distribution's own advisories thus take
 * precedence: a fix it backported is not reported from upstream's ranges. Packages of a
 * distribution OSV does not cover (or an image without os-release) are not matched.
 */
export function matchTargets(packages: readonly Package[], os: OperatingSystem | undefined): MatchTarget[] {
  const targets: MatchTarget[] = [];
  for (const pkg of packages) {
    const target = targetOf(pkg, os);
    if (!target) continue;
    targets.push(target);
    // RPM distributions' advisories name binary packages in some databases and source packages in others.
    if (pkg.type === 'rpm' && pkg.source && target.name !== pkg.name) targets.push({ ...target, name: pkg.name, version: pkg.version });
  }
  return targets;
}

function targetOf(pkg: Package, os: OperatingSystem | undefined): MatchTarget | undefined {
  const type: string = pkg.type;
  const of = (ecosystems: string[], name: string, version: string) => (ecosystems.length > 0 ? { package: pkg, ecosystems, name, version } : undefined);
  switch (type) {
    case 'deb':
    case 'apk':
    case 'rpm':
      return of(distributionEcosystems(os), pkg.source ?? pkg.name, pkg.sourceVersion ?? pkg.version);
    case 'pypi':
      return of(['PyPI'], packageName('PyPI', pkg.name), pkg.version);
    case 'npm':
      return of(['npm'], pkg.name, pkg.version);
    case 'golang':
      // The Go vulnerability database writes versions without `v` (modules) or `go` (the toolchain).
      return of(['Go'], pkg.name, pkg.version.replace(/^(v|go)(?=\d)/, ''));
    case 'maven':
      return of(['Maven'], pkg.name, pkg.version);
    default:
      return undefined;
  }
}

/** The OSV ecosystems of an image's distribution (OSV's ecosystem list names each form). */
export function distributionEcosystems(os: OperatingSystem | undefined): string[] {
  const version = os?.versionId;
  if (!os || !version) return [];
  const major = version.split('.')[0]!;
  switch (os.id) {
    case 'debian':
      return [`Debian:${major}`];
    case 'ubuntu':
      return [`Ubuntu:${version}:LTS`, `Ubuntu:${version}`];
    case 'alpine':
      return [`Alpine:v${version.split('.').slice(0, 2).join('.')}`];
    case 'rocky':
      return [`Rocky Linux:${major}`];
    case 'almalinux':
      return [`AlmaLinux:${major}`];
    case 'mageia':
      return [`Mageia:${version}`];
    case 'opensuse-leap':
      return [`openSUSE:Leap ${version}`];
    default:
      return [];
  }
}

/** One advisory's word on one package, as read from the database. */
export interface Candidate {
  advisory: AdvisoryHead;
  affected: AffectedPackage;
}

/**
 * Whether `version` is affected, by the OSV schema's evaluation rules: listed in `versions`, or
 * inside a range (introduced ≤ v < fixed, v ≤ last_affected, v < limit), each range in its own
 * ordering (ECOSYSTEM: the ecosystem's; SEMVER: semver.org's). Returns the fix when one applies.
 */
export function affects(affected: AffectedPackage, version: string): { affected: boolean; fixed?: string } {
  const scheme = schemeOfEcosystem(affected.ecosystem);
  if (scheme && affected.versions.some((v) => v === version || compareVersions(scheme, v, version) === 0)) return { affected: true, ...nextFix(affected.ranges, scheme, version) };
  for (const range of affected.ranges) {
    const ordering = range.type === 'SEMVER' ? 'semver' : scheme;
    if (!ordering) continue;
    if (inRange(range, ordering, version)) return { affected: true, ...nextFix([range], ordering, version) };
  }
  return { affected: false };
}

function inRange(range: AffectedRange, scheme: VersionScheme, version: string): boolean {
  const compare = (a: string, b: string) => (a === '0' ? (b === '0' ? 0 : -1) : b === '0' ? 1 : compareVersions(scheme, a, b));
  const valueOf = (e: AffectedRange['events'][number]) => Object.values(e)[0] as string;
  const events = [...range.events].sort((a, b) => compare(valueOf(a), valueOf(b)));
  let affected = false;
  for (const event of events) {
    if ('introduced' in event && compare(version, event.introduced) >= 0) affected = true;
    else if ('fixed' in event && compare(version, event.fixed) >= 0) affected = false;
    else if ('last_affected' in event && compare(version, event.last_affected) > 0) affected = false;
  }
  const limits = range.events.flatMap((e) => ('limit' in e ? [e.limit] : []));
  if (affected && limits.length > 0 && limits.every((limit) => limit !== '*' && compare(version, limit) >= 0)) return false;
  return affected;
}

function nextFix(ranges: readonly AffectedRange[], scheme: VersionScheme, version: string): { fixed?: string } {
  let best: string | undefined;
  for (const range of ranges)
    for (const event of range.events) {
      if (!('fixed' in event) || compareVersions(scheme, event.fixed, version) <= 0) continue;
      if (best === undefined || compareVersions(scheme, event.fixed, best) < 0) best = event.fixed;
    }
  return best === undefined ? {} : { fixed: best };
}

/**
 * The findings of an image: each candidate that affects its package's version, one finding per
 * package and vulnerability (advisories that alias the same CVE collapse into one, keeping the
 * highest severity and the lowest fix). `aliasSeverity` rates a finding its own advisories do not
 * (Debian's and Alpine's records carry none; GitHub's for the same CVE may).
 */
export function findingsOf(
  targets: readonly MatchTarget[],
  candidates: (target: MatchTarget) => readonly Candidate[],
  aliasSeverity: (id: string) => Severity | undefined = () => undefined,
): Finding[] {
  const byKey = new Map<string, Finding>();
  for (const target of targets) {
    for (const { advisory, affected } of candidates(target)) {
      if (advisory.withdrawn) continue;
      const verdict = affects(affected, target.version);
      if (!verdict.affected) continue;
      const cve = [advisory.id, ...advisory.aliases].find((id) => id.startsWith('CVE-'));
      const id = cve ?? advisory.id;
      const key = `${target.package.purl}\n${id}`;
      const severity = affected.severity ?? advisory.severity;
      const existing = byKey.get(key);
      if (!existing) {
        const finding: Finding = {
          id,
          advisories: [advisory.id],
          aliases: [...new Set([advisory.id, ...advisory.aliases])].filter((a) => a !== id).sort(),
          severity,
          summary: advisory.summary,
          package: { name: target.package.name, version: target.package.version, type: target.package.type, purl: target.package.purl },
          ecosystem: affected.ecosystem,
        };
        if (advisory.cvss) finding.cvss = advisory.cvss;
        if (verdict.fixed) finding.fixedVersion = verdict.fixed;
        byKey.set(key, finding);
        continue;
      }
      existing.advisories = [...new Set([...existing.advisories, advisory.id])].sort();
      existing.aliases = [...new Set([...existing.aliases, advisory.id, ...advisory.aliases])].filter((a) => a !== id).sort();
      if (severityRank(severity) > severityRank(existing.severity)) existing.severity = severity;
      if (advisory.cvss && (!existing.cvss || advisory.cvss.score > existing.cvss.score)) existing.cvss = advisory.cvss;
      if (!existing.summary) existing.summary = advisory.summary;
      const scheme = schemeOfEcosystem(affected.ecosystem);
      if (verdict.fixed && scheme && (!existing.fixedVersion || compareVersions(scheme, verdict.fixed, existing.fixedVersion) < 0)) existing.fixedVersion = verdict.fixed;
    }
  }
  return rateByAlias([...byKey.values()], aliasSeverity);
}

/** Rates the findings whose advisories gave no severity by what `aliasSeverity` says of their ids and aliases; sorted. */
export function rateByAlias(findings: Finding[], aliasSeverity: (id: string) => Severity | undefined): Finding[] {
  for (const finding of findings) {
    if (finding.severity !== 'UNKNOWN') continue;
    for (const id of [finding.id, ...finding.aliases]) {
      const rated = aliasSeverity(id);
      if (rated && severityRank(rated) > severityRank(finding.severity)) finding.severity = rated;
    }
  }
  return sortFindings(findings);
}

/** Most severe first, then by package and id: the order reports and messages show. */
export function sortFindings(findings: Finding[]): Finding[] {
  return findings.sort((a, b) => severityRank(b.severity) - severityRank(a.severity) || a.package.name.localeCompare(b.package.name) || a.id.localeCompare(b.id));
}
