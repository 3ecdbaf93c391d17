import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../helpers/api.js';
import { adminCredentials, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { gzipTarOf, type TarItem } from '../helpers/layer-tar.js';
import { imageManifest, jsonBlob, OCI_INDEX, OCI_MANIFEST, RegistryClient, sha256, type Blob } from '../helpers/oci.js';
import { runBerthCommand } from '../helpers/process.js';
import { formatReport, inspectImage } from '../../src/cli/inspect.js';
import { exitCodeFor, exitCodes } from '../../src/cli/exit-codes.js';

// `berth inspect` (issue 17): the insights report of an image of a registry, read remotely, is
// the API's report of the same image; here the registry is a test Berth, read over plain HTTP.

const creds = `${adminCredentials.username}:${adminCredentials.password}`;
const blob = (data: Buffer): Blob => ({ data, digest: sha256(data) });
const bytes = (n: number, fill = 1) => Buffer.alloc(n, fill);

/** A file overwritten twice, one whited out, an opaque directory, a secret-looking key, a path listed twice. */
const layers: TarItem[][] = [
  [
    { path: 'etc', type: 'directory' },
    { path: 'etc/config', content: bytes(100) },
    { path: 'bin/tool', content: bytes(500) },
    { path: 'data/one', content: bytes(300) },
    { path: 'root/.ssh/id_rsa', content: '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n' },
    { path: 'tmp/dup', content: bytes(40) },
    { path: 'tmp/dup', content: bytes(60) },
  ],
  [
    { path: 'etc/config', content: bytes(120, 2) },
    { path: 'bin/.wh.tool', content: '' },
    { path: 'data/.wh..wh..opq', content: '' },
  ],
  [
    { path: 'etc/config', content: bytes(130, 3) },
    { path: 'app/run', content: 'run!\n' },
  ],
];

const history = [
  { created: '2026-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:rootfs in /' },
  { created: '2026-01-01T00:00:01Z', created_by: '/bin/sh -c #(nop)  ENV A=1', empty_layer: true },
  { created: '2026-01-01T00:00:02Z', created_by: '/bin/sh -c rm -rf /bin/tool /data/* && echo > /etc/config' },
  { created: '2026-01-01T00:00:04Z', created_by: 'COPY app /app', comment: 'buildkit.dockerfile.v0' },
];

interface ApiInsights {
  digest: string;
  layers: unknown[];
  history: unknown[];
  historyMismatch: boolean;
  totalCompressed: number;
  totalUncompressed: number;
  wasted: { bytes: number; files: number; largest: unknown[] };
  efficiency: number;
  base?: { repository: string; tag?: string; digest: string; layers: number; matchedBy: string };
}

describe('berth inspect', () => {
  let berth: TestBerth;
  let host: string;
  let registry: RegistryClient;
  let admin: ApiClient;
  let digest: string;
  let arm: string;
  let index: string;
  let base: string;

  async function push(name: string, tarLayers: TarItem[][], reference: string | undefined, configExtra: Record<string, unknown> = {}): Promise<string> {
    const config = jsonBlob({ architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/bin'] }, rootfs: { type: 'layers', diff_ids: [] }, history, ...configExtra });
    const blobs = tarLayers.map((items) => blob(gzipTarOf(items)));
    for (const b of [config, ...blobs]) expect((await registry.pushBlob(name, b)).status).toBe(201);
    const manifest = imageManifest(config, blobs);
    const pushed = sha256(manifest);
    expect((await registry.pushManifest(name, reference ?? pushed, manifest)).status).toBe(201);
    return pushed;
  }

  beforeAll(async () => {
    berth = await startTestBerth();
    host = new URL(berth.url).host;
    registry = new RegistryClient(berth.url);
    admin = new ApiClient(berth.url);
    await admin.createProject('insp');
    // The image's lowest layer, tagged: its base as the registry (a Berth) finds it.
    base = await push('insp/base', layers.slice(0, 1), '1', { history: history.slice(0, 1) });
    digest = await push('insp/app', layers, '1.0');
    // A two-platform index: the image above for amd64, a one-layer one for arm64.
    arm = await push('insp/multi', [[{ path: 'arm/only', content: 'arm\n' }]], undefined, { architecture: 'arm64', history: [] });
    await push('insp/multi', layers, undefined);
    const size = async (repo: string, ref: string) => Number((await registry.fetch(`/v2/${repo}/manifests/${ref}`, { method: 'HEAD' })).headers.get('content-length'));
    const indexBody = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          { mediaType: OCI_MANIFEST, digest, size: await size('insp/multi', digest), platform: { os: 'linux', architecture: 'amd64' } },
          { mediaType: OCI_MANIFEST, digest: arm, size: await size('insp/multi', arm), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        ],
      }),
    );
    index = sha256(indexBody);
    expect((await registry.pushManifest('insp/multi', 'v1', indexBody, OCI_INDEX)).status).toBe(201);
  }, 60_000);
  afterAll(async () => {
    await berth?.stop();
  });

  it("reports what the API's insights and lint report for the same image", async () => {
    const report = await inspectImage(`docker://${host}/insp/app:1.0`, { creds, tlsVerify: 'false' });
    const api = await admin.ok<ApiInsights>('GET', '/projects/insp/repositories/app/artifacts/1.0/insights');
    const lint = await admin.ok<{ findings: Array<{ rule: string; message: string }>; packages: number }>('GET', '/projects/insp/repositories/app/artifacts/1.0/lint');
    expect(report.digest).toBe(digest);
    const pick = (r: ApiInsights) => ({
      digest: r.digest,
      layers: r.layers,
      history: r.history,
      historyMismatch: r.historyMismatch,
      totalCompressed: r.totalCompressed,
      totalUncompressed: r.totalUncompressed,
      wasted: r.wasted,
      efficiency: r.efficiency,
      base: r.base,
    });
    expect(pick(JSON.parse(JSON.stringify(report)) as ApiInsights)).toEqual(pick(api));
    // The figures themselves: config ×2, the whited-out tool, the opaque data/, the first tmp/dup.
    expect(report.wasted.bytes).toBe(100 + 120 + 500 + 300 + 40);
    expect(report.historyMismatch).toBe(false);
    expect(report.base).toEqual({ repository: 'insp/base', tag: '1', digest: base, layers: 1, matchedBy: 'layers' });
    expect(report.lint.findings.map((f) => [f.rule, f.message])).toEqual(lint.findings.map((f) => [f.rule, f.message]));
    expect(report.lint.findings.map((f) => f.rule)).toContain('BERTH-L001-root-user');
    expect(report.lint.packages).toBe(lint.packages);
  });

  it('prints the history with layer sizes, the totals, wasted space, efficiency and findings as text', async () => {
    const report = await inspectImage(`docker://${host}/insp/app@${digest}`, { creds, tlsVerify: 'false' });
    const text = formatReport(report);
    expect(text).toContain(`base: insp/base:1 (${base}, 1 layer, matched by layers)\n`);
    expect(text).toMatch(/^LAYER +COMPRESSED +UNCOMPRESSED +FILES +CREATED +CREATED BY$/m);
    expect(text).toMatch(/^0 +\d+ B +[\d.]+ KiB +6 +2026-01-01T00:00:00Z +\/bin\/sh -c #\(nop\) ADD file:rootfs in \/$/m);
    expect(text).toMatch(/^- +- +- +- +2026-01-01T00:00:01Z +\/bin\/sh -c #\(nop\) ENV A=1$/m);
    expect(text).toMatch(/^1 +\d+ B +[\d.]+ KiB +1 +2026-01-01T00:00:02Z +\/bin\/sh -c rm -rf \/bin\/tool \/data\/\* && echo > \/etc\/config$/m);
    expect(text).toMatch(/^2 +\d+ B +[\d.]+ KiB +2 +2026-01-01T00:00:04Z +COPY app \/app$/m);
    expect(text).toMatch(/^total: 3 layers, \d+ B compressed, 13.5 KiB uncompressed, 9 files$/m);
    expect(text).toContain(`wasted space: 1.04 KiB in 5 files\n`);
    expect(text).toContain(`efficiency: ${(report.efficiency * 100).toFixed(1)}%\n`);
    expect(text).toMatch(/^ {2}500 B +\/bin\/tool +0 +1$/m);
    expect(text).toContain('lint: 1 error, 1 warning, 2 info\n');
    expect(text).toMatch(/^ {2}warning +BERTH-L001-root-user: .+\n {11}fix: /m);
    expect(text).toMatch(/^ {2}error +BERTH-L003-secret-file: \/root\/.ssh\/id_rsa .+ in layer 0\n {11}fix: /m);
  });

  it('picks an index entry by platform: linux/amd64 by default, --platform for another, the list when it has none', async () => {
    const ref = `docker://${host}/insp/multi:v1`;
    const amd = await inspectImage(ref, { creds, tlsVerify: 'false' });
    expect([amd.digest, amd.index]).toEqual([digest, { digest: index, platform: 'linux/amd64' }]);
    const arm64 = await inspectImage(ref, { creds, tlsVerify: 'false', platform: 'linux/arm64' });
    expect([arm64.digest, arm64.index?.platform, arm64.layers.length]).toEqual([arm, 'linux/arm64/v8', 1]);
    const missing = await inspectImage(ref, { creds, tlsVerify: 'false', platform: 'linux/s390x' }).catch((err: Error) => err);
    expect(exitCodeFor(missing as Error & { key?: string })).toBe(exitCodes.notFound);
    expect((missing as Error).message).toContain(`linux/arm64/v8  ${arm}`);

    // Neither linux/amd64 nor a single image: a usage error listing the platforms.
    const entry = async (ref: string, platform: Record<string, string>) => ({
      mediaType: OCI_MANIFEST,
      digest: ref,
      size: Number((await registry.fetch(`/v2/insp/multi/manifests/${ref}`, { method: 'HEAD' })).headers.get('content-length')),
      platform,
    });
    const other = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [await entry(arm, { os: 'linux', architecture: 'arm64' }), await entry(digest, { os: 'linux', architecture: 's390x' })] }));
    expect((await registry.pushManifest('insp/multi', 'v2', other, OCI_INDEX)).status).toBe(201);
    const unnamed = await inspectImage(`docker://${host}/insp/multi:v2`, { creds, tlsVerify: 'false' }).catch((err: Error) => err);
    expect(exitCodeFor(unnamed as Error & { key?: string })).toBe(exitCodes.usage);
    expect((unnamed as Error).message).toBe(`docker://${host}/insp/multi:v2 is an index without linux/amd64: name one of its platforms with --platform:\n  linux/arm64  ${arm}\n  linux/s390x  ${digest}`);
  });

  it('runs as the built CLI: --json is the report, a missing tag exits 5, a bad reference 2, an unreachable registry 1', async () => {
    const json = await runBerthCommand(['inspect', `docker://${host}/insp/app:1.0`, '--creds', creds, '--tls-verify=false', '--json']);
    expect({ code: json.code, stderr: json.stderr }).toEqual({ code: 0, stderr: '' });
    const printed = JSON.parse(json.stdout) as ApiInsights & { lint: { findings: Array<{ rule: string }> } };
    const api = await admin.ok<ApiInsights>('GET', '/projects/insp/repositories/app/artifacts/1.0/insights');
    expect([printed.layers, printed.history, printed.wasted, printed.efficiency, printed.base]).toEqual([api.layers, api.history, api.wasted, api.efficiency, api.base]);

    const text = await runBerthCommand(['inspect', `docker://${host}/insp/app:1.0`, '--creds', creds, '--tls-verify=false']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^efficiency: \d+\.\d%$/m);
    expect(text.stdout).toContain('COPY app /app');

    const missing = await runBerthCommand(['inspect', `docker://${host}/insp/app:nope`, '--creds', creds, '--tls-verify=false']);
    expect(missing.code).toBe(exitCodes.notFound);
    expect(missing.stderr).toBe(`berth: docker://${host}/insp/app:nope: no such image (the registry has no manifest insp/app:nope)\n`);

    for (const bad of ['insp/app:1.0', `docker://${host}`, `docker://${host}/Insp/App:1.0`, `oci:/tmp/x:1`]) {
      const run = await runBerthCommand(['inspect', bad]);
      expect({ bad, code: run.code }).toEqual({ bad, code: exitCodes.usage });
      expect(run.stderr).toMatch(/^berth: ".+": /);
    }

    const refused = await runBerthCommand(['inspect', 'docker://127.0.0.1:9/insp/app:1.0', '--tls-verify=false', '--json']);
    expect(refused.code).toBe(exitCodes.failed);
    expect((JSON.parse(refused.stdout) as { error: { code: string } }).error.code).toBe('UNAVAILABLE');
  }, 60_000);
});
