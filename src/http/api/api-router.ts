import type { FastifyReply, FastifyRequest } from 'fastify';
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import { identify } from '../auth/request-principal.js';
import { endpointNotFound } from '../error-response.js';
import { unmatchedRoute } from '../metrics.js';
import { routerOptions } from '../router-options.js';
import { openApiDocument, routeHandler, routePath, type AnyRoute, type ApiContext, type RouteHandler } from './api-route.js';
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

/**
 * The management API's routes, loaded with the first request under /api/v1 rather than at start
 * (index.ts): their modules and the zod schemas they build hold about 6 MiB of heap in each
 * worker, which a registry that only serves /v2 never needs (docs/performance.md, "The
 * management API on first use"). Routing is Fastify's own router library with Fastify's
 * settings, so paths match as they did when each route was registered with Fastify.
 */
export class ApiRouter {
  // As Fastify's router is configured (app.ts), the rest at Fastify's defaults.
  private readonly router = FindMyWay({ ...routerOptions });
  private document: Record<string, unknown> | undefined;

  constructor(
    private readonly routes: AnyRoute[],
    context: ApiContext,
    private readonly version: string,
    /** Names the request's route for the metrics (Fastify only knows the wildcard's). */
    private readonly label?: (request: FastifyRequest, route: string) => void,
  ) {
    for (const spec of routes) {
      const path = routePath(spec);
      const store: { handler: RouteHandler; path: string } = { handler: routeHandler(spec, context), path };
      this.router.on(spec.method, path, () => undefined, store);
    }
  }

  /** Answers a request under /api/v1 (HEAD as GET, as Fastify does), or throws NOT_FOUND. */
  async dispatch(request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const path = request.url.split('?', 1)[0]!;
    const found = this.router.find((request.method === 'HEAD' ? 'GET' : request.method) as HTTPMethod, path);
    if (!found) {
      this.label?.(request, unmatchedRoute);
      throw endpointNotFound(request.method, request.url);
    }
    const store = found.store as { handler: RouteHandler; path: string };
    this.label?.(request, store.path);
    return store.handler(request, reply, found.params);
  }

  /** The OpenAPI document, built on its first request: a tenth of a second, for a page few open. */
  openApi(): Record<string, unknown> {
    return (this.document ??= openApiDocument(this.routes, { version: this.version }));
  }
}

/** The router of every management API route, with authorization, rate limits and audit wired to the services. */
export function apiRouter(services: ApiServices, label?: (request: FastifyRequest, route: string) => void): ApiRouter {
  const context: ApiContext = {
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
  };
  return new ApiRouter(apiRouteList(services), context, services.version, label);
}

/** Every route of the management API, in the order the OpenAPI document lists them. */
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
