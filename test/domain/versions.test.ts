import { describe, expect, it } from 'vitest';
import { compareVersions, isValidVersion, schemeOfEcosystem, type VersionScheme } from '../../src/domain/versions/index.js';

type Relation = '<' | '=' | '>';
const expected: Record<Relation, number> = { '<': -1, '=': 0, '>': 1 };
const reversed: Record<Relation, number> = { '<': 1, '=': 0, '>': -1 };

/** Each pair is checked both ways round, so every row also checks antisymmetry. */
function comparesAs(scheme: VersionScheme, table: Array<[string, Relation, string]>): void {
  it.each(table)('%s %s %s', (a, relation, b) => {
    expect(compareVersions(scheme, a, b)).toBe(expected[relation]);
    expect(compareVersions(scheme, b, a)).toBe(reversed[relation]);
  });
}

/** A seeded Fisher–Yates shuffle (mulberry32), so a failure reproduces. */
function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let state = seed;
  const random = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** `ascending` is strictly increasing: every pair must compare by position (antisymmetry and transitivity on the set), and sorting restores it. */
function ordersAs(scheme: VersionScheme, ascending: string[]): void {
  it('orders every pair of the hand-written list by position', () => {
    for (let i = 0; i < ascending.length; i++) {
      for (let j = 0; j < ascending.length; j++) {
        expect([ascending[i], ascending[j], compareVersions(scheme, ascending[i]!, ascending[j]!)]).toEqual([ascending[i], ascending[j], Math.sign(i - j)]);
      }
    }
  });

  it('sorts shuffled copies back into the hand-written order', () => {
    for (const seed of [1, 2, 3, 42, 2024]) {
      const input = shuffled(ascending, seed);
      expect(input).not.toEqual(ascending);
      expect(input.sort((a, b) => compareVersions(scheme, a, b))).toEqual(ascending);
    }
  });
}

function validates(scheme: VersionScheme, valid: string[], invalid: string[]): void {
  it.each(valid)('accepts %j', (v) => expect(isValidVersion(scheme, v)).toBe(true));
  it.each(invalid)('refuses %j', (v) => expect(isValidVersion(scheme, v)).toBe(false));
}

describe('dpkg (Debian Policy 5.6.12)', () => {
  comparesAs('dpkg', [
    ['1:1.0', '>', '2.0'],
    ['0:1.0', '=', '1.0'],
    ['2:0.1', '>', '1:9.9'],
    ['1.0~rc1', '<', '1.0'],
    ['1.0~~', '<', '1.0~'],
    ['1.0~', '<', '1.0'],
    ['1.0~rc1', '<', '1.0~rc2'],
    ['1.0-1', '<', '1.0-1+deb12u1'],
    ['1.0-1+deb12u1', '<', '1.0-2'],
    ['1.0-1~bpo12+1', '<', '1.0-1'],
    ['1.0', '=', '1.0-0'],
    ['1.0-9', '<', '1.0-10'],
    ['2.30-1', '<', '2.30-1ubuntu0.1'],
    ['1.0a', '<', '1.0+b'],
    ['1.0a', '<', '1.0.1'],
    ['1.0z', '<', '1.0.'],
    ['1.0', '<', '1.0a'],
    ['1.0+really0.9', '>', '1.0'],
    ['1.2.3', '<', '1.2.10'],
    ['1.0', '=', '1.00'],
    ['1.01', '=', '1.1'],
    ['1:1.0-1', '>', '1:1.0~rc1-5'],
    ['99999999999999999999.1', '<', '100000000000000000000'],
  ]);
  ordersAs('dpkg', [
    '0.9',
    '1.0~~',
    '1.0~~a',
    '1.0~',
    '1.0~rc1',
    '1.0~rc2',
    '1.0',
    '1.0-0.1',
    '1.0-1',
    '1.0-1+deb12u1',
    '1.0-2',
    '1.0a',
    '1.0+dfsg',
    '1.0.1',
    '1.1',
    '1.10',
    '2.0',
    '1:0.1',
    '1:1.0',
    '2:0',
  ]);
  validates(
    'dpkg',
    ['1.0', '1:2.30-1+deb12u1', '2.36.1-8ubuntu1.1', '1.0~rc1-1~bpo12+1', '1.2-3-4', '0'],
    ['', 'a1.0', '1.0-', ':1.0', 'x:1.0', '1:', '1.0 2', '1.0_1', '1.0-1_2', '1.0:1'],
  );
});

