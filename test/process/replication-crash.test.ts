import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../helpers/api.js';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { RegistryClient, randomImage, sha256, type Image } from '../helpers/oci.js';
import { spawnBerth, type BerthProcess } from '../helpers/process.js';

interface Execution {
  id: number;
  status: string;
  tasks: { pending: number; succeeded: number; failed: number; skipped: number };
}
interface Task {
  source: string;
  status: string;
  startedAt: string | null;
  finishedAt: string | null;
}

const env = {
  BERTH_OUTBOUND_REPLICATION_ALLOW_CIDRS: '127.0.0.0/8',
  // A job whose process died is taken up again after this long.
  BERTH_JOBS_LEASE_SECONDS: '5',
  BERTH_JOBS_POLL_INTERVAL_MS: '100',
};

describe('a replication killed with kill -9', () => {
  let source: TestBerth | undefined;
  let berth: BerthProcess | undefined;
  let dir: string | undefined;

  afterAll(async () => {
    berth?.proc.kill('SIGKILL');
    await source?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('carries on after a restart with the tasks not done, and finishes with every image complete', async () => {
    source = await startTestBerth();
    const pusher = new RegistryClient(source.url);
    const images: Image[] = [];
    // 8 images of 2 × 96 KiB; at 256 KiB/s the run takes about 6 s, so it is killed midway.
    for (let i = 0; i < 8; i++) images.push(await pusher.pushImage(`library/img${i}`, 'v1', randomImage(2, 96 * 1024)));
    dir = await mkdtemp(join(tmpdir(), 'berth-replication-crash-'));
    berth = await spawnBerth(['--port', '0', '--data-dir', dir], env);
    let api = new ApiClient(berth.url);
    await api.createProject('mirror');
    const endpoint = await api.ok<{ id: number }>('POST', '/registries', { name: 'source', kind: 'berth', url: source.url, username: 'admin', secret: 'Admin-Passw0rd' });
    const rule = await api.ok<{ id: number }>('POST', '/replication/policies', {
      name: 'slow',
      endpointId: endpoint.id,
      direction: 'pull',
      repositories: 'library/img*',
      destinationNamespace: 'mirror',
      flatten: 1,
      bandwidthKiB: 256,
    });
    const started = await api.ok<Execution>('POST', '/replication/executions', { policyId: rule.id });

    // Killed once some tasks are done and others are not.
    const deadline = Date.now() + 30_000;
    let before: Task[] = [];
    while (Date.now() < deadline) {
      before = (await api.ok<{ items: Task[] }>('GET', `/replication/executions/${started.id}/tasks`)).items;
      if (before.filter((t) => t.status === 'succeeded').length >= 2) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    berth.proc.kill('SIGKILL');
    expect((await berth.exited).signal).toBe('SIGKILL');
    const doneBefore = before.filter((t) => t.status === 'succeeded');
    expect(doneBefore.length).toBeGreaterThanOrEqual(2);
    expect(doneBefore.length).toBeLessThan(8);

    berth = await spawnBerth(['--port', '0', '--data-dir', dir], env);
    api = new ApiClient(berth.url);
    let execution: Execution | undefined;
    const resumeDeadline = Date.now() + 40_000;
    while (Date.now() < resumeDeadline) {
      execution = await api.ok<Execution>('GET', `/replication/executions/${started.id}`);
      if (execution.status === 'succeeded' || execution.status === 'failed') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(execution).toMatchObject({ status: 'succeeded', tasks: { pending: 0, succeeded: 8, failed: 0 } });
    // The tasks done before the kill were not done again.
    const after = (await api.ok<{ items: Task[] }>('GET', `/replication/executions/${started.id}/tasks`)).items;
    for (const task of doneBefore) expect(after.find((t) => t.source === task.source)).toMatchObject({ status: 'succeeded', startedAt: task.startedAt, finishedAt: task.finishedAt });

    const pulled = new RegistryClient(berth.url);
    for (let i = 0; i < 8; i++) {
      const image = images[i]!;
      const manifest = await pulled.fetch(`/v2/mirror/img${i}/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
      expect(sha256(Buffer.from(await manifest.arrayBuffer()))).toBe(image.digest);
      for (const blob of image.layers) {
        const res = await pulled.fetch(`/v2/mirror/img${i}/blobs/${blob.digest}`);
        expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(blob.digest);
      }
    }
  });
});
