import { createRequire } from 'node:module';
import type { Range } from 'semver';
import type { SemVer } from './semver.js';

// node-semver loads with the first range asked for, not at every start (issue 19, idle memory).
const require = createRequire(import.meta.url);
let RangeClass: typeof Range | undefined;

/**
 * npm-style version ranges (`^1.2`, `~3.4.1`, `1.x`, `>=1.2.0 <2.0.0`, `1.2 - 1.4`, `a || b`), with
 * node-semver's meaning exactly: node-semver is the reference implementation of this grammar, so
 * this file only adapts it to Berth's tags (README of semver@7, "Ranges" and "Prerelease Tags").
 * A pre-release version matches only when a comparator of the same comparator set names a
 * pre-release of the same major.minor.patch, unless `includePrerelease` is asked.
 */
export interface SemverRange {
  /** The range as written. */
  text: string;
  /** The comparator sets node-semver made of it, e.g. `>=1.2.0 <2.0.0-0`. */
  normalized: string;
  includePrerelease: boolean;
  matches(version: SemVer): boolean;
}

export type RangeParse = { range: SemverRange } | { error: string };

/** Longer than any range a person or CI writes; node-semver caps versions at 256 characters too. */
export const maxRangeLength = 256;

/**
 * Parses a range; a malformed one is `{ error }` saying why. Stricter than node-semver in one
 * way: an empty range or an empty `||` alternative (which node-semver reads as "any version")
 * is refused, since an API caller who sends one has almost certainly lost a variable.
 */
export function parseSemverRange(text: string, options: { includePrerelease?: boolean } = {}): RangeParse {
  const includePrerelease = options.includePrerelease === true;
  if (text.length > maxRangeLength) return { error: `a range is at most ${maxRangeLength} characters` };
  if (text.trim() === '') return { error: 'the range is empty (use * for any version)' };
  if (text.split('||').some((alternative) => alternative.trim() === '')) return { error: `"${text}" has an empty || alternative` };
  let range: Range;
  try {
    RangeClass ??= (require('semver') as { Range: typeof Range }).Range;
    range = new RangeClass(text, { includePrerelease });
  } catch (err) {
    return { error: `"${text}" is not a semver range (${err instanceof Error ? err.message : String(err)})` };
  }
  return {
    range: {
      text,
      normalized: range.range === '' ? '*' : range.range,
      includePrerelease,
      matches: (version) => range.test(version.text),
    },
  };
}
