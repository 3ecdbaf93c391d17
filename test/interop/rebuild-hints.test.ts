import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminCredentials, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient } from '../helpers/api.js';
import { ContainerTools, missingTools } from '../helpers/clients.js';
import { indexedImage } from '../helpers/image-index.js';
import { WebhookReceiver } from '../helpers/receiver.js';

/**
 * Rebuild hints on images buildah builds: a base pushed to Berth, an application built FROM that
 * base as Berth serves it and pushed to another project, then a new build of the base pushed
 * under the same tag. The application's project webhook must hear exactly one rebuild event
 * naming it. The image index is filled from the pushed manifests through its store (what the
 * indexer writes on push) so the test does not depend on indexing timing.
 */
const missing = await missingTools(['buildah']);
const notRoot = process.getuid?.() !== 0;
if (missing.length > 0) console.warn(`SKIPPING the rebuild-hints interop test: missing ${missing.join(', ')}`);
else if (notRoot) console.warn('SKIPPING the rebuild-hints interop test: buildah with the vfs driver needs root here');

describe.skipIf(missing.length > 0 || notRoot)('rebuild hints for images built with buildah', () => {
  let berth: TestBerth;
  let work: string;
  let tools: ContainerTools;
  let admin: ApiClient;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    berth = await startTestBerth({ settings: { 'security.scanning': false, 'insights.index.enabled': false, 'jobs.pollIntervalMs': 100, 'outbound.webhook.allowCidrs': ['127.0.0.1/32'] } });
    admin = new ApiClient(berth.url);
    work = await mkdtemp(join(tmpdir(), 'berth-rebuild-'));
    tools = new ContainerTools(work);
    await writeFile(tools.env.REGISTRY_AUTH_FILE!, '{}');
    receiver = new WebhookReceiver();
    await receiver.start();
    await admin.createProject('builds');
    await admin.ok('POST', '/projects/builds/webhooks', { name: 'ci', url: receiver.url, eventTypes: ['rebuild'], format: 'cloudevents' });
  }, 60_000);
  afterAll(async () => {
    await berth?.stop();
    await receiver?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Reads the pushed image's manifest and fills its index record. */
  async function index(repository: string, tag: string): Promise<string> {
    const res = await admin.registry.fetch(`/v2/${repository}/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' } });
    expect(res.status).toBe(200);
    const digest = res.headers.get('docker-content-digest')!;
    const manifest = (await res.json()) as { config: { digest: string }; layers: Array<{ digest: string; size: number }> };
    const bytes = manifest.layers.reduce((n, l) => n + l.size, 0);
    await berth.api.recommendations.index.putImage(indexedImage({ digest, configDigest: manifest.config.digest, layers: manifest.layers.map((l) => l.digest), compressedBytes: bytes, uncompressedBytes: bytes, os: { id: 'tiny', versionId: '1' } }));
    return digest;
  }

  it('a new build of the base under the same tag tells the project of the image built FROM it, once', async () => {
    const host = `127.0.0.1:${berth.port}`;
    const creds = `${adminCredentials.username}:${adminCredentials.password}`;
    const push = (image: string, target: string) => tools.buildah(['push', '--tls-verify=false', '--creds', creds, image, `docker://${host}/${target}`]);
    const rootfs = join(work, 'rootfs');
    await mkdir(join(rootfs, 'etc'), { recursive: true });
    await writeFile(join(rootfs, 'etc/os-release'), 'ID=tiny\nVERSION_ID="1"\n');
    await writeFile(join(rootfs, 'etc/motd'), 'build 1\n');
    const build = async (tag: string) => {
      const container = (await tools.buildah(['from', 'scratch'])).trim();
      await tools.buildah(['copy', container, `${rootfs}/.`, '/']);
      await tools.buildah(['commit', '-q', container, `localhost/rb/base:${tag}`]);
      await push(`localhost/rb/base:${tag}`, 'library/rb-base:1');
    };
    await build('1');
    const base1 = await index('library/rb-base', '1');

    const app = (await tools.buildah(['from', '--tls-verify=false', '--creds', creds, `docker://${host}/library/rb-base:1`])).trim();
    await writeFile(join(work, 'app.sh'), '#!/bin/sh\necho app\n');
    await tools.buildah(['copy', app, join(work, 'app.sh'), '/app/app.sh']);
    await tools.buildah(['commit', '-q', app, 'localhost/rb/app:1']);
    await push('localhost/rb/app:1', 'builds/app:1');
    const appDigest = await index('builds/app', '1');

    await writeFile(join(rootfs, 'etc/motd'), 'build 2, patched\n');
    await build('2');
    const [delivery] = await receiver.waitFor(1, 30_000);
    const event = JSON.parse(delivery!.body) as { type: string; subject: string; data: { previousDigest: string; digest: string; details: { project: string; images: unknown[] } } };
    expect(event.type).toBe('dev.berth.image.rebuild-suggested');
    expect(event.subject).toBe('library/rb-base:1');
    expect(event.data.previousDigest).toBe(base1);
    expect(event.data.details).toEqual({ reason: 'base-moved', project: 'builds', images: [{ repository: 'builds/app', digest: appDigest, tags: ['1'], indexTags: [] }], truncated: false, scanned: false });
    await new Promise((r) => setTimeout(r, 1000));
    expect(receiver.received).toHaveLength(1);

    const recommendations = await admin.ok<{ base: { digest: string; tagMoved: boolean }; recommendations: Array<{ kind: string; image: { digest: string } }> }>('GET', '/projects/builds/repositories/app/artifacts/1/recommendations');
    expect(recommendations.base).toMatchObject({ digest: base1, tagMoved: true });
    expect(recommendations.recommendations.map((r) => [r.kind, r.image.digest])).toEqual([['stale-base', event.data.digest]]);
  }, 600_000);
});
