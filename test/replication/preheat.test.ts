import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../helpers/api.js';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { OCI_MANIFEST, randomImage } from '../helpers/oci.js';
import { StandInDragonfly } from '../helpers/dragonfly.js';

interface Execution {
  id: number;
  policyId: number;
  status: string;
  trigger: string;
  tasks: { pending: number; running: number; succeeded: number; failed: number };
  error: string | null;
}
interface Task {
  repository: string;
  tag: string;
  digest: string | null;
  jobId: string | null;
  status: string;
  message: string | null;
}

describe('P2P preheat against a stand-in Dragonfly manager', () => {
  let dragonfly: StandInDragonfly;
  let berth: TestBerth;
  let api: ApiClient;
  let providerId: number;

  async function executions(policyId: number, count: number): Promise<Execution[]> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const items = (await api.ok<{ items: Execution[] }>('GET', `/projects/apps/preheat/policies/${policyId}/executions`)).items;
      if (items.length >= count && items.every((e) => e.status === 'succeeded' || e.status === 'failed')) return items;
      if (Date.now() > deadline) throw new Error(`policy ${policyId}: ${JSON.stringify(items)} after 20 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  beforeAll(async () => {
    dragonfly = new StandInDragonfly('pat-good');
    await dragonfly.start();
    berth = await startTestBerth({ settings: { 'outbound.preheat.allowCidrs': ['127.0.0.0/8'], 'jobs.pollIntervalMs': 50 } });
    api = new ApiClient(berth.url);
    await api.createProject('apps');
  });
  afterAll(async () => {
    await berth?.stop();
    await dragonfly?.stop();
  });

  it('adds a provider after testing it; a wrong token and an internal address are refused with clear errors', async () => {
    const wrong = await api.ok<{ ok: boolean; message: string }>('POST', '/p2p/preheat/providers/ping', { url: dragonfly.url, authMode: 'oauth', secret: 'pat-wrong' });
    expect(wrong).toEqual({ ok: false, message: 'GET /oapi/v1/jobs: the provider refused the credentials (check the personal access token and its scopes): {"message":"invalid personal access token"}' });
    const blocked = await api.call('POST', '/p2p/preheat/providers', { name: 'internal', url: 'http://10.1.2.3:8080', authMode: 'oauth', secret: 'x' });
    expect(blocked.status).toBe(400);
    expect(((await blocked.json()) as { title: string }).title).toBe(
      'provider url blocked by policy: 10.1.2.3 is a private address, which preheat requests may not reach; an administrator can allow it with the setting outbound.preheat.allowCidrs (or outbound.allowCidrs for every feature)',
    );
    const provider = await api.ok<{ id: number; vendor: string; hasSecret: boolean; authMode: string }>('POST', '/p2p/preheat/providers', { name: 'dragonfly', url: dragonfly.url, authMode: 'oauth', secret: 'pat-good' });
    expect([provider.vendor, provider.hasSecret, provider.authMode]).toEqual(['dragonfly', true, 'oauth']);
    providerId = provider.id;
    expect(await api.ok('POST', `/p2p/preheat/providers/${providerId}/ping`)).toEqual({ ok: true, message: 'the provider answered and accepted the credentials' });
  });

  it('preheats each v* tag as it is pushed, with pull-only credentials that end with the execution', async () => {
    const policy = await api.ok<{ id: number }>('POST', '/projects/apps/preheat/policies', { name: 'releases', providerId, tags: 'v*', trigger: 'event', scope: 'all_peers', clusterIds: [1] });
    const v1 = await api.registry.pushImage('apps/web', 'v1', randomImage(1, 2048));
    await api.registry.pushImage('apps/web', 'dev', randomImage(1, 1024));
    const v2 = await api.registry.pushImage('apps/web', 'v2', randomImage(1, 2048));
    const done = await executions(policy.id, 2);
    // dev matched no filter: two executions, one image each.
    expect(done.map((e) => [e.trigger, e.status, e.tasks.succeeded, e.tasks.failed]).sort()).toEqual([
      ['event', 'succeeded', 1, 0],
      ['event', 'succeeded', 1, 0],
    ]);
    const port = new URL(berth.url).port;
    expect(dragonfly.jobs.map((j) => j.body.args.url)).toEqual([`http://localhost:${port}/v2/apps/web/manifests/v1`, `http://localhost:${port}/v2/apps/web/manifests/v2`]);
    for (const job of dragonfly.jobs) {
      expect(job.authorization).toBe('Bearer pat-good');
      expect([job.body.type, job.body.args.type, job.body.args.scope, job.body.scheduler_cluster_ids]).toEqual(['preheat', 'image', 'all_peers', [1]]);
      expect(job.body.args.username).toMatch(/^robot\$apps\+preheat-\d+-[0-9a-f]{6}$/);
      // The credentials pulled the image, could not push, and are gone now the execution ended.
      expect([job.pullStatus, job.pushStatus]).toEqual([200, 403]);
      const after = await fetch(job.body.args.url, { headers: { authorization: `Basic ${Buffer.from(`${job.body.args.username}:${job.body.args.password}`).toString('base64')}`, accept: OCI_MANIFEST } });
      expect(after.status).toBe(401);
    }
    const tasks = (await api.ok<{ items: Task[] }>('GET', `/projects/apps/preheat/executions/${done.find((e) => e.id === Math.min(...done.map((x) => x.id)))!.id}/tasks`)).items;
    expect(tasks.map((t) => [t.repository, t.tag, t.digest, t.jobId, t.status, t.message])).toEqual([['apps/web', 'v1', v1.digest, '1', 'succeeded', null]]);
    expect(v2.digest).toMatch(/^sha256:/);
  });

  it('runs a policy on demand over every matching tag and records a failure with the provider’s message', async () => {
    await api.registry.pushImage('apps/web', 'v3-fail', randomImage(1, 1024));
    const manual = await api.ok<{ id: number }>('POST', '/projects/apps/preheat/policies', { name: 'all-web', providerId, repositories: 'web', tags: '**' });
    const started = await api.ok<Execution>('POST', `/projects/apps/preheat/policies/${manual.id}/executions`);
    expect(started.trigger).toBe('manual');
    const [execution] = await executions(manual.id, 1);
    expect([execution!.status, execution!.tasks, execution!.error]).toEqual(['failed', { pending: 0, running: 0, succeeded: 3, failed: 1 }, '1 of 4 images failed to preheat']);
    const tasks = (await api.ok<{ items: Task[] }>('GET', `/projects/apps/preheat/executions/${execution!.id}/tasks`)).items;
    expect(tasks.map((t) => [t.tag, t.status])).toEqual([
      ['dev', 'succeeded'],
      ['v1', 'succeeded'],
      ['v2', 'succeeded'],
      ['v3-fail', 'failed'],
    ]);
    expect(tasks[3]!.message).toMatch(/^the provider's job \d+ failed: seed peer could not download the image$/);
    const metrics = await (await fetch(`${berth.url}/metrics`)).text();
    expect(metrics).toMatch(/^berth_preheat_tasks_total\{status="failed"\} [1-9]/m);
  });

  it('fails the task with the reason when the provider refuses its token, and keeps projects apart', async () => {
    const broken = await api.ok<{ id: number }>('POST', '/p2p/preheat/providers', { name: 'stale-token', url: dragonfly.url, authMode: 'oauth', secret: 'pat-expired' });
    const policy = await api.ok<{ id: number }>('POST', '/projects/apps/preheat/policies', { name: 'broken', providerId: broken.id, tags: 'v1' });
    await api.ok('POST', `/projects/apps/preheat/policies/${policy.id}/executions`);
    const [execution] = await executions(policy.id, 1);
    expect(execution!.status).toBe('failed');
    const [task] = (await api.ok<{ items: Task[] }>('GET', `/projects/apps/preheat/executions/${execution!.id}/tasks`)).items;
    expect(task!.message).toBe('POST /oapi/v1/jobs: the provider refused the credentials (check the personal access token and its scopes): {"message":"invalid personal access token"}');
    // Another project cannot read this one's executions through its own path.
    await api.createProject('other');
    expect((await api.call('GET', `/projects/other/preheat/executions/${execution!.id}`)).status).toBe(404);
    // A provider in use is not deleted.
    expect((await api.call('DELETE', `/p2p/preheat/providers/${broken.id}`)).status).toBe(409);
  });
});
