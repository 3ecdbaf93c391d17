import { describe, expect, it } from 'vitest';
import { parseSemverRange, type SemverRange } from '../../src/domain/semver-range.js';
import { highestMatching, sortArtifactsBySemver, sortTagsBySemver } from '../../src/domain/tag-order.js';

function range(text: string, includePrerelease = false): SemverRange {
  const parsed = parseSemverRange(text, { includePrerelease });
  if ('error' in parsed) throw new Error(parsed.error);
  return parsed.range;
}

// pushedAt: the later in this list, the newer (so `latest` is the newest push of all).
const tags = ['1.2.3', '1.2.10', '1.10.0', 'v2.0.0-rc.1', '2.0.0', 'latest', '0.9'].map((name, i) => ({ name, pushedAt: 1000 + i }));

describe('semver order of tags', () => {
  it('puts the highest version first and tags that are not semver after, newest first', () => {
    expect(sortTagsBySemver(tags).map((t) => t.name)).toEqual(['2.0.0', 'v2.0.0-rc.1', '1.10.0', '1.2.10', '1.2.3', '0.9', 'latest']);
  });

  it('orders tags of equal precedence (v1.0.0 and 1.0.0) by the newer push, then by name', () => {
    const same = [
      { name: 'v1.0.0', pushedAt: 1 },
      { name: '1.0.0', pushedAt: 2 },
      { name: 'stable', pushedAt: 5 },
      { name: 'edge', pushedAt: 5 },
    ];
    expect(sortTagsBySemver(same).map((t) => t.name)).toEqual(['1.0.0', 'v1.0.0', 'edge', 'stable']);
    expect(sortTagsBySemver(same.map((t) => ({ ...t, pushedAt: 3 }))).map((t) => t.name)).toEqual(['1.0.0', 'v1.0.0', 'edge', 'stable']);
  });

  it('does not change the list it was given', () => {
    const copy = [...tags];
    sortTagsBySemver(tags);
    expect(tags).toEqual(copy);
  });
});

describe('highest tag matching a range', () => {
  const cases: Array<[string, boolean, string | undefined]> = [
    ['^1.2', false, '1.10.0'],
    ['~1.2', false, '1.2.10'],
    ['>=2.0.0-rc.0 <2.0.0', false, 'v2.0.0-rc.1'],
    ['^2', false, '2.0.0'],
    ['*', false, '2.0.0'],
    ['<2.0.0', false, '1.10.0'],
    ['<2.0.0', true, 'v2.0.0-rc.1'],
    ['^3', false, undefined],
    ['^0.9', false, undefined], // `0.9` is no semver version
  ];
  it.each(cases)('%s (includePrerelease %s) → %s', (text, includePrerelease, expected) => {
    expect(highestMatching(tags, range(text, includePrerelease))?.name).toBe(expected);
  });

  it('prefers the newer push of two tags of equal precedence', () => {
    expect(highestMatching([{ name: 'v1.0.0', pushedAt: 9 }, { name: '1.0.0', pushedAt: 3 }], range('^1'))?.name).toBe('v1.0.0');
    expect(highestMatching([{ name: 'v1.0.0', pushedAt: 3 }, { name: '1.0.0', pushedAt: 9 }], range('^1'))?.name).toBe('1.0.0');
  });
});

describe('semver order of artifacts', () => {
  it('orders by the highest semver tag of each, then untagged and non-semver ones newest first', () => {
    const artifacts = [
      { digest: 'sha256:a', pushedAt: 1, tags: ['1.2.3', 'stable'] },
      { digest: 'sha256:b', pushedAt: 2, tags: ['1.10.0', '1.0.0'] },
      { digest: 'sha256:c', pushedAt: 3, tags: [] },
      { digest: 'sha256:d', pushedAt: 4, tags: ['latest'] },
      { digest: 'sha256:e', pushedAt: 0, tags: ['v2.0.0-rc.1'] },
    ];
    expect(sortArtifactsBySemver(artifacts).map((a) => a.digest)).toEqual(['sha256:e', 'sha256:b', 'sha256:a', 'sha256:d', 'sha256:c']);
  });
});
