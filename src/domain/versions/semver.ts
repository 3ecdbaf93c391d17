import { compareSemver, parseSemver } from '../semver.js';
import { compareParsed, type VersionOrdering } from './compare.js';

/**
 * Semantic Versioning 2.0.0 (npm, crates.io), through the registry's own `parseSemver`/`compareSemver`:
 * precedence per semver.org item 11, build metadata ignored, and a leading `v` accepted as tags write it.
 */
export const semver: VersionOrdering = {
  compare: (a, b) => compareParsed(a, b, parseSemver, compareSemver),
  isValid: (v) => parseSemver(v) !== undefined,
};
