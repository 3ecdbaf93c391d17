import { describe, expect, it } from 'vitest';
import { cvss3BaseScore, severityOfScore } from '../../src/domain/vulns/cvss.js';
import { affects, distributionEcosystems, findingsOf, matchTargets, type Candidate } from '../../src/domain/vulns/match.js';
import { parseOsv, type AffectedPackage } from '../../src/domain/vulns/osv.js';
import { judgePull, defaultSecurityPolicy, type SecurityPolicy } from '../../src/domain/pull-policy.js';
import type { Package } from '../../src/domain/packages/package.js';
import { osv } from '../helpers/osv.js';

describe('CVSS v3 base scores', () => {
  // Expected scores from FIRST's calculator (https://www.first.org/cvss/calculator/3.1), written down by hand.
  it.each([
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 9.8],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N', 6.1],
    ['CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N', 5.5],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H', 10],
    ['CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N', 5.9],
    ['CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H', 9.9],
    ['CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N', 1.6],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N', 0],
  ])('%s scores %d', (vector, score) => {
    expect(cvss3BaseScore(vector)).toBe(score);
  });

  it('refuses what is not a complete v3 base vector', () => {
    expect(cvss3BaseScore('AV:N/AC:L/Au:N/C:P/I:P/A:P')).toBeUndefined();
    expect(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/C:H/I:H/A:H')).toBeUndefined();
    expect(cvss3BaseScore('CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H')).toBeUndefined();
    expect(cvss3BaseScore('CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N')).toBeUndefined();
  });

  it('bands scores as the specification does', () => {
    expect([0, 0.1, 3.9, 4, 6.9, 7, 8.9, 9, 10].map(severityOfScore)).toEqual(['NONE', 'LOW', 'LOW', 'MEDIUM', 'MEDIUM', 'HIGH', 'HIGH', 'CRITICAL', 'CRITICAL']);
  });
});

const affected = (ecosystem: string, events: Array<Record<string, string>>, versions: string[] = [], type: 'ECOSYSTEM' | 'SEMVER' = 'ECOSYSTEM'): AffectedPackage => ({
  ecosystem,
  name: 'p',
  ranges: events.length > 0 ? [{ type, events: events as AffectedPackage['ranges'][number]['events'] }] : [],
  versions,
});

