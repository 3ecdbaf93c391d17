import { z } from 'zod';
import { registryKindNames, registryKinds } from '../../domain/registry-kinds.js';
import type { EndpointRow } from '../../ports/endpoint-store.js';
import { upstreamFailures } from '../../ports/upstream-registry.js';
import type { EndpointService } from '../../services/replication/endpoint-service.js';
import { listOf, route, type AnyRoute } from './api-route.js';

const idParams = z.object({ id: z.coerce.number().int().positive() });

const endpointInput = z.strictObject({
  name: z.string().min(1).max(100).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash and underscore'),
  kind: z.enum(registryKindNames).describe(`What the registry is: ${registryKindNames.join(', ')}`),
  url: z.string().max(2048).optional().describe('Base URL (http or https); filled in for docker-hub, ghcr, quay and gcr'),
  description: z.string().max(1000).optional(),
  username: z.string().max(255).nullable().optional(),
  secret: z.string().max(8192).nullable().optional().describe('Password or access token; write-only, stored encrypted'),
  insecure: z.boolean().optional().describe("Skip verifying the registry's TLS certificate (Harbor's \"Verify Remote Cert\" off)"),
  caCertificate: z.string().max(200_000).nullable().optional().describe('PEM certificates to trust for this registry besides the system store (a private CA)'),
});

const endpointSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  kind: z.string(),
  kindLabel: z.string(),
  url: z.string(),
  description: z.string(),
  username: z.string().nullable(),
  hasSecret: z.boolean(),
  insecure: z.boolean(),
  caCertificate: z.string().nullable(),
  createdBy: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const checkSchema = z.object({
  ok: z.boolean(),
  failure: z.enum(upstreamFailures).optional().describe('What failed: DNS, connect, TLS, credentials, rate limit…'),
  message: z.string(),
  status: z.number().int().optional(),
  latencyMs: z.number().int(),
});

/** Credentials are write-only: a view says whether one is set, never what it is. */
function endpointView(e: EndpointRow): z.infer<typeof endpointSchema> {
  return {
    id: e.id,
    name: e.name,
    kind: e.kind,
    kindLabel: registryKinds[e.kind as keyof typeof registryKinds]?.label ?? e.kind,
    url: e.url,
    description: e.description,
    username: e.username,
    hasSecret: e.secretSealed !== null,
    insecure: e.insecure,
    caCertificate: e.caCertificate,
    createdBy: e.createdBy,
    createdAt: new Date(e.createdAt).toISOString(),
    updatedAt: new Date(e.updatedAt).toISOString(),
  };
}

/** Registry endpoints (system administrators): where replication and proxy caches connect. */
export function registryRoutes(endpoints: EndpointService): AnyRoute[] {
  return [
    route({
      method: 'GET',
      path: '/registries',
      summary: 'Registry endpoints',
      tag: 'replication',
      auth: 'admin',
      response: listOf(endpointSchema),
      handler: async () => {
        const items = (await endpoints.list()).map(endpointView);
        return { items, total: items.length };
      },
    }),
    route({
      method: 'POST',
      path: '/registries',
      summary: 'Add a registry endpoint (its URL must pass the outbound policy)',
      tag: 'replication',
      auth: 'admin',
      body: endpointInput,
      response: endpointSchema,
      status: 201,
      audit: { action: 'registry.create', resourceType: 'registry', resource: ({ body }) => body.name },
      handler: async ({ body, principal }) => endpointView(await endpoints.create(body, principal.kind === 'anonymous' ? 'anonymous' : principal.name)),
    }),
    route({
      method: 'POST',
      path: '/registries/ping',
      summary: 'Test the connection to a registry not saved yet',
      tag: 'replication',
      auth: 'admin',
      body: endpointInput.extend({ name: z.string().max(100).optional() }),
      response: checkSchema,
      handler: async ({ body }) => endpoints.checkUnsaved({ ...body, name: body.name ?? '' }),
    }),
    route({
      method: 'GET',
      path: '/registries/{id}',
      summary: 'One registry endpoint',
      tag: 'replication',
      auth: 'admin',
      params: idParams,
      response: endpointSchema,
      handler: async ({ params }) => endpointView(await endpoints.get(params.id)),
    }),
    route({
      method: 'PATCH',
      path: '/registries/{id}',
      summary: 'Change a registry endpoint (a secret given replaces the stored one; null removes it)',
      tag: 'replication',
      auth: 'admin',
      params: idParams,
      body: endpointInput.partial(),
      response: endpointSchema,
      audit: { action: 'registry.update', resourceType: 'registry', resource: ({ params }, e) => e?.name ?? `#${params.id}` },
      handler: async ({ params, body }) => endpointView(await endpoints.update(params.id, body)),
    }),
    route({
      method: 'DELETE',
      path: '/registries/{id}',
      summary: 'Remove a registry endpoint',
      tag: 'replication',
      auth: 'admin',
      params: idParams,
      status: 204,
      audit: { action: 'registry.delete', resourceType: 'registry', resource: ({ params }) => `#${params.id}` },
      handler: async ({ params }) => {
        await endpoints.delete(params.id);
        return undefined;
      },
    }),
    route({
      method: 'POST',
      path: '/registries/{id}/ping',
      summary: 'Test the connection to a registry endpoint: DNS, TLS, credentials, rate limit',
      tag: 'replication',
      auth: 'admin',
      params: idParams,
      response: checkSchema,
      handler: async ({ params }) => endpoints.check(params.id),
    }),
  ];
}
