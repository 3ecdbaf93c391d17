import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { ApiClient } from '../helpers/api.js';
import { adminCredentials, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { consoleSkipReasons, expectControlsLabelled, expectLoggedFailure, logIn, logInAs, openConsole, shotOf, suiteTitle, tableRows as rows, type BrowserElement } from '../helpers/chromium.js';
import { imageIndex, imageManifest, jsonBlob, sha256, type Blob } from '../helpers/oci.js';
import { cosignSignature, pushCosignSignature } from '../helpers/cosign.js';
import { gzipTarOf, type TarItem } from '../helpers/layer-tar.js';
import { osv } from '../helpers/osv.js';
import { importOsv } from '../../src/services/security/vulndb-import.js';

const reasons = consoleSkipReasons('security console');

const dpkg = (name: string, version: string, source: string) => `Package: ${name}\nStatus: install ok installed\nArchitecture: amd64\nSource: ${source}\nVersion: ${version}\n`;

/** A Debian 12 image: OpenSSL, curl and zlib at versions the advisories below name. */
const debianLayer: TarItem[] = [
  { path: 'etc/os-release', content: 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n' },
  {
    path: 'var/lib/dpkg/status',
    content: [dpkg('libssl3', '3.0.11-1~deb12u1', 'openssl'), dpkg('libcurl4', '7.88.1-10+deb12u4', 'curl'), dpkg('zlib1g', '1:1.2.13.dfsg-1', 'zlib')].join('\n'),
  },
];

/**
 * Debian's advisories carry no severity: OpenSSL's CVE is rated by another advisory of the same CVE
 * (of Debian 11, so it matches nothing itself), curl's by its own vector, zlib's not at all; zlib's
 * has no fix yet.
 */
const advisories = [
  osv('DSA-5532-1', 'Debian:12', 'openssl', '3.0.11-1~deb12u2', { aliases: ['CVE-2023-5363'] }),
  osv('GHSA-openssl', 'Debian:11', 'openssl', '99.0', { aliases: ['CVE-2023-5363'], severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N' }] }),
  osv('DSA-5587-1', 'Debian:12', 'curl', '7.88.1-10+deb12u5', { aliases: ['CVE-2023-38545'], severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }] }),
  osv('DSA-9001-1', 'Debian:12', 'zlib', undefined),
];

interface Policy {
  scanOnPush: boolean;
  sbomOnPush: boolean;
  preventVulnerable: string | null;
  preventUnscanned: boolean;
  preventUnsigned: boolean;
  trust: unknown;
  allowlist: Array<{ id: string; expiresAt?: string }>;
  exemptRobots: string[];
}

describe.skipIf(reasons.length > 0)(suiteTitle('security pages of the web console in Chromium', reasons), () => {
  let berth: TestBerth;
  let api: ApiClient;
  let browser: Browser;
  let page: Page;
  let dir: string;
  let digest: string;
  let arm: string;
  let index: Buffer;
  const consoleErrors: string[] = [];

  async function push(name: string, tag: string, layers: TarItem[][], architecture = 'amd64'): Promise<string> {
    const config = jsonBlob({ architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    const blobs = layers.map((items): Blob => {
      const data = gzipTarOf(items);
      return { data, digest: sha256(data) };
    });
    for (const b of [config, ...blobs]) expect((await api.registry.pushBlob(name, b)).status).toBe(201);
    const manifest = imageManifest(config, blobs);
    expect((await api.registry.pushManifest(name, tag, manifest)).status).toBe(201);
    return sha256(manifest);
  }

  beforeAll(async () => {
    berth = await startTestBerth();
    api = new ApiClient(berth.url, adminCredentials);
    await api.createProject('shop');
    // Not scanned on push, so the page shows an image not scanned yet until "Scan now".
    await api.ok('PUT', '/projects/shop/security-policy', { scanOnPush: false });
    dir = await mkdtemp(join(tmpdir(), 'berth-osv-'));
    for (const [i, record] of advisories.entries()) await writeFile(join(dir, `${i}.json`), JSON.stringify(record));
    await importOsv(berth.api.security.vulns, dir, 'test');
    digest = await push('shop/app', '1.0', [debianLayer]);
    // A two-platform index of the same image and one with OpenSSL only.
    arm = await push('shop/app', 'arm64', [[debianLayer[0]!, { path: 'var/lib/dpkg/status', content: dpkg('libssl3', '3.0.11-1~deb12u1', 'openssl') }]], 'arm64');
    index = imageIndex([
      { image: { digest, manifest: Buffer.from('') }, architecture: 'amd64' },
      { image: { digest: arm, manifest: Buffer.from('') }, architecture: 'arm64' },
    ]);
    expect((await api.registry.pushManifest('shop/app', 'multi', index, 'application/vnd.oci.image.index.v1+json')).status).toBe(201);
    await api.createRobot('shop', 'scanner', ['pull']);
    ({ browser, page } = await openConsole(consoleErrors));
  });
  afterAll(async () => {
    await browser?.close();
    await berth?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const region = (name: string) => page.getByRole('region', { name, exact: true });
  /** Chromium logs a request the page expected to fail (a 404 for "not scanned yet"); drop that one. */
  const expectedFailure = (status: number, path: string) => expectLoggedFailure(consoleErrors, status, path);

  it('logs in and shows an artifact not scanned yet, with its packages and SBOM links', async () => {
    await logIn(page, berth.url, adminCredentials.username, adminCredentials.password);
    await page.goto(`${berth.url}/projects/shop/repositories/app/artifacts/1.0`);
    const vulns = region('Vulnerabilities');
    await vulns.getByText('Not scanned yet').waitFor();
    await expectedFailure(404, `/api/v1/projects/shop/repositories/app/artifacts/${digest}/vulnerabilities`);
    expect(await vulns.locator('table').count()).toBe(0);

    const packages = region('Packages');
    await packages.locator('table.packages tbody tr').nth(2).waitFor();
    expect(await rows(packages.locator('table.packages'))).toEqual([
      ['libcurl4', '7.88.1-10+deb12u4', 'deb', '—', '/var/lib/dpkg/status'],
      ['libssl3', '3.0.11-1~deb12u1', 'deb', '—', '/var/lib/dpkg/status'],
      ['zlib1g', '1:1.2.13.dfsg-1', 'deb', '—', '/var/lib/dpkg/status'],
    ]);
    expect(await packages.getByText('Debian GNU/Linux 12 (bookworm)').isVisible()).toBe(true);
    await packages.getByLabel('Filter packages').fill('curl');
    expect(await packages.locator('table.packages tbody tr').allInnerTexts()).toHaveLength(1);
    expect(await packages.getByText('1 of 3 packages').isVisible()).toBe(true);
    await packages.getByLabel('Filter packages').fill('');
    // The SBOM links download with the session cookie.
    for (const [name, format, type] of [
      ['Download SPDX 2.3', 'spdx', 'application/spdx+json'],
      ['Download CycloneDX 1.5', 'cyclonedx', 'application/vnd.cyclonedx+json'],
    ] as const) {
      const href = await packages.getByRole('link', { name }).getAttribute('href');
      expect(href).toBe(`/api/v1/projects/shop/repositories/app/artifacts/${digest}/sbom?format=${format}`);
      const res = await page.request.get(`${berth.url}${href}`);
      expect(res.status()).toBe(200);
      expect(res.headers()['content-type']).toContain(type);
    }
  });

  it('scans on "Scan now" and shows the counts and the exact findings, worst first', async () => {
    const vulns = region('Vulnerabilities');
    await vulns.getByRole('button', { name: 'Scan now' }).click();
    const findings = vulns.locator('table.findings');
    await findings.locator('tbody tr').nth(2).waitFor();
    expect(await vulns.locator('.severity-counts .badge').allInnerTexts()).toEqual(['Critical 1', 'High 1', 'Medium 0', 'Low 0', 'Unknown 1']);
    expect(await vulns.locator('.severity-counts .badge.severity-critical').count()).toBe(1);
    expect(await vulns.locator('.severity-counts .badge.severity-medium').count()).toBe(0);
    const cells = (await rows(findings)).map(([id, severity, pkg, installed, fixed]) => [id!.split('\n')[0], severity, pkg, installed, fixed]);
    expect(cells).toEqual([
      ['CVE-2023-38545', 'Critical 9.8', 'libcurl4 deb', '7.88.1-10+deb12u4', '7.88.1-10+deb12u5'],
      ['CVE-2023-5363', 'High', 'libssl3 deb', '3.0.11-1~deb12u1', '3.0.11-1~deb12u2'],
      ['DSA-9001-1', 'Unknown', 'zlib1g deb', '1:1.2.13.dfsg-1', 'no fix yet'],
    ]);
    // Each id links to the advisory on osv.dev.
    expect(await findings.getByRole('link').evaluateAll((links) => links.map((a) => (a as unknown as BrowserElement).getAttribute('href')))).toEqual([
      'https://osv.dev/vulnerability/DSA-5587-1',
      'https://osv.dev/vulnerability/DSA-5532-1',
      'https://osv.dev/vulnerability/DSA-9001-1',
    ]);
    expect(await vulns.getByText('version 1, the newest: the report is current').isVisible()).toBe(true);
    expect(await findings.getByText('allowlisted').count()).toBe(0);
    // What the page shows is the report the API now holds.
    const report = await api.ok<{ digest: string; summary: Record<string, number> }>('GET', '/projects/shop/repositories/app/artifacts/1.0/vulnerabilities');
    expect(report.digest).toBe(digest);
    expect(report.summary).toEqual({ UNKNOWN: 1, NONE: 0, LOW: 0, MEDIUM: 0, HIGH: 1, CRITICAL: 1 });
    await shotOf('console-vulnerabilities', vulns);
  });

  it('shows an index’s merged report and sends to its platforms for packages', async () => {
    await page.goto(`${berth.url}/projects/shop/repositories/app/artifacts/multi`);
    const vulns = region('Vulnerabilities');
    await vulns.getByText('Not scanned yet').waitFor();
    await expectedFailure(404, '/vulnerabilities');
    await vulns.getByRole('button', { name: 'Scan now' }).click();
    await vulns.locator('table.findings tbody tr').nth(2).waitFor();
    expect(await vulns.getByText('An index: its report holds the findings of its platform images together.', { exact: false }).isVisible()).toBe(true);
    expect((await rows(vulns.locator('table.findings'))).map((r) => r[0]!.split('\n')[0])).toEqual(['CVE-2023-38545', 'CVE-2023-5363', 'DSA-9001-1']);
    expect(await region('Packages').getByText('An index has no packages of its own: open one of its platforms for its packages and SBOM.').isVisible()).toBe(true);
  });

  it('sets the security policy on the project page, and the API stores exactly it', async () => {
    await page.goto(`${berth.url}/projects/shop`);
    await page.getByRole('tab', { name: 'Security' }).click();
    const policy = region('Security policy');
    const scanOnPush = policy.getByLabel('Scan each image when it is pushed');
    await scanOnPush.waitFor();
    expect(await scanOnPush.isChecked()).toBe(false);
    await scanOnPush.check();
    await policy.getByLabel('Prevent pulls of vulnerable images').selectOption({ label: 'High or higher' });
    await policy.getByLabel('Prevent pulls of images not scanned yet, or whose scan failed').check();
    expect(await policy.getByText('Nothing is allowlisted.').isVisible()).toBe(true);
    await policy.getByRole('button', { name: 'Add entry' }).click();
    await policy.getByLabel('CVE or advisory id 1').fill('CVE-2023-5363');
    await policy.getByLabel('Expiry date 1').fill('2030-01-01');
    // The project's robots are offered; another one can be named.
    const robot = policy.getByLabel('robot$shop+scanner');
    expect(await robot.isChecked()).toBe(false);
    await robot.check();
    await policy.getByRole('button', { name: 'Save' }).click();
    await policy.getByText('Security policy saved').waitFor();
    expect(await api.ok<Policy>('GET', '/projects/shop/security-policy')).toEqual({
      scanOnPush: true,
      sbomOnPush: false,
      preventVulnerable: 'HIGH',
      preventUnscanned: true,
      preventUnsigned: false,
      trust: null,
      allowlist: [{ id: 'CVE-2023-5363', expiresAt: '2030-01-01T00:00:00.000Z' }],
      exemptRobots: ['robot$shop+scanner'],
    });
    await shotOf('console-security-policy', policy);
    // The policy holds: the image's critical curl finding refuses its pull.
    const pulled = await api.registry.fetch('/v2/shop/app/manifests/1.0', { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(pulled.status).toBe(403);
  });

  it('marks the allowlisted finding on the artifact page', async () => {
    await page.goto(`${berth.url}/projects/shop/repositories/app/artifacts/1.0`);
    const findings = region('Vulnerabilities').locator('table.findings');
    await findings.locator('tbody tr').nth(2).waitFor();
    const marked = await findings.locator('tbody tr', { has: page.locator('.badge.allowlisted') }).locator('td').first().innerText();
    expect(marked.split('\n')[0]).toBe('CVE-2023-5363 allowlisted');
    expect(await findings.locator('.badge.allowlisted').count()).toBe(1);
  });

  it('shows each signature with its verdict, and the overall answer: verified, not verified, none, through an index', async () => {
    const trusted = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const fingerprint = createHash('sha256').update(trusted.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
    // One cosign .sig image with two signature layers (cosign appends one per `cosign sign`): ours and a stranger's.
    const ours = cosignSignature(digest, trusted.privateKey);
    const theirs = cosignSignature(digest, stranger.privateKey);
    const both = JSON.parse(ours.manifest.toString('utf8')) as { layers: unknown[] };
    both.layers.push(...(JSON.parse(theirs.manifest.toString('utf8')) as { layers: unknown[] }).layers);
    const sigManifest = Buffer.from(JSON.stringify(both));
    for (const blob of ours.blobs) expect((await api.registry.pushBlob('shop/app', blob)).status).toBe(201);
    expect((await api.registry.pushManifest('shop/app', ours.tag, sigManifest)).status).toBe(201);
    await pushCosignSignature(api.registry, 'shop/app', arm, stranger.privateKey);

    // No trusted signers yet: both signatures are found, neither verifies.
    await page.goto(`${berth.url}/projects/shop/repositories/app/artifacts/1.0`);
    const signatures = region('Signatures');
    await signatures.locator('table.signatures tbody tr').nth(1).waitFor();
    expect(await signatures.locator('.signature-status').innerText()).toBe('Not verified');
    expect((await rows(signatures.locator('table.signatures'))).map((r) => r[3])).toEqual(['No trusted signers for this format\nno-trust-configured', 'No trusted signers for this format\nno-trust-configured']);

    // The project trusts our key; the fields the policy test set stay as they are.
    const policy = await api.ok<Policy>('GET', '/projects/shop/security-policy');
    const pem = trusted.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(await api.ok<Policy>('PUT', '/projects/shop/security-policy', { ...policy, trust: { cosign: { publicKeys: [pem] } } })).toEqual({ ...policy, trust: { cosign: { publicKeys: [pem] } } });
    await page.reload();
    await signatures.locator('.signature-status', { hasText: 'Verified' }).waitFor();
    expect(await signatures.locator('.signature-status').innerText()).toBe('Verified');
    const sigLink = `sha256:${sha256(sigManifest).slice(7, 19)}`;
    expect(await rows(signatures.locator('table.signatures'))).toEqual([
      ['cosign', `cosign .sig tag\n${sigLink}`, '✓', '—', fingerprint, '—', '—'],
      ['cosign', `cosign .sig tag\n${sigLink}`, '✗', 'Untrusted key\nuntrusted-key', '—', '—', '—'],
    ]);
    expect(await signatures.getByRole('img', { name: 'verified', exact: true }).count()).toBe(1);
    expect(await signatures.getByRole('img', { name: 'not verified', exact: true }).count()).toBe(1);
    expect(await signatures.getByRole('link', { name: sigLink }).first().getAttribute('href')).toBe(`/projects/shop/repositories/app/artifacts/${sha256(sigManifest)}`);
    expect(await signatures.getByRole('link', { name: 'the project’s Security tab' }).getAttribute('href')).toBe('/projects/shop?tab=security');

    // The arm64 image: only the stranger's signature.
    await page.goto(`${berth.url}/projects/shop/repositories/app/artifacts/arm64`);
    await signatures.locator('table.signatures tbody tr').first().waitFor();
    expect(await signatures.locator('.signature-status').innerText()).toBe('Not verified');
    // It was pushed before scan on push: not scanned yet.
    await expectedFailure(404, `/artifacts/${arm}/vulnerabilities`);
    expect((await rows(signatures.locator('table.signatures'))).map((r) => [r[2], r[3]])).toEqual([['✗', 'Untrusted key\nuntrusted-key']]);

    // The index: nothing signs it.
    await page.goto(`${berth.url}/projects/shop/repositories/app/artifacts/multi`);
    await signatures.getByText('No signatures', { exact: true }).waitFor();
    expect(await signatures.getByText('Nothing signs this artifact: no cosign signature tag, no Notation or Sigstore-bundle referrer.').isVisible()).toBe(true);
    expect(await signatures.locator('table').count()).toBe(0);

    // Once the index is signed, its arm64 platform passes through it.
    await pushCosignSignature(api.registry, 'shop/app', sha256(index), trusted.privateKey);
    await page.goto(`${berth.url}/projects/shop/repositories/app/artifacts/arm64`);
    await signatures.getByText('Verified through its index').waitFor();
    await expectedFailure(404, `/artifacts/${arm}/vulnerabilities`);
    expect(await signatures.locator('.signature-status').innerText()).toBe(`Verified through its index sha256:${sha256(index).slice(7, 19)}`);
    expect(await signatures.locator('.signature-status a').getAttribute('href')).toBe(`/projects/shop/repositories/app/artifacts/${sha256(index)}`);
    expect(await signatures.locator('table.signatures tbody tr').count()).toBe(1);
  });

  it('attaches Berth’s SBOMs on "Attach SBOMs", once', async () => {
    await page.goto(`${berth.url}/projects/shop/repositories/app/artifacts/1.0`);
    const sboms = region('SBOMs');
    await sboms.getByText('No SBOMs are stored beside it.').waitFor();
    await sboms.getByRole('button', { name: 'Attach SBOMs' }).click();
    await sboms.locator('table.sboms tbody tr').nth(1).waitFor();
    const attached = await api.ok<Array<{ format: string; source: string; manifestDigest: string; size: number }>>('GET', '/projects/shop/repositories/app/artifacts/1.0/sboms');
    expect(attached.map((s) => [s.format, s.source])).toEqual([
      ['spdx', 'berth'],
      ['cyclonedx', 'berth'],
    ]);
    const short = (d: string) => `sha256:${d.slice(7, 19)}`;
    expect(await sboms.getByRole('status').innerText()).toBe(`SPDX attached (${short(attached[0]!.manifestDigest)}) · CycloneDX attached (${short(attached[1]!.manifestDigest)})`);
    const shown = await rows(sboms.locator('table.sboms'));
    expect(shown.map(([format, source, , , document]) => [format, source, document])).toEqual([
      ['SPDX\napplication/spdx+json', `Berth\n${short(attached[0]!.manifestDigest)}`, 'Download'],
      ['CycloneDX\napplication/vnd.cyclonedx+json', `Berth\n${short(attached[1]!.manifestDigest)}`, 'Download'],
    ]);
    expect(shown.map((r) => r[3])).not.toContain('—');
    for (const [i, format] of (['spdx', 'cyclonedx'] as const).entries()) {
      expect(await sboms.getByRole('link', { name: 'Download' }).nth(i).getAttribute('href')).toBe(`/api/v1/projects/shop/repositories/app/artifacts/${digest}/sbom?format=${format}`);
    }
    // The page with both, the signatures verified and the SBOMs just attached, in a taller window that holds both.
    await page.setViewportSize({ width: 1280, height: 1040 });
    await shotOf('console-signatures', region('Signatures'));
    await page.setViewportSize({ width: 1280, height: 860 });
    // Asking again attaches nothing new.
    await sboms.getByRole('button', { name: 'Attach SBOMs' }).click();
    await sboms.getByRole('status').getByText('SPDX already attached').waitFor();
    expect(await sboms.locator('table.sboms tbody tr').count()).toBe(2);
    // An index gets its SBOMs per platform: no button.
    await page.goto(`${berth.url}/projects/shop/repositories/app/artifacts/multi`);
    await sboms.getByText('No SBOMs are stored beside it.').waitFor();
    expect(await sboms.getByRole('button', { name: 'Attach SBOMs' }).count()).toBe(0);
  });

  it('shows the policy read-only to a developer, a refused scan as the server words it, and no "Scan now" to a guest', async () => {
    await api.createUser('dev', 'Dev-Passw0rd-1');
    await api.addMember('shop', 'dev', 'developer');
    await api.createUser('viewer', 'Viewer-Passw0rd-1');
    await api.addMember('shop', 'viewer', 'guest');
    for (const [username, password] of [
      ['dev', 'Dev-Passw0rd-1'],
      ['viewer', 'Viewer-Passw0rd-1'],
    ] as const) {
      const { context, page: other } = await logInAs(browser, berth.url, username, password, consoleErrors);
      if (username === 'dev') {
        await other.goto(`${berth.url}/projects/shop?tab=security`);
        const policy = other.getByRole('region', { name: 'Security policy', exact: true });
        await policy.getByText('Project administrators and maintainers change these.').waitFor();
        expect(await policy.getByLabel('Scan each image when it is pushed').isDisabled()).toBe(true);
        expect(await policy.getByLabel('Prevent pulls of vulnerable images').inputValue()).toBe('HIGH');
        expect(await policy.getByLabel('CVE or advisory id 1').inputValue()).toBe('CVE-2023-5363');
        // Developers may not list robots: the exempt one is still shown, by name.
        expect(await policy.getByLabel('robot$shop+scanner').isChecked()).toBe(true);
        expect(await policy.getByRole('button').count()).toBe(0);
        // A refused scan (the role changed since the page loaded) shows the server's problem title.
        await other.route('**/artifacts/*/scan', (route) =>
          route.fulfill({ status: 403, contentType: 'application/problem+json', body: JSON.stringify({ status: 403, code: 'DENIED', title: 'requested access to the resource is denied' }) }),
        );
        await other.goto(`${berth.url}/projects/shop/repositories/app/artifacts/1.0`);
        const vulns = other.getByRole('region', { name: 'Vulnerabilities', exact: true });
        await vulns.locator('table.findings tbody tr').nth(2).waitFor();
        await vulns.getByRole('button', { name: 'Scan now' }).click();
        await vulns.getByRole('alert').getByText('Something went wrong: requested access to the resource is denied').waitFor();
        // The report shown stays.
        expect(await vulns.locator('table.findings tbody tr').count()).toBe(3);
      } else {
        await other.goto(`${berth.url}/projects/shop/repositories/app/artifacts/1.0`);
        const vulns = other.getByRole('region', { name: 'Vulnerabilities', exact: true });
        await vulns.locator('table.findings tbody tr').nth(2).waitFor();
        expect(await vulns.getByRole('button', { name: 'Scan now' }).count()).toBe(0);
        // A guest reads signatures and SBOMs, attaches none, and is not sent to a tab it cannot open.
        await other.getByRole('region', { name: 'Signatures', exact: true }).locator('.signature-status', { hasText: 'Verified' }).waitFor();
        expect(await other.getByRole('region', { name: 'Signatures', exact: true }).getByRole('link', { name: 'the project’s Security tab' }).count()).toBe(0);
        const sboms = other.getByRole('region', { name: 'SBOMs', exact: true });
        await sboms.locator('table.sboms tbody tr').nth(1).waitFor();
        expect(await sboms.getByRole('button', { name: 'Attach SBOMs' }).count()).toBe(0);
        await other.goto(`${berth.url}/projects/shop`);
        await other.getByRole('tab', { name: 'Repositories' }).waitFor();
        expect(await other.getByRole('tab', { name: 'Security' }).count()).toBe(0);
      }
      await context.close();
    }
  });

  it('shows the vulnerability database under System', async () => {
    await page.goto(`${berth.url}/system`);
    const db = region('Vulnerability database');
    await db.locator('table.ecosystems tbody tr').nth(1).waitFor();
    expect(await rows(db.locator('table.ecosystems'))).toEqual([
      ['Debian:11', '1'],
      ['Debian:12', '3'],
    ]);
    const facts = await db.locator('dl.facts dd').allInnerTexts();
    expect(facts[0]).toBe('1');
    expect(facts[1]).toBe('4');
    expect(facts[2]).toMatch(new RegExp(`^${dir}, .+, by test\\n4 added · 0 updated · 0 unchanged · 0 rejected$`));
    expect(await db.locator('.command code').innerText()).toBe('berth vulndb import <zip>');
    await shotOf('console-vulnerability-database', db);
  });

  it('labels every form control of the new pages', async () => {
    await expectControlsLabelled(page, berth.url, [
      [`/projects/shop/repositories/app/artifacts/1.0`, () => Promise.all([page.locator('table.findings tbody tr').first().waitFor(), page.getByLabel('Filter packages').waitFor()]).then(() => undefined)],
      ['/projects/shop?tab=security', () => page.getByLabel('CVE or advisory id 1').waitFor()],
      ['/system', () => page.locator('table.ecosystems').waitFor()],
    ]);
  });

  it('shows the security sections in 简体中文', async () => {
    await page.getByLabel('Language').selectOption('zh-CN');
    await page.getByRole('heading', { name: '漏洞数据库' }).waitFor();
    await page.goto(`${berth.url}/projects/shop/repositories/app/artifacts/1.0`);
    await page.getByRole('heading', { name: '漏洞', exact: true }).waitFor();
    expect(await page.getByRole('heading', { name: '软件包', exact: true }).isVisible()).toBe(true);
    expect(await page.getByRole('heading', { name: '签名', exact: true }).isVisible()).toBe(true);
    expect(await page.getByRole('heading', { name: '软件物料清单（SBOM）', exact: true }).isVisible()).toBe(true);
    await page.locator('.signature-status', { hasText: '已验证' }).waitFor();
    expect(await page.getByRole('columnheader', { name: '签名者' }).isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: '立即扫描' }).isVisible()).toBe(true);
    await page.locator('.severity-counts .badge', { hasText: '严重 1' }).waitFor();
    await page.goto(`${berth.url}/projects/shop?tab=security`);
    expect(await page.getByRole('tab', { name: '安全' }).getAttribute('aria-selected')).toBe('true');
    await page.getByRole('heading', { name: '安全策略' }).waitFor();
    // The policy's form (and its sections' headings) renders once the project's policy has loaded; the page's heading comes before.
    await page.getByRole('heading', { name: 'CVE 白名单' }).waitFor();
    await page.getByRole('heading', { name: '豁免的机器人账户' }).waitFor();
    await page.getByLabel('语言').selectOption('en');
    await page.getByRole('tab', { name: 'Security' }).waitFor();
  });

  it('logged no error in the browser console during the whole run', () => {
    expect(consoleErrors).toEqual([]);
  });
});