describe('apk (apk-tools version.c)', () => {
  comparesAs('apk', [
    ['1.2.3_rc1', '<', '1.2.3'],
    ['1.2.3', '<', '1.2.3-r1'],
    // The -r revision is the packager's rebuild: a new upstream patch level (_p) beats any revision.
    ['1.2.3-r1', '<', '1.2.3_p1'],
    ['1.2.3-r9', '<', '1.2.3-r10'],
    ['1.2a', '>', '1.2'],
    ['1.2a', '<', '1.2.1'],
    ['1.2.3_p1', '<', '1.2.3.1'],
    ['1.2.3_alpha', '<', '1.2.3_alpha1'],
    ['0.1.0_alpha_pre2', '<', '0.1.0_alpha'],
    ['2.5.1-r8', '<', '2.5.1a-r1'],
    ['1.07-r1', '<', '1.07.5'],
    // Leading zeros after a dot compare as text (Gentoo rule), the first number always as a number.
    ['1.02', '<', '1.1'],
    ['1.2.07.8', '<', '1.2.12.04'],
    ['1.0', '<', '1.00'],
    ['006', '>', '1.0.0'],
    ['013', '<', '014-r1'],
    ['20050718-r1', '<', '20050718-r2'],
    ['1.0~1234-r1', '<', '1.0~2345-r0'],
    ['1.0~1234-r1', '>', '1.0~1234-r0'],
    ['2.0.0_rc3-r1', '>', '1.5'],
    ['4.5_p1-r1', '>', '4.5_p1'],
    ['1.0', '=', '1.0'],
    // Malformed input: apk compares up to where the grammar breaks; a broken tail sorts below the bare prefix.
    ['1.0', '<', '1.0bc'],
    ['1.0_foo', '<', '1.0'],
    ['1.0_foo', '=', '1.0_bar'],
  ]);
  ordersAs('apk', [
    '1.2.3_alpha',
    '1.2.3_alpha1',
    '1.2.3_beta',
    '1.2.3_pre2',
    '1.2.3_rc1',
    '1.2.3_rc1-r1',
    '1.2.3',
    '1.2.3-r1',
    '1.2.3-r2',
    '1.2.3-r10',
    '1.2.3_cvs',
    '1.2.3_svn',
    '1.2.3_git20240101',
    '1.2.3_hg',
    '1.2.3_p1',
    '1.2.3_p1-r1',
    '1.2.3_p2',
    '1.2.3a',
    '1.2.3b',
    '1.2.3.1',
    '1.2.4',
    '1.10',
    '2',
  ]);
  validates(
    'apk',
    ['1.2', '0.1_pre2', '0.1_pre2~1234abcd', '0.1_p1_pre2', '0.1_git20240101_pre1', '1.2.3-r10', '2.3.0b-r1'],
    ['', '0.1bc', '0.1a1', '0.1a.1', '0.1_pre2~', '0.1_foobar', '0.1-r', '0.1-r2_pre1', '0.1-r2.1', '.1', 'a', '_pre1', '1.0-1', '0.1_', '1.0A'],
  );
});

