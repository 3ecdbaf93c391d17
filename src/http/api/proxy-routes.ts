import { z } from 'zod';
import { route, type AnyRoute } from './api-route.js';
import type { ApiServices } from './services.js';

const params = z.object({ project: z.string().min(1).max(255) });

const proxySchema = z.object({
  endpointId: z.number().int().describe('The registry endpoint cached (GET /registries)'),
  ttlSeconds: z.number().int().describe('A cached tag is checked against the upstream again after this long'),
});

/** A project as a pull-through cache of another registry (docs/replication.md, "Proxy cache"). */
export function proxyRoutes(s: ApiServices): AnyRoute[] {
  const proxy = s.replication.proxy;
  return [
    route({
      method: 'GET',
      path: '/projects/{project}/proxy-cache',
      summary: 'The registry this project caches, if it is a proxy-cache project',
      tag: 'replication',
      auth: { action: 'read', project: ({ params }) => params.project },
      params,
      response: z.object({
        proxyCache: proxySchema.nullable(),
        health: z
          .object({
            lastSuccessAt: z.string().nullable(),
            lastFailureAt: z.string().nullable(),
            lastFailure: z.object({ failure: z.string(), message: z.string() }).nullable(),
            staleServed: z.number().int().describe('Pulls served from the cache because the upstream failed'),
          })
          .nullable()
          .describe('How the upstream answered lately, as the process answering this request saw it'),
      }),
      handler: async ({ params }) => {
        const settings = (await proxy.get(await s.projects.get(params.project))) ?? null;
        const health = settings ? proxy.health(params.project) : null;
        const time = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
        return {
          proxyCache: settings,
          health: health && { lastSuccessAt: time(health.lastSuccessAt), lastFailureAt: time(health.lastFailureAt), lastFailure: health.lastFailure, staleServed: health.staleServed },
        };
      },
    }),
    route({
      method: 'PUT',
      path: '/projects/{project}/proxy-cache',
      summary: 'Make the project a cache of a registry endpoint (null: an ordinary project again; what is cached stays)',
      tag: 'replication',
      auth: 'admin',
      params,
      body: z.strictObject({ proxyCache: z.strictObject({ endpointId: z.number().int().positive(), ttlSeconds: z.number().int().min(0).max(30 * 86_400).default(300) }).nullable() }),
      response: z.object({ proxyCache: proxySchema.nullable() }),
      audit: { action: 'project.proxy-cache', resourceType: 'project', resource: ({ params }) => params.project, project: ({ params }) => params.project },
      handler: async ({ params, body, principal }) => ({
        proxyCache: await proxy.set(await s.projects.get(params.project), body.proxyCache, principal.kind === 'anonymous' ? 'anonymous' : principal.name),
      }),
    }),
  ];
}
