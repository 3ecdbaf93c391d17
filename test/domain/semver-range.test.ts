import { describe, expect, it } from 'vitest';
import { maxRangeLength, parseSemverRange, type SemverRange } from '../../src/domain/semver-range.js';
import { parseSemver } from '../../src/domain/semver.js';

function range(text: string, includePrerelease = false): SemverRange {
  const parsed = parseSemverRange(text, { includePrerelease });
  if ('error' in parsed) throw new Error(`${text}: ${parsed.error}`);
  return parsed.range;
}

function matches(text: string, version: string, includePrerelease = false): boolean {
  const parsed = parseSemver(version);
  if (!parsed) throw new Error(`${version} is not semver`);
  return range(text, includePrerelease).matches(parsed);
}

/** [range, what node-semver's README says it means, versions it matches, versions it does not]. */
const forms: Array<[string, string, string[], string[]]> = [
  // Caret: changes that do not modify the left-most non-zero element.
  ['^1.2.3', '>=1.2.3 <2.0.0-0', ['1.2.3', '1.2.4', '1.10.0', 'v1.99.99'], ['1.2.2', '2.0.0', '2.0.0-beta', '1.3.0-beta']],
  ['^1.2', '>=1.2.0 <2.0.0-0', ['1.2.0', '1.2.10', '1.10.0'], ['1.1.9', '2.0.0', '0.9.0']],
  ['^1', '>=1.0.0 <2.0.0-0', ['1.0.0', '1.9.9'], ['0.9.9', '2.0.0']],
  ['^0.2.3', '>=0.2.3 <0.3.0-0', ['0.2.3', '0.2.9'], ['0.2.2', '0.3.0', '1.0.0']],
  ['^0.0.3', '>=0.0.3 <0.0.4-0', ['0.0.3'], ['0.0.4', '0.0.2', '0.1.0']],
  // The README writes these two as `>=0.0.0 <0.1.0-0` and `>=0.0.0 <1.0.0-0`; node-semver drops the `>=0.0.0`, which every version meets.
  ['^0.0', '<0.1.0-0', ['0.0.0', '0.0.9'], ['0.1.0', '0.0.1-rc.1']],
  ['^0.x', '<1.0.0-0', ['0.0.1', '0.9.9'], ['1.0.0']],
  ['^1.2.x', '>=1.2.0 <2.0.0-0', ['1.2.0', '1.5.0'], ['1.1.0', '2.0.0']],
  ['^1.2.3-beta.2', '>=1.2.3-beta.2 <2.0.0-0', ['1.2.3-beta.2', '1.2.3-beta.4', '1.2.3', '1.9.0'], ['1.2.3-beta.1', '1.2.4-beta.2', '2.0.0']],
  // Tilde: patch-level changes when a minor version is given, minor-level when not.
  ['~1.2.3', '>=1.2.3 <1.3.0-0', ['1.2.3', '1.2.10'], ['1.2.2', '1.3.0', '1.3.0-beta']],
  ['~1.2', '>=1.2.0 <1.3.0-0', ['1.2.0', '1.2.10'], ['1.3.0', '1.10.0', '1.1.9']],
  ['~1', '>=1.0.0 <2.0.0-0', ['1.0.0', '1.9.0'], ['2.0.0']],
  ['~3.4', '>=3.4.0 <3.5.0-0', ['3.4.0', 'v3.4.7'], ['3.5.0', '3.3.9']],
  ['~3.4.1', '>=3.4.1 <3.5.0-0', ['3.4.1', '3.4.2'], ['3.4.0', '3.5.0']],
  ['~0.2.3', '>=0.2.3 <0.3.0-0', ['0.2.3', '0.2.4'], ['0.3.0']],
  ['~1.2.3-beta.2', '>=1.2.3-beta.2 <1.3.0-0', ['1.2.3-beta.2', '1.2.3-beta.4', '1.2.5'], ['1.2.4-beta.2', '1.2.3-beta.1']],
  // X-ranges.
  ['*', '*', ['0.0.0', '1.2.3', '99.0.0'], ['1.0.0-rc.1']],
  ['x', '*', ['0.1.0', '5.0.0'], []],
  ['1.x', '>=1.0.0 <2.0.0-0', ['1.0.0', '1.99.0'], ['2.0.0', '0.9.0']],
  ['1.2.*', '>=1.2.0 <1.3.0-0', ['1.2.0', '1.2.99'], ['1.3.0', '1.1.0']],
  ['1', '>=1.0.0 <2.0.0-0', ['1.5.0'], ['2.0.0']],
  ['1.2', '>=1.2.0 <1.3.0-0', ['1.2.5'], ['1.3.0']],
  // Primitive comparators and comparator sets.
  ['>=1.2.0 <2.0.0', '>=1.2.0 <2.0.0', ['1.2.0', '1.99.0'], ['2.0.0', '1.1.9', '2.0.0-rc.1']],
  ['>=1.2.7 <1.3.0', '>=1.2.7 <1.3.0', ['1.2.7', '1.2.8', '1.2.99'], ['1.2.6', '1.3.0', '1.1.0']],
  ['>1.2.3', '>1.2.3', ['1.2.4', '2.0.0'], ['1.2.3', '1.2.4-beta']],
  ['<1.2.3', '<1.2.3', ['1.2.2', '0.1.0'], ['1.2.3', '1.2.3-beta']],
  ['<=1.2.3', '<=1.2.3', ['1.2.3', '1.0.0'], ['1.2.4']],
  ['1.2.3', '1.2.3', ['1.2.3', 'v1.2.3'], ['1.2.4', '1.2.3-rc.1']],
  ['=v1.2.3', '1.2.3', ['1.2.3'], ['1.2.4']],
  ['>= 1.2', '>=1.2.0', ['1.2.0', '3.0.0'], ['1.1.0']],
  // Hyphen ranges: a partial first version is filled with zeros, a partial second one means "up to the next".
  ['1.2.3 - 2.3.4', '>=1.2.3 <=2.3.4', ['1.2.3', '2.3.4'], ['1.2.2', '2.3.5']],
  ['1.2 - 2.3.4', '>=1.2.0 <=2.3.4', ['1.2.0'], ['1.1.9']],
  ['1.2.3 - 2.3', '>=1.2.3 <2.4.0-0', ['2.3.9'], ['2.4.0']],
  ['1.2.3 - 2', '>=1.2.3 <3.0.0-0', ['2.9.9'], ['3.0.0']],
  ['1.2 - 1.4', '>=1.2.0 <1.5.0-0', ['1.2.0', '1.4.9'], ['1.5.0', '1.1.0']],
  // Unions.
  ['1.2.7 || >=1.2.9 <2.0.0', '1.2.7||>=1.2.9 <2.0.0', ['1.2.7', '1.2.9', '1.4.6'], ['1.2.8', '2.0.0']],
  ['^1.2 || ^3', '>=1.2.0 <2.0.0-0||>=3.0.0 <4.0.0-0', ['1.2.0', '3.1.0'], ['2.0.0', '4.0.0']],
];

