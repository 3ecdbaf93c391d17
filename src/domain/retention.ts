import { globMatch } from './glob.js';
import { compareSemver, parseSemver, type SemVer } from './semver.js';

/** Which names a rule applies to: those the glob matches, or (`exclude`) those it does not. */
export interface Selector {
  pattern: string;
  exclude?: boolean;
}

export const keepKinds = ['latestPushed', 'latestPulled', 'pushedWithinDays', 'pulledWithinDays', 'always', 'highestSemver'] as const;
export type KeepKind = (typeof keepKinds)[number];

export interface RetentionRule {
  /** Repository names within the project (`app`, `team/**`), not the project name itself. */
  repositories: Selector;
  tags: Selector;
  /** The rule also takes untagged artifacts (and may then delete them). */
  untagged: boolean;
  /** What the rule keeps of the artifacts it takes: a count (latest, highestSemver) or days (within). */
  keep: { kind: KeepKind; value?: number };
  disabled?: boolean;
}

export interface ImmutabilityRule {
  repositories: Selector;
  tags: Selector;
  disabled?: boolean;
}

/** An artifact as retention sees it: a top-level manifest of a repository (not an index's platform manifest, not a referrer). */
export interface RetentionArtifact {
  digest: string;
  tags: Array<{ name: string; updatedAt: number }>;
  /** Pushed (or pushed again). */
  createdAt: number;
  pulledAt: number | null;
}

export type Decision =
  | { digest: string; action: 'keep'; reason: 'rule'; rules: number[] }
  | { digest: string; action: 'keep'; reason: 'immutable'; rule: number }
  | { digest: string; action: 'keep'; reason: 'no rule applies' }
  | { digest: string; action: 'delete' };

export function selects(selector: Selector, name: string): boolean {
  return globMatch(selector.pattern, name) !== (selector.exclude === true);
}

/** The first enabled immutability rule protecting `tag` of `repository` (relative to its project), or -1. */
export function immutableBy(rules: readonly ImmutabilityRule[], repository: string, tag: string): number {
  return rules.findIndex((r) => !r.disabled && selects(r.repositories, repository) && selects(r.tags, tag));
}

/** Whether any enabled rule selects `repository` (a name within its project): only then can one of its tags be immutable. */
export function immutabilityCovers(rules: readonly ImmutabilityRule[], repository: string): boolean {
  return rules.some((r) => !r.disabled && selects(r.repositories, repository));
}

const day = 86_400_000;

/**
 * Harbor's retention semantics, per repository: the rules whose repository selector matches
 * apply; each takes the artifacts with a tag its tag selector matches (and untagged ones when
 * it says so) and keeps some of them; what any rule keeps stays, the rest of the artifacts those
 * rules could see goes (a tagged artifact no rule's tag selector matches included, as in Harbor;
 * untagged ones only where a rule takes untagged artifacts). An artifact with an immutable tag
 * always stays. With no rule for the repository, everything stays.
 */
export function evaluateRetention(
  rules: readonly RetentionRule[],
  immutability: readonly ImmutabilityRule[],
  repository: string,
  artifacts: readonly RetentionArtifact[],
  now: number,
): Decision[] {
  const applicable = rules.map((rule, index) => ({ rule, index })).filter(({ rule }) => !rule.disabled && selects(rule.repositories, repository));
  const keptBy = new Map<string, number[]>();
  for (const { rule, index } of applicable) {
    const taken = artifacts.filter((a) => (a.tags.length === 0 ? rule.untagged : a.tags.some((t) => selects(rule.tags, t.name))));
    for (const digest of keep(rule, taken, now)) keptBy.set(digest, [...(keptBy.get(digest) ?? []), index]);
  }
  const untaggedInScope = applicable.some(({ rule }) => rule.untagged);
  return artifacts.map((artifact): Decision => {
    const immutable = artifact.tags.map((t) => immutableBy(immutability, repository, t.name)).find((i) => i >= 0);
    if (immutable !== undefined) return { digest: artifact.digest, action: 'keep', reason: 'immutable', rule: immutable };
    const by = keptBy.get(artifact.digest);
    if (by) return { digest: artifact.digest, action: 'keep', reason: 'rule', rules: by };
    if (applicable.length === 0 || (artifact.tags.length === 0 && !untaggedInScope)) return { digest: artifact.digest, action: 'keep', reason: 'no rule applies' };
    return { digest: artifact.digest, action: 'delete' };
  });
}

/** Push time as Harbor counts it: the artifact's, or a later push of one of its tags. */
function pushedAt(artifact: RetentionArtifact): number {
  return Math.max(artifact.createdAt, ...artifact.tags.map((t) => t.updatedAt));
}

function keep(rule: RetentionRule, taken: RetentionArtifact[], now: number): string[] {
  const n = rule.keep.value ?? 0;
  switch (rule.keep.kind) {
    case 'always':
      return taken.map((a) => a.digest);
    case 'latestPushed':
      return [...taken]
        .sort((a, b) => pushedAt(b) - pushedAt(a) || a.digest.localeCompare(b.digest))
        .slice(0, n)
        .map((a) => a.digest);
    case 'latestPulled':
      // Never pulled sorts last (Harbor counts it as pulled at time zero).
      return [...taken]
        .sort((a, b) => (b.pulledAt ?? 0) - (a.pulledAt ?? 0) || pushedAt(b) - pushedAt(a) || a.digest.localeCompare(b.digest))
        .slice(0, n)
        .map((a) => a.digest);
    case 'pushedWithinDays':
      return taken.filter((a) => pushedAt(a) >= now - n * day).map((a) => a.digest);
    case 'pulledWithinDays':
      return taken.filter((a) => a.pulledAt !== null && a.pulledAt >= now - n * day).map((a) => a.digest);
    case 'highestSemver': {
      // The N highest versions among the tags the rule selects; each version keeps its artifact.
      const versions: Array<{ version: SemVer; digest: string }> = [];
      for (const artifact of taken) {
        for (const tag of artifact.tags) {
          if (!selects(rule.tags, tag.name)) continue;
          const version = parseSemver(tag.name);
          if (version) versions.push({ version, digest: artifact.digest });
        }
      }
      versions.sort((a, b) => compareSemver(b.version, a.version));
      // Distinct versions: `v1.2.3` and `1.2.3` are one version.
      const kept: string[] = [];
      let distinct = 0;
      let previous: SemVer | undefined;
      for (const { version, digest } of versions) {
        if (!previous || compareSemver(previous, version) !== 0) {
          if (++distinct > n) break;
        }
        kept.push(digest);
        previous = version;
      }
      return [...new Set(kept)];
    }
    default: {
      const unreachable: never = rule.keep.kind;
      throw new Error(`unknown keep kind ${String(unreachable)}`);
    }
  }
}
