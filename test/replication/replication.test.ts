import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDistribution, type RunningSystem } from '../../bench/systems.js';
import { ApiClient } from '../helpers/api.js';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { OCI_INDEX, OCI_MANIFEST, RegistryClient, imageIndex, imageManifest, jsonBlob, randomImage, sha256 } from '../helpers/oci.js';

interface Execution {
  id: number;
  status: string;
  tasks: { pending: number; succeeded: number; failed: number; skipped: number };
  bytes: number;
  error: string | null;
  retryOf: number | null;
}
interface Task {
  source: string;
  destination: string;
  reference: string;
  operation: string;
  status: string;
  digest: string | null;
  bytes: number;
  error: string | null;
}

async function finished(api: ApiClient, id: number): Promise<Execution> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const execution = await api.ok<Execution>('GET', `/replication/executions/${id}`);
    if (!['queued', 'running', 'stopping'].includes(execution.status)) return execution;
    if (Date.now() > deadline) throw new Error(`execution ${id} still ${execution.status} after 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function run(api: ApiClient, policyId: number): Promise<{ execution: Execution; tasks: Task[] }> {
  const started = await api.ok<Execution>('POST', '/replication/executions', { policyId });
  const execution = await finished(api, started.id);
  const tasks = (await api.ok<{ items: Task[] }>('GET', `/replication/executions/${started.id}/tasks`)).items;
  return { execution, tasks };
}

describe('replication rules between two Berths and CNCF distribution', () => {
  let source: TestBerth;
  let berth: TestBerth;
  let api: ApiClient;
  let endpointId: number;
  const pushed: Record<string, Buffer> = {};

  beforeAll(async () => {
    source = await startTestBerth();
    berth = await startTestBerth({ settings: { 'outbound.replication.allowCidrs': ['127.0.0.0/8'], 'jobs.pollIntervalMs': 50 } });
    api = new ApiClient(berth.url);
    const client = new RegistryClient(source.url);
    const [a, b] = [await client.pushImage('library/app', 'a', randomImage(2, 4096)), await client.pushImage('library/app', 'b', randomImage(2, 4096))];
    const index = imageIndex([
      { image: a, architecture: 'amd64' },
      { image: b, architecture: 'arm64' },
    ]);
    expect((await client.pushManifest('library/app', 'v1', index, OCI_INDEX)).status).toBe(201);
    pushed.v1 = index;
    const signed = await client.pushImage('library/app', 'v2', randomImage(1, 2048));
    pushed.v2 = signed.manifest;
    const empty = jsonBlob({});
    expect((await client.pushBlob('library/app', empty)).status).toBe(201);
    const signature = imageManifest(empty, [], { artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', subject: { mediaType: OCI_MANIFEST, digest: signed.digest, size: signed.manifest.length } });
    expect((await client.pushManifest('library/app', sha256(signature), signature)).status).toBe(201);
    pushed.signature = signature;
    await client.pushImage('library/app', 'nightly', randomImage(1, 1024));
    pushed.other = (await client.pushImage('library/tools/other', 'v0.1', randomImage(1, 1024))).manifest;
    await client.pushImage('library/tools/other', 'latest', randomImage(1, 1024));
    endpointId = (await api.ok<{ id: number }>('POST', '/registries', { name: 'source', kind: 'berth', url: source.url, username: 'admin', secret: 'Admin-Passw0rd' })).id;
  });
  afterAll(async () => {
    await berth?.stop();
    await source?.stop();
  });

  it('pulls the tags a filter names, with their platforms and referrers; a second run copies nothing', async () => {
    await api.createProject('mirror');
    const rule = await api.ok<{ id: number }>('POST', '/replication/policies', {
      name: 'hub-mirror',
      endpointId,
      direction: 'pull',
      repositories: 'library/**',
      tags: 'v*',
      destinationNamespace: 'mirror',
      flatten: 1,
    });
    const first = await run(api, rule.id);
    expect(first.execution).toMatchObject({ status: 'succeeded', tasks: { pending: 0, succeeded: 3, failed: 0, skipped: 0 }, error: null });
    expect(first.tasks.map((t) => [t.source, t.destination, t.reference, t.status])).toEqual([
      ['library/app', 'mirror/app', 'v1', 'succeeded'],
      ['library/app', 'mirror/app', 'v2', 'succeeded'],
      ['library/tools/other', 'mirror/tools/other', 'v0.1', 'succeeded'],
    ]);
    expect(first.execution.bytes).toBeGreaterThan(4 * 4096 + 2048);

    const local = new RegistryClient(berth.url);
    const body = async (path: string) => Buffer.from(await (await local.fetch(path, { headers: { Accept: `${OCI_INDEX}, ${OCI_MANIFEST}` } })).arrayBuffer());
    expect((await body('/v2/mirror/app/manifests/v1')).equals(pushed.v1!)).toBe(true);
    expect((await body('/v2/mirror/app/manifests/v2')).equals(pushed.v2!)).toBe(true);
    expect((await body(`/v2/mirror/app/manifests/${sha256(pushed.signature!)}`)).equals(pushed.signature!)).toBe(true);
    expect((await body('/v2/mirror/tools/other/manifests/v0.1')).equals(pushed.other!)).toBe(true);
    for (const tag of ['nightly']) expect((await local.fetch(`/v2/mirror/app/manifests/${tag}`)).status).toBe(404);
    expect((await local.fetch('/v2/mirror/tools/other/manifests/latest')).status).toBe(404);

    const second = await run(api, rule.id);
    expect(second.execution).toMatchObject({ status: 'succeeded', tasks: { succeeded: 0, failed: 0, skipped: 3 }, bytes: 0 });

    const events = await api.ok<{ items: Array<{ action: string }> }>('GET', '/audit-logs?page_size=100');
    expect(events.items.filter((e) => e.action.startsWith('replication.')).map((e) => e.action)).toEqual(['replication.start', 'replication.start', 'replication.rule.create']);
  });

  it('records failed tasks, and a retry runs only those', async () => {
    // The destination project's quota cannot take the image: the task fails, saying why.
    await api.createProject('later');
    await api.ok('PUT', '/projects/later/quota', { storageBytes: 100 });
    const rule = await api.ok<{ id: number }>('POST', '/replication/policies', { name: 'to-full', endpointId, direction: 'pull', repositories: 'library/app', tags: 'v2', destinationNamespace: 'later' });
    const failed = await run(api, rule.id);
    expect(failed.execution).toMatchObject({ status: 'failed', tasks: { failed: 1, succeeded: 0 }, error: '1 of 1 tasks failed' });
    expect(failed.tasks[0]!.error).toMatch(/quota/);
    await api.ok('PUT', '/projects/later/quota', { storageBytes: null });
    const retry = await api.ok<Execution>('POST', `/replication/executions/${failed.execution.id}/retry`);
    expect(retry.retryOf).toBe(failed.execution.id);
    const done = await finished(api, retry.id);
    expect(done).toMatchObject({ status: 'succeeded', tasks: { succeeded: 1, failed: 0 } });
    expect((await api.call('POST', `/replication/executions/${retry.id}/retry`)).status).toBe(409);
  });

  it('says in the destination’s own words why a push was refused (its quota)', async () => {
    const sourceApi = new ApiClient(source.url);
    await sourceApi.createProject('tiny');
    await sourceApi.ok('PUT', '/projects/tiny/quota', { storageBytes: 100 });
    await api.createProject('outgoing');
    await new RegistryClient(berth.url).pushImage('outgoing/app', 'v1', randomImage(1, 4096));
    const rule = await api.ok<{ id: number }>('POST', '/replication/policies', { name: 'to-tiny', endpointId, direction: 'push', repositories: 'outgoing/app', destinationNamespace: 'tiny', flatten: 1 });
    const { execution, tasks } = await run(api, rule.id);
    expect(execution.status).toBe('failed');
    expect(tasks[0]!.error).toMatch(/^upload sha256:[0-9a-f]{64} to tiny\/app: the account may not do this \(403\): DENIED quota exceeded: project tiny may store 100 B \(storage quota\); 0 B used, this push adds \d+ B$/);
  });

  it('pushes each tag an event-triggered rule matches as it is pushed, and nothing else', async () => {
    const rule = await api.ok<{ id: number }>('POST', '/replication/policies', {
      name: 'on-push',
      endpointId,
      direction: 'push',
      repositories: 'mirror/*',
      tags: 'v*',
      destinationNamespace: 'events',
      flatten: 1,
      trigger: 'event',
      replicateDeletion: true,
    });
    const client = new RegistryClient(berth.url);
    const image = await client.pushImage('mirror/app', 'v3', randomImage(1, 2048));
    await client.pushImage('mirror/app', 'nightly-2', randomImage(1, 1024));
    const deadline = Date.now() + 20_000;
    let executions: Execution[] = [];
    while (Date.now() < deadline) {
      executions = (await api.ok<{ items: Execution[] }>('GET', `/replication/executions?policy_id=${rule.id}`)).items;
      if (executions.length > 0 && executions.every((e) => e.status === 'succeeded' || e.status === 'failed')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(executions.map((e) => [e.status, e.tasks.succeeded])).toEqual([['succeeded', 1]]);
    const tasks = (await api.ok<{ items: Task[] }>('GET', `/replication/executions/${executions[0]!.id}/tasks`)).items;
    expect(tasks.map((t) => [t.source, t.destination, t.reference, t.digest])).toEqual([['mirror/app', 'events/app', 'v3', image.digest]]);
    const there = await new RegistryClient(source.url).fetch('/v2/events/app/manifests/v3', { headers: { Accept: OCI_MANIFEST } });
    expect(Buffer.from(await there.arrayBuffer()).equals(image.manifest)).toBe(true);

    // The tag deleted here goes at the destination too (and v3 is pushed again for the tests after).
    expect((await client.fetch('/v2/mirror/app/manifests/v3', { method: 'DELETE' })).status).toBe(202);
    const deleteDeadline = Date.now() + 20_000;
    let deletion: Task[] = [];
    while (Date.now() < deleteDeadline) {
      const latest = (await api.ok<{ items: Execution[] }>('GET', `/replication/executions?policy_id=${rule.id}`)).items;
      if (latest.length === 2 && latest[0]!.status === 'succeeded') {
        deletion = (await api.ok<{ items: Task[] }>('GET', `/replication/executions/${latest[0]!.id}/tasks`)).items;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(deletion.map((t) => [t.destination, t.reference, t.operation, t.status])).toEqual([['events/app', 'v3', 'delete', 'succeeded']]);
    expect((await new RegistryClient(source.url).fetch('/v2/events/app/manifests/v3', { method: 'HEAD', headers: { Accept: OCI_MANIFEST } })).status).toBe(404);
    expect((await client.pushManifest('mirror/app', 'v3', image.manifest)).status).toBe(201);
  });

  it('filters by artifact type and by label, in planned runs and in event-triggered ones', async () => {
    const client = new RegistryClient(source.url);
    const labelled = (labels: Record<string, string> | undefined) => {
      const config = jsonBlob({ architecture: 'amd64', os: 'linux', config: labels ? { Labels: labels } : {}, rootfs: { type: 'layers', diff_ids: [] }, n: Math.random() });
      const layer = randomImage(1, 512).layers[0]!;
      const manifest = imageManifest(config, [layer]);
      return { config, layers: [layer], manifest, digest: sha256(manifest) };
    };
    const payments = await client.pushImage('filters/app', 'v1', labelled({ team: 'payments', tier: 'web' }));
    await client.pushImage('filters/app', 'v2', labelled({ team: 'search' }));
    await client.pushImage('filters/app', 'v3', labelled(undefined));
    const chartConfig = jsonBlob({ name: 'app', version: '1.0.0' });
    const chartLayer = randomImage(1, 256).layers[0]!;
    expect((await client.pushBlob('filters/chart', chartConfig)).status).toBe(201);
    expect((await client.pushBlob('filters/chart', chartLayer)).status).toBe(201);
    const chart = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: chartConfig.digest, size: chartConfig.data.length },
        layers: [{ mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', digest: chartLayer.digest, size: chartLayer.data.length }],
      }),
    );
    expect((await client.pushManifest('filters/chart', '1.0.0', chart)).status).toBe(201);

    const images = await api.ok<{ id: number }>('POST', '/replication/policies', { name: 'labelled-images', endpointId, direction: 'pull', repositories: 'filters/**', artifactTypes: ['image'], labels: ['team=payments', 'tier'], destinationNamespace: 'f1', flatten: 1 });
    const first = await run(api, images.id);
    expect(first.tasks.map((t) => [t.source, t.reference, t.status, t.digest])).toEqual([['filters/app', 'v1', 'succeeded', payments.digest]]);
    const charts = await api.ok<{ id: number; artifactTypes: string[] }>('POST', '/replication/policies', { name: 'charts', endpointId, direction: 'pull', repositories: 'filters/**', artifactTypes: ['application/vnd.cncf.helm.config.v1+json'], destinationNamespace: 'f2', flatten: 1 });
    expect(charts.artifactTypes).toEqual(['application/vnd.cncf.helm.config.v1+json']);
    expect((await run(api, charts.id)).tasks.map((t) => [t.source, t.reference, t.status, t.digest])).toEqual([['filters/chart', '1.0.0', 'succeeded', sha256(chart)]]);
    expect((await new RegistryClient(berth.url).fetch('/v2/f2/chart/manifests/1.0.0', { headers: { Accept: OCI_MANIFEST } })).status).toBe(200);
    expect((await new RegistryClient(berth.url).fetch('/v2/f1/app/manifests/v2', { method: 'HEAD', headers: { Accept: OCI_MANIFEST } })).status).toBe(404);

    // An event-triggered rule checks when the task runs: the unlabelled push is skipped, saying why.
    const onPush = await api.ok<{ id: number }>('POST', '/replication/policies', { name: 'labelled-push', endpointId, direction: 'push', repositories: 'labels/*', labels: ['team=payments'], destinationNamespace: 'pushed', flatten: 1, trigger: 'event' });
    const local = new RegistryClient(berth.url);
    const unlabelled = await local.pushImage('labels/app', 'a', labelled({ team: 'search' }));
    const deadline = Date.now() + 20_000;
    let executions: Execution[] = [];
    while (Date.now() < deadline) {
      executions = (await api.ok<{ items: Execution[] }>('GET', `/replication/executions?policy_id=${onPush.id}`)).items;
      if (executions.length > 0 && executions.every((e) => e.status === 'succeeded' || e.status === 'failed')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(executions.map((e) => [e.status, e.tasks.skipped])).toEqual([['succeeded', 1]]);
    const tasks = (await api.ok<{ items: Task[] }>('GET', `/replication/executions/${executions[0]!.id}/tasks`)).items;
    expect(tasks.map((t) => [t.reference, t.status, t.error])).toEqual([['a', 'skipped', 'filtered out: no label team=payments']]);
    expect((await client.fetch(`/v2/pushed/app/manifests/${unlabelled.digest}`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } })).status).toBe(404);
    const bad = await api.call('POST', '/replication/policies', { name: 'bad-labels', endpointId, direction: 'pull', repositories: 'x/*', labels: ['=nokey'] });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { title: string }).title).toBe('labels are `key` or `key=value`');
  });

  it('refuses rules it cannot run, with a clear error', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ name: 'x', endpointId: 999, direction: 'pull', repositories: 'a' }, /registry endpoint 999 not found/],
      [{ name: 'x', endpointId, direction: 'pull', repositories: 'a/[' }, /repositories: invalid pattern/],
      [{ name: 'x', endpointId, direction: 'pull', repositories: 'a', trigger: 'cron' }, /cron expression/],
      [{ name: 'x', endpointId, direction: 'pull', repositories: 'a', destinationNamespace: 'Bad Name' }, /not a repository path/],
      [{ name: 'x', endpointId, direction: 'pull', repositories: 'a', trigger: 'event' }, /event trigger .* is for push rules/],
    ];
    for (const [body, message] of cases) {
      const res = await api.call('POST', '/replication/policies', body);
      expect(res.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
      expect(JSON.stringify(await res.json())).toMatch(message);
    }
    // An endpoint in use cannot be deleted.
    expect((await api.call('DELETE', `/registries/${endpointId}`)).status).toBe(409);
  });

  const distributionMissing = !existsSync('/usr/bin/docker-registry');
  if (distributionMissing) console.warn('SKIPPED: CNCF distribution (Debian docker-registry) is not installed; push replication to it is not checked');

  describe.skipIf(distributionMissing)('push mode', () => {
    let distribution: RunningSystem;

    beforeAll(async () => {
      distribution = await startDistribution();
    });
    afterAll(async () => {
      await distribution?.stop();
    });

    it('pushes to CNCF distribution, flattening names, and pulls back from it', async () => {
      const target = (await api.ok<{ id: number }>('POST', '/registries', { name: 'dist', kind: 'oci', url: distribution.url })).id;
      const push = await api.ok<{ id: number }>('POST', '/replication/policies', { name: 'to-dist', endpointId: target, direction: 'push', repositories: 'mirror/**', tags: 'v*', destinationNamespace: 'dc2', flatten: -1 });
      const pushedRun = await run(api, push.id);
      // v1, v2 and v3 (pushed by the event test) of mirror/app, v0.1 of mirror/tools/other.
      expect(pushedRun.execution).toMatchObject({ status: 'succeeded', tasks: { succeeded: 4, failed: 0 } });
      expect(pushedRun.tasks.map((t) => `${t.destination}:${t.reference}`)).toEqual(['dc2/app:v1', 'dc2/app:v2', 'dc2/app:v3', 'dc2/other:v0.1']);
      const there = new RegistryClient(distribution.url, null);
      const res = await there.fetch('/v2/dc2/app/manifests/v1', { headers: { Accept: OCI_INDEX } });
      expect(Buffer.from(await res.arrayBuffer()).equals(pushed.v1!)).toBe(true);

      await api.createProject('back');
      const pull = await api.ok<{ id: number }>('POST', '/replication/policies', { name: 'from-dist', endpointId: target, direction: 'pull', repositories: 'dc2/*', tags: 'v*', destinationNamespace: 'back', flatten: 1 });
      const pulled = await run(api, pull.id);
      expect(pulled.execution).toMatchObject({ status: 'succeeded', tasks: { succeeded: 4, failed: 0 } });
      const local = new RegistryClient(berth.url);
      const back = await local.fetch('/v2/back/app/manifests/v1', { headers: { Accept: OCI_INDEX } });
      expect(Buffer.from(await back.arrayBuffer()).equals(pushed.v1!)).toBe(true);
    });
  });
});
