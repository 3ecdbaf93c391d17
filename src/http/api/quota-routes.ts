import { z } from 'zod';
import type { ProjectQuota } from '../../services/lifecycle/index.js';
import { listOf, listQuery, pageQuery, route, type AnyRoute } from './api-route.js';
import type { ApiServices } from './services.js';

const projectParam = z.object({ project: z.string().min(1).max(255) });
const limit = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable();

const quotaSchema = z.object({
  project: z.string(),
  limits: z.object({
    storageBytes: limit.describe('Bytes the project may store; null: unlimited'),
    artifacts: limit.describe('Artifacts (manifests) the project may hold; null: unlimited'),
  }),
  usage: z.object({
    storageBytes: z.number().int().describe('Each digest the project stores, counted once however many of its repositories and manifests use it'),
    artifacts: z.number().int(),
  }),
});

function quotaView(quota: ProjectQuota): z.infer<typeof quotaSchema> {
  return {
    project: quota.project,
    limits: { storageBytes: quota.limits.bytes, artifacts: quota.limits.artifacts },
    usage: { storageBytes: quota.usage.bytes, artifacts: quota.usage.artifacts },
  };
}

/** Per-project quotas: usage and limits (docs/lifecycle.md, "Quotas"). */
export function quotaRoutes(s: ApiServices): AnyRoute[] {
  return [
    route({
      method: 'GET',
      path: '/projects/{project}/quota',
      summary: "The project's storage and artifact limits and what it uses",
      tag: 'lifecycle',
      auth: { action: 'read', project: ({ params }) => params.project },
      params: projectParam,
      response: quotaSchema,
      handler: async ({ params }) => quotaView(await s.lifecycle.quotas.get(params.project)),
    }),
    route({
      method: 'PUT',
      path: '/projects/{project}/quota',
      summary: "Set the project's limits (null: unlimited; absent: unchanged). A limit below usage is allowed: pushes that add to it are refused",
      tag: 'lifecycle',
      auth: 'admin',
      params: projectParam,
      body: z.strictObject({ storageBytes: limit.optional(), artifacts: limit.optional() }),
      response: quotaSchema,
      audit: { action: 'quota.update', resourceType: 'project', resource: ({ params }) => params.project, project: ({ params }) => params.project },
      handler: async ({ params, body }) => quotaView(await s.lifecycle.quotas.set(params.project, { bytes: body.storageBytes, artifacts: body.artifacts })),
    }),
    route({
      method: 'GET',
      path: '/quotas',
      summary: "Every project's limits and usage (administrators)",
      tag: 'lifecycle',
      auth: 'admin',
      query: pageQuery,
      response: listOf(quotaSchema),
      handler: async ({ query, reply }) => {
        const result = await s.lifecycle.quotas.list(listQuery(query));
        reply.header('X-Total-Count', String(result.total));
        return { items: result.items.map(quotaView), total: result.total };
      },
    }),
  ];
}