describe('OSV range evaluation, each ecosystem in its own ordering', () => {
  // [ecosystem, events, version, affected?, fixed]
  it.each([
    // dpkg: a tilde sorts before the release; epochs dominate.
    ['Debian:12', [{ introduced: '0' }, { fixed: '3.0.11-1~deb12u2' }], '3.0.11-1~deb12u1', true, '3.0.11-1~deb12u2'],
    ['Debian:12', [{ introduced: '0' }, { fixed: '3.0.11-1~deb12u2' }], '3.0.11-1', false, undefined],
    ['Debian:12', [{ introduced: '0' }, { fixed: '1:2.0-1' }], '9.9-1', true, '1:2.0-1'],
    ['Debian:12', [{ introduced: '0' }, { fixed: '1:2.0-1' }], '1:2.0-1+deb12u1', false, undefined],
    // apk: a revision -rN after the release, _rc before it, _p after it.
    ['Alpine:v3.19', [{ introduced: '0' }, { fixed: '3.1.4-r1' }], '3.1.4-r0', true, '3.1.4-r1'],
    ['Alpine:v3.19', [{ introduced: '0' }, { fixed: '1.2.3-r0' }], '1.2.3_rc1-r0', true, '1.2.3-r0'],
    ['Alpine:v3.19', [{ introduced: '0' }, { fixed: '1.2.3-r0' }], '1.2.3_p1-r0', false, undefined],
    // PEP 440: pre-releases before the release, post-releases after, 1.0 == 1.0.0.
    ['PyPI', [{ introduced: '2.0' }, { fixed: '2.32.0' }], '2.32.0rc1', true, '2.32.0'],
    ['PyPI', [{ introduced: '2.0' }, { fixed: '2.32.0' }], '2.32', false, undefined],
    ['PyPI', [{ introduced: '2.0' }, { fixed: '2.32.0' }], '1.9.post1', false, undefined],
    ['PyPI', [{ introduced: '2.0' }, { last_affected: '2.5' }], '2.5.0', true, undefined],
    ['PyPI', [{ introduced: '2.0' }, { last_affected: '2.5' }], '2.5.post1', false, undefined],
    // Maven: qualifiers before the release, `sp` after it.
    ['Maven', [{ introduced: '2.0-beta9' }, { fixed: '2.15.0' }], '2.15.0-rc2', true, '2.15.0'],
    ['Maven', [{ introduced: '2.0-beta9' }, { fixed: '2.15.0' }], '2.0-alpha1', false, undefined],
    // Two introduced/fixed pairs in one range: between them is safe.
    ['Debian:12', [{ introduced: '0' }, { fixed: '1.0-1' }, { introduced: '2.0-1' }, { fixed: '2.1-1' }], '1.5-1', false, undefined],
    ['Debian:12', [{ introduced: '0' }, { fixed: '1.0-1' }, { introduced: '2.0-1' }, { fixed: '2.1-1' }], '2.0-3', true, '2.1-1'],
    // No fix at all: every version from introduced on.
    ['Debian:12', [{ introduced: '0' }], '99.0-1', true, undefined],
  ] as Array<[string, Array<Record<string, string>>, string, boolean, string | undefined]>)('%s %j: %s affected=%s', (ecosystem, events, version, isAffected, fixed) => {
    const verdict = affects(affected(ecosystem, events), version);
    expect(verdict).toEqual(isAffected ? (fixed ? { affected: true, fixed } : { affected: true }) : { affected: false });
  });

  it('uses semver ordering for SEMVER ranges (npm, Go) and explicit version lists', () => {
    expect(affects(affected('npm', [{ introduced: '0' }, { fixed: '4.17.21' }], [], 'SEMVER'), '4.17.21-beta.1')).toEqual({ affected: true, fixed: '4.17.21' });
    expect(affects(affected('npm', [{ introduced: '0' }, { fixed: '4.17.21' }], [], 'SEMVER'), '4.17.21')).toEqual({ affected: false });
    expect(affects(affected('Go', [{ introduced: '1.21.0-0' }, { fixed: '1.21.8' }], [], 'SEMVER'), '1.21.7')).toEqual({ affected: true, fixed: '1.21.8' });
    expect(affects(affected('Go', [{ introduced: '1.21.0-0' }, { fixed: '1.21.8' }], [], 'SEMVER'), '1.20.14')).toEqual({ affected: false });
    expect(affects(affected('PyPI', [], ['1.0', '1.1']), '1.0.0')).toEqual({ affected: true });
    expect(affects(affected('PyPI', [], ['1.0', '1.1']), '1.2')).toEqual({ affected: false });
    // A limit ends the range for later branches.
    expect(affects(affected('PyPI', [{ introduced: '0' }, { limit: '2.0' }]), '2.1')).toEqual({ affected: false });
    expect(affects(affected('PyPI', [{ introduced: '0' }, { limit: '2.0' }]), '1.9')).toEqual({ affected: true });
  });
});

const pkg = (type: Package['type'], name: string, version: string, extra: Partial<Package> = {}): Package => ({ type, name, version, purl: `pkg:${type}/${name}@${version}`, foundIn: '/x', ...extra });
const debian12 = { id: 'debian', versionId: '12' };

describe('findings of an image', () => {
  it('looks OS packages up by source package and source version in the distribution only, and language packages in their ecosystem', () => {
    const targets = matchTargets(
      [
        pkg('deb', 'libssl3', '3.0.11-1~deb12u2+b1', { source: 'openssl', sourceVersion: '3.0.11-1~deb12u2' }),
        pkg('deb', 'bash', '5.2.15-2+b2'),
        pkg('pypi', 'Requests', '2.31.0'),
        pkg('npm', '@scope/lib', '1.0.0'),
      ],
      debian12,
    );
    expect(targets.map((t) => `${t.ecosystems.join('|')} ${t.name} ${t.version}`)).toEqual(['Debian:12 openssl 3.0.11-1~deb12u2', 'Debian:12 bash 5.2.15-2+b2', 'PyPI requests 2.31.0', 'npm @scope/lib 1.0.0']);
    // Without an os-release the OS packages cannot be placed.
    expect(matchTargets([pkg('deb', 'bash', '1')], undefined)).toEqual([]);
    expect(distributionEcosystems({ id: 'ubuntu', versionId: '22.04' })).toEqual(['Ubuntu:22.04:LTS', 'Ubuntu:22.04']);
    expect(distributionEcosystems({ id: 'alpine', versionId: '3.19.1' })).toEqual(['Alpine:v3.19']);
  });

  it('collapses advisories of one CVE for one package, keeps the highest severity and the lowest fix, rates unrated ones by alias, skips withdrawn ones', () => {
    const requests = pkg('pypi', 'requests', '2.31.0');
    const advisories = [
      parseOsv(osv('GHSA-1', 'PyPI', 'requests', '2.32.0', { aliases: ['CVE-2024-1'], database_specific: { severity: 'MODERATE' } })),
      parseOsv(osv('PYSEC-1', 'PyPI', 'requests', '2.32.1', { aliases: ['CVE-2024-1'], severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }] })),
      parseOsv(osv('PYSEC-2', 'PyPI', 'requests', '2.40.0')),
      parseOsv(osv('GHSA-old', 'PyPI', 'requests', '2.0.0', { aliases: ['CVE-2020-1'] })),
      parseOsv(osv('GHSA-gone', 'PyPI', 'requests', '9.0.0', { withdrawn: '2026-01-02T00:00:00Z' })),
    ];
    const candidates: Candidate[] = advisories.map(({ affected: [first], ...advisory }) => ({ advisory, affected: first! }));
    const findings = findingsOf(matchTargets([requests], undefined), () => candidates, (id) => (id === 'PYSEC-2' ? 'LOW' : undefined));
    expect(findings.map((f) => [f.id, f.advisories.join(','), f.aliases.join(','), f.severity, f.fixedVersion, f.cvss?.score])).toEqual([
      ['CVE-2024-1', 'GHSA-1,PYSEC-1', 'GHSA-1,PYSEC-1', 'CRITICAL', '2.32.0', 9.8],
      ['PYSEC-2', 'PYSEC-2', '', 'LOW', '2.40.0', undefined],
    ]);
  });
});

