import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { engineMatrix, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient } from '../helpers/api.js';
import { RegistryClient, randomImage } from '../helpers/oci.js';
import { WebhookReceiver } from '../helpers/receiver.js';

const engines = await engineMatrix();
const secret = 'Webhook-Hmac-Secret';

for (const { engine, skip } of engines) {
  describe.skipIf(skip !== undefined)(`webhooks on ${engine}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let berth: TestBerth;
    let admin: ApiClient;
    let registry: RegistryClient;
    const receivers: WebhookReceiver[] = [];

    beforeAll(async () => {
      berth = await startTestBerth({
        engine,
        // The receivers listen on loopback, which the outbound policy refuses unless allowed.
        settings: { 'webhooks.backoffBaseMs': 100, 'webhooks.backoffMaxMs': 400, 'jobs.pollIntervalMs': 100, 'outbound.webhook.allowCidrs': ['127.0.0.1/32'] },
      });
      admin = new ApiClient(berth.url);
      registry = new RegistryClient(berth.url);
    });
    afterEach(async () => {
      for (const r of receivers.splice(0)) await r.stop();
    });
    afterAll(async () => {
      await berth?.stop();
    });

    async function receiverFor(project: string, body: Record<string, unknown> = {}): Promise<{ receiver: WebhookReceiver; webhook: { id: number } }> {
      const receiver = new WebhookReceiver();
      await receiver.start();
      receivers.push(receiver);
      await admin.createProject(project);
      const webhook = await admin.ok<{ id: number }>('POST', `/projects/${project}/webhooks`, {
        name: 'ci',
        url: receiver.url,
        eventTypes: ['push', 'delete', 'tag'],
        format: 'harbor',
        secret,
        authHeader: 'Bearer receiver-token',
        ...body,
      });
      return { receiver, webhook };
    }

    it('delivers exactly one signed Harbor-format event per push', async () => {
      const { receiver } = await receiverFor('hooked');
      const image = await registry.pushImage('hooked/app', 'v1');
      const [delivery] = await receiver.waitFor(1);
      await new Promise((r) => setTimeout(r, 500));
      expect(receiver.received).toHaveLength(1);

      const expectedSignature = `sha256=${createHmac('sha256', secret).update(delivery!.body).digest('hex')}`;
      expect(delivery!.headers['x-berth-signature']).toBe(expectedSignature);
      expect(delivery!.headers.authorization).toBe('Bearer receiver-token');
      expect(delivery!.headers['content-type']).toBe('application/json');
      expect(delivery!.headers['x-berth-event']).toBe('push');
      const payload = JSON.parse(delivery!.body) as { type: string; operator: string; event_data: { resources: unknown[]; repository: unknown } };
      expect(payload.type).toBe('PUSH_ARTIFACT');
      expect(payload.operator).toBe('admin');
      expect(payload.event_data.resources).toEqual([{ digest: image.digest, tag: 'v1', resource_url: `localhost:${berth.port}/hooked/app:v1` }]);
      expect(payload.event_data.repository).toMatchObject({ name: 'app', namespace: 'hooked', repo_full_name: 'hooked/app', repo_type: 'private' });
    });

    it('sends CloudEvents 1.0 structured events, and pulls when asked', async () => {
      const { receiver } = await receiverFor('clouded', { format: 'cloudevents', eventTypes: ['pull'], secret: null, authHeader: null });
      const image = await registry.pushImage('clouded/app', 'v2');
      await registry.fetch('/v2/clouded/app/manifests/v2', { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
      const [delivery] = await receiver.waitFor(1);
      expect(delivery!.headers['content-type']).toBe('application/cloudevents+json; charset=utf-8');
      expect(delivery!.headers['x-berth-signature']).toBeUndefined();
      const event = JSON.parse(delivery!.body) as Record<string, unknown>;
      expect(event).toMatchObject({
        specversion: '1.0',
        type: 'dev.berth.artifact.pulled',
        source: `localhost:${berth.port}/clouded/app`,
        subject: 'clouded/app:v2',
        datacontenttype: 'application/json',
        data: { operator: 'admin', repository: 'clouded/app', digest: image.digest, tag: 'v2', project: 'clouded' },
      });
      expect(typeof event.id).toBe('string');
      expect(Date.parse(event.time as string)).toBeGreaterThan(Date.now() - 60_000);
    });

    it('holds events while the receiver is down and delivers every one, in order, once it is back', async () => {
      const { receiver, webhook } = await receiverFor('outage');
      await receiver.stop();
      const digests: string[] = [];
      for (let i = 0; i < 3; i++) digests.push((await registry.pushImage('outage/app', `v${i}`)).digest);
      await new Promise((r) => setTimeout(r, 1200));
      expect(receiver.received).toHaveLength(0);
      const log = await admin.ok<{ items: Array<{ status: string; attempts: number; lastError: string | null }> }>('GET', `/projects/outage/webhooks/${webhook.id}/deliveries`);
      expect(log.items.some((d) => d.status === 'retrying' && d.attempts >= 1 && d.lastError === 'ECONNREFUSED')).toBe(true);

      await receiver.start();
      const delivered = await receiver.waitFor(3);
      const tags = delivered.map((d) => (JSON.parse(d.body) as { event_data: { resources: Array<{ tag: string }> } }).event_data.resources[0]!.tag);
      expect(tags).toEqual(['v0', 'v1', 'v2']);
      await new Promise((r) => setTimeout(r, 500));
      expect(receiver.received).toHaveLength(3);
      const after = await admin.ok<{ items: Array<{ status: string; responseCode: number | null; latencyMs: number | null }> }>(
        'GET',
        `/projects/outage/webhooks/${webhook.id}/deliveries`,
      );
      expect(after.items.map((d) => d.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
      expect(after.items.every((d) => d.responseCode === 200 && d.latencyMs !== null)).toBe(true);
    });

    it('sends no event for a change that did not happen (a refused push)', async () => {
      const { receiver } = await receiverFor('refused');
      const image = randomImage(1);
      await registry.pushBlob('refused/app', image.config);
      const res = await registry.pushManifest('refused/app', 'v1', image.manifest);
      expect(res.status).toBe(400);
      // A later successful push proves the pipeline runs; it must be the only event.
      const ok = await registry.pushImage('refused/app', 'v2');
      const [only] = await receiver.waitFor(1);
      await new Promise((r) => setTimeout(r, 500));
      expect(receiver.received).toHaveLength(1);
      expect((JSON.parse(only!.body) as { event_data: { resources: Array<{ digest: string }> } }).event_data.resources[0]!.digest).toBe(ok.digest);
    });

    it('sends a test event on request and records it in the delivery log', async () => {
      const { receiver, webhook } = await receiverFor('pinged');
      const delivery = await admin.ok<{ status: string; responseCode: number; eventType: string }>('POST', `/projects/pinged/webhooks/${webhook.id}/test`);
      expect(delivery).toMatchObject({ status: 'succeeded', responseCode: 200, eventType: 'test' });
      expect(JSON.parse(receiver.received[0]!.body)).toMatchObject({ type: 'PING' });
      receiver.status = 500;
      const failed = await admin.ok<{ status: string; responseCode: number }>('POST', `/projects/pinged/webhooks/${webhook.id}/test`);
      expect(failed).toMatchObject({ status: 'failed', responseCode: 500 });
    });

    it('never shows a webhook secret or auth header once set', async () => {
      await receiverFor('secretive');
      const list = await admin.ok<{ items: Array<Record<string, unknown>> }>('GET', '/projects/secretive/webhooks');
      expect(list.items[0]).toMatchObject({ hasSecret: true, hasAuthHeader: true });
      expect(JSON.stringify(list)).not.toContain(secret);
      expect(JSON.stringify(list)).not.toContain('receiver-token');
    });
  });
}
