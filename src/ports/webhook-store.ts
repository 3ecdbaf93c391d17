import type { EventType } from './event-store.js';

export type WebhookFormat = 'harbor' | 'cloudevents';

export interface WebhookRow {
  id: number;
  projectId: number;
  name: string;
  url: string;
  eventTypes: EventType[];
  format: WebhookFormat;
  authHeader: string | null;
  secret: string | null;
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'retrying' | 'failed';

export interface DeliveryRow {
  id: number;
  webhookId: number;
  eventId: number | null;
  eventType: string;
  status: DeliveryStatus;
  attempts: number;
  responseCode: number | null;
  latencyMs: number | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface FanOutOptions {
  consumer: string;
  batch: number;
  maxAttempts: number;
  now: number;
}

export interface WebhookStore {
  create(webhook: Omit<WebhookRow, 'id' | 'createdAt' | 'updatedAt'>, now: number): Promise<WebhookRow>;
  get(id: number): Promise<WebhookRow | undefined>;
  update(id: number, patch: Partial<Omit<WebhookRow, 'id' | 'projectId' | 'createdAt' | 'updatedAt'>>, now: number): Promise<WebhookRow | undefined>;
  delete(id: number): Promise<boolean>;
  list(projectId: number): Promise<WebhookRow[]>;

  /**
   * Reads outbox events after the consumer's cursor and, in one transaction, creates a
   * delivery and a `webhook.deliver` job for every enabled webhook of the event's project that
   * wants its type, then advances the cursor. Resolves with how many events it consumed and
   * how many delivery jobs it queued.
   */
  fanOut(options: FanOutOptions): Promise<{ events: number; jobs: number }>;
  createDelivery(delivery: { webhookId: number; eventId: number | null; eventType: string; status: DeliveryStatus }, now: number): Promise<DeliveryRow>;
  getDelivery(id: number): Promise<DeliveryRow | undefined>;
  recordAttempt(id: number, attempt: { status: DeliveryStatus; responseCode: number | null; latencyMs: number | null; error: string | null }, now: number): Promise<void>;
  listDeliveries(webhookId: number, page: { offset: number; limit: number }): Promise<{ items: DeliveryRow[]; total: number }>;
}
