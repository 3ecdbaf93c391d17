import { compareDigits, compareParsed, compareText, type VersionOrdering } from './compare.js';

/**
 * Python package versions, PEP 440: `[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`, accepting every spelling
 * "Normalization" allows: any case, a leading `v`, `-`/`_`/`.` separators, alpha/beta/c/pre/preview, rev/r and
 * `-N` for post, implicit 0 numbers, surrounding whitespace.
 */
const pattern =
  /^v?(?:(\d+)!)?(\d+(?:\.\d+)*)(?:[-_.]?(alpha|a|beta|b|preview|pre|c|rc)[-_.]?(\d+)?)?(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d+)?)?(?:[-_.]?(dev)[-_.]?(\d+)?)?(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?$/i;

/** Each phase as [rank, number]: a missing phase gets the rank that puts it where "Summary of permitted suffixes" says. */
type Phase = [rank: number, n: string];

interface Pep440Version {
  epoch: string;
  release: string[];
  pre: Phase;
  post: Phase;
  dev: Phase;
  local: string[] | undefined;
}

const preRanks: Record<string, number> = { a: 0, alpha: 0, b: 1, beta: 1, c: 2, rc: 2, pre: 2, preview: 2 };

function parse(v: string): Pep440Version | undefined {
  const m = pattern.exec(v.trim());
  if (!m) return undefined;
  const [, epoch, release, preLabel, preN, postDash, postLabel, postN, devLabel, devN, local] = m;
  const pre: Phase | undefined = preLabel ? [preRanks[preLabel.toLowerCase()]!, preN ?? '0'] : undefined;
  const hasPost = postDash !== undefined || postLabel !== undefined;
  return {
    epoch: epoch ?? '0',
    release: release!.split('.'),
    // A dev release of a final version (1.0.dev1) sorts before its pre-releases (1.0a1); no pre-release sorts after them.
    pre: pre ?? (devLabel && !hasPost ? [-1, '0'] : [3, '0']),
    post: hasPost ? [0, postDash ?? postN ?? '0'] : [-1, '0'],
    dev: devLabel ? [0, devN ?? '0'] : [1, '0'],
    local: local?.toLowerCase().split(/[-_.]/),
  };
}

const comparePhase = (x: Phase, y: Phase): number => Math.sign(x[0] - y[0]) || compareDigits(x[1], y[1]);

/** "Final releases": release segments compare numerically, the shorter padded with zeros (1.0 == 1.0.0). */
function compareRelease(x: string[], y: string[]): number {
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const r = compareDigits(x[i] ?? '0', y[i] ?? '0');
    if (r !== 0) return r;
  }
  return 0;
}

/**
 * "Local version identifiers": a version without one sorts first; segments compare as integers when all digits,
 * else as lower-case text, an integer segment above a text one; a longer local version above its own prefix.
 */
function compareLocal(x: string[] | undefined, y: string[] | undefined): number {
  if (x === undefined || y === undefined) return x === y ? 0 : x === undefined ? -1 : 1;
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const s = x[i]!;
    const t = y[i]!;
    const sNumeric = /^\d+$/.test(s);
    const tNumeric = /^\d+$/.test(t);
    const r = sNumeric && tNumeric ? compareDigits(s, t) : sNumeric !== tNumeric ? (sNumeric ? 1 : -1) : compareText(s, t);
    if (r !== 0) return r;
  }
  return Math.sign(x.length - y.length);
}

/** PEP 440 "Summary of permitted suffixes and relative ordering": epoch, release, pre, post, dev, then local. */
function comparePep440(x: Pep440Version, y: Pep440Version): number {
  return (
    compareDigits(x.epoch, y.epoch) ||
    compareRelease(x.release, y.release) ||
    comparePhase(x.pre, y.pre) ||
    comparePhase(x.post, y.post) ||
    comparePhase(x.dev, y.dev) ||
    compareLocal(x.local, y.local)
  );
}

export const pep440: VersionOrdering = {
  compare: (a, b) => compareParsed(a, b, parse, comparePep440),
  isValid: (v) => parse(v) !== undefined,
};
