import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineMatrix, startTestBerth, type TestBerth } from '../../helpers/berth.js';
import { ApiClient } from '../../helpers/api.js';
import { imageIndex, imageManifest, jsonBlob, sha256, RegistryClient, type Blob } from '../../helpers/oci.js';
import { gzipSync } from 'node:zlib';
import { tarOf, type TarItem } from '../../helpers/layer-tar.js';
import { indexedImage } from '../../helpers/image-index.js';
import { WebhookReceiver } from '../../helpers/receiver.js';
import type { Finding } from '../../../src/domain/vulns/match.js';
import { connect } from '../../../src/adapters/db/connect.js';
import { until } from '../../helpers/wait.js';

/**
 * Recommendations and rebuild hints (docs/insights.md) through a started Berth: images pushed
 * through /v2 sharing layers, a base library/debian:12 and a slimmer library/debian:12-slim of
 * the same os-release, applications built on the base in several projects. The image index is
 * filled through its store (what the indexer writes on push), scan reports likewise.
 */

const debianRelease = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n';
const alpineRelease = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\n';
const MB = 1_000_000;

interface Layer {
  blob: Blob;
  /** Bytes of its tar. */
  tarBytes: number;
}

function layer(items: TarItem[]): Layer {
  const tar = tarOf(items);
  const data = gzipSync(tar, { level: 1 });
  return { blob: { data, digest: sha256(data) }, tarBytes: tar.length };
}

function rootfs(release: string, bigBytes: number, salt: string): Layer {
  return layer([
    { path: 'etc/os-release', content: release },
    { path: 'usr/lib/big', content: Buffer.alloc(bigBytes, 7) },
    { path: 'etc/salt', content: salt },
  ]);
}

const appLayer = (name: string) => layer([{ path: `app/${name}`, content: `#!/bin/sh\necho ${name}\n` }]);

interface Pushed {
  digest: string;
  layers: Layer[];
}

type Recommendation = { kind: string; message: string; image: { repository: string; tag?: string; digest: string } } & Record<string, unknown>;
interface Recommendations {
  repository: string;
  digest: string;
  indexed: boolean;
  os: { id: string; versionId?: string } | null;
  base: { repository: string; tag?: string; digest: string; layers: number; uncompressedBytes: number | null; tagMoved: boolean } | null;
  recommendations: Recommendation[];
}

interface HarborRebuild {
  type: string;
  event_data: {
    resources: Array<{ digest: string; tag?: string; resource_url: string }>;
    repository: { namespace: string; repo_full_name: string };
    custom_attributes: { base: { digest: string; tag: string; previous_digest: string }; reason: string; project: string; images: Array<{ repository: string; digest: string; tags: string[]; indexTags: string[]; fixedVulnerabilities?: unknown[] }>; truncated: boolean; scanned: boolean };
  };
}

function finding(id: string, pkg: string, severity = 'HIGH'): Finding {
  return { id, advisories: [id], aliases: [], severity: severity as Finding['severity'], summary: id, package: { name: pkg, version: '1', type: 'deb', purl: `pkg:deb/debian/${pkg}@1` }, ecosystem: 'Debian:12' };
}

