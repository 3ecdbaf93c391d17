import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiRouter } from './api-router.js';
import type { ApiServices } from './services.js';

export type { ApiServices } from './services.js';

export interface ManagementApiOptions {
  services: ApiServices;
  /** Names a request's route for the metrics (`/api/v1/projects/:project`). */
  label?: (request: FastifyRequest, route: string) => void;
}

/**
 * The management API under /api/v1, with its OpenAPI document at /api/v1/openapi.json. Its
 * routes load with the first request that reaches them (api-router.ts), so a worker that only
 * serves /v2 never holds them.
 */
export async function managementApi(app: FastifyInstance, options: ManagementApiOptions): Promise<void> {
  let router: Promise<ApiRouter> | undefined;
  const loaded = () => (router ??= import('./api-router.js').then((m) => m.apiRouter(options.services, options.label)));
  app.route({
    method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    url: '/api/v1/*',
    handler: async (request, reply) => (await loaded()).dispatch(request, reply),
  });
  app.get('/api/v1/openapi.json', async (_request, reply) => reply.send((await loaded()).openApi()));
}
