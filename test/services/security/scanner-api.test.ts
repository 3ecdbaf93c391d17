import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiClient } from '../../helpers/api.js';
import { engineMatrix, startTestBerth, type TestBerth } from '../../helpers/berth.js';
import { OCI_MANIFEST, randomImage } from '../../helpers/oci.js';
import { until } from '../../helpers/wait.js';

/** What the fake scanner was asked, and what the credentials it got could do on Berth. */
interface Received {
  id: string;
  apiKey: string | undefined;
  contentType: string | undefined;
  body: { registry: { url: string; authorization: string }; artifact: { repository: string; digest: string; mime_type: string } };
  /** GET of the manifest and of its first layer with the given authorization, the manifest's digest as received. */
  manifestStatus: number;
  manifestDigest: string;
  layerStatus: number;
  /** Starting an upload with them (pull-only: refused). */
  pushStatus: number;
  /** When each report poll came. */
  polls: number[];
}

/** The report the fake scanner answers for every scan (after one 302). */
const fixedReport = {
  generated_at: '2025-01-01T00:00:00Z',
  scanner: { name: 'Fake Trivy', vendor: 'Test', version: '0.1.0' },
  severity: 'Critical',
  vulnerabilities: [
    { id: 'CVE-2024-0002', package: 'zlib1g', version: '1:1.2.13.dfsg-1', severity: 'Negligible', description: 'theoretical', links: ['https://security-tracker.debian.org/tracker/CVE-2024-0002'] },
    {
      id: 'CVE-2024-0001',
      package: 'libssl3',
      version: '3.0.11-1~deb12u1',
      fix_version: '3.0.11-1~deb12u2',
      severity: 'Critical',
      description: 'openssl: remote code execution',
      links: ['https://security-tracker.debian.org/tracker/CVE-2024-0001'],
      preferred_cvss: { score_v3: 9.8, vector_v3: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' },
      cwe_ids: ['CWE-787'],
      vendor_attributes: { CVSS: { nvd: { V3Score: 9.8 } } },
    },
    { id: 'GHSA-35jh-r3h4-6jhm', package: 'lodash', version: '4.17.20', fix_version: '4.17.21', severity: 'Medium' },
    { id: 'CVE-2024-0003', package: 'bash', version: '5.2.15-2+b2', severity: 'Unknown' },
  ],
};

/**
 * A scanner adapter made from Harbor's pluggable scanner API v1.1 (the spec, not an adapter's
 * code): `GET /api/v1/metadata`, `POST /api/v1/scan` (202 {id}) and `GET /api/v1/scan/{id}/report`
 * (302 with Refresh-After: 1 on the first poll, then 200 with `fixedReport`). It checks the API
 * key, and pulls the artifact from the registry it is given with the authorization it is given,
 * as a real adapter does. Under `/broken` the same API fails the report with a 500 ErrorResponse.
 */
class FakeScanner {
  readonly received: Received[] = [];
  private server: Server | undefined;
  url = '';

  constructor(private readonly apiKey: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res).catch((err: unknown) => void res.writeHead(500).end(String(err))));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, type: string, body: unknown, headers: Record<string, string> = {}): void => void res.writeHead(status, { 'content-type': type, ...headers }).end(body === undefined ? undefined : JSON.stringify(body));
    if (req.headers['x-scanneradapter-api-key'] !== this.apiKey) return send(401, 'application/vnd.scanner.adapter.error+json; version=1.0', { error: { message: 'invalid API key' } });
    const url = new URL(req.url ?? '/', this.url);
    const broken = url.pathname.startsWith('/broken/');
    const path = broken ? url.pathname.slice('/broken'.length) : url.pathname;
    if (req.method === 'GET' && path === '/api/v1/metadata') {
      return send(200, 'application/vnd.scanner.adapter.metadata+json; version=1.0', {
        scanner: { name: 'Fake Trivy', vendor: 'Test', version: '0.1.0' },
        capabilities: [{ consumes_mime_types: [OCI_MANIFEST, 'application/vnd.docker.distribution.manifest.v2+json'], produces_mime_types: ['application/vnd.security.vulnerability.report; version=1.1'] }],
        properties: { 'harbor.scanner-adapter/scanner-type': 'os-package-vulnerability' },
      });
    }
    if (req.method === 'POST' && path === '/api/v1/scan') {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Received['body'];
      const { repository, digest } = body.artifact;
      const auth = { authorization: body.registry.authorization };
      const manifest = await fetch(`${body.registry.url}/v2/${repository}/manifests/${digest}`, { headers: { ...auth, accept: OCI_MANIFEST } });
      const bytes = Buffer.from(await manifest.arrayBuffer());
      const layer = manifest.status === 200 ? (JSON.parse(bytes.toString('utf8')) as { layers: Array<{ digest: string }> }).layers[0]! : undefined;
      const layerStatus = layer ? (await fetch(`${body.registry.url}/v2/${repository}/blobs/${layer.digest}`, { headers: auth })).status : 0;
      const pushStatus = (await fetch(`${body.registry.url}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers: auth })).status;
      const id = `scan-${this.received.length + 1}`;
      this.received.push({
        id,
        apiKey: req.headers['x-scanneradapter-api-key'] as string,
        contentType: req.headers['content-type'],
        body,
        manifestStatus: manifest.status,
        manifestDigest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
        layerStatus,
        pushStatus,
        polls: [],
      });
      return send(202, 'application/vnd.scanner.adapter.scan.response+json; version=1.0', { id });
    }
    const match = /^\/api\/v1\/scan\/([^/]+)\/report$/.exec(path);
    const scan = match && this.received.find((r) => r.id === match[1]);
    if (req.method === 'GET' && scan) {
      scan.polls.push(Date.now());
      if (scan.polls.length === 1) return void res.writeHead(302, { 'refresh-after': '1' }).end();
      if (broken) return send(500, 'application/vnd.scanner.adapter.error+json; version=1.0', { error: { message: 'vulnerability database not downloaded' } });
      if (req.headers.accept !== 'application/vnd.security.vulnerability.report; version=1.1') return send(400, 'text/plain', undefined);
      return send(200, 'application/vnd.security.vulnerability.report; version=1.1', { ...fixedReport, artifact: scan.body.artifact });
    }
    return send(404, 'application/json', { error: { message: 'not found' } });
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

interface Report {
  digest: string;
  status: string;
  scanner: string;
  packages: number;
  summary: Record<string, number>;
  findings: unknown[];
  error?: string;
}

/** fixedReport's vulnerabilities as Berth's findings, worst first. */
const expectedFindings = [
  {
    id: 'CVE-2024-0001',
    advisories: ['CVE-2024-0001'],
    aliases: [],
    severity: 'CRITICAL',
    cvss: { score: 9.8, vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' },
    summary: 'openssl: remote code execution',
    package: { name: 'libssl3', version: '3.0.11-1~deb12u1', type: 'unknown', purl: 'pkg:generic/libssl3@3.0.11-1~deb12u1' },
    ecosystem: '',
    fixedVersion: '3.0.11-1~deb12u2',
  },
  {
    id: 'GHSA-35jh-r3h4-6jhm',
    advisories: ['GHSA-35jh-r3h4-6jhm'],
    aliases: [],
    severity: 'MEDIUM',
    summary: '',
    package: { name: 'lodash', version: '4.17.20', type: 'unknown', purl: 'pkg:generic/lodash@4.17.20' },
    ecosystem: '',
    fixedVersion: '4.17.21',
  },
  {
    id: 'CVE-2024-0002',
    advisories: ['CVE-2024-0002'],
    aliases: [],
    severity: 'NONE',
    summary: 'theoretical',
    package: { name: 'zlib1g', version: '1:1.2.13.dfsg-1', type: 'unknown', purl: 'pkg:generic/zlib1g@1%3A1.2.13.dfsg-1' },
    ecosystem: '',
  },
  {
    id: 'CVE-2024-0003',
    advisories: ['CVE-2024-0003'],
    aliases: [],
    severity: 'UNKNOWN',
    summary: '',
    package: { name: 'bash', version: '5.2.15-2+b2', type: 'unknown', purl: 'pkg:generic/bash@5.2.15-2%2Bb2' },
    ecosystem: '',
  },
];

describe("external scanners through Harbor's pluggable scanner API", () => {
  let fake: FakeScanner;
  let berth: TestBerth;
  let api: ApiClient;

  beforeAll(async () => {
    fake = new FakeScanner('key-good');
    await fake.start();
    berth = await startTestBerth({ settings: { 'outbound.scanner.allowCidrs': ['127.0.0.0/8'], 'jobs.pollIntervalMs': 50 } });
    api = new ApiClient(berth.url);
    await api.createProject('apps');
  });
  afterAll(async () => {
    await berth?.stop();
    await fake?.stop();
  });

  it('registers a scanner (audited, credential write-only), pings it, and refuses a URL the outbound policy blocks', async () => {
    const blocked = await api.call('POST', '/scanners', { name: 'internal', url: 'http://10.1.2.3:8080', auth: 'api-key', credential: 'x' });
    expect(blocked.status).toBe(400);
    expect(((await blocked.json()) as { title: string }).title).toBe(
      'scanner url blocked by policy: 10.1.2.3 is a private address, which scanner requests may not reach; an administrator can allow it with the setting outbound.scanner.allowCidrs (or outbound.allowCidrs for every feature)',
    );
    const created = await api.ok<{ id: number; auth: string; hasCredential: boolean; isDefault: boolean }>('POST', '/scanners', { name: 'fake-trivy', url: fake.url, auth: 'api-key', credential: 'key-good' });
    expect([created.auth, created.hasCredential, created.isDefault]).toEqual(['api-key', true, false]);
    expect(JSON.stringify(await api.ok('GET', `/scanners/${created.id}`))).not.toContain('key-good');
    const ping = await api.ok<{ ok: boolean; message: string; metadata: { scanner: { name: string } } }>('POST', `/scanners/${created.id}/ping`);
    expect([ping.ok, ping.message, ping.metadata.scanner.name]).toEqual([true, 'Fake Trivy 0.1.0 answered: it scans image manifests into vulnerability reports', 'Fake Trivy']);

    const wrongKey = await api.ok<{ id: number }>('POST', '/scanners', { name: 'wrong-key', url: fake.url, auth: 'api-key', credential: 'key-bad' });
    expect(await api.ok('POST', `/scanners/${wrongKey.id}/ping`)).toEqual({ ok: false, message: 'GET /api/v1/metadata: the scanner refused the credentials: invalid API key' });
    expect((await api.call('POST', '/scanners', { name: 'fake-trivy', url: fake.url })).status).toBe(409);
    expect((await api.call('POST', '/scanners', { name: 'berth', url: fake.url })).status).toBe(400);
    await api.ok('DELETE', `/scanners/${wrongKey.id}`);

    const audit = await api.ok<{ items: Array<{ action: string; resource: string; result: string }> }>('GET', '/audit-logs?resource_type=scanner&page_size=100');
    expect(audit.items.map((a) => [a.action, a.resource, a.result]).reverse()).toEqual([
      ['scanner.create', 'internal', 'failure'],
      ['scanner.create', 'fake-trivy', 'success'],
      ['scanner.create', 'wrong-key', 'success'],
      ['scanner.create', 'fake-trivy', 'failure'],
      ['scanner.create', 'berth', 'failure'],
      ['scanner.delete', `#${wrongKey.id}`, 'success'],
    ]);
  });

  it('scans with a scanner named on demand: pull-only credentials that work and are gone after, 302 honoured, the report converted and stored', async () => {
    const image = await api.registry.pushImage('apps/web', 'v1', randomImage(1, 2048));
    const before = fake.received.length;
    const report = await api.ok<Report>('POST', '/projects/apps/repositories/web/artifacts/v1/scan?scanner=fake-trivy');
    expect(report).toMatchObject({ digest: image.digest, status: 'succeeded', scanner: 'fake-trivy', packages: 4, summary: { UNKNOWN: 1, NONE: 1, LOW: 0, MEDIUM: 1, HIGH: 0, CRITICAL: 1 } });
    expect(report.findings).toEqual(expectedFindings);
    // Stored: the report reads back the same.
    expect((await api.ok<Report>('GET', '/projects/apps/repositories/web/artifacts/v1/vulnerabilities')).findings).toEqual(expectedFindings);

    expect(fake.received.length).toBe(before + 1);
    const got = fake.received.at(-1)!;
    const port = new URL(berth.url).port;
    expect(got.body.registry.url).toBe(`http://localhost:${port}`);
    expect(got.body.artifact).toEqual({ repository: 'apps/web', digest: image.digest, mime_type: OCI_MANIFEST });
    expect([got.apiKey, got.contentType]).toEqual(['key-good', 'application/vnd.scanner.adapter.scan.request+json; version=1.0']);
    // The credentials pulled the manifest and a layer, could not push, and end with the scan.
    expect([got.manifestStatus, got.manifestDigest, got.layerStatus, got.pushStatus]).toEqual([200, image.digest, 200, 403]);
    const [username, password] = Buffer.from(got.body.registry.authorization.slice('Basic '.length), 'base64').toString('utf8').split(':');
    expect(username).toMatch(/^robot\$apps\+scanner-[0-9a-f]{8}$/);
    expect(password!.length).toBeGreaterThan(10);
    expect((await fetch(`${got.body.registry.url}/v2/apps/web/manifests/${image.digest}`, { headers: { authorization: got.body.registry.authorization, accept: OCI_MANIFEST } })).status).toBe(401);
    // Refresh-After: 1 was waited for before the second poll.
    expect(got.polls.length).toBe(2);
    expect(got.polls[1]! - got.polls[0]!).toBeGreaterThanOrEqual(900);
  });

  it('uses the default scanner for scans on push and on demand, and the built-in one when asked or when none is default', async () => {
    const { id } = (await api.ok<{ items: Array<{ id: number; name: string }> }>('GET', '/scanners')).items.find((s) => s.name === 'fake-trivy')!;
    await api.ok('PATCH', `/scanners/${id}`, { isDefault: true });
    const image = await api.registry.pushImage('apps/api', 'v1', randomImage(1, 1024));
    let pushed: Report | undefined;
    await until(
      async () => {
        const res = await api.call('GET', '/projects/apps/repositories/api/artifacts/v1/vulnerabilities');
        pushed = res.status === 200 ? ((await res.json()) as Report) : undefined;
        return pushed !== undefined;
      },
      15_000,
      'the report of the scan on push',
      100,
    );
    expect([pushed!.digest, pushed!.scanner, pushed!.status]).toEqual([image.digest, 'fake-trivy', 'succeeded']);
    expect(pushed!.findings).toEqual(expectedFindings);

    const builtIn = await api.ok<Report>('POST', '/projects/apps/repositories/api/artifacts/v1/scan?scanner=berth');
    expect([builtIn.scanner, builtIn.status, builtIn.findings]).toEqual(['berth', 'failed', []]);
    expect(builtIn.error).toMatch(/^LAYER_UNREADABLE: /);
    expect((await api.call('POST', '/projects/apps/repositories/api/artifacts/v1/scan?scanner=nope')).status).toBe(404);

    await api.ok('PATCH', `/scanners/${id}`, { isDefault: false });
    expect((await api.ok<Report>('POST', '/projects/apps/repositories/api/artifacts/v1/scan')).scanner).toBe('berth');
    await api.ok('PATCH', `/scanners/${id}`, { isDefault: true });
    expect((await api.ok<Report>('POST', '/projects/apps/repositories/api/artifacts/v1/scan')).scanner).toBe('fake-trivy');
    // One default at most: another made default takes the mark.
    const other = await api.ok<{ id: number; isDefault: boolean }>('POST', '/scanners', { name: 'other', url: fake.url, auth: 'api-key', credential: 'key-good', isDefault: true });
    expect(other.isDefault).toBe(true);
    expect((await api.ok<{ isDefault: boolean }>('GET', `/scanners/${id}`)).isDefault).toBe(false);
    await api.ok('DELETE', `/scanners/${other.id}`);
  });

  it('makes a failed report with the reason when the scanner fails', async () => {
    const broken = await api.ok<{ id: number }>('POST', '/scanners', { name: 'broken', url: `${fake.url}/broken`, auth: 'api-key', credential: 'key-good' });
    await api.registry.pushImage('apps/db', 'v1', randomImage(1, 1024));
    const report = await api.ok<Report>('POST', '/projects/apps/repositories/db/artifacts/v1/scan?scanner=broken');
    expect([report.status, report.scanner, report.findings, report.error]).toEqual([
      'failed',
      'broken',
      [],
      `scanner broken: GET /api/v1/scan/${fake.received.at(-1)!.id}/report: the scanner answered 500: vulnerability database not downloaded`,
    ]);
    // Counted as the built-in scanner's scans are.
    expect(await (await fetch(`${berth.url}/metrics`)).text()).toMatch(/^berth_scans_total\{status="failed"\} [1-9]/m);
    await api.ok('DELETE', `/scanners/${broken.id}`);
  });
});

