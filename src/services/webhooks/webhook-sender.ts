import { createHmac } from 'node:crypto';
import type { EventStore, StoredEvent } from '../../ports/event-store.js';
import type { IdentityStore } from '../../ports/identity-store.js';
import type { JobRow } from '../../ports/job-store.js';
import { blockedByPolicy, type Outbound } from '../../ports/outbound.js';
import type { DeliveryRow, WebhookRow, WebhookStore } from '../../ports/webhook-store.js';
import { renderPayload } from './payload.js';

export interface WebhookSenderOptions {
  timeoutMs: number;
  /** host[:port] clients pull from, for resource URLs in payloads (known once the server listens). */
  registryHost: () => string;
  /** Told of every attempt's outcome (metrics). */
  onResult?: (result: 'success' | 'failure' | 'blocked') => void;
  /** Told of a delivery the outbound policy refused, with the address (the log; the delivery log says only "blocked by policy"). */
  onBlocked?: (webhook: WebhookRow, address: string | undefined, reason: string) => void;
  now?: () => number;
}

export interface AttemptResult {
  ok: boolean;
  status: number | null;
  latencyMs: number;
  error: string | null;
}

/** The signature header receivers verify: HMAC-SHA256 of the exact body with the webhook's secret. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Sends one webhook delivery (the `webhook.deliver` job) and records the attempt. */
export class WebhookSender {
  private readonly now: () => number;

  constructor(
    private readonly webhooks: WebhookStore,
    private readonly events: EventStore,
    private readonly identity: IdentityStore,
    private readonly outbound: Outbound,
    private readonly options: WebhookSenderOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Job handler: throws when the attempt failed, so the job runner retries with backoff. */
  async deliverJob(job: JobRow): Promise<void> {
    const delivery = await this.webhooks.getDelivery(Number(job.payload.deliveryId));
    if (!delivery) return;
    const webhook = await this.webhooks.get(delivery.webhookId);
    const event = delivery.eventId === null ? undefined : await this.events.get(delivery.eventId);
    if (!webhook || !event) {
      await this.webhooks.recordAttempt(delivery.id, { status: 'failed', responseCode: null, latencyMs: null, error: 'the webhook or its event no longer exists' }, this.now());
      return;
    }
    const result = await this.attempt(webhook, event, delivery);
    const final = result.ok || job.attempts >= job.maxAttempts;
    await this.webhooks.recordAttempt(
      delivery.id,
      { status: result.ok ? 'succeeded' : final ? 'failed' : 'retrying', responseCode: result.status, latencyMs: result.latencyMs, error: result.error },
      this.now(),
    );
    if (!result.ok) throw new Error(result.error ?? `receiver answered ${result.status}`);
  }

  /** One POST to the receiver, with auth and signature headers. */
  async attempt(webhook: WebhookRow, event: StoredEvent, delivery: Pick<DeliveryRow, 'id'>): Promise<AttemptResult> {
    const project = await this.identity.getProjectById(webhook.projectId);
    const payload = renderPayload(webhook.format, event, { registryHost: this.options.registryHost(), projectPublic: project?.public ?? false });
    const headers: Record<string, string> = {
      'Content-Type': payload.contentType,
      'User-Agent': 'Berth-Webhook/1',
      'X-Berth-Event': event.type,
      'X-Berth-Delivery': String(delivery.id),
    };
    if (webhook.secret) headers['X-Berth-Signature'] = signature(webhook.secret, payload.body);
    if (webhook.authHeader) headers.Authorization = webhook.authHeader;
    const started = performance.now();
    try {
      // Through the outbound policy: a receiver inside Berth's own network is refused unless allowed.
      const res = await this.outbound.request('webhook', webhook.url, { method: 'POST', body: payload.body, headers, signal: AbortSignal.timeout(this.options.timeoutMs) });
      await res.discard(64 * 1024);
      const latencyMs = Math.round(performance.now() - started);
      const ok = res.status >= 200 && res.status < 300;
      this.options.onResult?.(ok ? 'success' : 'failure');
      return { ok, status: res.status, latencyMs, error: ok ? null : `receiver answered ${res.status}` };
    } catch (err) {
      const blocked = blockedByPolicy(err);
      if (blocked) {
        // Nothing about what answered there, or whether anything does.
        this.options.onResult?.('blocked');
        this.options.onBlocked?.(webhook, blocked.address, blocked.message);
        return { ok: false, status: null, latencyMs: Math.round(performance.now() - started), error: blocked.message };
      }
      this.options.onResult?.('failure');
      // The receiver is the user's own (the policy allowed it): its error code helps them (ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT).
      const failure = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
      return { ok: false, status: null, latencyMs: Math.round(performance.now() - started), error: failure.code ?? failure.cause?.code ?? failure.message ?? String(err) };
    }
  }
}
