import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDistribution, type RunningSystem } from '../../bench/systems.js';
import { ApiClient } from '../helpers/api.js';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ContainerTools, missingTools } from '../helpers/clients.js';
import { RegistryClient } from '../helpers/oci.js';
import { writeOciLayout, type WrittenLayout } from '../helpers/oci-layout.js';

const missing = [...(await missingTools(['skopeo', 'podman', 'tar'])), ...(existsSync('/usr/bin/docker-registry') ? [] : ['docker-registry'])];
if (missing.length > 0) console.warn(`SKIPPED: Berth as a registry mirror needs ${missing.join(', ')}`);

/**
 * Berth as a transparent mirror: clients keep their image names (`example.test/lib/app`) and
 * their registries.conf sends the pulls to Berth, which serves them from its proxy-cache
 * project `hub` (registry.mirrorProject) and fetches from the upstream on first use.
 */
describe.skipIf(missing.length > 0)('podman and skopeo pulling through Berth as a mirror', () => {
  let distribution: RunningSystem;
  let berth: TestBerth;
  let work: string;
  let tools: ContainerTools;
  let layout: WrittenLayout;
  let conf: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-mirror-'));
    tools = new ContainerTools(work);
    // No credentials: the mirror's project is public (podman wants the file to exist).
    await writeFile(tools.env.REGISTRY_AUTH_FILE!, '{}');
    distribution = await startDistribution();
    layout = await writeOciLayout(join(work, 'layout'), 'v1', [
      { architecture: 'amd64', files: { 'hello.txt': 'hello from amd64\n' } },
      { architecture: 'arm64', files: { 'hello.txt': 'hello from arm64\n' } },
    ]);
    await tools.skopeo(['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, `docker://${new URL(distribution.url).host}/lib/app:v1`]);
    berth = await startTestBerth({ settings: { 'registry.mirrorProject': 'hub', 'outbound.proxyCache.allowCidrs': ['127.0.0.0/8'], 'outbound.replication.allowCidrs': ['127.0.0.0/8'] } });
    const api = new ApiClient(berth.url);
    await api.createProject('hub', true);
    const endpoint = await api.ok<{ id: number }>('POST', '/registries', { name: 'upstream', kind: 'oci', url: distribution.url });
    await api.ok('PUT', '/projects/hub/proxy-cache', { proxyCache: { endpointId: endpoint.id, ttlSeconds: 300 } });
    conf = join(work, 'registries.conf');
    await writeFile(
      conf,
      ['[[registry]]', 'prefix = "example.test"', 'location = "example.test"', '[[registry.mirror]]', `location = "${new URL(berth.url).host}"`, 'insecure = true', ''].join('\n'),
    );
  });
  afterAll(async () => {
    await berth?.stop();
    await distribution?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('skopeo copies an image by its own name, served by Berth from the upstream', async () => {
    await tools.skopeo(['--registries-conf', conf, 'copy', '--all', '--preserve-digests', 'docker://example.test/lib/app:v1', `oci:${join(work, 'out')}:v1`]);
    const index = JSON.parse(await tools.skopeo(['inspect', '--raw', `oci:${join(work, 'out')}:v1`])) as { manifests: Array<{ digest: string }> };
    expect(index.manifests.map((m) => m.digest).sort()).toEqual(layout.images.map((i) => i.manifestDigest).sort());
    // The image is in the proxy-cache project now.
    const res = await new RegistryClient(berth.url).fetch('/v2/hub/lib/app/manifests/v1', { method: 'HEAD', headers: { Accept: 'application/vnd.oci.image.index.v1+json' } });
    expect(res.headers.get('docker-content-digest')).toBe(layout.indexDigest);
  });

  it('podman pulls by its own name and gets the image for its platform', async () => {
    const env = { ...tools.env, CONTAINERS_REGISTRIES_CONF: conf };
    const mirrorTools = Object.assign(Object.create(ContainerTools.prototype) as ContainerTools, tools, { env });
    await mirrorTools.podman(['pull', 'example.test/lib/app:v1']);
    const labels = JSON.parse(await mirrorTools.podman(['image', 'inspect', '--format', '{{json .Labels}}', 'example.test/lib/app:v1'])) as Record<string, string>;
    expect(labels['org.example.arch']).toBe(process.arch === 'arm64' ? 'arm64' : 'amd64');
  });
});
