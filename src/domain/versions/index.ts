import { apk } from './apk.js';
import type { VersionOrdering } from './compare.js';
import { dpkg } from './dpkg.js';
import { go } from './go.js';
import { maven } from './maven.js';
import { pep440 } from './pep440.js';
import { rpm } from './rpm.js';
import { semver } from './semver.js';

/** The version orderings vulnerability matching needs: one per family of package ecosystems. */
export type VersionScheme = 'dpkg' | 'apk' | 'rpm' | 'semver' | 'pep440' | 'maven' | 'go';

const orderings: Record<VersionScheme, VersionOrdering> = { dpkg, apk, rpm, semver, pep440, maven, go };

/**
 * Negative when a < b, 0 when equal, positive when a > b, in the scheme's own ordering. Total (never throws) even
 * for malformed input: dpkg, rpm, apk and maven order any string as their tools do; for semver, go and pep440 a
 * malformed version sorts before every well-formed one, and malformed ones among themselves by their text.
 */
export function compareVersions(scheme: VersionScheme, a: string, b: string): number {
  return Math.sign(orderings[scheme].compare(a, b));
}

/** Whether `v` is a well-formed version of the scheme. */
export function isValidVersion(scheme: VersionScheme, v: string): boolean {
  return orderings[scheme].isValid(v);
}

/**
 * OSV ecosystem names (the part before the first `:`, case as OSV spells it) and the ordering their versions use.
 * Wolfi and Chainguard package with apk; openEuler with rpm. Packagist is deliberately absent: Composer orders
 * versions by its own normalisation plus PHP's version_compare (four numeric parts, `dev` < `alpha` < `beta` < `RC`,
 * `p`/`pl` patch levels), which none of these schemes reproduces, so a wrong answer would pass for a right one.
 */
const ecosystems = new Map<string, VersionScheme>([
  ['Debian', 'dpkg'],
  ['Ubuntu', 'dpkg'],
  ['Alpine', 'apk'],
  ['Wolfi', 'apk'],
  ['Chainguard', 'apk'],
  ['Red Hat', 'rpm'],
  ['Rocky Linux', 'rpm'],
  ['AlmaLinux', 'rpm'],
  ['openSUSE', 'rpm'],
  ['SUSE', 'rpm'],
  ['Mageia', 'rpm'],
  ['openEuler', 'rpm'],
  ['npm', 'semver'],
  ['crates.io', 'semver'],
  ['PyPI', 'pep440'],
  ['Maven', 'maven'],
  ['Go', 'go'],
]);

/** The scheme for an OSV `affected[].package.ecosystem` value (`Debian:12`, `Alpine:v3.19`, `PyPI`); undefined for unknown. */
export function schemeOfEcosystem(ecosystem: string): VersionScheme | undefined {
  return ecosystems.get(ecosystem.split(':', 1)[0]!);
}
