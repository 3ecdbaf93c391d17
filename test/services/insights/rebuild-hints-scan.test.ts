import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { engineMatrix, startTestBerth, type TestBerth } from '../../helpers/berth.js';
import { ApiClient } from '../../helpers/api.js';
import { gzipTarOf, type TarItem } from '../../helpers/layer-tar.js';
import { imageManifest, jsonBlob, RegistryClient, sha256, type Blob } from '../../helpers/oci.js';
import { osv } from '../../helpers/osv.js';
import { WebhookReceiver } from '../../helpers/receiver.js';
import { until } from '../../helpers/wait.js';
import { importOsv } from '../../../src/services/security/vulndb-import.js';

/**
 * Rebuild hints from scan data (docs/insights.md, "Rebuild hints"), with the built-in scanner on
 * push and an OSV advisory imported: library/deb:12.4 carries an OpenSSL the advisory names, an
 * application is built on it; pushing library/deb:12.5 (a newer tag of the same line, with the
 * fixed OpenSSL) and its scan make one rebuild event naming the application and the CVE. Every
 * image is indexed and scanned by its push job, as in production.
 */
const dpkg = (name: string, version: string, extra = '') => `Package: ${name}\nStatus: install ok installed\nArchitecture: amd64\n${extra}Version: ${version}\n`;
const osRelease = 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n';
const base = (openssl: string): TarItem[] => [
  { path: 'etc/os-release', content: osRelease },
  { path: 'var/lib/dpkg/status', content: [dpkg('bash', '5.2.15-2+b2'), dpkg('libssl3', openssl, 'Source: openssl\n')].join('\n') },
];

interface Layer {
  blob: Blob;
}
const layer = (items: TarItem[]): Layer => {
  const data = gzipTarOf(items);
  return { blob: { data, digest: sha256(data) } };
};

for (const { engine, skip } of await engineMatrix()) {
  describe.skipIf(skip)(`rebuild hints from scans (${engine})`, () => {
    let berth: TestBerth;
    let admin: ApiClient;
    let registry: RegistryClient;
    let receiver: WebhookReceiver;
    let workdir: string;

    beforeAll(async () => {
      berth = await startTestBerth({ engine, settings: { 'jobs.pollIntervalMs': 100, 'outbound.webhook.allowCidrs': ['127.0.0.1/32'] } });
      admin = new ApiClient(berth.url);
      registry = new RegistryClient(berth.url);
      workdir = await mkdtemp(join(tmpdir(), 'berth-rebuild-scan-'));
      await writeFile(join(workdir, 'openssl.json'), JSON.stringify(osv('DSA-5621-1', 'Debian:12', 'openssl', '3.0.13-1~deb12u1', { aliases: ['CVE-2024-0727'] })));
      await importOsv(berth.api.security.vulns, workdir, 'test');
      await admin.createProject('svc');
      receiver = new WebhookReceiver();
      await receiver.start();
      await admin.ok('POST', '/projects/svc/webhooks', { name: 'ci', url: receiver.url, eventTypes: ['rebuild'], format: 'harbor' });
    }, 60_000);
    afterAll(async () => {
      await berth?.stop();
      await receiver?.stop();
      if (workdir) await rm(workdir, { recursive: true, force: true });
    });

    async function push(repository: string, tag: string, layers: Layer[]): Promise<string> {
      const config = jsonBlob({ architecture: 'amd64', os: 'linux', config: { Env: [`BUILD=${repository}:${tag}`] }, rootfs: { type: 'layers', diff_ids: [] }, history: [] });
      for (const b of [config, ...layers.map((l) => l.blob)]) expect((await registry.pushBlob(repository, b)).status).toBe(201);
      const manifest = imageManifest(
        config,
        layers.map((l) => l.blob),
      );
      expect((await registry.pushManifest(repository, tag, manifest)).status).toBe(201);
      const digest = sha256(manifest);
      // Indexed by its push job (the indexer), then scanned from the stored inventory.
      await until(async () => (await admin.ok<{ indexed: boolean }>('GET', `/projects/${repository.split('/')[0]}/repositories/${repository.split('/').slice(1).join('/')}/artifacts/${digest}/recommendations`)).indexed, 30_000, `the indexing of ${repository}:${tag}`, 100);
      return digest;
    }
    const scanned = (project: string, repository: string, reference: string) =>
      until(async () => (await admin.call('GET', `/projects/${project}/repositories/${repository}/artifacts/${reference}/vulnerabilities`)).status === 200, 30_000, `the scan of ${repository}:${reference}`, 100);

    it('a newer tag of the base line whose scan no longer has a vulnerability an image carries makes one rebuild event naming it', async () => {
      const old = layer(base('3.0.11-1~deb12u1'));
      // Tagged 12 too: its first tag by name has no newer tag of its line, 12.4 has.
      const oldDigest = await push('library/deb', '12.4', [old]);
      expect((await admin.call('POST', `/projects/library/repositories/deb/artifacts/${oldDigest}/tags`, { name: '12' })).status).toBe(201);
      const app = await push('svc/api', '1', [old, layer([{ path: 'app/run', content: '#!/bin/sh\n' }])]);
      await scanned('library', 'deb', '12.4');
      await scanned('svc', 'api', '1');
      const appReport = await admin.ok<{ findings: Array<{ id: string }> }>('GET', '/projects/svc/repositories/api/artifacts/1/vulnerabilities');
      expect(appReport.findings.map((v) => v.id)).toEqual(['CVE-2024-0727']);

      const fixed = await push('library/deb', '12.5', [layer(base('3.0.13-1~deb12u1'))]);
      const [delivery] = await receiver.waitFor(1, 30_000);
      const body = JSON.parse(delivery!.body) as { type: string; event_data: { custom_attributes: Record<string, unknown> } };
      expect(body.type).toBe('REBUILD_SUGGESTED');
      expect(body.event_data.custom_attributes).toEqual({
        base: { digest: fixed, tag: '12.5', resource_url: expect.stringContaining('/library/deb:12.5') as unknown as string, previous_digest: oldDigest },
        reason: 'vulnerabilities-fixed',
        project: 'svc',
        images: [{ repository: 'svc/api', digest: app, tags: ['1'], indexTags: [], fixedVulnerabilities: [{ id: 'CVE-2024-0727', severity: expect.any(String) as unknown as string, package: expect.any(String) as unknown as string }] }],
        truncated: false,
        scanned: true,
      });
      await new Promise((r) => setTimeout(r, 1000));
      expect(receiver.received).toHaveLength(1);

      const recommendations = await admin.ok<{ recommendations: Array<{ kind: string; image: { tag?: string; digest: string }; fixes?: Array<{ id: string }> }> }>(
        'GET',
        '/projects/svc/repositories/api/artifacts/1/recommendations',
      );
      expect(recommendations.recommendations.filter((r) => r.kind === 'patched-base').map((r) => [r.image.tag, r.image.digest, r.fixes?.map((f) => f.id)])).toEqual([['12.5', fixed, ['CVE-2024-0727']]]);
    }, 90_000);
  });
}
