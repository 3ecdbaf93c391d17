import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, migrate, type Database } from '../../src/adapters/db/connect.js';
import { KyselyEventStore } from '../../src/adapters/db/kysely-event-store.js';
import { KyselyIdentityStore } from '../../src/adapters/db/kysely-identity-store.js';
import { KyselyWebhookStore } from '../../src/adapters/db/kysely-webhook-store.js';
import type { OutboxEvent } from '../../src/ports/event-store.js';
import { WebhookDispatcher } from '../../src/services/webhooks/webhook-dispatcher.js';

const pull = (project: string): OutboxEvent => ({ type: 'pull', project, repository: `${project}/app`, data: { operator: 'alice', repository: `${project}/app`, digest: 'sha256:00' } });

describe('the webhook dispatcher', () => {
  let database: Database;
  let events: KyselyEventStore;
  let webhooks: KyselyWebhookStore;

  beforeAll(async () => {
    database = connect({ url: 'sqlite::memory:' });
    await migrate(database);
    events = new KyselyEventStore(database);
    webhooks = new KyselyWebhookStore(database);
    const identity = new KyselyIdentityStore(database);
    const hooked = await identity.createProject({ name: 'hooked', public: false, createdBy: null }, 1);
    await identity.createProject({ name: 'quiet', public: false, createdBy: null }, 1);
    await webhooks.create({ projectId: hooked.id, name: 'ci', url: 'http://127.0.0.1:9/hook', eventTypes: ['pull'], format: 'harbor', authHeader: null, secret: null, enabled: true }, 1);
  });
  afterAll(async () => {
    await database.db.destroy();
  });

  it('wakes the job runner only when it queued deliveries, not for every event it read', async () => {
    let wakes = 0;
    const dispatcher = new WebhookDispatcher(webhooks, { intervalMs: 60_000, maxAttempts: 3, onJobs: () => wakes++ });
    await events.append([pull('quiet'), pull('quiet'), pull('quiet')], 2);
    expect(await dispatcher.drain()).toBe(3);
    expect(wakes).toBe(0);
    await events.append([pull('quiet'), pull('hooked'), pull('hooked')], 3);
    expect(await dispatcher.drain()).toBe(3);
    expect(wakes).toBe(1);
    expect((await webhooks.fanOut({ consumer: 'webhooks', batch: 200, maxAttempts: 3, now: 4 }))).toEqual({ events: 0, jobs: 0 });
  });
});
