/** Pieces every scheme shares: exact number comparison and the order given to malformed input. */

/** One scheme's ordering, as `index.ts` dispatches to it. */
export interface VersionOrdering {
  compare(a: string, b: string): number;
  isValid(v: string): boolean;
}

/** Compares runs of ASCII digits as unbounded integers (leading zeros ignored; '' counts as 0): dates and build numbers overflow no float. */
export function compareDigits(a: string, b: string): number {
  const x = a.replace(/^0+/, '');
  const y = b.replace(/^0+/, '');
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return compareText(x, y);
}

/** Code-unit order, which is what C's memcmp/strcmp and Java's String.compareTo give for the ASCII the specs talk about. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * For schemes whose spec defines no order for malformed text (semver, Go, PEP 440): a malformed version sorts
 * before every well-formed one (so OSV's `"introduced": "0"` sentinel in semver/Go ranges comes first), and
 * malformed ones among themselves by their text, so the order stays total and two different strings are never equal.
 */
export function compareParsed<T>(a: string, b: string, parse: (v: string) => T | undefined, compare: (x: T, y: T) => number): number {
  const x = parse(a);
  const y = parse(b);
  if (x !== undefined && y !== undefined) return compare(x, y);
  if (x === undefined && y === undefined) return compareText(a, b);
  return x === undefined ? -1 : 1;
}

/** The characters matched by a sticky pattern at `from` ('' when none). */
export function runAt(text: string, from: number, sticky: RegExp): string {
  sticky.lastIndex = from;
  return sticky.exec(text)?.[0] ?? '';
}