describe('rpm (rpmvercmp)', () => {
  comparesAs('rpm', [
    ['1:1.0', '>', '2.0'],
    ['0:1.0', '=', '1.0'],
    ['1:1.0-1', '<', '2:0.1-1'],
    ['1.0~rc1', '<', '1.0'],
    ['1.0~rc1', '<', '1.0~rc2'],
    ['1.0~rc1~git123', '<', '1.0~rc1'],
    ['1.0^git1', '>', '1.0'],
    ['1.0^git1', '<', '1.0.1'],
    ['1.0^git1', '<', '1.0^git2'],
    ['1.0~rc1^git1', '>', '1.0~rc1'],
    ['1.0a', '<', '1.0.1'],
    ['2.0.1a', '>', '2.0.1'],
    ['5.5p1', '<', '5.5p10'],
    ['10xyz', '<', '10.1xyz'],
    ['xyz.4', '<', '8'],
    ['6.0.rc1', '>', '6.0'],
    ['10b2', '>', '10a1'],
    ['1.0a', '<', '1.0aa'],
    ['1.fc17', '<', '1g.fc17'],
    ['10.0001', '=', '10.1'],
    ['2.0', '=', '2_0'],
    ['a+', '=', 'a_'],
    ['1.0-1', '<', '1.0-1.el9_2'],
    ['1.0-1.el9', '<', '1.0-1.el9_2'],
    ['1.0-2.el9', '>', '1.0-1.el9_2'],
    // rpm skips the release when one side has none; here a missing release sorts first, to keep the order total.
    ['1.0', '<', '1.0-1'],
  ]);
  ordersAs('rpm', [
    '1.0~rc1',
    '1.0~rc1^git1',
    '1.0~rc2',
    '1.0',
    '1.0^',
    '1.0^git1',
    '1.0^git2',
    '1.0a',
    '1.0.1',
    '1.0.1-1',
    '1.0.1-1.el9',
    '1.0.1-2',
    '1.1',
    '2.0',
    '1:0.1',
    '2:0',
  ]);
  validates(
    'rpm',
    ['1.0', '1.0-1.el9', '2:1.0.1-3.fc39', '1.0~rc1-1', '1.0^git1-1', '1.0_1'],
    ['', '1.0-', '-1', '1.0-1-2', '1.0 1', 'a:1.0', ':1.0', '1.0-~', '1.0/1'],
  );
});

describe('semver (semver.org 2.0.0)', () => {
  comparesAs('semver', [
    ['v1.2.3', '=', '1.2.3'],
    ['1.0.0+build.1', '=', '1.0.0'],
    ['1.0.0+a', '=', '1.0.0+b'],
    ['1.0.0-alpha', '<', '1.0.0'],
    ['1.0.0-1', '<', '1.0.0-alpha'],
    ['1.0.0-2', '<', '1.0.0-10'],
    ['1.0.0-a.2', '<', '1.0.0-a.10'],
    ['1.0.0-B', '<', '1.0.0-a'],
    ['10.0.0', '>', '9.0.0'],
    ['1.10.0', '>', '1.9.0'],
    // Malformed: before every valid version, then by text.
    ['0', '<', '0.0.0-0'],
    ['1.2', '<', '0.0.1'],
    ['garbage', '>', '1.2'],
    ['01.2.3', '<', '0.0.0'],
  ]);
  ordersAs('semver', [
    '1.0.0-alpha',
    '1.0.0-alpha.1',
    '1.0.0-alpha.beta',
    '1.0.0-beta',
    '1.0.0-beta.2',
    '1.0.0-beta.11',
    '1.0.0-rc.1',
    '1.0.0',
    '1.0.1',
    '1.1.0',
    '1.10.0',
    '2.0.0',
  ]);
  validates('semver', ['1.2.3', 'v1.2.3', '1.0.0-alpha.1+build.5', '0.0.0'], ['', '1.2', '01.2.3', '1.2.3-', '1.2.3-01', 'V1.2.3', '1.2.3.4']);
});

describe('go (Go Modules Reference)', () => {
  const pseudo = 'v0.0.0-20191109021931-daa7c04131f5';
  comparesAs('go', [
    ['v2.0.0+incompatible', '=', 'v2.0.0'],
    ['v3.0.0+incompatible', '>', 'v2.9.9'],
    ['1.2.3', '=', 'v1.2.3'],
    ['0', '<', pseudo],
    [pseudo, '<', 'v0.0.0'],
    [pseudo, '<', 'v0.0.0-20200101000000-0123456789ab'],
    ['v1.2.4-0.20191109021931-daa7c04131f5', '>', 'v1.2.3'],
    ['v1.2.4-0.20191109021931-daa7c04131f5', '<', 'v1.2.4'],
    ['v1.2.4-0.20191109021931-daa7c04131f5', '<', 'v1.2.4-alpha'],
    ['v1.2.3-pre.0.20191109021931-daa7c04131f5', '>', 'v1.2.3-pre'],
    ['v1.2.3-pre.0.20191109021931-daa7c04131f5', '<', 'v1.2.3'],
    ['v1.2.3-0.20200101000000-aaaaaaaaaaaa', '>', 'v1.2.3-0.20191109021931-ffffffffffff'],
  ]);
  ordersAs('go', [
    pseudo,
    'v0.0.0-20200101000000-0123456789ab',
    'v0.1.0',
    'v1.2.3',
    'v1.2.4-0.20191109021931-daa7c04131f5',
    'v1.2.4-alpha',
    'v1.2.4-alpha.0.20191109021931-daa7c04131f5',
    'v1.2.4',
    'v2.0.0+incompatible',
    'v2.0.1',
    'v3.0.0+incompatible',
  ]);
  validates(
    'go',
    ['v1.2.3', pseudo, 'v1.2.4-0.20191109021931-daa7c04131f5', 'v2.0.0+incompatible', 'v2.0.0-rc.1+incompatible'],
    ['1.2.3', 'v1.2', 'v01.2.3', 'v1.2.3+incompatible', 'v1.2.3+build', 'v2.0.0+incompatible.1', ''],
  );
});

