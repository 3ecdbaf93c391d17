import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnBerth, type BerthProcess } from '../helpers/process.js';
import { ApiClient } from '../helpers/api.js';
import { RegistryClient } from '../helpers/oci.js';
import { WebhookReceiver } from '../helpers/receiver.js';

// The receivers listen on loopback, which the outbound policy refuses unless allowed.
const fastRetries = {
  BERTH_WEBHOOKS_BACKOFF_BASE_MS: '100',
  BERTH_WEBHOOKS_BACKOFF_MAX_MS: '300',
  BERTH_JOBS_POLL_INTERVAL_MS: '100',
  // A kill can land while a retry is being attempted: the job is then 'running' under the dead
  // process's lease until it runs out (300 s by default), and the next life takes it up after
  // that. Five seconds keep that case within the test's wait (CI failure, 2026-12-05: no delivery in 20 s).
  BERTH_JOBS_LEASE_SECONDS: '5',
  BERTH_OUTBOUND_WEBHOOK_ALLOW_CIDRS: '127.0.0.1/32',
};

describe('webhook delivery survives kill -9', () => {
  let dataDir: string;
  const running: BerthProcess[] = [];
  const receivers: WebhookReceiver[] = [];

  afterEach(async () => {
    for (const p of running.splice(0)) {
      if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
      await p.exited;
    }
    for (const r of receivers.splice(0)) await r.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function start(env: Record<string, string>): Promise<BerthProcess> {
    const p = await spawnBerth(['--port', '0', '--data-dir', dataDir], { ...fastRetries, ...env });
    running.push(p);
    return p;
  }

  async function kill(p: BerthProcess) {
    p.proc.kill('SIGKILL');
    expect((await p.exited).signal).toBe('SIGKILL');
  }

  it('delivers an event whose change committed before the process was killed, after restart', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-hookcrash-'));
    const receiver = new WebhookReceiver();
    await receiver.start();
    receivers.push(receiver);

    // First life: no background workers, so the event is written but certainly not delivered.
    const first = await start({ BERTH_JOBS_ENABLED: 'false' });
    const admin = new ApiClient(first.url);
    await admin.createProject('crashy');
    await admin.ok('POST', '/projects/crashy/webhooks', { name: 'r', url: receiver.url, eventTypes: ['push'], format: 'harbor' });
    const image = await new RegistryClient(first.url).pushImage('crashy/app', 'v1');
    await kill(first);
    expect(receiver.received).toHaveLength(0);

    await start({});
    const [delivery] = await receiver.waitFor(1);
    const payload = JSON.parse(delivery!.body) as { event_data: { resources: Array<{ digest: string; tag: string }> } };
    expect(payload.event_data.resources[0]).toMatchObject({ digest: image.digest, tag: 'v1' });
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.received).toHaveLength(1);
  });

  it('keeps retrying across a kill -9 while the receiver is down, and delivers once it is up', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-hookcrash-'));
    const receiver = new WebhookReceiver();
    await receiver.start();
    receivers.push(receiver);
    await receiver.stop();

    const first = await start({});
    const admin = new ApiClient(first.url);
    await admin.createProject('flaky');
    const webhook = await admin.ok<{ id: number }>('POST', '/projects/flaky/webhooks', { name: 'r', url: receiver.url, eventTypes: ['push'], format: 'cloudevents' });
    const image = await new RegistryClient(first.url).pushImage('flaky/app', 'v1');
    // Wait until the delivery has failed at least once: the change is done, the delivery is not.
    for (let i = 0; i < 100; i++) {
      const log = await admin.ok<{ items: Array<{ status: string; attempts: number }> }>('GET', `/projects/flaky/webhooks/${webhook.id}/deliveries`);
      if (log.items[0]?.attempts) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await kill(first);

    await receiver.start();
    const second = await start({});
    const [delivery] = await receiver.waitFor(1, 20_000);
    expect((JSON.parse(delivery!.body) as { data: { digest: string } }).data.digest).toBe(image.digest);
    const log = await new ApiClient(second.url).ok<{ items: Array<{ status: string; attempts: number }> }>('GET', `/projects/flaky/webhooks/${webhook.id}/deliveries`);
    expect(log.items[0]!.status).toBe('succeeded');
    expect(log.items[0]!.attempts).toBeGreaterThanOrEqual(2);
  });
});