describe('semver ranges (node-semver semantics)', () => {
  describe.each(forms)('%s', (text, normalized, yes, no) => {
    it(`reads as ${normalized}`, () => {
      expect(range(text).normalized).toBe(normalized);
      expect(range(text).text).toBe(text);
    });
    it.each(yes)('matches %s', (version) => expect(matches(text, version)).toBe(true));
    if (no.length) it.each(no)('does not match %s', (version) => expect(matches(text, version)).toBe(false));
  });

  describe('pre-releases', () => {
    /** [range, version, matches by default, matches with includePrerelease]. */
    const table: Array<[string, string, boolean, boolean]> = [
      // A comparator with a pre-release on the same [major, minor, patch] lets that tuple's pre-releases in.
      ['>1.2.3-alpha.3', '1.2.3-alpha.7', true, true],
      ['>1.2.3-alpha.3', '3.4.5-alpha.9', false, true],
      ['>1.2.3-alpha.3', '3.4.5', true, true],
      ['>1.2.3-alpha.3', '1.2.3-alpha.3', false, false],
      ['>=2.0.0-rc.0 <2.0.0', 'v2.0.0-rc.1', true, true],
      ['>=2.0.0-rc.0 <2.0.0', '2.0.0', false, false],
      ['>=2.0.0-rc.0 <2.0.0', '2.0.1-rc.1', false, false],
      // Ranges without a pre-release exclude every pre-release unless asked.
      ['^1.2', '1.3.0-beta.1', false, true],
      ['^1.2', '2.0.0-rc.1', false, false],
      ['*', '1.0.0-rc.1', false, true],
      ['~1.2', '1.2.5-rc.1', false, true],
      ['>=1.0.0', '1.5.0-0', false, true],
      // The rule is per comparator set: the pre-release in the other alternative does not count.
      ['^1.0.0 || 2.0.0-rc.1', '1.5.0-rc.1', false, true],
      ['^1.0.0 || 2.0.0-rc.1', '2.0.0-rc.1', true, true],
    ];
    it.each(table)('%s with %s: %s by default, %s with includePrerelease', (text, version, plain, inclusive) => {
      expect(matches(text, version)).toBe(plain);
      expect(matches(text, version, true)).toBe(inclusive);
      expect(range(text, true).includePrerelease).toBe(true);
    });
  });

  describe('invalid ranges', () => {
    const invalid = ['nonsense', 'latest', '', '   ', '||', '1.2.3 ||', '|| ^1', '^', '>=', '1.2.3.4', '1 - 2 - 3', '^01.2', '1.2.3-rc.01', 'a || b', '1.2.3 -', '>=1.2.0 <'];
    it.each(invalid)('refuses %j with a reason', (text) => {
      const parsed = parseSemverRange(text);
      expect('error' in parsed).toBe(true);
      if ('error' in parsed) expect(parsed.error.length).toBeGreaterThan(0);
    });
    it(`refuses a range longer than ${maxRangeLength} characters`, () => {
      const long = `>=1.0.0 ${'<2.0.0 '.repeat(40)}`;
      expect(long.length).toBeGreaterThan(maxRangeLength);
      expect(parseSemverRange(long)).toEqual({ error: `a range is at most ${maxRangeLength} characters` });
    });
  });
});
