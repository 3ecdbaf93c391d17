import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { startTestBerth, type TestBerth } from '../../helpers/berth.js';
import { ApiClient } from '../../helpers/api.js';
import { imageIndex, imageManifest, jsonBlob, sha256, RegistryClient, type Blob } from '../../helpers/oci.js';
import { gzipTarOf, tarOf, type TarItem } from '../../helpers/layer-tar.js';
import { LintService } from '../../../src/services/insights/lint-service.js';
import type { PolicyStore } from '../../../src/ports/policy-store.js';
import { BerthError } from '../../../src/domain/errors.js';

const blob = (data: Buffer): Blob => ({ data, digest: sha256(data) });

interface Finding {
  rule: string;
  severity: string;
  message: string;
  fix: string;
  path?: string;
  layer?: number;
  variable?: string;
}
interface Report {
  digest: string;
  tags: string[];
  layers: number;
  os: { id: string } | null;
  packages: number;
  disabledRules: string[];
  summary: Record<string, number>;
  findings: Finding[];
  omitted: Record<string, number>;
}

const dpkg = (name: string, version: string) => `Package: ${name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: ${version}\n`;
const osRelease: TarItem = { path: 'etc/os-release', content: 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n' };

/** A Debian base with a setuid binary, then an application layer that leaves apt lists, a world-writable file, a .env and a -dev package behind. */
const badLayers: TarItem[][] = [
  [osRelease, { path: 'usr/bin/su', content: 'ELF', mode: 0o4755 }, { path: 'tmp', type: 'directory', mode: 0o1777 }, { path: 'var/lib/dpkg/status', content: [dpkg('bash', '5.2.15-2+b2'), dpkg('libc6', '2.36-9')].join('\n') }],
  [
    { path: 'var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4', content: Buffer.alloc(3000, 1) },
    { path: 'var/lib/apt/lists/lock', content: '' },
    { path: 'var/lib/dpkg/status', content: [dpkg('bash', '5.2.15-2+b2'), dpkg('libc6', '2.36-9'), dpkg('libssl-dev', '3.0.11-1~deb12u2')].join('\n') },
    { path: 'app/config.yaml', content: 'a: 1\n', mode: 0o666 },
    { path: 'app/.env', content: 'DATABASE_URL=postgres://app:hunter2@db/app\n' },
  ],
];

/** The same base, done right: lists removed in the layer that used them, private files, no toolchain, the setuid bit stripped. */
const goodLayers: TarItem[][] = [
  [osRelease, { path: 'usr/bin/su', content: 'ELF', mode: 0o755 }, { path: 'tmp', type: 'directory', mode: 0o1777 }, { path: 'var/lib/dpkg/status', content: dpkg('bash', '5.2.15-2+b2') }],
  [{ path: 'var/lib/apt/lists', type: 'directory' }, { path: 'var/lib/apt/lists/lock', content: '' }, { path: 'app/config.yaml', content: 'a: 1\n', mode: 0o644 }, { path: 'app/.env.example', content: 'DATABASE_URL=\n' }],
];

const goodConfig = {
  User: '1000',
  Healthcheck: { Test: ['CMD', '/app/healthcheck'], Interval: 30_000_000_000 },
  Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'DB_PASSWORD_FILE=/run/secrets/db'],
  Labels: { 'org.opencontainers.image.licenses': 'MIT' },
};
const goodAnnotations = { 'org.opencontainers.image.source': 'https://example.com/app', 'org.opencontainers.image.revision': '0123abc', 'org.opencontainers.image.created': '2024-05-01T00:00:00Z' };