for (const { engine, skip } of await engineMatrix()) {
  describe.skipIf(skip)(`recommendations and rebuild hints (${engine})`, () => {
    let berth: TestBerth;
    let admin: ApiClient;
    let dev: ApiClient;
    let registry: RegistryClient;
    const receivers: Record<string, WebhookReceiver> = {};

    const base1 = rootfs(debianRelease, 20 * MB, 'base build 1');
    const slim = rootfs(debianRelease, 6 * MB, 'slim build 1');
    const tiny = rootfs(debianRelease, 1 * MB, 'vault tiny');
    const alpine = rootfs(alpineRelease, 1 * MB, 'alpine');
    const images: Record<string, Pushed> = {};

    beforeAll(async () => {
      berth = await startTestBerth({
        engine,
        // No scans or indexing on push: the scan reports and index records here are the test's own
        // (a scan or an indexing finishing mid-test would replace them).
        settings: { 'security.scanning': false, 'insights.index.enabled': false, 'jobs.pollIntervalMs': 100, 'webhooks.backoffBaseMs': 100, 'webhooks.backoffMaxMs': 400, 'outbound.webhook.allowCidrs': ['127.0.0.1/32'] },
      });
      admin = new ApiClient(berth.url);
      registry = new RegistryClient(berth.url);
      for (const p of ['apps', 'other', 'vault', 'quiet', 'events']) await admin.createProject(p);
      await admin.createUser('rec-dev', 'Dev-Passw0rd-1');
      await admin.addMember('apps', 'rec-dev', 'developer');
      dev = new ApiClient(berth.url, { username: 'rec-dev', password: 'Dev-Passw0rd-1' });
      for (const p of ['apps', 'other', 'vault', 'quiet', 'library']) {
        const receiver = new WebhookReceiver();
        await receiver.start();
        receivers[p] = receiver;
        await admin.ok('POST', `/projects/${p}/webhooks`, { name: 'ci', url: receiver.url, eventTypes: ['rebuild'], format: 'harbor' });
      }

      images['debian:12'] = await push('library/debian', '12', [base1]);
      images['debian:12-slim'] = await push('library/debian', '12-slim', [slim]);
      images['alpine'] = await push('library/alpine', '3.19', [alpine]);
      images['tiny'] = await push('vault/tiny', '1', [tiny]);
      images['web'] = await push('apps/web', '1.0', [base1, appLayer('web')]);
      images['worker'] = await push('apps/worker', '2', [base1, appLayer('worker')]);
      images['api'] = await push('other/api', 'v1', [base1, appLayer('api')]);
      images['vault-app'] = await push('vault/app', 'v1', [base1, appLayer('vault-app')]);
      // Built on the base but never tagged: nothing to rebuild by name.
      images['untagged'] = await push('apps/web', undefined, [base1, appLayer('old web build')]);
      // A private base in vault, and an image of apps built on it.
      images['vault-base'] = await push('vault/base', '1', [rootfs(debianRelease, 1000, 'private base')]);
      images['on-vault'] = await push('apps/onvault', '1', [images['vault-base'].layers[0]!, appLayer('on vault')]);
      for (const image of Object.values(images)) await index(image, image === images['alpine'] ? alpineRelease : debianRelease);
    }, 120_000);
    afterAll(async () => {
      await berth?.stop();
      for (const r of Object.values(receivers)) await r.stop();
    });

    /** Pushes an image of `layers` (config salted by the repository and tag) and resolves its digest. */
    async function push(repository: string, tag: string | undefined, layers: Layer[], architecture = 'amd64'): Promise<Pushed & { manifest: Buffer }> {
      const config = jsonBlob({ architecture, os: 'linux', config: { Env: [`BUILD=${repository}:${tag ?? 'untagged'}:${layers.length}`] }, rootfs: { type: 'layers', diff_ids: [] }, history: [] });
      for (const b of [config, ...layers.map((l) => l.blob)]) expect((await registry.pushBlob(repository, b)).status).toBe(201);
      const manifest = imageManifest(
        config,
        layers.map((l) => l.blob),
      );
      const digest = sha256(manifest);
      expect((await registry.pushManifest(repository, tag ?? digest, manifest)).status).toBe(201);
      return { digest, layers, manifest };
    }

    /** Fills the image index as the indexer does on push: layers, sizes, distribution. */
    async function index(image: Pushed, release: string, platform = 'linux/amd64'): Promise<void> {
      const alpineOs = release === alpineRelease;
      await berth.api.recommendations.index.putImage(
        indexedImage({
          digest: image.digest,
          configDigest: 'sha256:' + '0'.repeat(64),
          platform,
          layers: image.layers.map((l) => l.blob.digest),
          compressedBytes: image.layers.reduce((n, l) => n + l.blob.data.length, 0),
          uncompressedBytes: image.layers.reduce((n, l) => n + l.tarBytes, 0),
          os: alpineOs ? { id: 'alpine', versionId: '3.19.1' } : { id: 'debian', versionId: '12', codename: 'bookworm' },
        }),
      );
    }

    const recommendations = (client: ApiClient, project: string, repository: string, reference: string) =>
      client.ok<Recommendations>('GET', `/projects/${project}/repositories/${repository}/artifacts/${reference}/recommendations`);

    it('recommends the slimmer base of the same distribution with the bytes it saves, and nothing the caller may not pull', async () => {
      const asDev = await recommendations(dev, 'apps', 'web', '1.0');
      expect(asDev.indexed).toBe(true);
      expect(asDev.os).toEqual({ id: 'debian', versionId: '12' });
      expect(asDev.base).toEqual({ repository: 'library/debian', tag: '12', digest: images['debian:12']!.digest, layers: 1, uncompressedBytes: base1.tarBytes, tagMoved: false });
      const saving = base1.tarBytes - slim.tarBytes;
      expect(asDev.recommendations).toEqual([
        {
          kind: 'slimmer-base',
          message: `this image could be ${Math.floor(saving / MB)} MB smaller on library/debian:12-slim (debian 12, as its base)`,
          image: { repository: 'library/debian', tag: '12-slim', digest: images['debian:12-slim']!.digest },
          savingBytes: saving,
          baseBytes: base1.tarBytes,
          candidateBytes: slim.tarBytes,
        },
      ]);
      // The administrator may pull vault's smaller debian 12 bases (built on nothing): named to them only, after the base's own repository, largest saving first.
      const asAdmin = await recommendations(admin, 'apps', 'web', '1.0');
      expect(asAdmin.recommendations.map((r) => `${r.kind} ${r.image.repository}:${r.image.tag}`)).toEqual([
        'slimmer-base library/debian:12-slim',
        'slimmer-base vault/base:1',
        'slimmer-base vault/tiny:1',
      ]);
      expect(JSON.stringify(asDev)).not.toContain('vault');
    });

    it('names no base and recommends nothing from a private project the caller cannot pull', async () => {
      const asDev = await recommendations(dev, 'apps', 'onvault', '1');
      expect(asDev.base).toBeNull();
      expect(asDev.recommendations).toEqual([]);
      expect(JSON.stringify(asDev)).not.toContain('vault/');
      const asAdmin = await recommendations(admin, 'apps', 'onvault', '1');
      expect(asAdmin.base).toMatchObject({ repository: 'vault/base', tag: '1' });
      // The base is 1 kB: no slimmer base saves 5 MB.
      expect(asAdmin.recommendations).toEqual([]);
    });

    it('answers indexed: false for an image the index has not read, and refuses an index', async () => {
      const pushed = await push('apps/fresh', 'new', [appLayer('fresh only')]);
      const fresh = await recommendations(dev, 'apps', 'fresh', 'new');
      expect(fresh).toEqual({ repository: 'apps/fresh', digest: pushed.digest, indexed: false, os: null, base: null, recommendations: [] });
      const res = await dev.call('GET', '/projects/apps/repositories/web/artifacts/nope/recommendations');
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      for (const reference of ['sha256:zz', `sha256:${'g'.repeat(64)}`, 'a'.repeat(201), '..%2F..%2Fetc']) {
        const hostile = await dev.call('GET', `/projects/apps/repositories/web/artifacts/${reference}/recommendations`);
        expect([400, 404]).toContain(hostile.status);
        expect(hostile.headers.get('content-type')).toContain('application/problem+json');
      }
      // As every project route answers for a project that does not exist (its lint summary alike).
      const missing = await admin.call('GET', '/projects/no-such-project/rebuild-hints');
      expect(missing.status).toBe((await admin.call('GET', '/projects/no-such-project/lint-summary')).status);
      expect(missing.status).toBeGreaterThanOrEqual(403);
      const doc = (await (await fetch(`${berth.url}/api/v1/openapi.json`)).json()) as { paths: Record<string, unknown> };
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/projects/{project}/repositories/{repository}/artifacts/{reference}/recommendations', '/api/v1/projects/{project}/rebuild-hints']));
      const outsider = await new ApiClient(berth.url, null).call('GET', '/projects/apps/repositories/web/artifacts/1.0/recommendations');
      expect([401, 403, 404]).toContain(outsider.status);
    });

    it('moving the base tag emits one rebuild event per project listing exactly its tagged images built on the old digest, delivered to each project webhook', async () => {
      const before = images['debian:12']!.digest;
      const base2 = rootfs(debianRelease, 20 * MB, 'base build 2');
      images['debian:12 v2'] = await push('library/debian', '12', [base2]);
      await index(images['debian:12 v2'], debianRelease);
      const after = images['debian:12 v2'].digest;

      const bodies = async (project: string, count: number) => (await receivers[project]!.waitFor(count, 20_000)).map((r) => JSON.parse(r.body) as HarborRebuild);
      const [apps] = await bodies('apps', 1);
      const [other] = await bodies('other', 1);
      const [vault] = await bodies('vault', 1);
      await new Promise((r) => setTimeout(r, 1500));
      expect(receivers.apps!.received).toHaveLength(1);
      expect(receivers.other!.received).toHaveLength(1);
      expect(receivers.vault!.received).toHaveLength(1);
      expect(receivers.quiet!.received).toHaveLength(0);
      expect(receivers.library!.received).toHaveLength(0);

      expect(apps!.type).toBe('REBUILD_SUGGESTED');
      expect(apps!.event_data.repository).toMatchObject({ namespace: 'apps', repo_full_name: 'library/debian' });
      expect(apps!.event_data.custom_attributes).toEqual({
        base: { digest: after, tag: '12', resource_url: expect.stringContaining('/library/debian:12') as unknown as string, previous_digest: before },
        reason: 'base-moved',
        project: 'apps',
        images: [
          { repository: 'apps/web', digest: images.web!.digest, tags: ['1.0'], indexTags: [] },
          { repository: 'apps/worker', digest: images.worker!.digest, tags: ['2'], indexTags: [] },
        ].sort((a, b) => a.repository.localeCompare(b.repository)),
        truncated: false,
        scanned: false,
      });
      expect(apps!.event_data.resources.map((r) => r.resource_url.replace(/^[^/]+\//, ''))).toEqual(['apps/web:1.0', 'apps/worker:2']);
      expect(other!.event_data.custom_attributes.images).toEqual([{ repository: 'other/api', digest: images.api!.digest, tags: ['v1'], indexTags: [] }]);
      expect(vault!.event_data.custom_attributes.images).toEqual([{ repository: 'vault/app', digest: images['vault-app']!.digest, tags: ['v1'], indexTags: [] }]);
    }, 60_000);

    it("lists a project's rebuild hints and marks the image's base stale", async () => {
      const hints = await dev.ok<{ project: string; hints: Array<{ base: Record<string, unknown>; images: Array<{ repository: string; digest: string; tags: string[] }> }> }>('GET', '/projects/apps/rebuild-hints');
      expect(hints.project).toBe('apps');
      expect(hints.hints).toHaveLength(1);
      expect(hints.hints[0]!.base).toMatchObject({ repository: 'library/debian', tag: '12', previousDigest: images['debian:12']!.digest, digest: images['debian:12 v2']!.digest });
      expect(hints.hints[0]!.images.map((i) => `${i.repository}@${i.digest}`)).toEqual([`apps/web@${images.web!.digest}`, `apps/worker@${images.worker!.digest}`]);
      expect((await admin.ok<{ hints: unknown[] }>('GET', '/projects/quiet/rebuild-hints')).hints).toEqual([]);
      expect((await dev.call('GET', '/projects/other/rebuild-hints')).status).toBeGreaterThanOrEqual(403);

      const web = await recommendations(dev, 'apps', 'web', '1.0');
      expect(web.base).toMatchObject({ repository: 'library/debian', tag: '12', digest: images['debian:12']!.digest, tagMoved: true });
      expect(web.recommendations[0]).toEqual({
        kind: 'stale-base',
        message: `library/debian:12 now names a newer build (${images['debian:12 v2']!.digest.slice(0, 19)}…) than the one this image was built on: rebuild it`,
        image: { repository: 'library/debian', tag: '12', digest: images['debian:12 v2']!.digest },
        previousDigest: images['debian:12']!.digest,
      });
    });

    it('with scan data, recommends the newer base build naming the vulnerabilities it fixes, and hints carry them', async () => {
      const now = Date.now();
      const report = (digest: string, findings: Finding[]) =>
        berth.api.recommendations.scans.put({ digest, status: 'succeeded', dbVersion: 1, scanner: 'test', packages: 3, summary: {}, findings, durationMs: 1, scannedAt: now });
      await report(images['debian:12']!.digest, [finding('CVE-2026-0001', 'openssl'), finding('CVE-2026-0002', 'zlib', 'LOW')]);
      await report(images['debian:12 v2']!.digest, [finding('CVE-2026-0002', 'zlib', 'LOW')]);
      await report(images.web!.digest, [finding('CVE-2026-0001', 'openssl'), finding('CVE-2026-0002', 'zlib', 'LOW'), finding('CVE-2026-0009', 'webapp')]);

      const web = await recommendations(dev, 'apps', 'web', '1.0');
      const patched = web.recommendations.find((r) => r.kind === 'patched-base');
      expect(patched).toEqual({
        kind: 'patched-base',
        message: 'library/debian:12 is a newer build of this image\'s base with 1 fewer known vulnerabilities; rebuilding on it fixes CVE-2026-0001',
        image: { repository: 'library/debian', tag: '12', digest: images['debian:12 v2']!.digest },
        fixes: [{ id: 'CVE-2026-0001', severity: 'HIGH', package: 'openssl' }],
        baseFindings: 2,
        candidateFindings: 1,
      });
      const hints = await dev.ok<{ hints: Array<{ images: Array<{ repository: string; fixedVulnerabilities?: unknown[] }> }> }>('GET', '/projects/apps/rebuild-hints');
      expect(hints.hints[0]!.images.map((i) => [i.repository, i.fixedVulnerabilities])).toEqual([
        ['apps/web', [{ id: 'CVE-2026-0001', severity: 'HIGH', package: 'openssl' }]],
        ['apps/worker', undefined],
      ]);
    });

    it('moving a private base tells only its own project, never another project that built on it', async () => {
      const seen = Object.fromEntries(Object.entries(receivers).map(([p, r]) => [p, r.received.length]));
      await push('vault/base', '1', [rootfs(debianRelease, 1000, 'private base 2')]);
      // apps/onvault is built on vault/base's old digest, but vault is private: apps hears nothing.
      await new Promise((r) => setTimeout(r, 2500));
      expect(Object.fromEntries(Object.entries(receivers).map(([p, r]) => [p, r.received.length]))).toEqual(seen);
      const hints = await dev.ok<{ hints: Array<{ base: { repository: string } }> }>('GET', '/projects/apps/rebuild-hints');
      expect(hints.hints.map((h) => h.base.repository)).toEqual(['library/debian']);
    });

    it('push and tag events name the digest a moved tag named before, and only then', async () => {
      const receiver = new WebhookReceiver();
      await receiver.start();
      receivers.events = receiver;
      await admin.ok('POST', '/projects/events/webhooks', { name: 'all', url: receiver.url, eventTypes: ['push', 'tag'], format: 'cloudevents' });
      const a = await push('events/x', '1', [appLayer('x a')]);
      const b = await push('events/x', '1', [appLayer('x b')]);
      // The same digest again: the tag does not move.
      expect((await registry.pushManifest('events/x', '1', b.manifest)).status).toBe(201);
      await push('events/x', undefined, [appLayer('x by digest')]);
      await admin.ok('POST', '/projects/events/repositories/x/artifacts/' + a.digest + '/tags', { name: 'stable' });
      await admin.ok('POST', '/projects/events/repositories/x/artifacts/' + b.digest + '/tags', { name: 'stable' });
      const data = (await receiver.waitFor(6)).map((r) => JSON.parse(r.body) as { type: string; data: { digest: string; tag?: string; previousDigest?: string } });
      expect(data.map((d) => [d.type, d.data.tag, d.data.digest, d.data.previousDigest])).toEqual([
        ['dev.berth.artifact.pushed', '1', a.digest, undefined],
        ['dev.berth.artifact.pushed', '1', b.digest, a.digest],
        ['dev.berth.artifact.pushed', '1', b.digest, undefined],
        ['dev.berth.artifact.pushed', undefined, expect.any(String) as unknown as string, undefined],
        ['dev.berth.artifact.tagged', 'stable', a.digest, undefined],
        ['dev.berth.artifact.tagged', 'stable', b.digest, a.digest],
      ]);
      // Moves within a project without images built on them make no rebuild event, and are not kept.
      await new Promise((r) => setTimeout(r, 1000));
      expect(receivers.events!.received).toHaveLength(6);
      const database = connect({ url: berth.config.database.url });
      try {
        const kept = await database.db.selectFrom('base_tag_move').select(['repository', 'tag', 'kind', 'done']).orderBy('id').execute();
        expect(kept.map((m) => [m.repository, m.tag, m.kind, Number(m.done)])).toEqual([
          ['library/debian', '12', 'move', 1],
          ['vault/base', '1', 'move', 1],
        ]);
      } finally {
        await database.db.destroy();
      }
    });

    it('a base pushed as a multi-platform index: images built on one of its platforms are hinted when its tag moves', async () => {
      const amd = await push('library/multi', undefined, [rootfs(debianRelease, 1000, 'multi amd64 1')]);
      const arm = await push('library/multi', undefined, [rootfs(debianRelease, 1000, 'multi arm64 1')], 'arm64');
      const list = imageIndex([
        { image: amd, architecture: 'amd64' },
        { image: arm, architecture: 'arm64' },
      ]);
      expect((await registry.pushManifest('library/multi', '1', list, 'application/vnd.oci.image.index.v1+json')).status).toBe(201);
      await index(amd, debianRelease);
      await index(arm, debianRelease, 'linux/arm64');
      const app = await push('apps/onmulti', '1', [amd.layers[0]!, appLayer('on multi')]);
      await index(app, debianRelease);
      // An index has no layers of its own: refused, naming its platforms.
      const refused = await dev.call('GET', '/projects/library/repositories/multi/artifacts/1/recommendations');
      expect(refused.status).toBe(400);
      expect(JSON.stringify(await refused.json())).toContain(amd.digest);
      const before = await recommendations(dev, 'apps', 'onmulti', '1');
      expect(before.base).toEqual({ repository: 'library/multi', tag: '1', digest: amd.digest, layers: 1, uncompressedBytes: amd.layers[0]!.tarBytes, tagMoved: false });

      const seen = receivers.apps!.received.length;
      const amd2 = await push('library/multi', undefined, [rootfs(debianRelease, 1000, 'multi amd64 2')]);
      const arm2 = await push('library/multi', undefined, [rootfs(debianRelease, 1000, 'multi arm64 2')], 'arm64');
      const list2 = imageIndex([
        { image: amd2, architecture: 'amd64' },
        { image: arm2, architecture: 'arm64' },
      ]);
      expect((await registry.pushManifest('library/multi', '1', list2, 'application/vnd.oci.image.index.v1+json')).status).toBe(201);
      const [event] = (await receivers.apps!.waitFor(seen + 1, 20_000)).slice(seen).map((r) => JSON.parse(r.body) as HarborRebuild);
      expect(event!.event_data.custom_attributes.base).toMatchObject({ tag: '1', digest: sha256(list2), previous_digest: sha256(list) });
      expect(event!.event_data.custom_attributes.images).toEqual([{ repository: 'apps/onmulti', digest: app.digest, tags: ['1'], indexTags: [] }]);
      const after = await recommendations(dev, 'apps', 'onmulti', '1');
      expect(after.base).toMatchObject({ repository: 'library/multi', tag: '1', digest: amd.digest, tagMoved: true });
      expect(after.recommendations.map((r) => [r.kind, r.image.digest])).toEqual([['stale-base', sha256(list2)]]);
      const hints = await dev.ok<{ hints: Array<{ base: { repository: string }; images: Array<{ repository: string }> }> }>('GET', '/projects/apps/rebuild-hints');
      expect(hints.hints.map((h) => [h.base.repository, h.images.map((i) => i.repository)])).toEqual([
        ['library/multi', ['apps/onmulti']],
        ['library/debian', ['apps/web', 'apps/worker']],
      ]);
    }, 60_000);

    it('a base is stale once one of its tags moves on, even while another tag still names it', async () => {
      const pair = await push('library/pair', '1', [rootfs(debianRelease, 1000, 'pair 1')]);
      expect((await admin.call('POST', `/projects/library/repositories/pair/artifacts/${pair.digest}/tags`, { name: '1.0' })).status).toBe(201);
      await index(pair, debianRelease);
      const app = await push('apps/onpair', '1', [pair.layers[0]!, appLayer('on pair')]);
      await index(app, debianRelease);
      // A project whose name has an underscore (LIKE's one-character wildcard) finds its own images.
      await admin.createProject('team_a');
      const underscored = await push('team_a/svc', '1', [pair.layers[0]!, appLayer('team_a svc')]);
      await index(underscored, debianRelease);
      expect((await recommendations(dev, 'apps', 'onpair', '1')).base).toMatchObject({ repository: 'library/pair', tag: '1', digest: pair.digest, tagMoved: false });
      const seen = receivers.apps!.received.length;
      const pair2 = await push('library/pair', '1', [rootfs(debianRelease, 1000, 'pair 2')]);
      const [event] = (await receivers.apps!.waitFor(seen + 1, 20_000)).slice(seen).map((r) => JSON.parse(r.body) as HarborRebuild);
      expect(event!.event_data.custom_attributes.images.map((i) => i.repository)).toEqual(['apps/onpair']);
      const after = await recommendations(dev, 'apps', 'onpair', '1');
      expect(after.base).toMatchObject({ repository: 'library/pair', tag: '1', digest: pair.digest, tagMoved: true });
      expect(after.recommendations.map((r) => [r.kind, r.image.tag, r.image.digest])).toEqual([['stale-base', '1', pair2.digest]]);
      const teamHints = await admin.ok<{ hints: Array<{ base: { repository: string }; images: Array<{ repository: string; digest: string }> }> }>('GET', '/projects/team_a/rebuild-hints');
      expect(teamHints.hints.map((h) => [h.base.repository, h.images.map((i) => `${i.repository}@${i.digest}`)])).toEqual([['library/pair', [`team_a/svc@${underscored.digest}`]]]);

      // Once the images built on the old pair are deleted and the index pruned, the daily job
      // removes that move, and only that one: nothing would list it any more.
      const keptMoves = async () => {
        const database = connect({ url: berth.config.database.url, poolSize: 1 });
        try {
          const rows = await database.db.selectFrom('base_tag_move').select(['repository', 'tag', 'previous_digest']).where('kind', '=', 'move').where('done', '=', 1).orderBy('id').execute();
          return rows.map((m) => `${m.repository}:${m.tag}@${m.previous_digest}`);
        } finally {
          await database.db.destroy();
        }
      };
      const before = await keptMoves();
      expect(before).toContain(`library/pair:1@${pair.digest}`);
      for (const [repository, digest] of [['apps/onpair', app.digest], ['team_a/svc', underscored.digest]]) {
        expect((await registry.fetch(`/v2/${repository}/manifests/${digest}`, { method: 'DELETE' })).status).toBe(202);
      }
      await berth.api.recommendations.index.prune();
      await berth.jobs.runner.enqueue({ type: 'rebuild-hints.prune', payload: {} });
      berth.jobs.runner.notify();
      await until(async () => !(await keptMoves()).includes(`library/pair:1@${pair.digest}`), 20_000, 'the pruned move');
      expect(await keptMoves()).toEqual(before.filter((m) => m !== `library/pair:1@${pair.digest}`));
      expect((await admin.ok<{ hints: unknown[] }>('GET', '/projects/team_a/rebuild-hints')).hints).toEqual([]);
    }, 60_000);
  });
}
