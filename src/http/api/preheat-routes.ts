import { z } from 'zod';
import { BerthError } from '../../domain/errors.js';
import type { PreheatExecutionRow, PreheatPolicyRow, PreheatProviderRow, PreheatTaskRow } from '../../ports/preheat-store.js';
import { listOf, route, type AnyRoute } from './api-route.js';
import type { ApiServices } from './services.js';

const time = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const by = (principal: { kind: string; name?: string }) => (principal.kind === 'anonymous' ? 'anonymous' : (principal.name ?? principal.kind));
const idParams = z.object({ id: z.coerce.number().int().positive() });
const projectParams = z.object({ project: z.string().min(1).max(255) });
const projectIdParams = projectParams.extend({ id: z.coerce.number().int().positive() });

const providerInput = z.strictObject({
  name: z.string().min(1).max(100).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash and underscore'),
  url: z.string().max(2048).describe("The Dragonfly manager's address, e.g. http://dragonfly-manager:8080"),
  authMode: z.enum(['none', 'basic', 'oauth']).optional().describe('oauth: a Dragonfly personal access token, sent as Bearer (Dragonfly 2.1+ open API)'),
  username: z.string().max(255).nullable().optional().describe('For basic'),
  secret: z.string().max(8192).nullable().optional().describe('Password (basic) or personal access token (oauth); write-only, stored encrypted'),
  insecure: z.boolean().optional().describe('Skip verifying the TLS certificate'),
  enabled: z.boolean().optional(),
});

const providerSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  vendor: z.literal('dragonfly'),
  url: z.string(),
  authMode: z.enum(['none', 'basic', 'oauth']),
  username: z.string().nullable(),
  hasSecret: z.boolean(),
  insecure: z.boolean(),
  enabled: z.boolean(),
  createdBy: z.string(),
  createdAt: z.string(),
});

const policyInput = z.strictObject({
  name: z.string().min(1).max(100).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash and underscore'),
  providerId: z.number().int().positive(),
  repositories: z.string().min(1).max(500).optional().describe('Glob over repository names inside the project (`app/**`); default `**`'),
  tags: z.string().min(1).max(500).optional().describe('Glob over tags, e.g. `v*`; default `**`'),
  trigger: z.enum(['manual', 'cron', 'event']).optional().describe('event: each tag pushed that the filters match'),
  cron: z.string().max(100).nullable().optional(),
  scope: z.enum(['single_seed_peer', 'all_seed_peers', 'all_peers']).optional().describe("Dragonfly's preheat scope; default single_seed_peer"),
  clusterIds: z.array(z.number().int().positive()).max(100).nullable().optional().describe('Dragonfly scheduler clusters; empty or null: all'),
  enabled: z.boolean().optional(),
});

