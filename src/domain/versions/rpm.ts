import { compareDigits, compareText, runAt, type VersionOrdering } from './compare.js';

/**
 * RPM versions, `[epoch:]version[-release]`, split as rpm splits an EVR: the epoch is the leading digits before a
 * colon (0 when absent), the release follows the last hyphen.
 * A missing release is the empty string, so `1.0` sorts before every `1.0-N`, as `rpm.vercmp` has it; rpm's
 * dependency matching instead skips the release when one side has none, which is no order (1.0 = 1.0-1 = … = 1.0-2).
 */
function split(v: string): { epoch: string; version: string; release: string } {
  const m = /^(\d*):/.exec(v);
  const epoch = m ? m[1]! : '0';
  const rest = m ? v.slice(m[0].length) : v;
  const dash = rest.lastIndexOf('-');
  if (dash < 0) return { epoch, version: rest, release: '' };
  return { epoch, version: rest.slice(0, dash), release: rest.slice(dash + 1) };
}

/** rpmbuild's Version/Release characters; neither may contain a hyphen, both must be non-empty. */
const wellFormed = /^(?:\d+:)?[A-Za-z0-9._+~^]*[A-Za-z0-9][A-Za-z0-9._+~^]*(?:-[A-Za-z0-9._+~^]*[A-Za-z0-9][A-Za-z0-9._+~^]*)?$/;

const separators = /[^A-Za-z0-9~^]*/y;
const digitRun = /[0-9]*/y;
const letterRun = /[A-Za-z]*/y;

/**
 * rpmvercmp: skip separators (anything but ASCII alphanumerics, `~` and `^`), then compare segment by segment.
 * `~` sorts before everything, the end included (pre-releases: 1.0~rc1 < 1.0); `^` sorts after the end but before
 * any other segment (snapshots: 1.0 < 1.0^git1 < 1.0.1); a numeric segment is newer than an alphabetic one;
 * numbers compare as integers, letters as bytes; when all segments match, the side with something left is newer.
 */
export function rpmvercmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    i += runAt(a, i, separators).length;
    j += runAt(b, j, separators).length;
    const x = a[i];
    const y = b[j];
    if (x === '~' || y === '~') {
      if (x !== '~') return 1;
      if (y !== '~') return -1;
    } else if (x === '^' || y === '^') {
      if (x === undefined) return -1;
      if (y === undefined) return 1;
      if (x !== '^') return 1;
      if (y !== '^') return -1;
    } else if (x === undefined || y === undefined) {
      break;
    } else {
      const numeric = x >= '0' && x <= '9';
      const run = numeric ? digitRun : letterRun;
      const s = runAt(a, i, run);
      const t = runAt(b, j, run);
      if (t === '') return numeric ? 1 : -1;
      const r = numeric ? compareDigits(s, t) : compareText(s, t);
      if (r !== 0) return r;
      i += s.length;
      j += t.length;
      continue;
    }
    i++;
    j++;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

export const rpm: VersionOrdering = {
  compare(a, b) {
    const x = split(a);
    const y = split(b);
    return compareDigits(x.epoch, y.epoch) || rpmvercmp(x.version, y.version) || rpmvercmp(x.release, y.release);
  },
  isValid: (v) => wellFormed.test(v),
};
