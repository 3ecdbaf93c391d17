import { compareDigits, compareText, runAt, type VersionOrdering } from './compare.js';

/**
 * Alpine package versions as apk-tools (v3, `version.c`) orders them:
 * `digit{.digit}...{letter}{_suffix{number}}...{~hash}{-rN}`.
 * Token kinds are ranked in the order they may appear; a version is compared token by token, and where one runs
 * out or switches to a different kind, a pre-release suffix sorts first and otherwise the higher kind sorts first
 * (so `1.2` < `1.2a` < `1.2.1`, and `1.2.3` < `1.2.3-r1` < `1.2.3_p1`: the revision is the packager's, the suffix upstream's).
 */
const Kind = { Initial: 0, Digit: 1, Letter: 2, Suffix: 3, SuffixNumber: 4, CommitHash: 5, Revision: 6, End: 7, Invalid: 8 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

interface Token {
  kind: Kind;
  text: string;
}

/** apk's suffix order; '' stands for "no suffix", so the ones before it are pre-releases. */
const suffixes = ['alpha', 'beta', 'pre', 'rc', '', 'cvs', 'svn', 'git', 'hg', 'p'];
const release = suffixes.indexOf('');

const invalid: Token = { kind: Kind.Invalid, text: '' };
const digitRun = /[0-9]+/y;
const letter = /[a-z]/y;
const suffixName = /[a-z]*/y;
const hexRun = /[0-9a-f]+/y;

/** Splits `v` into tokens, ending with End, or with Invalid where the grammar breaks (apk compares up to there). */
function tokenize(v: string): Token[] {
  let at = 0;
  const take = (kind: Kind, skip: number, pattern: RegExp): Token => {
    const text = runAt(v, at + skip, pattern);
    at += skip + text.length;
    return text === '' ? invalid : { kind, text };
  };
  const next = (prev: Kind): Token => {
    const c = v[at];
    if (c === undefined) return { kind: Kind.End, text: '' };
    if (c >= 'a' && c <= 'z' && prev <= Kind.Digit) return take(Kind.Letter, 0, letter);
    if (c === '.' && prev <= Kind.Digit) return take(Kind.Digit, 1, digitRun);
    if (c >= '0' && c <= '9' && prev === Kind.Suffix) return take(Kind.SuffixNumber, 0, digitRun);
    if (c === '_' && prev <= Kind.SuffixNumber) {
      const token = take(Kind.Suffix, 1, suffixName);
      return suffixes.includes(token.text) ? token : invalid;
    }
    if (c === '~' && prev < Kind.CommitHash) return take(Kind.CommitHash, 1, hexRun);
    if (v.startsWith('-r', at) && prev < Kind.Revision) return take(Kind.Revision, 2, digitRun);
    return invalid;
  };
  let token = take(Kind.Initial, 0, digitRun);
  const tokens = [token];
  while (token.kind < Kind.End) {
    token = next(token.kind);
    tokens.push(token);
  }
  return tokens;
}

/** Two tokens of one kind. Digits after a dot with a leading zero compare as text, as in Gentoo (`1.02` < `1.1`). */
function compareTokens(a: Token, b: Token): number {
  switch (a.kind) {
    case Kind.Digit:
      if (a.text.startsWith('0') || b.text.startsWith('0')) return compareText(a.text, b.text);
      return compareDigits(a.text, b.text);
    case Kind.Initial:
    case Kind.SuffixNumber:
    case Kind.Revision:
      return compareDigits(a.text, b.text);
    case Kind.Suffix:
      return Math.sign(suffixes.indexOf(a.text) - suffixes.indexOf(b.text));
    default:
      return compareText(a.text, b.text);
  }
}

const isPreRelease = (t: Token): boolean => t.kind === Kind.Suffix && suffixes.indexOf(t.text) < release;

function compareApk(a: string, b: string): number {
  const x = tokenize(a);
  const y = tokenize(b);
  for (let i = 0; ; i++) {
    const s = x[i]!;
    const t = y[i]!;
    if (s.kind !== t.kind) {
      if (isPreRelease(s)) return -1;
      if (isPreRelease(t)) return 1;
      return s.kind > t.kind ? -1 : 1;
    }
    if (s.kind >= Kind.End) return 0;
    const r = compareTokens(s, t);
    if (r !== 0) return r;
  }
}

export const apk: VersionOrdering = {
  compare: compareApk,
  isValid: (v) => tokenize(v).at(-1)!.kind === Kind.End,
};
