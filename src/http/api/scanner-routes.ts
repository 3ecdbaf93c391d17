import { z } from 'zod';
import { scannerAuthModes, type ScannerRow } from '../../ports/scanner-store.js';
import { listOf, route, type AnyRoute } from './api-route.js';
import type { ApiServices } from './services.js';

const by = (principal: { kind: string; name?: string }) => (principal.kind === 'anonymous' ? 'anonymous' : (principal.name ?? principal.kind));
const idParams = z.object({ id: z.coerce.number().int().positive() });

const scannerInput = z.strictObject({
  name: z.string().min(1).max(100).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash and underscore'),
  description: z.string().max(1000).nullable().optional(),
  url: z.string().max(2048).describe("The scanner adapter's base URL (its API is under <url>/api/v1), e.g. http://trivy-adapter:8080"),
  auth: z.enum(scannerAuthModes).optional().describe('How Berth authenticates: none, basic (credential user:password), bearer (a token), api-key (sent as X-ScannerAdapter-API-Key)'),
  credential: z.string().max(8192).nullable().optional().describe('Write-only, stored encrypted'),
  skipCertVerify: z.boolean().optional().describe("Skip verifying the scanner's TLS certificate"),
  enabled: z.boolean().optional(),
  isDefault: z.boolean().optional().describe('Scans that name no scanner use this one instead of the built-in scanner (one default at most: setting it takes it from another)'),
});

const scannerSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  description: z.string().nullable(),
  url: z.string(),
  auth: z.enum(scannerAuthModes),
  hasCredential: z.boolean(),
  skipCertVerify: z.boolean(),
  enabled: z.boolean(),
  isDefault: z.boolean(),
  createdBy: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const pingSchema = z.object({
  ok: z.boolean().describe('The scanner answered and can scan image manifests into vulnerability reports'),
  message: z.string(),
  metadata: z
    .object({
      scanner: z.object({ name: z.string(), vendor: z.string().optional(), version: z.string().optional() }),
      capabilities: z.array(z.object({ consumes_mime_types: z.array(z.string()), produces_mime_types: z.array(z.string()) })),
      properties: z.record(z.string(), z.string()).optional(),
    })
    .optional()
    .describe("The scanner's ScannerAdapterMetadata"),
});

function view(s: ScannerRow): z.infer<typeof scannerSchema> {
  return {
    id: s.id,
    name: s.name,
    description: s.description,
    url: s.url,
    auth: s.auth,
    hasCredential: s.credentialSealed !== null,
    skipCertVerify: s.skipCertVerify,
    enabled: s.enabled,
    isDefault: s.isDefault,
    createdBy: s.createdBy,
    createdAt: new Date(s.createdAt).toISOString(),
    updatedAt: new Date(s.updatedAt).toISOString(),
  };
}

/** External scanners (Harbor's pluggable scanner API v1.1, docs/scanners.md), for system administrators. */
export function scannerRoutes(s: ApiServices): AnyRoute[] {
  const scanners = s.security.scanners;
  return [
    route({
      method: 'GET',
      path: '/scanners',
      summary: 'External scanners (Harbor pluggable scanner API v1.1 adapters)',
      tag: 'scanners',
      auth: 'admin',
      response: listOf(scannerSchema),
      handler: async () => {
        const items = (await scanners.list()).map(view);
        return { items, total: items.length };
      },
    }),
    route({
      method: 'POST',
      path: '/scanners',
      summary: 'Register an external scanner (its URL must pass the outbound policy)',
      tag: 'scanners',
      auth: 'admin',
      body: scannerInput,
      response: scannerSchema,
      status: 201,
      audit: { action: 'scanner.create', resourceType: 'scanner', resource: ({ body }) => body.name },
      handler: async ({ body, principal }) => view(await scanners.create(body, by(principal))),
    }),
    route({
      method: 'GET',
      path: '/scanners/{id}',
      summary: 'An external scanner',
      tag: 'scanners',
      auth: 'admin',
      params: idParams,
      response: scannerSchema,
      handler: async ({ params }) => view(await scanners.get(params.id)),
    }),
    route({
      method: 'PATCH',
      path: '/scanners/{id}',
      summary: 'Change an external scanner (a credential given replaces the stored one; isDefault: true makes it the default)',
      tag: 'scanners',
      auth: 'admin',
      params: idParams,
      body: scannerInput.partial(),
      response: scannerSchema,
      audit: { action: 'scanner.update', resourceType: 'scanner', resource: ({ params }) => `#${params.id}` },
      handler: async ({ params, body }) => view(await scanners.update(params.id, body)),
    }),
    route({
      method: 'DELETE',
      path: '/scanners/{id}',
      summary: 'Remove an external scanner (its reports stay)',
      tag: 'scanners',
      auth: 'admin',
      params: idParams,
      status: 204,
      audit: { action: 'scanner.delete', resourceType: 'scanner', resource: ({ params }) => `#${params.id}` },
      handler: async ({ params }) => {
        await scanners.delete(params.id);
      },
    }),
    route({
      method: 'POST',
      path: '/scanners/{id}/ping',
      summary: "Ask the scanner for its metadata (GET <url>/api/v1/metadata) and whether it scans images into vulnerability reports",
      tag: 'scanners',
      auth: 'admin',
      params: idParams,
      response: pingSchema,
      handler: async ({ params }) => scanners.ping(params.id),
    }),
  ];
}
