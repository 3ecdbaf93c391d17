/**
 * A tag's version line as base images write them, looser than semver (`12`, `12.4`, `3.19.1`,
 * `12.4-slim`, `v1.2.3-alpine`): the numbers, and the suffix that names the variant. Two tags are
 * of the same line when they share the suffix, the count of numbers and the first number, so
 * `12.5-slim` is a newer patch of `12.4-slim`, while `13.0-slim`, `12.5` and `12.5.1-slim` are not.
 */
export interface TagLine {
  numbers: number[];
  suffix: string;
}

const grammar = /^v?(\d{1,9}(?:\.\d{1,9}){0,3})((?:[-_+][0-9A-Za-z._-]*)?)$/;

/** The line of a tag, or undefined when it does not start with a version (`latest`, `bookworm`). */
export function tagLine(tag: string): TagLine | undefined {
  const m = grammar.exec(tag);
  if (!m) return undefined;
  return { numbers: m[1]!.split('.').map(Number), suffix: m[2]! };
}

/** Whether `candidate` is a newer version of `base`'s line (see TagLine). */
export function isNewerOfLine(base: string, candidate: string): boolean {
  const a = tagLine(base);
  const b = tagLine(candidate);
  if (!a || !b || a.suffix !== b.suffix || a.numbers.length !== b.numbers.length || a.numbers[0] !== b.numbers[0]) return false;
  return compareNumbers(b.numbers, a.numbers) > 0;
}

/** Orders tags of one line, lowest version first. */
export function compareTagLines(a: string, b: string): number {
  return compareNumbers(tagLine(a)?.numbers ?? [], tagLine(b)?.numbers ?? []);
}

function compareNumbers(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? -1) - (b[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}
