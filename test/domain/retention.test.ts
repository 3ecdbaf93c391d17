import { describe, expect, it } from 'vitest';
import { GlobError, globMatch } from '../../src/domain/glob.js';
import { compareSemver, parseSemver } from '../../src/domain/semver.js';
import { evaluateRetention, immutabilityCovers, immutableBy, type ImmutabilityRule, type RetentionArtifact, type RetentionRule } from '../../src/domain/retention.js';

describe('globs', () => {
  it.each([
    ['**', 'a', true],
    ['**', 'a/b/c', true],
    ['*', 'a', true],
    ['*', 'a/b', false],
    ['v*', 'v1.2.3', true],
    ['v*', 'latest', false],
    ['team/*', 'team/app', true],
    ['team/*', 'team/app/web', false],
    ['team/**', 'team/app/web', true],
    ['a/**/b', 'a/b', true],
    ['a/**/b', 'a/x/y/b', true],
    ['{a,b}', 'a', true],
    ['{a,b}', 'b', true],
    ['{a,b}', 'c', false],
    ['{release-*,v*}', 'release-1', true],
    ['{release-*,v*}', 'dev-1', false],
    ['1.?', '1.2', true],
    ['1.?', '1.22', false],
    ['[ab]x', 'bx', true],
    ['[!ab]x', 'cx', true],
    ['[!ab]x', 'ax', false],
    ['a.b', 'aXb', false],
    ['app+web', 'app+web', true],
  ])('%s matches %s: %s', (pattern, text, matches) => {
    expect(globMatch(pattern, text)).toBe(matches);
  });

  it.each(['{a,b', 'a}', '[ab', '', 'x'.repeat(501)])('refuses %j', (pattern) => {
    expect(() => globMatch(pattern, 'a')).toThrow(GlobError);
  });
});

describe('semver', () => {
  it('parses versions as tags write them, and nothing else', () => {
    expect(parseSemver('v1.2.3')).toMatchObject({ major: 1, minor: 2, patch: 3, prerelease: [] });
    expect(parseSemver('1.2.3-rc.1+build.5')).toMatchObject({ prerelease: ['rc', 1] });
    for (const bad of ['1.2', 'latest', '01.2.3', '1.2.3-', 'v1.2.3.4', '1.2.x']) expect(parseSemver(bad), bad).toBeUndefined();
  });

  it('orders by semver precedence', () => {
    const ordered = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.1.0', '2.0.0'];
    const shuffled = [...ordered].reverse();
    expect(shuffled.sort((a, b) => compareSemver(parseSemver(a)!, parseSemver(b)!))).toEqual(ordered);
    expect(compareSemver(parseSemver('v1.2.3+a')!, parseSemver('1.2.3+b')!)).toBe(0);
  });
});

const day = 86_400_000;
const now = 1_000 * day;

/** An artifact pushed `pushedDaysAgo` with `tags`, last pulled `pulledDaysAgo` (or never). */
function artifact(digest: string, tags: string[], pushedDaysAgo: number, pulledDaysAgo: number | null = null): RetentionArtifact {
  return { digest, tags: tags.map((name) => ({ name, updatedAt: now - pushedDaysAgo * day })), createdAt: now - pushedDaysAgo * day, pulledAt: pulledDaysAgo === null ? null : now - pulledDaysAgo * day };
}

const rule = (over: Partial<RetentionRule> & Pick<RetentionRule, 'keep'>): RetentionRule => ({ repositories: { pattern: '**' }, tags: { pattern: '**' }, untagged: false, ...over });

/** Which digests a policy deletes from `artifacts` of repository `repo`. */
function deleted(rules: RetentionRule[], artifacts: RetentionArtifact[], repo = 'app', immutability: ImmutabilityRule[] = []): string[] {
  return evaluateRetention(rules, immutability, repo, artifacts, now)
    .filter((d) => d.action === 'delete')
    .map((d) => d.digest)
    .sort();
}

const five = [artifact('a', ['v1.0.0'], 50, 1), artifact('b', ['v1.1.0'], 40, 30), artifact('c', ['v2.0.0'], 30, null), artifact('d', ['v1.10.0'], 20, 5), artifact('e', ['latest', 'v1.9.0'], 10, 2)];