const policySchema = z.object({
  id: z.number().int(),
  name: z.string(),
  providerId: z.number().int(),
  repositories: z.string(),
  tags: z.string(),
  trigger: z.string(),
  cron: z.string().nullable(),
  scope: z.string(),
  clusterIds: z.array(z.number().int()).nullable(),
  enabled: z.boolean(),
  createdBy: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const executionSchema = z.object({
  id: z.number().int(),
  policyId: z.number().int(),
  status: z.enum(['queued', 'running', 'succeeded', 'failed']),
  trigger: z.string(),
  tasks: z.object({ pending: z.number().int(), running: z.number().int(), succeeded: z.number().int(), failed: z.number().int() }),
  error: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});

const taskSchema = z.object({
  id: z.number().int(),
  repository: z.string(),
  tag: z.string(),
  digest: z.string().nullable(),
  jobId: z.string().nullable().describe("The provider's job"),
  status: z.enum(['pending', 'running', 'succeeded', 'failed']),
  message: z.string().nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});

function providerView(p: PreheatProviderRow): z.infer<typeof providerSchema> {
  return { id: p.id, name: p.name, vendor: 'dragonfly', url: p.url, authMode: p.authMode, username: p.username, hasSecret: p.secretSealed !== null, insecure: p.insecure, enabled: p.enabled, createdBy: p.createdBy, createdAt: time(p.createdAt)! };
}

function policyView(p: PreheatPolicyRow): z.infer<typeof policySchema> {
  const { projectId: _p, ...rest } = p;
  return { ...rest, createdAt: time(p.createdAt)!, updatedAt: time(p.updatedAt)! };
}

function executionView(e: PreheatExecutionRow): z.infer<typeof executionSchema> {
  return { id: e.id, policyId: e.policyId, status: e.status, trigger: e.trigger, tasks: e.tasks, error: e.error, createdAt: time(e.createdAt)!, startedAt: time(e.startedAt), finishedAt: time(e.finishedAt) };
}

function taskView(t: PreheatTaskRow): z.infer<typeof taskSchema> {
  return { id: t.id, repository: t.repository, tag: t.tag, digest: t.digest, jobId: t.jobId, status: t.status, message: t.message, startedAt: time(t.startedAt), finishedAt: time(t.finishedAt) };
}

/** P2P preheat (docs/preheat.md): providers for system administrators, policies and executions per project (as Harbor's). */
export function preheatRoutes(s: ApiServices): AnyRoute[] {
  const preheat = s.preheat;
  const project = (name: string) => s.projects.get(name);
  const readPolicies = { action: 'read-policies' as const, project: ({ params }: { params: { project: string } }) => params.project };
  const managePolicies = { action: 'manage-policies' as const, project: ({ params }: { params: { project: string } }) => params.project };
  /** An execution of one of the project's policies (never another project's). */
  const executionOf = async (projectName: string, id: number) => {
    const execution = await preheat.getExecution(id);
    await preheat.getPolicy(await project(projectName), execution.policyId).catch(() => {
      throw new BerthError('NOT_FOUND', { message: `preheat execution ${id} not found in project ${projectName}` });
    });
    return execution;
  };
  return [
    route({
      method: 'GET',
      path: '/p2p/preheat/providers',
      summary: 'Preheat providers (Dragonfly managers)',
      tag: 'preheat',
      auth: 'admin',
      response: listOf(providerSchema),
      handler: async () => {
        const items = (await preheat.listProviders()).map(providerView);
        return { items, total: items.length };
      },
    }),
    route({
      method: 'POST',
      path: '/p2p/preheat/providers',
      summary: 'Add a preheat provider',
      tag: 'preheat',
      auth: 'admin',
      body: providerInput,
      response: providerSchema,
      status: 201,
      audit: { action: 'preheat.provider.create', resourceType: 'preheat-provider', resource: ({ body }) => body.name },
      handler: async ({ body, principal }) => providerView(await preheat.createProvider(body, by(principal))),
    }),
    route({
      method: 'POST',
      path: '/p2p/preheat/providers/ping',
      summary: 'Test a provider before saving it',
      tag: 'preheat',
      auth: 'admin',
      body: providerInput.extend({ name: z.string().max(100).optional() }),
      response: z.object({ ok: z.boolean(), message: z.string() }),
      handler: async ({ body }) => preheat.checkUnsaved({ ...body, name: body.name ?? '' }),
    }),
    route({
      method: 'PATCH',
      path: '/p2p/preheat/providers/{id}',
      summary: 'Change a preheat provider (a secret given replaces the stored one)',
      tag: 'preheat',
      auth: 'admin',
      params: idParams,
      body: providerInput.partial(),
      response: providerSchema,
      audit: { action: 'preheat.provider.update', resourceType: 'preheat-provider', resource: ({ params }) => `#${params.id}` },
      handler: async ({ params, body }) => providerView(await preheat.updateProvider(params.id, body)),
    }),
    route({
      method: 'DELETE',
      path: '/p2p/preheat/providers/{id}',
      summary: 'Remove a preheat provider (refused while policies use it)',
      tag: 'preheat',
      auth: 'admin',
      params: idParams,
      status: 204,
      audit: { action: 'preheat.provider.delete', resourceType: 'preheat-provider', resource: ({ params }) => `#${params.id}` },
      handler: async ({ params }) => {
        await preheat.deleteProvider(params.id);
      },
    }),
    route({
      method: 'POST',
      path: '/p2p/preheat/providers/{id}/ping',
      summary: 'Test connection: the provider answers and accepts the credentials',
      tag: 'preheat',
      auth: 'admin',
      params: idParams,
      response: z.object({ ok: z.boolean(), message: z.string() }),
      handler: async ({ params }) => preheat.check(params.id),
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/preheat/providers',
      summary: 'The providers a policy of the project may use: names only (their settings are for system administrators)',
      tag: 'preheat',
      auth: readPolicies,
      params: projectParams,
      response: listOf(z.object({ id: z.number().int(), name: z.string(), vendor: z.literal('dragonfly'), enabled: z.boolean() })),
      handler: async () => {
        const items = (await preheat.listProviders()).map((p) => ({ id: p.id, name: p.name, vendor: 'dragonfly' as const, enabled: p.enabled }));
        return { items, total: items.length };
      },
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/preheat/policies',
      summary: "The project's preheat policies",
      tag: 'preheat',
      auth: readPolicies,
      params: projectParams,
      response: listOf(policySchema),
      handler: async ({ params }) => {
        const items = (await preheat.listPolicies(await project(params.project))).map(policyView);
        return { items, total: items.length };
      },
    }),
    route({
      method: 'POST',
      path: '/projects/{project}/preheat/policies',
      summary: 'Create a preheat policy',
      tag: 'preheat',
      auth: managePolicies,
      params: projectParams,
      body: policyInput,
      response: policySchema,
      status: 201,
      audit: { action: 'preheat.policy.create', resourceType: 'preheat-policy', resource: ({ body }) => body.name, project: ({ params }) => params.project },
      handler: async ({ params, body, principal }) => policyView(await preheat.createPolicy(await project(params.project), body, by(principal))),
    }),
    route({
      method: 'PATCH',
      path: '/projects/{project}/preheat/policies/{id}',
      summary: 'Change a preheat policy',
      tag: 'preheat',
      auth: managePolicies,
      params: projectIdParams,
      body: policyInput.partial(),
      response: policySchema,
      audit: { action: 'preheat.policy.update', resourceType: 'preheat-policy', resource: ({ params }) => `#${params.id}`, project: ({ params }) => params.project },
      handler: async ({ params, body }) => policyView(await preheat.updatePolicy(await project(params.project), params.id, body)),
    }),
    route({
      method: 'DELETE',
      path: '/projects/{project}/preheat/policies/{id}',
      summary: 'Delete a preheat policy and its history',
      tag: 'preheat',
      auth: managePolicies,
      params: projectIdParams,
      status: 204,
      audit: { action: 'preheat.policy.delete', resourceType: 'preheat-policy', resource: ({ params }) => `#${params.id}`, project: ({ params }) => params.project },
      handler: async ({ params }) => {
        await preheat.deletePolicy(await project(params.project), params.id);
      },
    }),
    route({
      method: 'POST',
      path: '/projects/{project}/preheat/policies/{id}/executions',
      summary: 'Run the policy now',
      tag: 'preheat',
      auth: managePolicies,
      params: projectIdParams,
      response: executionSchema,
      status: 201,
      audit: { action: 'preheat.run', resourceType: 'preheat-policy', resource: ({ params }) => `#${params.id}`, project: ({ params }) => params.project },
      handler: async ({ params }) => {
        const policy = await preheat.getPolicy(await project(params.project), params.id);
        return executionView(await preheat.start(policy.id, 'manual'));
      },
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/preheat/policies/{id}/executions',
      summary: "The policy's executions, newest first",
      tag: 'preheat',
      auth: readPolicies,
      params: projectIdParams,
      query: z.object({ page: z.coerce.number().int().min(1).default(1), page_size: z.coerce.number().int().min(1).max(100).default(20) }),
      response: listOf(executionSchema),
      handler: async ({ params, query }) => {
        const policy = await preheat.getPolicy(await project(params.project), params.id);
        const result = await preheat.listExecutions(policy, { offset: (query.page - 1) * query.page_size, limit: query.page_size });
        return { items: result.items.map(executionView), total: result.total };
      },
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/preheat/executions/{id}',
      summary: 'A preheat execution',
      tag: 'preheat',
      auth: readPolicies,
      params: projectIdParams,
      response: executionSchema,
      handler: async ({ params }) => executionView(await executionOf(params.project, params.id)),
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/preheat/executions/{id}/tasks',
      summary: "An execution's tasks: one per image, with the provider's job and how it ended",
      tag: 'preheat',
      auth: readPolicies,
      params: projectIdParams,
      response: listOf(taskSchema),
      handler: async ({ params }) => {
        await executionOf(params.project, params.id);
        const items = (await preheat.tasks(params.id)).map(taskView);
        return { items, total: items.length };
      },
    }),
  ];
}
