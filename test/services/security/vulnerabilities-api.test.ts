import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestBerth, type TestBerth } from '../../helpers/berth.js';
import { ApiClient } from '../../helpers/api.js';
import { imageIndex, imageManifest, jsonBlob, sha256, RegistryClient, type Blob } from '../../helpers/oci.js';
import { gzipTarOf, type TarItem } from '../../helpers/layer-tar.js';
import { osv } from '../../helpers/osv.js';
import { until } from '../../helpers/wait.js';
import { connect } from '../../../src/adapters/db/connect.js';
import { importOsv } from '../../../src/services/security/vulndb-import.js';

/** Polls `read` until it gives something. */
async function waitFor<T>(read: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  let value: T | undefined;
  await until(async () => (value = await read()) !== undefined, timeoutMs, 'a value', 50);
  return value!;
}

const blob = (data: Buffer): Blob => ({ data, digest: sha256(data) });

interface Report {
  digest: string;
  status: string;
  dbVersion: number;
  current: boolean;
  packages: number;
  summary: Record<string, number>;
  findings: Array<{ id: string; advisories: string[]; severity: string; package: { name: string; version: string }; fixedVersion?: string; allowlisted?: boolean }>;
  error?: string;
}

const dpkg = (name: string, version: string, extra = '') => `Package: ${name}\nStatus: install ok installed\nArchitecture: amd64\n${extra}Version: ${version}\n`;