describe('best-practice lint through the API', () => {
  let berth: TestBerth;
  let admin: ApiClient;
  let registry: RegistryClient;

  beforeAll(async () => {
    berth = await startTestBerth();
    admin = new ApiClient(berth.url);
    registry = new RegistryClient(berth.url);
    await admin.createProject('lintp');
  });
  afterAll(async () => {
    await berth?.stop();
  });

  /** Pushes an image of `layers` as `name` with `tags`; resolves its manifest digest. */
  async function push(name: string, layers: Buffer[], options: { tags?: string[]; config?: Record<string, unknown>; annotations?: Record<string, string>; history?: unknown[] } = {}): Promise<string> {
    const config = jsonBlob({ architecture: 'amd64', os: 'linux', config: options.config ?? {}, rootfs: { type: 'layers', diff_ids: [] }, history: options.history ?? [] });
    const blobs = layers.map(blob);
    for (const b of [config, ...new Map(blobs.map((x) => [x.digest, x])).values()]) expect((await registry.pushBlob(name, b)).status).toBe(201);
    const manifest = imageManifest(config, blobs, options.annotations ? { annotations: options.annotations } : {});
    for (const tag of options.tags ?? ['v1']) expect((await registry.pushManifest(name, tag, manifest)).status).toBe(201);
    return sha256(manifest);
  }

  const lint = (project: string, repository: string, reference: string) => admin.ok<Report>('GET', `/projects/${project}/repositories/${repository}/artifacts/${reference}/lint`);
  const ids = (report: Report) => report.findings.map((f) => f.rule);

  it('finds every problem of a badly built image, with its evidence', async () => {
    const digest = await push('lintp/bad', badLayers.map(gzipTarOf), { tags: ['latest'], history: [{ created_by: 'RUN |1 NPM_TOKEN=npm_s3cr3t /bin/sh -c npm ci' }] });
    const report = await lint('lintp', 'bad', 'latest');
    expect(report).toMatchObject({ digest, tags: ['latest'], layers: 2, os: { id: 'debian' }, packages: 3, disabledRules: [] });
    expect(ids(report)).toEqual([
      'BERTH-L001-root-user',
      'BERTH-L002-no-healthcheck',
      'BERTH-L003-secret-file',
      'BERTH-L004-secret-env',
      'BERTH-L005-package-cache',
      'BERTH-L006-build-toolchain',
      'BERTH-L008-latest-only-tag',
      'BERTH-L010-missing-oci-annotations',
      'BERTH-L011-world-writable',
      'BERTH-L012-setuid-binary',
    ]);
    const by = (rule: string) => report.findings.find((f) => f.rule === rule)!;
    expect(by('BERTH-L003-secret-file')).toMatchObject({ severity: 'error', message: '/app/.env (.env file) in layer 1', path: '/app/.env', layer: 1 });
    expect(by('BERTH-L004-secret-env')).toMatchObject({ message: 'build argument NPM_TOKEN is recorded with its value in history step 0', variable: 'NPM_TOKEN' });
    expect(by('BERTH-L005-package-cache')).toMatchObject({ message: 'apt package lists left in layer 1: 1 file, 3000 bytes in /var/lib/apt/lists', layer: 1 });
    expect(by('BERTH-L006-build-toolchain').message).toBe('deb package libssl-dev 3.0.11-1~deb12u2 is a build toolchain (listed in /var/lib/dpkg/status)');
    expect(by('BERTH-L011-world-writable')).toMatchObject({ message: '/app/config.yaml is a world-writable file (mode 0666, layer 1)', path: '/app/config.yaml', layer: 1 });
    expect(by('BERTH-L012-setuid-binary')).toMatchObject({ message: '/usr/bin/su is setuid (mode 4755, owner uid 0, layer 0)', path: '/usr/bin/su', layer: 0 });
    expect(by('BERTH-L001-root-user').fix).toBe('Create an unprivileged user and end the Dockerfile with a numeric USER, e.g. `USER 10001:10001`.');
    expect(report.summary).toEqual({ error: 1, warning: 7, info: 2 });
    // Secrets are named, never shown.
    const text = JSON.stringify(report);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('npm_s3cr3t');
  });

  it('finds nothing in a well-built image', async () => {
    await push('lintp/good', goodLayers.map(gzipTarOf), { tags: ['1.0.0', 'latest'], config: goodConfig, annotations: goodAnnotations });
    const report = await lint('lintp', 'good', '1.0.0');
    expect(report.tags).toEqual(['1.0.0', 'latest']);
    expect(report.findings).toEqual([]);
    expect(report.summary).toEqual({ error: 0, warning: 0, info: 0 });
  });

  it('tells a secret a later layer deleted, and USER root as root', async () => {
    const base = gzipTarOf(goodLayers[0]!);
    const deleting = gzipTarOf([{ path: 'root/.ssh/.wh.id_rsa', content: '' }]);
    const withKey = gzipTarOf([{ path: 'root/.ssh/id_rsa', content: '-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n', mode: 0o600 }]);
    await push('lintp/deleted', [base, withKey, deleting], { tags: ['2'], config: { ...goodConfig, User: 'root' }, annotations: goodAnnotations });
    const report = await lint('lintp', 'deleted', '2');
    expect(report.findings.map((f) => [f.rule, f.message])).toEqual([
      ['BERTH-L001-root-user', 'the image runs as root (USER root)'],
      ['BERTH-L003-secret-file', '/root/.ssh/id_rsa (private key) in layer 1 (deleted by a later layer, still in its bytes)'],
    ]);
  });

  it('counts layers: 130 is too many', async () => {
    const layers = Array.from({ length: 130 }, (_, i) => gzipTarOf([{ path: `layer/${i}`, content: String(i) }]));
    await push('lintp/layered', layers, { tags: ['1'], config: goodConfig, annotations: goodAnnotations });
    const report = await lint('lintp', 'layered', '1');
    expect(report.findings.map((f) => [f.rule, f.message])).toEqual([['BERTH-L009-too-many-layers', 'the image has 130 layers (more than 100)']]);
  });

  it('leaves out the rules a project disables, refuses unknown ones, and audits the change', async () => {
    expect(await admin.ok('GET', '/projects/lintp/lint-policy')).toEqual({ disabledRules: [] });
    const bad = await admin.call('PUT', '/projects/lintp/lint-policy', { disabledRules: ['BERTH-L001-root-user', 'BERTH-L099-nope'] });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('BERTH-L099-nope');
    expect(await admin.ok('PUT', '/projects/lintp/lint-policy', { disabledRules: ['BERTH-L002-no-healthcheck', 'BERTH-L001-root-user'] })).toEqual({
      disabledRules: ['BERTH-L001-root-user', 'BERTH-L002-no-healthcheck'],
    });
    const report = await lint('lintp', 'bad', 'latest');
    expect(report.disabledRules).toEqual(['BERTH-L001-root-user', 'BERTH-L002-no-healthcheck']);
    expect(ids(report)).not.toContain('BERTH-L001-root-user');
    expect(ids(report)).not.toContain('BERTH-L002-no-healthcheck');
    expect(ids(report)).toContain('BERTH-L003-secret-file');
    const audit = await admin.ok<{ items: Array<{ action: string; resource: string; result: string }> }>('GET', '/audit-logs?action=lint-policy.update');
    expect(audit.items.map((a) => [a.action, a.resource, a.result])).toEqual([
      ['lint-policy.update', 'lintp', 'success'],
      ['lint-policy.update', 'lintp', 'failure'],
    ]);

    // A developer may read reports and the policy but not change it.
    await admin.createUser('lint-dev', 'Dev-Passw0rd-1');
    await admin.addMember('lintp', 'lint-dev', 'developer');
    const dev = new ApiClient(berth.url, { username: 'lint-dev', password: 'Dev-Passw0rd-1' });
    expect((await dev.call('GET', '/projects/lintp/repositories/bad/artifacts/latest/lint')).status).toBe(200);
    expect((await dev.call('PUT', '/projects/lintp/lint-policy', { disabledRules: [] })).status).toBe(403);
    expect((await new ApiClient(berth.url, null).call('GET', '/projects/lintp/repositories/bad/artifacts/latest/lint')).status).toBe(401);
    await admin.ok('PUT', '/projects/lintp/lint-policy', { disabledRules: [] });
  });

  it('counts findings per rule over the project’s tagged images', async () => {
    const summary = await admin.ok<{ images: number; truncated: boolean; skipped: number; failed: unknown[]; rules: Array<{ id: string; images: number; findings: number }> }>('GET', '/projects/lintp/lint-summary');
    expect(summary).toMatchObject({ images: 4, truncated: false, skipped: 0, failed: [] });
    const count = (id: string) => summary.rules.find((r) => r.id === id);
    expect(count('BERTH-L001-root-user')).toMatchObject({ images: 2, findings: 2 });
    expect(count('BERTH-L003-secret-file')).toMatchObject({ images: 2, findings: 2 });
    expect(count('BERTH-L009-too-many-layers')).toMatchObject({ images: 1, findings: 1 });
    expect(count('BERTH-L007-large-base')).toMatchObject({ images: 0, findings: 0 });
    expect(summary.rules).toHaveLength(12);
  });

  it('lists the rules publicly', async () => {
    const rules = await new ApiClient(berth.url, null).ok<Array<{ id: string; severity: string; title: string; explanation: string; fix: string }>>('GET', '/lint/rules');
    expect(rules.map((r) => r.id)).toEqual([
      'BERTH-L001-root-user',
      'BERTH-L002-no-healthcheck',
      'BERTH-L003-secret-file',
      'BERTH-L004-secret-env',
      'BERTH-L005-package-cache',
      'BERTH-L006-build-toolchain',
      'BERTH-L007-large-base',
      'BERTH-L008-latest-only-tag',
      'BERTH-L009-too-many-layers',
      'BERTH-L010-missing-oci-annotations',
      'BERTH-L011-world-writable',
      'BERTH-L012-setuid-binary',
    ]);
    expect(rules.every((r) => r.explanation.length > 0 && r.fix.length > 0)).toBe(true);
  });

  it('refuses an index (naming its images) and what is not an image', async () => {
    const digest = await push('lintp/multi', goodLayers.map(gzipTarOf), { tags: ['amd64'], config: goodConfig });
    const index = imageIndex([{ image: { digest, manifest: Buffer.from('') }, architecture: 'amd64' }]);
    expect((await registry.pushManifest('lintp/multi', 'idx', index, 'application/vnd.oci.image.index.v1+json')).status).toBe(201);
    const res = await admin.call('GET', '/projects/lintp/repositories/multi/artifacts/idx/lint');
    expect(res.status).toBe(400);
    expect(await res.text()).toContain(digest);
    expect((await admin.call('GET', '/projects/lintp/repositories/multi/artifacts/nope/lint')).status).toBe(404);
  });

  it('answers a hostile layer (../ path) with LAYER_UNREADABLE naming the layer, and keeps serving', async () => {
    const hostile = tarOf([{ path: '../../../etc/cron.d/evil', content: '* * * * * root sh\n' }]);
    const digest = await push('library/lint-bad', [gzipTarOf(goodLayers[0]!), hostile], { tags: ['v1'] });
    const res = await admin.call('GET', '/projects/library/repositories/lint-bad/artifacts/v1/lint');
    expect(res.status).toBe(422);
    const problem = await res.text();
    expect(problem).toContain('LAYER_UNREADABLE');
    expect(problem).toContain('path-outside-root');
    expect(problem).toContain(`layer 1 (${sha256(hostile)})`);
    expect((await registry.fetch('/v2/')).status).toBe(200);
    expect((await registry.fetch(`/v2/library/lint-bad/manifests/${digest}`, { method: 'HEAD' })).status).toBe(200);
    // The next request reads the layer again and fails the same way: a failed read is not cached as a summary.
    expect((await admin.call('GET', '/projects/library/repositories/lint-bad/artifacts/v1/lint')).status).toBe(422);
  });

  it('stops at symlink loops, decompression bombs and huge file counts', async () => {
    const noPolicy = { getPolicy: async () => undefined } as unknown as PolicyStore;
    const project = { id: 1, name: 'library' } as Parameters<LintService['lint']>[0];
    const service = new LintService(berth.api.registry, noPolicy, { limits: { maxEntries: 500 } });
    const reason = async (layers: Buffer[], name: string) => {
      await push(`library/${name}`, layers, { tags: ['v1'] });
      try {
        await service.lint(project, `library/${name}`, 'v1');
        return 'read';
      } catch (err) {
        if (!(err instanceof BerthError)) throw err;
        return `${err.code} ${(err.detail as { reason: string; layer: number }).reason} layer ${(err.detail as { layer: number }).layer}`;
      }
    };
    // A symlink loop where os-release is: read, with no distribution, without hanging.
    const loop = gzipTarOf([
      { path: 'etc/os-release', type: 'symlink', target: 'os-release2' },
      { path: 'etc/os-release2', type: 'symlink', target: 'os-release' },
      { path: 'usr/bin/sudo', content: 'x', mode: 0o4755 },
    ]);
    await push('library/lint-loop', [loop], { tags: ['v1'] });
    const looped = await service.lint(project, 'library/lint-loop', 'v1');
    expect(looped.os).toBeNull();
    expect(looped.findings.map((f) => f.rule)).toContain('BERTH-L012-setuid-binary');
    // 200 MiB of zeros in 200 KiB.
    const bomb = gzipSync(tarOf([{ path: 'zeros', content: Buffer.alloc(200 * 2 ** 20) }]));
    expect(await reason([gzipTarOf(goodLayers[0]!), bomb], 'lint-bomb')).toBe('LAYER_UNREADABLE decompression-bomb layer 1');
    const many = gzipTarOf(Array.from({ length: 600 }, (_, i) => ({ path: `f/${i}`, content: '' })));
    expect(await reason([many], 'lint-many')).toBe('LAYER_UNREADABLE too-many-entries layer 0');
    expect((await registry.fetch('/v2/')).status).toBe(200);
  });
});
