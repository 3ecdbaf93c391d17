import { compareDigits, compareText, type VersionOrdering } from './compare.js';

/**
 * Maven versions as the POM reference's "Version Order Specification" (ComparableVersion) orders them.
 * Every string is a version there; it is split into numbers and qualifiers at `.`, `-`, `_` and digit/letter
 * transitions (a transition and `_` count as `-`, and a qualifier after `.` counts as after `-`: `1.foo` = `1-foo`).
 */
type Token = { sep: '.' | '-'; number: string } | { sep: '-'; qualifier: string };

/** The spec's qualifier order; '' is the release (also spelt ga, final, release); unknown qualifiers come after all of them. */
const qualifiers = ['alpha', 'beta', 'milestone', 'rc', 'snapshot', '', 'sp'];
const aliases: Record<string, string> = { cr: 'rc', ga: '', final: '', release: '' };
/** "alpha, beta and milestone can be shortened to a, b and m when directly followed by a number". */
const beforeNumberAliases: Record<string, string> = { a: 'alpha', b: 'beta', m: 'milestone' };

const isDigit = (c: string): boolean => c >= '0' && c <= '9';

function token(sep: '.' | '-', text: string, beforeNumber: boolean): Token {
  if (text === '' || /^[0-9]+$/.test(text)) return { sep, number: text.replace(/^0+/, '') || '0' }; // "Empty tokens are replaced with 0"
  const q = (beforeNumber ? beforeNumberAliases[text] : undefined) ?? aliases[text] ?? text;
  return { sep: '-', qualifier: q };
}

function tokenize(version: string): Token[] {
  const v = version.toLowerCase();
  const tokens: Token[] = [];
  let sep: '.' | '-' = '.';
  let start = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === '.' || c === '-' || c === '_') {
      tokens.push(token(sep, v.slice(start, i), false));
      sep = c === '.' ? '.' : '-';
      start = i + 1;
    } else if (i > start && isDigit(c) !== isDigit(v[i - 1]!)) {
      tokens.push(token(sep, v.slice(start, i), isDigit(c)));
      sep = '-';
      start = i;
    }
  }
  tokens.push(token(sep, v.slice(start), false));
  return trim(tokens);
}

const isNull = (t: Token): boolean => ('number' in t ? t.number === '0' : t.qualifier === '');

/**
 * "Starting from the end of the version, the trailing null values (0, '', final, ga) are trimmed. This process is
 * repeated at each remaining hyphen from end to start": each hyphen-led group loses its own trailing nulls.
 */
function trim(tokens: Token[]): Token[] {
  const kept: Token[][] = [];
  let end = tokens.length;
  for (let start = tokens.length - 1; start >= 0; start--) {
    if (start > 0 && tokens[start]!.sep !== '-') continue;
    let last = end;
    while (last > start && isNull(tokens[last - 1]!)) last--;
    kept.unshift(tokens.slice(start, last));
    end = start;
  }
  return kept.flat();
}

function compareQualifiers(a: string, b: string): number {
  const x = qualifiers.indexOf(a);
  const y = qualifiers.indexOf(b);
  if (x >= 0 || y >= 0) return x < 0 ? 1 : y < 0 ? -1 : Math.sign(x - y);
  return compareText(a, b);
}

/** "`.qualifier` = `-qualifier` < `-number` < `.number`"; with the same separator, a qualifier before a number. */
function compareTokens(a: Token, b: Token): number {
  if (a.sep !== b.sep) return a.sep === '-' ? -1 : 1;
  if ('number' in a && 'number' in b) return compareDigits(a.number, b.number);
  if ('qualifier' in a && 'qualifier' in b) return compareQualifiers(a.qualifier, b.qualifier);
  return 'qualifier' in a ? -1 : 1;
}

/** The shorter sequence is padded with the null matching the other's separator: 0 after `.`, '' after `-`. */
const padding = (other: Token): Token => (other.sep === '.' ? { sep: '.', number: '0' } : { sep: '-', qualifier: '' });

function compareMaven(a: string, b: string): number {
  const x = tokenize(a);
  const y = tokenize(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const s = x[i] ?? padding(y[i]!);
    const t = y[i] ?? padding(s);
    const r = compareTokens(s, t);
    if (r !== 0) return r;
  }
  return 0;
}

/** Maven's model validator: a version is non-empty and has none of `\ / : " < > | ? *`; whitespace is refused too. */
export const maven: VersionOrdering = {
  compare: compareMaven,
  isValid: (v) => v !== '' && !/[\\/:"<>|?*\s]/.test(v),
};
