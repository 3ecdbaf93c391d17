import { z } from 'zod';
import { eventTypes, systemEventTypes } from '../../ports/event-store.js';
import type { DeliveryRow, WebhookRow } from '../../ports/webhook-store.js';
import { listOf, route, type AnyRoute } from './api-route.js';
import type { ApiServices } from './services.js';

const params = z.object({ project: z.string().min(1).max(255) });
const idParams = params.extend({ id: z.coerce.number().int().positive() });
const publicEventTypes = eventTypes.filter((t) => !systemEventTypes.includes(t)) as ['push', 'pull', 'delete', 'tag', 'quota', 'scan', 'policy', 'rebuild', 'lint'];

const webhookInput = z.object({
  name: z.string().min(1).max(100),
  url: z.url({ protocol: /^https?$/ }).describe('Receiver URL (http or https)'),
  eventTypes: z.array(z.enum(publicEventTypes)).min(1),
  format: z.enum(['harbor', 'cloudevents']).default('harbor').describe("Harbor's payload or CloudEvents 1.0 (structured JSON)"),
  authHeader: z.string().max(4096).nullable().optional().describe('Sent as the Authorization header'),
  secret: z.string().min(8).max(256).nullable().optional().describe('HMAC-SHA256 key: X-Berth-Signature: sha256=<hex of the body>'),
  enabled: z.boolean().optional(),
});

const webhookSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  url: z.string(),
  eventTypes: z.array(z.string()),
  format: z.enum(['harbor', 'cloudevents']),
  hasAuthHeader: z.boolean(),
  hasSecret: z.boolean(),
  enabled: z.boolean(),
  createdAt: z.string(),
});

const deliverySchema = z.object({
  id: z.number().int(),
  eventId: z.number().int().nullable(),
  eventType: z.string(),
  status: z.enum(['pending', 'succeeded', 'retrying', 'failed']),
  attempts: z.number().int(),
  responseCode: z.number().int().nullable(),
  latencyMs: z.number().int().nullable(),
  lastError: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

/** Secrets and auth headers are write-only: views say whether they are set, never what they are. */
function webhookView(w: WebhookRow): z.infer<typeof webhookSchema> {
  return {
    id: w.id,
    name: w.name,
    url: w.url,
    eventTypes: w.eventTypes,
    format: w.format,
    hasAuthHeader: w.authHeader !== null,
    hasSecret: w.secret !== null,
    enabled: w.enabled,
    createdAt: new Date(w.createdAt).toISOString(),
  };
}

function deliveryView(d: DeliveryRow): z.infer<typeof deliverySchema> {
  return { ...d, createdAt: new Date(d.createdAt).toISOString(), updatedAt: new Date(d.updatedAt).toISOString() };
}

/** Project webhooks and their delivery log. */
export function webhookRoutes(s: ApiServices): AnyRoute[] {
  const project = (name: string) => s.projects.get(name);
  return [
    route({
      method: 'GET',
      path: '/projects/{project}/webhooks',
      summary: "List the project's webhooks",
      tag: 'webhooks',
      auth: { action: 'read-webhooks', project: ({ params }) => params.project },
      params,
      response: listOf(webhookSchema),
      handler: async ({ params }) => {
        const items = (await s.webhooks.list(await project(params.project))).map(webhookView);
        return { items, total: items.length };
      },
    }),
    route({
      method: 'POST',
      path: '/projects/{project}/webhooks',
      summary: 'Create a webhook',
      tag: 'webhooks',
      auth: { action: 'manage-webhooks', project: ({ params }) => params.project },
      params,
      body: webhookInput,
      response: webhookSchema,
      status: 201,
      audit: { action: 'webhook.create', resourceType: 'webhook', resource: ({ body }) => body.name, project: ({ params }) => params.project },
      handler: async ({ params, body }) => webhookView(await s.webhooks.create(await project(params.project), body)),
    }),
    route({
      method: 'PATCH',
      path: '/projects/{project}/webhooks/{id}',
      summary: 'Update, enable or disable a webhook',
      tag: 'webhooks',
      auth: { action: 'manage-webhooks', project: ({ params }) => params.project },
      params: idParams,
      body: webhookInput.partial(),
      response: webhookSchema,
      audit: { action: 'webhook.update', resourceType: 'webhook', resource: ({ params }, w) => w?.name ?? `#${params.id}`, project: ({ params }) => params.project },
      handler: async ({ params, body }) => webhookView(await s.webhooks.update(await project(params.project), params.id, body)),
    }),
    route({
      method: 'DELETE',
      path: '/projects/{project}/webhooks/{id}',
      summary: 'Delete a webhook',
      tag: 'webhooks',
      auth: { action: 'manage-webhooks', project: ({ params }) => params.project },
      params: idParams,
      audit: { action: 'webhook.delete', resourceType: 'webhook', resource: ({ params }) => `#${params.id}`, project: ({ params }) => params.project },
      handler: async ({ params }) => {
        await s.webhooks.delete(await project(params.project), params.id);
        return undefined;
      },
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/webhooks/{id}/deliveries',
      summary: "A webhook's delivery log (newest first): status, response code, latency, attempts",
      tag: 'webhooks',
      auth: { action: 'read-webhooks', project: ({ params }) => params.project },
      params: idParams,
      query: z.object({ page: z.coerce.number().int().min(1).default(1), page_size: z.coerce.number().int().min(1).max(100).default(20) }),
      response: listOf(deliverySchema),
      handler: async ({ params, query, reply }) => {
        const result = await s.webhooks.deliveries(await project(params.project), params.id, { offset: (query.page - 1) * query.page_size, limit: query.page_size });
        reply.header('X-Total-Count', String(result.total));
        return { items: result.items.map(deliveryView), total: result.total };
      },
    }),
    route({
      method: 'POST',
      path: '/projects/{project}/webhooks/{id}/test',
      summary: 'Send a test event now and return the delivery',
      tag: 'webhooks',
      auth: { action: 'manage-webhooks', project: ({ params }) => params.project },
      params: idParams,
      response: deliverySchema,
      audit: { action: 'webhook.test', resourceType: 'webhook', resource: ({ params }) => `#${params.id}`, project: ({ params }) => params.project },
      handler: async ({ params, principal }) =>
        deliveryView(await s.webhooks.sendTest(await project(params.project), params.id, principal.kind === 'anonymous' ? 'anonymous' : principal.name)),
    }),
  ];
}