describe('pep440 (PEP 440)', () => {
  comparesAs('pep440', [
    ['1.0', '=', '1.0.0'],
    ['1.0', '=', '1.0.0.0'],
    ['1!1.0', '>', '2.0'],
    ['0!1.0', '=', '1.0'],
    ['1!1.0.dev1', '>', '99.0'],
    ['1.0alpha1', '=', '1.0a1'],
    ['1.0-beta.2', '=', '1.0b2'],
    ['1.0c1', '=', '1.0rc1'],
    ['1.0pre1', '=', '1.0rc1'],
    ['1.0preview1', '=', '1.0rc1'],
    ['1.0a', '=', '1.0a0'],
    ['1.0-1', '=', '1.0.post1'],
    ['1.0rev1', '=', '1.0.post1'],
    ['1.0r', '=', '1.0.post0'],
    ['1.0-dev1', '=', '1.0.dev1'],
    ['v1.0', '=', '1.0'],
    [' 1.0 ', '=', '1.0'],
    ['1.0RC1', '=', '1.0rc1'],
    ['1.0+ABC', '=', '1.0+abc'],
    ['1.0+abc-1', '=', '1.0+abc.1'],
    ['1.0.dev1', '<', '1.0a1'],
    ['1.0a1.dev1', '<', '1.0a1'],
    ['1.0.post1.dev1', '>', '1.0'],
    ['1.0.post1.dev1', '<', '1.0.post1'],
    ['1.0+1', '>', '1.0+abc'],
    ['1.0+abc.1', '>', '1.0+abc'],
    ['1.0+1', '<', '1.0.post0'],
    ['1.10', '>', '1.9'],
    ['1.0.dev1', '>', '0.9.post9'],
    // Malformed: before every valid version, then by text.
    ['not-a-version', '<', '0.dev0'],
    ['1.0+', '<', 'abc'],
  ]);
  ordersAs('pep440', [
    '0.9',
    // PEP 440, "Summary of permitted suffixes and relative ordering", its example in full.
    '1.0.dev456',
    '1.0a1',
    '1.0a2.dev456',
    '1.0a12.dev456',
    '1.0a12',
    '1.0b1.dev456',
    '1.0b2',
    '1.0b2.post345.dev456',
    '1.0b2.post345',
    '1.0rc1.dev456',
    '1.0rc1',
    '1.0',
    '1.0+abc.5',
    '1.0+abc.7',
    '1.0+5',
    '1.0.post456.dev34',
    '1.0.post456',
    '1.1.dev1',
    '1.1',
    '2.0',
    '1!0.1',
  ]);
  validates(
    'pep440',
    ['1.0', '1!2.0.post1.dev3+local.7', '1.0a1', '1.0-1', 'v1.0', '1.0RC1', '1.0.0.0.0', '2012.10', '1.0.post', '1.0+abc_def-1'],
    ['', '1.0+', 'abc', '1..0', '1.0+abc..1', '1.0a1b2', '1.0-', '!1.0', '1.0.dev1.post1'],
  );
});