/** A Debian 12 image with OpenSSL from a security update that a later one superseded, Requests from pip and lodash from npm. */
const appLayers: TarItem[][] = [
  [
    { path: 'etc/os-release', content: 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n' },
    { path: 'var/lib/dpkg/status', content: [dpkg('bash', '5.2.15-2+b2'), dpkg('libssl3', '3.0.11-1~deb12u1', 'Source: openssl\n')].join('\n') },
  ],
  [
    { path: 'usr/local/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA', content: 'Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n\nbody' },
    { path: 'app/node_modules/lodash/package.json', content: JSON.stringify({ name: 'lodash', version: '4.17.20' }) },
  ],
];

/** The advisories: what applies (and one that does not) per ecosystem; Debian's carries no severity of its own. */
const advisories = [
  osv('DSA-5532-1', 'Debian:12', 'openssl', '3.0.11-1~deb12u2', { aliases: ['CVE-2023-5363'] }),
  osv('GHSA-openssl', 'Debian:11', 'openssl', '99.0', { aliases: ['CVE-2023-5363'], severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N' }] }),
  osv('DSA-5000-1', 'Debian:12', 'bash', '5.2.15-1'),
  osv('GHSA-9wx4-h78v-vm56', 'PyPI', 'requests', '2.32.0', { aliases: ['CVE-2024-35195'], database_specific: { severity: 'MODERATE' } }),
  osv('GHSA-35jh-r3h4-6jhm', 'npm', 'lodash', '4.17.21', { aliases: ['CVE-2021-23337'], severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H' }] }),
];

describe('vulnerability scanning and pull policies through the API and /v2', () => {
  let berth: TestBerth;
  let admin: ApiClient;
  let registry: RegistryClient;
  let dir: string;

  beforeAll(async () => {
    berth = await startTestBerth({ settings: { 'jobs.pollIntervalMs': 100 } });
    admin = new ApiClient(berth.url);
    registry = new RegistryClient(berth.url);
    dir = await mkdtemp(join(tmpdir(), 'berth-osv-'));
  });
  afterAll(async () => {
    await berth?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function push(name: string, layers: TarItem[][], tag = 'v1'): Promise<string> {
    const config = jsonBlob({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    const blobs = layers.map((items) => blob(gzipTarOf(items)));
    for (const b of [config, ...blobs]) expect((await registry.pushBlob(name, b)).status).toBe(201);
    const manifest = imageManifest(config, blobs);
    expect((await registry.pushManifest(name, tag, manifest)).status).toBe(201);
    return sha256(manifest);
  }

  async function importAdvisories(records: unknown[]): Promise<number> {
    const sub = await mkdtemp(join(dir, 'import-'));
    for (const [i, record] of records.entries()) await writeFile(join(sub, `${i}.json`), JSON.stringify(record));
    return (await importOsv(berth.api.security.vulns, sub, 'test')).id;
  }

  const report = (path: string) => admin.ok<Report>('GET', `/projects/library/repositories/${path}/vulnerabilities`);

  it("reads no pushed manifest back for its job: the index step takes what the push handed over, the scan what the index step took", async () => {
    const reads: string[] = [];
    const manifests = berth.registry.manifests;
    const original = manifests.get.bind(manifests);
    manifests.get = (repository, reference, ...rest) => {
      reads.push(`${repository}@${reference}`);
      return original(repository, reference, ...rest);
    };
    try {
      const digest = await push('library/vuln-once', appLayers);
      const scanned = await waitFor(async () => {
        const res = await admin.call('GET', `/projects/library/repositories/vuln-once/artifacts/v1/vulnerabilities`);
        return res.status === 200 ? ((await res.json()) as Report) : undefined;
      }, 10_000);
      expect(scanned).toMatchObject({ digest, status: 'succeeded', packages: 4 });
      // The report's own GET above resolves the artifact through the registry too: count the job's reads only.
      expect(reads.filter((r) => r === `library/vuln-once@${digest}`)).toEqual([]);
    } finally {
      manifests.get = original;
    }
  });

  it('scans each image on push, and again, with findings, once advisories are imported', async () => {
    const digest = await push('library/vuln-app', appLayers);
    // Scan on push: a report before any advisory exists, with the packages counted and nothing found.
    const first = await waitFor(async () => {
      const res = await admin.call('GET', '/projects/library/repositories/vuln-app/artifacts/v1/vulnerabilities');
      return res.status === 200 ? ((await res.json()) as Report) : undefined;
    }, 10_000);
    expect(first).toMatchObject({ digest, status: 'succeeded', dbVersion: 0, current: true, packages: 4, findings: [] });

    const version = await importAdvisories(advisories);
    const stale = await report('vuln-app/artifacts/v1');
    expect(stale.current).toBe(false);
    // The rescan job (queued by `berth vulndb import`, here by hand) brings the report up to date.
    await berth.jobs.runner.enqueue({ type: 'scan.rescan', payload: {}, maxAttempts: 1 });
    const rescanned = await waitFor(async () => {
      const r = await report('vuln-app/artifacts/v1');
      return r.dbVersion === version ? r : undefined;
    }, 10_000);
    expect(rescanned.current).toBe(true);
    expect(rescanned.findings.map((f) => [f.id, f.advisories.join(','), f.severity, `${f.package.name} ${f.package.version}`, f.fixedVersion])).toEqual([
      // Debian's advisory has no severity: the CVE's rating comes from another advisory of the same CVE.
      ['CVE-2023-5363', 'DSA-5532-1', 'HIGH', 'libssl3 3.0.11-1~deb12u1', '3.0.11-1~deb12u2'],
      ['CVE-2021-23337', 'GHSA-35jh-r3h4-6jhm', 'HIGH', 'lodash 4.17.20', '4.17.21'],
      ['CVE-2024-35195', 'GHSA-9wx4-h78v-vm56', 'MEDIUM', 'requests 2.31.0', '2.32.0'],
    ]);
    expect(rescanned.summary).toEqual({ UNKNOWN: 0, NONE: 0, LOW: 0, MEDIUM: 1, HIGH: 2, CRITICAL: 0 });

    // The same through a scan on demand, by digest.
    const onDemand = await admin.ok<Report>('POST', `/projects/library/repositories/vuln-app/artifacts/${digest}/scan`);
    expect(onDemand.findings.map((f) => f.id)).toEqual(rescanned.findings.map((f) => f.id));
  });

  it('scans an index as its platform images together, and refuses to scan what is not an image', async () => {
    await importAdvisories(advisories);
    const amd = await push('library/vuln-multi', appLayers, 'amd64');
    const arm = await push('library/vuln-multi', [appLayers[0]!], 'arm64');
    const index = imageIndex([
      { image: { digest: amd, manifest: Buffer.from('') }, architecture: 'amd64' },
      { image: { digest: arm, manifest: Buffer.from('') }, architecture: 'arm64' },
    ]);
    expect((await registry.pushManifest('library/vuln-multi', 'multi', index, 'application/vnd.oci.image.index.v1+json')).status).toBe(201);
    const scanned = await admin.ok<Report>('POST', '/projects/library/repositories/vuln-multi/artifacts/multi/scan');
    expect(scanned.packages).toBe(4 + 2);
    expect(scanned.findings.map((f) => f.id)).toEqual(['CVE-2023-5363', 'CVE-2021-23337', 'CVE-2024-35195']);

    const sbomLike = jsonBlob({ spdxVersion: 'SPDX-2.3' });
    const emptyConfig = jsonBlob({});
    for (const b of [sbomLike, emptyConfig]) expect((await registry.pushBlob('library/vuln-multi', b)).status).toBe(201);
    const artifact = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/spdx+json',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: emptyConfig.digest, size: emptyConfig.data.length },
        layers: [{ mediaType: 'application/spdx+json', digest: sbomLike.digest, size: sbomLike.data.length }],
      }),
    );
    expect((await registry.pushManifest('library/vuln-multi', 'sbom', artifact)).status).toBe(201);
    const res = await admin.call('POST', '/projects/library/repositories/vuln-multi/artifacts/sbom/scan');
    expect(res.status).toBe(422);
    expect(((await res.json()) as { code: string }).code).toBe('NOT_SCANNABLE');
  });

  it('refuses pulls the project policy forbids with DENIED naming the policy, honours the allowlist and exempt robots, and records the refusal', async () => {
    await importAdvisories(advisories);
    await admin.createProject('secure');
    const digest = await push('secure/app', appLayers);
    await admin.ok('POST', '/projects/secure/repositories/app/artifacts/v1/scan');
    expect((await registry.fetch('/v2/secure/app/manifests/v1')).status).toBe(200);

    await admin.ok('PUT', '/projects/secure/security-policy', { preventVulnerable: 'HIGH' });
    const refused = await registry.fetch('/v2/secure/app/manifests/v1', { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(refused.status).toBe(403);
    const body = (await refused.json()) as { errors: Array<{ code: string; message: string; detail: { policy: string } }> };
    expect(body.errors[0]!.code).toBe('DENIED');
    expect(body.errors[0]!.message).toBe(
      `pull of secure/app@${digest} refused by the project's prevent-vulnerable policy: it has 2 vulnerabilities of severity high or higher: CVE-2023-5363 (high, libssl3 3.0.11-1~deb12u1), CVE-2021-23337 (high, lodash 4.17.20)`,
    );
    expect(body.errors[0]!.detail.policy).toBe('prevent-vulnerable');
    // HEAD is not a pull: clients may still see what is there.
    expect((await registry.fetch('/v2/secure/app/manifests/v1', { method: 'HEAD' })).status).toBe(200);

    // An exempt robot pulls; another robot does not.
    const scanner = await admin.createRobot('secure', 'scanner', ['pull']);
    const other = await admin.createRobot('secure', 'ci', ['pull']);
    await admin.ok('PUT', '/projects/secure/security-policy', { preventVulnerable: 'HIGH', exemptRobots: [scanner.name] });
    expect((await new RegistryClient(berth.url, { username: scanner.name, password: scanner.secret }).fetch('/v2/secure/app/manifests/v1')).status).toBe(200);
    expect((await new RegistryClient(berth.url, { username: other.name, password: other.secret }).fetch('/v2/secure/app/manifests/v1')).status).toBe(403);

    // Allowlisting both CVEs (one by its advisory id) lets the pull through; the report marks them.
    await admin.ok('PUT', '/projects/secure/security-policy', { preventVulnerable: 'HIGH', allowlist: [{ id: 'CVE-2021-23337' }, { id: 'DSA-5532-1', expiresAt: '2099-01-01T00:00:00Z' }] });
    expect((await registry.fetch('/v2/secure/app/manifests/v1')).status).toBe(200);
    const marked = await admin.ok<Report>('GET', '/projects/secure/repositories/app/artifacts/v1/vulnerabilities');
    expect(marked.findings.map((f) => [f.id, f.allowlisted ?? false])).toEqual([
      ['CVE-2023-5363', true],
      ['CVE-2021-23337', true],
      ['CVE-2024-35195', false],
    ]);
    // An expired entry counts no more.
    await admin.ok('PUT', '/projects/secure/security-policy', { preventVulnerable: 'HIGH', allowlist: [{ id: 'CVE-2021-23337' }, { id: 'DSA-5532-1', expiresAt: '2020-01-01T00:00:00Z' }] });
    expect((await registry.fetch('/v2/secure/app/manifests/v1')).status).toBe(403);

    // Not scanned: refused only under preventUnscanned.
    await admin.ok('PUT', '/projects/secure/security-policy', { scanOnPush: false, preventUnscanned: true });
    // Bytes no other test pushed (reports are per digest, shared by every repository).
    const unscanned = await push('secure/fresh', [appLayers[0]!, [{ path: 'fresh', content: 'never scanned' }]]);
    const res = await registry.fetch('/v2/secure/fresh/manifests/v1');
    expect(res.status).toBe(403);
    expect(((await res.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toBe(`pull of secure/fresh@${unscanned} refused by the project's prevent-unscanned policy: it has not been scanned`);
    expect(await admin.ok('GET', '/projects/secure/security-policy')).toEqual({ scanOnPush: false, sbomOnPush: false, preventVulnerable: null, preventUnscanned: true, preventUnsigned: false, trust: null, allowlist: [], exemptRobots: [] });

    // Each refusal is an event (webhooks) and counted in the metrics; so is each scan.
    const database = connect({ url: berth.config.database.url });
    try {
      const read = () => database.db.selectFrom('event_outbox').select(['type', 'repository', 'payload']).where('type', 'in', ['policy', 'scan']).where('repository', 'like', 'secure/%').orderBy('id').execute();
      const detail = (payload: string) => (JSON.parse(payload) as { details: { policy?: string; status?: string } }).details;
      const rows = await waitFor(async () => {
        const all = await read();
        return all.filter((r) => r.type === 'policy').length >= 4 ? all : undefined;
      }, 5_000);
      expect(rows.filter((r) => r.type === 'policy').map((r) => `${r.repository} ${detail(r.payload).policy}`)).toEqual([
        'secure/app prevent-vulnerable',
        'secure/app prevent-vulnerable',
        'secure/app prevent-vulnerable',
        'secure/fresh prevent-unscanned',
      ]);
      // Scanned on push and on demand (the two may have been one scan, joined); never the unscanned image.
      expect(new Set(rows.filter((r) => r.type === 'scan').map((r) => `${r.repository} ${detail(r.payload).status}`))).toEqual(new Set(['secure/app succeeded']));
    } finally {
      await database.db.destroy();
    }
    const metrics = await (await fetch(`${berth.url}/metrics`)).text();
    expect(metrics).toMatch(/berth_pulls_blocked_total\{policy="prevent-vulnerable"\} 3/);
    expect(metrics).toMatch(/berth_pulls_blocked_total\{policy="prevent-unscanned"\} 1/);
  });
});
