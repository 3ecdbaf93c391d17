import { compareSemver, parseSemver, type SemVer } from './semver.js';
import type { SemverRange } from './semver-range.js';

/** A tag as the listings order it: its name and when it was last pushed (ms). */
export interface OrderedTag {
  name: string;
  pushedAt: number;
}

/** Newest push first, then by name, so an order never depends on how the database returned rows. */
function byPush(a: { pushedAt: number; key: string }, b: { pushedAt: number; key: string }): number {
  return b.pushedAt - a.pushedAt || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

/**
 * Highest semver first (`v1.2.3` and `1.2.3` are equal in precedence: the newer push first);
 * tags that are not semver (`latest`, `0.9`) after them, newest push first.
 */
export function sortTagsBySemver<T extends OrderedTag>(tags: readonly T[]): T[] {
  return orderBySemver(tags.map((tag) => ({ item: tag, key: tag.name, pushedAt: tag.pushedAt, version: parseSemver(tag.name) })));
}

/** The highest semver tag the range matches (pre-releases as the range allows), or undefined. */
export function highestMatching<T extends OrderedTag>(tags: readonly T[], range: SemverRange): T | undefined {
  let best: { tag: T; version: SemVer } | undefined;
  for (const tag of tags) {
    const version = parseSemver(tag.name);
    if (!version) continue;
    // Compared first: most tags lose to the best so far, and that is cheaper than matching the range.
    const order = best ? compareSemver(version, best.version) : 1;
    const better = order > 0 || (order === 0 && best !== undefined && byPush({ pushedAt: tag.pushedAt, key: tag.name }, { pushedAt: best.tag.pushedAt, key: best.tag.name }) < 0);
    if (better && range.matches(version)) best = { tag, version };
  }
  return best?.tag;
}

/**
 * Artifacts by the highest semver among their tags, highest first; artifacts without a semver
 * tag (untagged ones too) after them, newest push first.
 */
export function sortArtifactsBySemver<T extends { digest: string; pushedAt: number; tags: readonly string[] }>(artifacts: readonly T[]): T[] {
  return orderBySemver(
    artifacts.map((artifact) => {
      let version: SemVer | undefined;
      for (const name of artifact.tags) {
        const parsed = parseSemver(name);
        if (parsed && (!version || compareSemver(parsed, version) > 0)) version = parsed;
      }
      return { item: artifact, key: artifact.digest, pushedAt: artifact.pushedAt, version };
    }),
  );
}

function orderBySemver<T>(entries: Array<{ item: T; key: string; pushedAt: number; version: SemVer | undefined }>): T[] {
  return entries
    .sort((a, b) => {
      if (a.version && b.version) return compareSemver(b.version, a.version) || byPush(a, b);
      if (a.version || b.version) return a.version ? -1 : 1;
      return byPush(a, b);
    })
    .map((e) => e.item);
}
