import { compareDigits, runAt, type VersionOrdering } from './compare.js';

/**
 * Debian package versions, Debian Policy 5.6.12 "Version": `[epoch:]upstream_version[-debian_revision]`.
 * Any string gets an order, as dpkg gives it: the epoch is the digits before the first colon (0 when absent),
 * the revision is what follows the last hyphen ('' when absent, which compares equal to "0").
 */
function split(v: string): { epoch: string; upstream: string; revision: string } {
  const m = /^(\d+):/.exec(v);
  const epoch = m ? m[1]! : '0';
  const rest = m ? v.slice(m[0].length) : v;
  const dash = rest.lastIndexOf('-');
  if (dash < 0) return { epoch, upstream: rest, revision: '' };
  return { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) };
}

/**
 * Policy 5.6.12: upstream_version "may contain only alphanumerics and . + - ~ and should start with a digit";
 * hyphens only when a revision follows, and the revision (after the last hyphen) is non-empty, without hyphens.
 */
const wellFormed = /^(?:\d+:)?\d[A-Za-z0-9.+~-]*(?<!-)$/;

/** Policy 5.6.12 sort weight of a non-digit character: `~` before everything, even the end; letters before non-letters. */
function weight(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === '~') return -1;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

function compareNonDigits(a: string, b: string): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = weight(a[i]) - weight(b[i]);
    if (d !== 0) return d;
  }
  return 0;
}

const nonDigits = /\D*/y;
const digits = /\d*/y;

/** Policy 5.6.12: alternately compare the leading non-digit run (by `weight`) and the digit run (numerically). */
function compareFragment(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = runAt(a, i, nonDigits);
    const y = runAt(b, j, nonDigits);
    const lexical = compareNonDigits(x, y);
    if (lexical !== 0) return lexical;
    i += x.length;
    j += y.length;
    const m = runAt(a, i, digits);
    const n = runAt(b, j, digits);
    const numeric = compareDigits(m, n);
    if (numeric !== 0) return numeric;
    i += m.length;
    j += n.length;
  }
  return 0;
}

export const dpkg: VersionOrdering = {
  compare(a, b) {
    const x = split(a);
    const y = split(b);
    return compareDigits(x.epoch, y.epoch) || compareFragment(x.upstream, y.upstream) || compareFragment(x.revision, y.revision);
  },
  isValid: (v) => wellFormed.test(v),
};