describe('retention rules', () => {
  it.each([
    ['latestPushed 2', rule({ keep: { kind: 'latestPushed', value: 2 } }), ['a', 'b', 'c']],
    ['latestPulled 2', rule({ keep: { kind: 'latestPulled', value: 2 } }), ['b', 'c', 'd']],
    ['latestPulled 4: never pulled sorts last', rule({ keep: { kind: 'latestPulled', value: 4 } }), ['c']],
    ['pushedWithinDays 25', rule({ keep: { kind: 'pushedWithinDays', value: 25 } }), ['a', 'b', 'c']],
    ['pulledWithinDays 3', rule({ keep: { kind: 'pulledWithinDays', value: 3 } }), ['b', 'c', 'd']],
    ['always', rule({ keep: { kind: 'always' } }), []],
    ['highestSemver 2 (1.10 > 1.9, semver not text order)', rule({ keep: { kind: 'highestSemver', value: 2 } }), ['a', 'b', 'e']],
    ['latestPushed 0', rule({ keep: { kind: 'latestPushed', value: 0 } }), ['a', 'b', 'c', 'd', 'e']],
  ])('%s', (_name, r, expected) => {
    expect(deleted([r], five)).toEqual(expected);
  });

  it('keeps the union of what the rules keep', () => {
    expect(deleted([rule({ keep: { kind: 'latestPushed', value: 1 } }), rule({ keep: { kind: 'highestSemver', value: 1 } })], five)).toEqual(['a', 'b', 'd']);
  });

  it('deletes tagged artifacts no rule of the repository selects (as Harbor does), and reports which rule kept each', () => {
    const decisions = evaluateRetention([rule({ tags: { pattern: 'v2*' }, keep: { kind: 'always' } })], [], 'app', five, now);
    expect(decisions.find((d) => d.digest === 'c')).toEqual({ digest: 'c', action: 'keep', reason: 'rule', rules: [0] });
    expect(decisions.filter((d) => d.action === 'delete').map((d) => d.digest).sort()).toEqual(['a', 'b', 'd', 'e']);
  });

  it('applies a rule only to the repositories it selects, patterns and exclusions alike', () => {
    const r = [rule({ repositories: { pattern: 'team/**' }, keep: { kind: 'latestPushed', value: 1 } })];
    expect(deleted(r, five, 'app')).toEqual([]);
    expect(deleted(r, five, 'team/web')).toEqual(['a', 'b', 'c', 'd']);
    const excluding = [rule({ repositories: { pattern: '{legacy,old-*}', exclude: true }, keep: { kind: 'latestPushed', value: 1 } })];
    expect(deleted(excluding, five, 'old-web')).toEqual([]);
    expect(deleted(excluding, five, 'web')).toEqual(['a', 'b', 'c', 'd']);
  });

  it('takes tag exclusions: keeps everything but dev-* builds, of which it keeps none', () => {
    const artifacts = [artifact('x', ['dev-1'], 5), artifact('y', ['dev-2'], 4), artifact('z', ['v1.0.0'], 3)];
    expect(deleted([rule({ tags: { pattern: 'dev-*', exclude: true }, keep: { kind: 'always' } })], artifacts)).toEqual(['x', 'y']);
  });

  it('touches untagged artifacts only where a rule takes them', () => {
    const artifacts = [...five, artifact('u1', [], 60), artifact('u2', [], 1)];
    expect(deleted([rule({ keep: { kind: 'always' } })], artifacts)).toEqual([]);
    expect(deleted([rule({ keep: { kind: 'always' } }), rule({ untagged: true, tags: { pattern: 'none' }, keep: { kind: 'pushedWithinDays', value: 7 } })], artifacts)).toEqual(['u1']);
  });

  it('never deletes an artifact with an immutable tag, and says which rule keeps it', () => {
    const immutability: ImmutabilityRule[] = [{ repositories: { pattern: '**' }, tags: { pattern: 'v1.0.*' } }];
    const decisions = evaluateRetention([rule({ keep: { kind: 'latestPushed', value: 1 } })], immutability, 'app', five, now);
    expect(decisions.find((d) => d.digest === 'a')).toEqual({ digest: 'a', action: 'keep', reason: 'immutable', rule: 0 });
    expect(decisions.filter((d) => d.action === 'delete').map((d) => d.digest).sort()).toEqual(['b', 'c', 'd']);
  });

  it('skips disabled rules, and leaves a repository no rule applies to alone', () => {
    expect(deleted([rule({ disabled: true, keep: { kind: 'latestPushed', value: 0 } })], five)).toEqual([]);
    expect(evaluateRetention([], [], 'app', five, now).every((d) => d.action === 'keep' && d.reason === 'no rule applies')).toBe(true);
  });
});

describe('immutability rules', () => {
  it('finds the first enabled rule protecting a tag', () => {
    const rules: ImmutabilityRule[] = [
      { repositories: { pattern: '**' }, tags: { pattern: 'v*' }, disabled: true },
      { repositories: { pattern: 'prod/**' }, tags: { pattern: '**' } },
      { repositories: { pattern: '**' }, tags: { pattern: 'release-*' } },
    ];
    expect(immutableBy(rules, 'prod/api', 'latest')).toBe(1);
    expect(immutableBy(rules, 'dev/api', 'v1')).toBe(-1);
    expect(immutableBy(rules, 'dev/api', 'release-7')).toBe(2);
  });

  it('says whether any enabled rule selects a repository, whatever its tags', () => {
    const rules: ImmutabilityRule[] = [
      { repositories: { pattern: '**' }, tags: { pattern: 'v*' }, disabled: true },
      { repositories: { pattern: 'prod/**' }, tags: { pattern: 'v*' } },
      { repositories: { pattern: 'tools/*', exclude: true }, tags: { pattern: 'stable' } },
    ];
    expect(immutabilityCovers(rules, 'prod/api')).toBe(true);
    expect(immutabilityCovers(rules, 'dev/api')).toBe(true);
    expect(immutabilityCovers(rules, 'tools/lint')).toBe(false);
    expect(immutabilityCovers(rules.slice(0, 2), 'dev/api')).toBe(false);
    expect(immutabilityCovers([], 'prod/api')).toBe(false);
  });
});
