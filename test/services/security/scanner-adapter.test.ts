import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, basic } from '../../helpers/api.js';
import { startTestBerth, type TestBerth } from '../../helpers/berth.js';
import { gzipTarOf, type TarItem } from '../../helpers/layer-tar.js';
import { imageIndex, imageManifest, jsonBlob, sha256, type Blob } from '../../helpers/oci.js';
import { osv } from '../../helpers/osv.js';
import { importOsv } from '../../../src/services/security/vulndb-import.js';
import { loadConfig } from '../../../src/config/load.js';

const apiKey = 'adapter-key-0123456789';
const reportType = 'application/vnd.security.vulnerability.report; version=1.1';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const dpkg = (name: string, version: string, extra = '') => `Package: ${name}\nStatus: install ok installed\nArchitecture: amd64\n${extra}Version: ${version}\n`;

/** A Debian 12 image with OpenSSL, Requests from pip and lodash from npm (as in vulnerabilities-api.test.ts). */
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

const advisories = [
  osv('DSA-5532-1', 'Debian:12', 'openssl', '3.0.11-1~deb12u2', { aliases: ['CVE-2023-5363'] }),
  osv('GHSA-openssl', 'Debian:11', 'openssl', '99.0', { aliases: ['CVE-2023-5363'], severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N' }] }),
  osv('GHSA-9wx4-h78v-vm56', 'PyPI', 'requests', '2.32.0', { aliases: ['CVE-2024-35195'], database_specific: { severity: 'MODERATE' } }),
  osv('GHSA-35jh-r3h4-6jhm', 'npm', 'lodash', '4.17.21', { aliases: ['CVE-2021-23337'], severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H' }] }),
  osv('GHSA-low-one', 'npm', 'lodash', '4.17.22', { severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N' }] }),
];

interface Report {
  digest: string;
  status: string;
  scanner: string;
  summary: Record<string, number>;
  findings: Array<{ id: string; severity: string }>;
  error?: string;
}

const blob = (data: Buffer): Blob => ({ data, digest: sha256(data) });

describe("Berth's scanner through Harbor's pluggable scanner API, used by Berth itself", () => {
  let berth: TestBerth;
  let api: ApiClient;
  let adapter: string;
  let dir: string;
  const key = { 'x-scanneradapter-api-key': apiKey };

  beforeAll(async () => {
    berth = await startTestBerth({
      settings: { 'outbound.scanner.allowCidrs': ['127.0.0.0/8', '::1/128'], 'security.scannerAdapter.enabled': true, 'security.scannerAdapter.apiKey': apiKey, 'jobs.pollIntervalMs': 50 },
    });
    api = new ApiClient(berth.url);
    adapter = `${berth.url}/scanner-adapter`;
    dir = await mkdtemp(join(tmpdir(), 'berth-adapter-'));
    for (const [i, record] of advisories.entries()) await writeFile(join(dir, `${i}.json`), JSON.stringify(record));
    await importOsv(berth.api.security.vulns, dir, 'test');
    await api.createProject('apps');
  });
  afterAll(async () => {
    await berth?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function push(name: string, layers: TarItem[][], tag: string): Promise<string> {
    const config = jsonBlob({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    const blobs = layers.map((items) => blob(gzipTarOf(items)));
    for (const b of [config, ...blobs]) expect((await api.registry.pushBlob(name, b)).status).toBe(201);
    const manifest = imageManifest(config, blobs);
    expect((await api.registry.pushManifest(name, tag, manifest)).status).toBe(201);
    return sha256(manifest);
  }

  it('answers metadata to the API key only', async () => {
    expect((await fetch(`${adapter}/api/v1/metadata`)).status).toBe(401);
    expect((await fetch(`${adapter}/api/v1/metadata`, { headers: { authorization: 'Bearer wrong-key-0123456789' } })).status).toBe(401);
    const res = await fetch(`${adapter}/api/v1/metadata`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect([res.status, res.headers.get('content-type')]).toEqual([200, 'application/vnd.scanner.adapter.metadata+json; version=1.0']);
    const metadata = (await res.json()) as { scanner: { name: string }; capabilities: unknown; properties: Record<string, string> };
    expect(metadata.scanner.name).toBe('Berth');
    expect(metadata.capabilities).toEqual([
      { consumes_mime_types: [OCI_MANIFEST, 'application/vnd.docker.distribution.manifest.v2+json'], produces_mime_types: [reportType, 'application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0'] },
    ]);
    expect(metadata.properties['harbor.scanner-adapter/scanner-type']).toBe('os-package-vulnerability');
  });

  it('registered as an external scanner of the same Berth, reports what the built-in scanner reports', async () => {
    const digest = await push('apps/app', appLayers, 'v1');
    const builtIn = await api.ok<Report>('POST', '/projects/apps/repositories/app/artifacts/v1/scan?scanner=berth');
    expect(builtIn.findings.map((f) => [f.id, f.severity])).toEqual([
      ['CVE-2023-5363', 'HIGH'],
      ['CVE-2021-23337', 'HIGH'],
      ['CVE-2024-35195', 'MEDIUM'],
      ['GHSA-low-one', 'LOW'],
    ]);

    const scanner = await api.ok<{ id: number }>('POST', '/scanners', { name: 'berth-itself', url: adapter, auth: 'api-key', credential: apiKey });
    const ping = await api.ok<{ ok: boolean; message: string }>('POST', `/scanners/${scanner.id}/ping`);
    expect(ping.ok).toBe(true);
    const through = await api.ok<Report>('POST', '/projects/apps/repositories/app/artifacts/v1/scan?scanner=berth-itself');
    expect(through.error).toBeUndefined();
    expect([through.digest, through.status, through.scanner]).toEqual([digest, 'succeeded', 'berth-itself']);
    expect(through.findings).toEqual(builtIn.findings);
    expect(through.summary).toEqual(builtIn.summary);

    // An index: its platform images, each through the adapter, findings together as the built-in scanner has them.
    const arm = await push('apps/app', [appLayers[0]!], 'arm64');
    const index = imageIndex([
      { image: { digest, manifest: Buffer.from('') }, architecture: 'amd64' },
      { image: { digest: arm, manifest: Buffer.from('') }, architecture: 'arm64' },
    ]);
    expect((await api.registry.pushManifest('apps/app', 'multi', index, 'application/vnd.oci.image.index.v1+json')).status).toBe(201);
    const indexBuiltIn = await api.ok<Report>('POST', '/projects/apps/repositories/app/artifacts/multi/scan?scanner=berth');
    const indexThrough = await api.ok<Report>('POST', '/projects/apps/repositories/app/artifacts/multi/scan?scanner=berth-itself');
    expect(indexThrough.findings).toEqual(indexBuiltIn.findings);
  });

  it('speaks the protocol: 202 with an id, 302 with Refresh-After while running, 200 report; refuses what it cannot scan', async () => {
    const digest = await push('apps/proto', appLayers, 'v1');
    const robot = await api.createRobot('apps', 'harbor-pull', ['pull']);
    const request = {
      registry: { url: berth.url, authorization: basic(robot.name, robot.secret) },
      artifact: { repository: 'apps/proto', digest, tag: 'v1', mime_type: OCI_MANIFEST },
    };
    const post = (body: unknown) =>
      fetch(`${adapter}/api/v1/scan`, { method: 'POST', headers: { ...key, 'content-type': 'application/vnd.scanner.adapter.scan.request+json; version=1.0' }, body: JSON.stringify(body) });
    const accepted = await post(request);
    expect([accepted.status, accepted.headers.get('content-type')]).toEqual([202, 'application/vnd.scanner.adapter.scan.response+json; version=1.0']);
    const { id } = (await accepted.json()) as { id: string };
    const first = await fetch(`${adapter}/api/v1/scan/${id}/report`, { headers: { ...key, accept: reportType }, redirect: 'manual' });
    expect([first.status, first.headers.get('refresh-after'), first.headers.get('retry-after')]).toEqual([302, '2', '2']);
    let done: Response;
    for (;;) {
      done = await fetch(`${adapter}/api/v1/scan/${id}/report`, { headers: { ...key, accept: reportType }, redirect: 'manual' });
      if (done.status !== 302) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect([done.status, done.headers.get('content-type')]).toEqual([200, reportType]);
    const report = (await done.json()) as { artifact: unknown; scanner: { name: string }; severity: string; vulnerabilities: Array<{ id: string; package: string; version: string; fix_version?: string; severity: string; links: string[] }> };
    expect([report.artifact, report.scanner.name, report.severity]).toEqual([request.artifact, 'Berth', 'High']);
    expect(report.vulnerabilities.map((v) => [v.id, v.package, v.version, v.fix_version, v.severity])).toEqual([
      ['CVE-2023-5363', 'libssl3', '3.0.11-1~deb12u1', '3.0.11-1~deb12u2', 'High'],
      ['CVE-2021-23337', 'lodash', '4.17.20', '4.17.21', 'High'],
      ['CVE-2024-35195', 'requests', '2.31.0', '2.32.0', 'Medium'],
      ['GHSA-low-one', 'lodash', '4.17.20', '4.17.22', 'Low'],
    ]);
    expect(report.vulnerabilities[0]!.links).toEqual(['https://osv.dev/vulnerability/DSA-5532-1']);

    // Refusals: the spec's 400 and 422 with an ErrorResponse, 404 for an unknown id.
    const notJson = await fetch(`${adapter}/api/v1/scan`, { method: 'POST', headers: { ...key, 'content-type': 'application/vnd.scanner.adapter.scan.request+json; version=1.0' }, body: '{' });
    expect([notJson.status, await notJson.json()]).toEqual([400, { error: { message: 'the body is not JSON' } }]);
    const wrongType = await post({ ...request, artifact: { ...request.artifact, mime_type: 'application/vnd.cncf.helm.config.v1+json' } });
    expect([wrongType.status, ((await wrongType.json()) as { error: { message: string } }).error.message]).toEqual([
      422,
      'artifact.mime_type application/vnd.cncf.helm.config.v1+json is not one this scanner consumes (application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json)',
    ]);
    const blocked = await post({ ...request, registry: { url: 'http://10.1.2.3:5000' } });
    expect(blocked.status).toBe(422);
    expect(((await blocked.json()) as { error: { message: string } }).error.message).toMatch(/^registry\.url blocked by policy: 10\.1\.2\.3 is a private address/);
    expect((await fetch(`${adapter}/api/v1/scan/nope/report`, { headers: key })).status).toBe(404);

    // Credentials that cannot pull: the report is a 500 saying so.
    const denied = await post({ ...request, registry: { url: berth.url, authorization: basic(robot.name, 'wrong') } });
    const deniedId = ((await denied.json()) as { id: string }).id;
    let failed: Response;
    for (;;) {
      failed = await fetch(`${adapter}/api/v1/scan/${deniedId}/report`, { headers: { ...key, accept: reportType }, redirect: 'manual' });
      if (failed.status !== 302) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(failed.status).toBe(500);
    expect(((await failed.json()) as { error: { message: string } }).error.message).toMatch(/^pulling apps\/proto@sha256:[0-9a-f]{64}: /);
  });

  it('needs an API key of 16 characters or more to be enabled', () => {
    expect(() => loadConfig({ env: {}, flags: { 'security.scannerAdapter.enabled': true } })).toThrow(/security\.scannerAdapter\.enabled needs security\.scannerAdapter\.apiKey/);
    expect(() => loadConfig({ env: { BERTH_SECURITY_SCANNER_ADAPTER_ENABLED: 'true', BERTH_SECURITY_SCANNER_ADAPTER_API_KEY: 'short' } })).toThrow(/security\.scannerAdapter\.apiKey/);
  });

  it('is not served unless enabled', async () => {
    const plain = await startTestBerth();
    try {
      // GETs of unknown paths are the console's (its page); the API is not there.
      const metadata = await fetch(`${plain.url}/scanner-adapter/api/v1/metadata`, { headers: key });
      expect(metadata.headers.get('content-type')).not.toMatch(/scanner/);
      expect((await fetch(`${plain.url}/scanner-adapter/api/v1/scan`, { method: 'POST', headers: { ...key, 'content-type': 'application/json' }, body: '{}' })).status).toBe(404);
    } finally {
      await plain.stop();
    }
  });
});