describe('maven (POM reference, Version Order Specification)', () => {
  comparesAs('maven', [
    ['1.0', '=', '1'],
    ['1.0.0', '=', '1-ga'],
    ['1.ga', '=', '1'],
    ['1.final', '=', '1'],
    ['1-0', '=', '1'],
    ['1_0', '=', '1'],
    ['1.', '=', '1'],
    ['1-', '=', '1'],
    ['1.0.RELEASE', '=', '1'],
    ['1.0.0-foo.0.0', '=', '1-foo'],
    ['1.0.0-0.0.0', '=', '1'],
    ['1-rc', '=', '1-cr'],
    ['1-a1', '=', '1-alpha-1'],
    ['1.0-alpha1', '=', '1.0-ALPHA1'],
    ['1-a', '>', '1-sp'],
    ['1-foo2', '<', '1-foo10'],
    ['1.foo', '=', '1-foo'],
    ['1-foo', '<', '1-1'],
    ['1-1', '<', '1.1'],
    ['1-sp', '>', '1-ga'],
    ['1-sp.1', '>', '1-ga.1'],
    ['1-sp-1', '<', '1-ga-1'],
    ['1.7', '>', '1.K'],
    ['5.zebra', '>', '5.aardvark'],
    ['1.α', '>', '1.b'],
    ['2.0.0.M1', '<', '2.0.0.RC1'],
    ['2.0.0.RC1', '<', '2.0.0'],
    ['1.0-SNAPSHOT', '<', '1.0'],
    ['1.0-SNAPSHOT', '>', '1.0-rc1'],
    ['1.0.0.1', '>', '1'],
    ['1.2.3', '<', '1.2.10'],
    ['5.3.20.RELEASE', '<', '5.3.21'],
  ]);
  ordersAs('maven', [
    '1-alpha',
    '1-alpha1',
    '1-beta',
    '1-milestone',
    '1-rc',
    '1-snapshot',
    '1',
    '1-sp',
    '1-foo',
    '1-1',
    '1.1',
    '1.1.1',
    '1.2',
    '1.10',
    '2.0-alpha',
    '2',
  ]);
  validates('maven', ['1.0', '1.0-SNAPSHOT', '5.3.20.RELEASE', '2.0.0-M1', '1.0-alpha-1', 'r09'], ['', '1.0 beta', '1/0', '1:0', 'a*b', ' 1.0']);
});

describe('malformed input', () => {
  const strange = ['', ' ', ':', '-', '~', '^', '+', '_', '.', '!', 'v', '1:', ':1', '1-', '-r1', '1_', '1!', '1+', '+1', '\u0000', '💥', '9'.repeat(400), `1.${'0'.repeat(60)}1`, '1.0-r1-r2', '1~~~', '1^^', 'v1.2.3+', '1..', '1__a'];
  const schemes: VersionScheme[] = ['dpkg', 'apk', 'rpm', 'semver', 'pep440', 'maven', 'go'];

  it.each(schemes)('%s orders any strings without throwing, each equal to itself, antisymmetrically', (scheme) => {
    for (const a of strange) {
      expect(compareVersions(scheme, a, a)).toBe(0);
      for (const b of strange) {
        const ab = compareVersions(scheme, a, b);
        expect([-1, 0, 1]).toContain(ab);
        expect(compareVersions(scheme, b, a)).toBe(-ab || 0);
      }
    }
  });
});

describe('schemeOfEcosystem', () => {
  it.each([
    ['Debian', 'dpkg'],
    ['Debian:12', 'dpkg'],
    ['Ubuntu:22.04:LTS', 'dpkg'],
    ['Ubuntu:Pro:18.04:LTS', 'dpkg'],
    ['Alpine:v3.19', 'apk'],
    ['Wolfi', 'apk'],
    ['Chainguard', 'apk'],
    ['Red Hat:enterprise_linux:9::appstream', 'rpm'],
    ['Rocky Linux:9', 'rpm'],
    ['AlmaLinux:9', 'rpm'],
    ['openSUSE:Leap 15.5', 'rpm'],
    ['SUSE:Linux Enterprise Server 15 SP5', 'rpm'],
    ['Mageia:9', 'rpm'],
    ['openEuler:24.03-LTS', 'rpm'],
    ['npm', 'semver'],
    ['crates.io', 'semver'],
    ['PyPI', 'pep440'],
    ['Maven', 'maven'],
    ['Go', 'go'],
  ])('%s uses %s', (ecosystem, scheme) => {
    expect(schemeOfEcosystem(ecosystem)).toBe(scheme);
  });

  it.each(['Packagist', 'RubyGems', 'NuGet', 'Hex', '', 'debian:12', 'pypi', 'Debianish', 'constructor', '__proto__'])('has no scheme for %j', (ecosystem) => {
    expect(schemeOfEcosystem(ecosystem)).toBeUndefined();
  });
});