describe('pull policies', () => {
  const policy = (p: Partial<SecurityPolicy>): SecurityPolicy => ({ ...defaultSecurityPolicy, ...p });
  const finding = (id: string, severity: 'LOW' | 'HIGH' | 'CRITICAL', aliases: string[] = []) => ({
    id,
    advisories: [id],
    aliases,
    severity,
    summary: '',
    package: { name: 'openssl', version: '1', type: 'deb', purl: 'pkg:deb/debian/openssl@1' },
    ecosystem: 'Debian:12',
  });
  const now = Date.parse('2026-06-01T00:00:00Z');

  it('refuses vulnerable images at or above the bar, weighing the allowlist and its expiry', () => {
    const report = { status: 'succeeded' as const, summary: { LOW: 1, HIGH: 1, CRITICAL: 1 } };
    const findings = [finding('CVE-1', 'CRITICAL'), finding('CVE-2', 'HIGH', ['DSA-2']), finding('CVE-3', 'LOW')];
    expect(judgePull(policy({ preventVulnerable: 'HIGH' }), report, () => findings, now)).toEqual({
      allowed: false,
      policy: 'prevent-vulnerable',
      reason: 'it has 2 vulnerabilities of severity high or higher: CVE-1 (critical, openssl 1), CVE-2 (high, openssl 1)',
    });
    expect(judgePull(policy({ preventVulnerable: 'CRITICAL', allowlist: [{ id: 'CVE-1' }] }), report, () => findings, now)).toEqual({ allowed: true });
    // By alias, and an expired entry no longer counts.
    expect(judgePull(policy({ preventVulnerable: 'HIGH', allowlist: [{ id: 'CVE-1' }, { id: 'DSA-2', expiresAt: '2026-07-01T00:00:00Z' }] }), report, () => findings, now)).toEqual({ allowed: true });
    expect(judgePull(policy({ preventVulnerable: 'HIGH', allowlist: [{ id: 'CVE-1' }, { id: 'DSA-2', expiresAt: '2026-05-01T00:00:00Z' }] }), report, () => findings, now)).toMatchObject({ allowed: false, reason: 'it has 1 vulnerability of severity high or higher: CVE-2 (high, openssl 1)' });
    // Counts below the bar: findings are not even read.
    expect(judgePull(policy({ preventVulnerable: 'CRITICAL' }), { status: 'succeeded', summary: { HIGH: 4 } }, () => { throw new Error('read'); }, now)).toEqual({ allowed: true });
  });

  it('refuses unscanned images and failed scans only when asked to', () => {
    expect(judgePull(policy({ preventUnscanned: true }), undefined, () => [], now)).toEqual({ allowed: false, policy: 'prevent-unscanned', reason: 'it has not been scanned' });
    expect(judgePull(policy({ preventUnscanned: true }), { status: 'failed', summary: {} }, () => [], now)).toEqual({ allowed: false, policy: 'prevent-unscanned', reason: 'its last scan failed' });
    expect(judgePull(policy({ preventVulnerable: 'LOW' }), undefined, () => [], now)).toEqual({ allowed: true });
  });
});
