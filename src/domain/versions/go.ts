import { compareSemver, parseSemver } from '../semver.js';
import { compareParsed, type VersionOrdering } from './compare.js';

/**
 * Go module versions (Go Modules Reference, "Versions"): semver 2.0.0 with a mandatory `v`. Pseudo-versions
 * (`v0.0.0-20191109021931-daa7c04131f5`, `v1.2.4-0.2019…`, `v1.2.3-pre.0.2019…`) are ordinary pre-releases, so they
 * order by their base and then by timestamp. Build metadata is ignored, as `+incompatible` is (`v2.0.0+incompatible` = `v2.0.0`).
 * Comparison also takes the `v`-less form, because OSV's Go records write versions without it.
 */
function isValidGo(v: string): boolean {
  const parsed = v.startsWith('v') ? parseSemver(v) : undefined;
  if (!parsed) return false;
  const build = /\+(.*)$/.exec(v)?.[1];
  // "+incompatible" marks a v2+ module without a go.mod; no other build metadata is a module version.
  return build === undefined || (build === 'incompatible' && parsed.major >= 2);
}

export const go: VersionOrdering = {
  compare: (a, b) => compareParsed(a, b, parseSemver, compareSemver),
  isValid: isValidGo,
};
