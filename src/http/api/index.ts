import type { FastifyInstance } from 'fastify';
import { identify } from '../auth/request-principal.js';
import { openApiDocument, registerRoutes, type AnyRoute } from './api-route.js';
import { projectRoutes } from './project-routes.js';
import { repositoryRoutes } from './repository-routes.js';
import type { ApiServices } from './services.js';
import { systemRoutes } from './system-routes.js';
import { userRoutes } from './user-routes.js';
import { webhookRoutes } from './webhook-routes.js';
import { jobRoutes } from './job-routes.js';
import { settingsRoutes } from './settings-routes.js';
import { gcRoutes } from './gc-routes.js';
import { policyRoutes } from './policy-routes.js';
import { quotaRoutes } from './quota-routes.js';
import { scrubRoutes } from './scrub-routes.js';
import { registryRoutes } from './registry-routes.js';
import { replicationRoutes } from './replication-routes.js';
import { preheatRoutes } from './preheat-routes.js';
import { securityRoutes } from './security-routes.js';
import { proxyRoutes } from './proxy-routes.js';
import { scannerRoutes } from './scanner-routes.js';
import { insightsRoutes } from './insights-routes.js';
import { searchRoutes } from './search-routes.js';
import { recommendationRoutes } from './recommendation-routes.js';

export type { ApiServices } from './services.js';

export function apiRouteList(services: ApiServices): AnyRoute[] {
  return [
    ...userRoutes(services),
    ...projectRoutes(services),
    ...repositoryRoutes(services),
    ...webhookRoutes(services),
    ...jobRoutes(services),
    ...systemRoutes(services),
    ...settingsRoutes(services),
    ...gcRoutes(services),
    ...policyRoutes(services),
    ...quotaRoutes(services),
    ...scrubRoutes(services),
    ...registryRoutes(services.replication.endpoints),
    ...replicationRoutes(services.replication.rules),
    ...proxyRoutes(services),
    ...preheatRoutes(services),
    ...securityRoutes(services),
    ...scannerRoutes(services),
    ...insightsRoutes(services),
    ...searchRoutes(services),
    ...recommendationRoutes(services),
  ];
}

/** The management API under /api/v1, with its OpenAPI document at /api/v1/openapi.json. */
export async function managementApi(app: FastifyInstance, services: ApiServices): Promise<void> {
  const routes = apiRouteList(services);
  registerRoutes(app, routes, {
    authorizer: services.authorizer,
    principalOf: async (request) => (await identify(request, services, { allowSession: true })).principal,
    limit: async (request, principal, project) => (await services.limits.check({ principal, address: request.ip, category: 'api', project }))?.headers,
    audit: (request, principal, entry) =>
      services.audit.record({
        actor: principal.kind === 'anonymous' ? 'anonymous' : principal.name,
        actorType: principal.kind,
        action: entry.action,
        resourceType: entry.resourceType,
        resource: entry.resource,
        project: entry.project,
        sourceIp: request.ip,
        result: entry.result,
        detail: entry.detail ?? null,
        requestId: request.id,
      }),
  });
  // Built on the first request, not at start: converting every route's schemas takes about a
  // tenth of a second and the document stays in memory, in each worker, for a page few open.
  let document: Record<string, unknown> | undefined;
  app.get('/api/v1/openapi.json', async (_request, reply) => reply.send((document ??= openApiDocument(routes, { version: services.version }))));
}