const postgres = (await engineMatrix()).find((e) => e.engine === 'postgres')!;

describe.skipIf(postgres.skip)('scanner registrations on PostgreSQL', () => {
  let berth: TestBerth;
  let api: ApiClient;

  beforeAll(async () => {
    berth = await startTestBerth({ engine: 'postgres', settings: { 'outbound.scanner.allowCidrs': ['127.0.0.0/8'] } });
    api = new ApiClient(berth.url);
  });
  afterAll(async () => {
    await berth?.stop();
  });

  it('keeps one default at most, names unique, credentials sealed', async () => {
    const a = await api.ok<{ id: number }>('POST', '/scanners', { name: 'a', url: 'http://127.0.0.1:1', auth: 'basic', credential: 'user:secret-a', isDefault: true });
    const b = await api.ok<{ id: number }>('POST', '/scanners', { name: 'b', url: 'http://127.0.0.1:2', auth: 'bearer', credential: 'token-b', isDefault: true });
    const listed = (await api.ok<{ items: Array<{ name: string; isDefault: boolean; auth: string; hasCredential: boolean }> }>('GET', '/scanners')).items;
    expect(listed.map((s) => [s.name, s.isDefault, s.auth, s.hasCredential])).toEqual([
      ['a', false, 'basic', true],
      ['b', true, 'bearer', true],
    ]);
    await api.ok('PATCH', `/scanners/${a.id}`, { isDefault: true, auth: 'none' });
    expect((await api.ok<{ isDefault: boolean; hasCredential: boolean }>('GET', `/scanners/${a.id}`))).toMatchObject({ isDefault: true, hasCredential: false });
    expect((await api.ok<{ isDefault: boolean }>('GET', `/scanners/${b.id}`)).isDefault).toBe(false);
    expect((await api.call('PATCH', `/scanners/${b.id}`, { name: 'a' })).status).toBe(409);
    expect((await api.call('PATCH', `/scanners/${b.id}`, { enabled: false, isDefault: true })).status).toBe(400);
    expect((await api.call('POST', '/scanners', { name: 'c', url: 'http://127.0.0.1:3', auth: 'basic', credential: 'no-colon' })).status).toBe(400);
    const stored = await berth.api.security.scanners.get(b.id);
    expect(stored.credentialSealed).not.toContain('token-b');
  });
});
