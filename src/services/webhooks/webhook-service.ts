import { BerthError } from '../../domain/errors.js';
import { eventTypes, systemEventTypes, type EventType, type StoredEvent } from '../../ports/event-store.js';
import type { ProjectRow } from '../../ports/identity-store.js';
import { blockedByPolicy, type Outbound } from '../../ports/outbound.js';
import type { DeliveryRow, WebhookFormat, WebhookRow, WebhookStore } from '../../ports/webhook-store.js';
import type { WebhookSender } from './webhook-sender.js';

export interface WebhookInput {
  name: string;
  url: string;
  eventTypes: EventType[];
  format: WebhookFormat;
  authHeader?: string | null;
  secret?: string | null;
  enabled?: boolean;
}

/** Webhook policies of a project, their delivery log, and "send a test event". */
export class WebhookService {
  constructor(
    private readonly store: WebhookStore,
    private readonly sender: WebhookSender,
    private readonly outbound: Outbound,
    private readonly now: () => number = Date.now,
  ) {}

  async create(project: ProjectRow, input: WebhookInput): Promise<WebhookRow> {
    validate(input);
    await this.checkReachable(input.url);
    if ((await this.store.list(project.id)).some((w) => w.name === input.name)) {
      throw new BerthError('CONFLICT', { message: `webhook ${input.name} already exists in project ${project.name}` });
    }
    return this.store.create(
      {
        projectId: project.id,
        name: input.name,
        url: input.url,
        eventTypes: [...new Set(input.eventTypes)],
        format: input.format,
        authHeader: input.authHeader ?? null,
        secret: input.secret ?? null,
        enabled: input.enabled ?? true,
      },
      this.now(),
    );
  }

  list(project: ProjectRow): Promise<WebhookRow[]> {
    return this.store.list(project.id);
  }

  async get(project: ProjectRow, id: number): Promise<WebhookRow> {
    const webhook = await this.store.get(id);
    if (!webhook || webhook.projectId !== project.id) throw new BerthError('NOT_FOUND', { message: `webhook ${id} not found in project ${project.name}` });
    return webhook;
  }

  async update(project: ProjectRow, id: number, patch: Partial<WebhookInput>): Promise<WebhookRow> {
    const current = await this.get(project, id);
    validate({ ...current, ...patch });
    if (patch.url !== undefined) await this.checkReachable(patch.url);
    return (await this.store.update(id, patch, this.now()))!;
  }

  /**
   * Refuses a receiver the outbound policy would refuse now (an internal address), so the
   * mistake shows at once; deliveries are checked again at every connection.
   */
  private async checkReachable(url: string): Promise<void> {
    try {
      await this.outbound.check('webhook', url);
    } catch (err) {
      const blocked = blockedByPolicy(err);
      if (blocked) throw new BerthError('BAD_REQUEST', { message: `webhook url ${blocked.message}` });
      throw err;
    }
  }

  async delete(project: ProjectRow, id: number): Promise<WebhookRow> {
    const webhook = await this.get(project, id);
    await this.store.delete(id);
    return webhook;
  }

  async deliveries(project: ProjectRow, id: number, page: { offset: number; limit: number }): Promise<{ items: DeliveryRow[]; total: number }> {
    await this.get(project, id);
    return this.store.listDeliveries(id, page);
  }

  /** Sends a `test` event now and records it in the delivery log; resolves with the outcome. */
  async sendTest(project: ProjectRow, id: number, operator: string): Promise<DeliveryRow> {
    const webhook = await this.get(project, id);
    const delivery = await this.store.createDelivery({ webhookId: id, eventId: null, eventType: 'test', status: 'pending' }, this.now());
    const event: StoredEvent = {
      id: 0,
      type: 'test',
      project: project.name,
      repository: `${project.name}/webhook-test`,
      data: { operator, repository: `${project.name}/webhook-test`, tag: 'test' },
      createdAt: this.now(),
    };
    const result = await this.sender.attempt(webhook, event, delivery);
    await this.store.recordAttempt(
      delivery.id,
      { status: result.ok ? 'succeeded' : 'failed', responseCode: result.status, latencyMs: result.latencyMs, error: result.error },
      this.now(),
    );
    return (await this.store.getDelivery(delivery.id))!;
  }
}

function validate(input: Pick<WebhookInput, 'url' | 'eventTypes' | 'name'>): void {
  let url: URL;
  try {
    url = new URL(input.url);
  } catch {
    throw new BerthError('BAD_REQUEST', { message: `webhook url is not a URL: ${input.url.slice(0, 200)}` });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new BerthError('BAD_REQUEST', { message: 'webhook url must be http:// or https://' });
  const subscribable = eventTypes.filter((t) => !systemEventTypes.includes(t));
  if (input.eventTypes.length === 0 || !input.eventTypes.every((t) => (subscribable as readonly string[]).includes(t))) {
    throw new BerthError('BAD_REQUEST', { message: `eventTypes must be among ${subscribable.join(', ')}` });
  }
  if (!/^[\w.-]{1,100}$/.test(input.name)) throw new BerthError('BAD_REQUEST', { message: 'webhook name must be 1-100 letters, digits, . _ or -' });
}
