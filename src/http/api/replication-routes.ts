import { z } from 'zod';
import type { ExecutionRow, ReplicationRuleRow, TaskRow } from '../../ports/replication-store.js';
import type { ReplicationService } from '../../services/replication/replication-service.js';
import { listOf, route, type AnyRoute } from './api-route.js';

const idParams = z.object({ id: z.coerce.number().int().positive() });
const time = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const ruleInput = z.strictObject({
  name: z.string().min(1).max(100).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash and underscore'),
  description: z.string().max(1000).optional(),
  endpointId: z.number().int().positive().describe('The registry endpoint (GET /registries)'),
  direction: z.enum(['pull', 'push']).describe('pull: from the endpoint into Berth; push: from Berth to the endpoint'),
  repositories: z.string().min(1).max(500).describe('Glob over source repository names: `library/**`, `team/app`; a name without wildcards needs no catalog (Docker Hub)'),
  tags: z.string().min(1).max(500).optional().describe('Glob over tags, e.g. `v*`; default `**` (all)'),
  destinationNamespace: z.string().max(255).nullable().optional().describe('Put in front of the destination name (pull: a project of this Berth)'),
  flatten: z.number().int().min(-1).max(16).optional().describe('Leading path segments dropped from the source name; -1 all but the last'),
  trigger: z.enum(['manual', 'cron', 'event']).optional().describe('event: on every tag pushed that the filters match (push rules)'),
  cron: z.string().max(100).nullable().optional().describe('For the cron trigger (UTC)'),
  copyReferrers: z.boolean().optional().describe('Copy signatures, SBOMs and other referrers with each artifact (default true)'),
  bandwidthKiB: z.number().int().min(1).max(10_000_000).nullable().optional().describe('KiB/s an execution may move; null or absent: unlimited'),
  replicateDeletion: z.boolean().optional().describe('Event-triggered push rules: a manifest or tag deleted here is deleted at the destination'),
  artifactTypes: z.array(z.string().min(1).max(255)).max(20).nullable().optional().describe("Only these artifact types: 'image', 'index', or an artifact media type such as `application/vnd.cncf.helm.config.v1+json`; null or empty: any"),
  labels: z.array(z.string().min(1).max(500)).max(20).nullable().optional().describe('Only artifacts with all these labels, `key` or `key=value` (manifest annotations and image config labels); null or empty: any'),
  enabled: z.boolean().optional(),
});

const ruleSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  description: z.string(),
  endpointId: z.number().int(),
  direction: z.enum(['pull', 'push']),
  repositories: z.string(),
  tags: z.string(),
  destinationNamespace: z.string().nullable(),
  flatten: z.number().int(),
  trigger: z.string(),
  cron: z.string().nullable(),
  copyReferrers: z.boolean(),
  bandwidthKiB: z.number().int().nullable(),
  replicateDeletion: z.boolean(),
  artifactTypes: z.array(z.string()).nullable(),
  labels: z.array(z.string()).nullable(),
  enabled: z.boolean(),
  createdBy: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const executionSchema = z.object({
  id: z.number().int(),
  ruleId: z.number().int(),
  status: z.enum(['queued', 'running', 'succeeded', 'failed', 'stopping', 'stopped']),
  trigger: z.string(),
  retryOf: z.number().int().nullable(),
  tasks: z.object({ pending: z.number().int(), succeeded: z.number().int(), failed: z.number().int(), skipped: z.number().int() }),
  bytes: z.number().int(),
  error: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});

const taskSchema = z.object({
  id: z.number().int(),
  source: z.string(),
  destination: z.string(),
  reference: z.string(),
  operation: z.enum(['copy', 'delete']),
  status: z.enum(['pending', 'succeeded', 'failed', 'skipped']).describe('skipped: the destination had everything already, or (with `error` saying why) the artifact did not pass the rule\'s artifact-type or label filter'),
  digest: z.string().nullable(),
  bytes: z.number().int(),
  manifests: z.number().int(),
  blobs: z.number().int(),
  error: z.string().nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});

function ruleView(r: ReplicationRuleRow): z.infer<typeof ruleSchema> {
  return { ...r, createdAt: time(r.createdAt)!, updatedAt: time(r.updatedAt)! };
}

function executionView(e: ExecutionRow): z.infer<typeof executionSchema> {
  return {
    id: e.id,
    ruleId: e.ruleId,
    status: e.status,
    trigger: e.trigger,
    retryOf: e.retryOf,
    tasks: e.tasks,
    bytes: e.bytes,
    error: e.error,
    createdAt: time(e.createdAt)!,
    startedAt: time(e.startedAt),
    finishedAt: time(e.finishedAt),
  };
}

function taskView(t: TaskRow): z.infer<typeof taskSchema> {
  const { executionId: _e, ...rest } = t;
  return { ...rest, startedAt: time(t.startedAt), finishedAt: time(t.finishedAt) };
}

/** Replication rules and executions (system administrators), as Harbor's /replication API. */
export function replicationRoutes(rules: ReplicationService): AnyRoute[] {
  const actor = (principal: { kind: string; name?: string }) => (principal.kind === 'anonymous' ? 'anonymous' : (principal.name ?? 'unknown'));
  return [
    route({
      method: 'GET',
      path: '/replication/policies',
      summary: 'Replication rules',
      tag: 'replication',
      auth: 'admin',
      response: listOf(ruleSchema),
      handler: async () => {
        const items = (await rules.listRules()).map(ruleView);
        return { items, total: items.length };
      },
    }),
    route({
      method: 'POST',
      path: '/replication/policies',
      summary: 'Create a replication rule',
      tag: 'replication',
      auth: 'admin',
      body: ruleInput,
      response: ruleSchema,
      status: 201,
      audit: { action: 'replication.rule.create', resourceType: 'replication-rule', resource: ({ body }) => body.name },
      handler: async ({ body, principal }) => ruleView(await rules.createRule(body, actor(principal))),
    }),
    route({
      method: 'GET',
      path: '/replication/policies/{id}',
      summary: 'One replication rule',
      tag: 'replication',
      auth: 'admin',
      params: idParams,
      response: ruleSchema,
      handler: async ({ params }) => ruleView(await rules.getRule(params.id)),
    }),
    route({
      method: 'PATCH',
      path: '/replication/policies/{id}',
      summary: 'Change a replication rule',
      tag: 'replication',
      auth: 'admin',
      params: idParams,
      body: ruleInput.partial(),
      response: ruleSchema,
      audit: { action: 'replication.rule.update', resourceType: 'replication-rule', resource: ({ params }, r) => r?.name ?? `#${params.id}` },
      handler: async ({ params, body }) => ruleView(await rules.updateRule(params.id, body)),
    }),
    route({
      method: 'DELETE',
      path: '/replication/policies/{id}',
      summary: 'Delete a replication rule and its history',
      tag: 'replication',
      auth: 'admin',
      params: idParams,
      status: 204,
      audit: { action: 'replication.rule.delete', resourceType: 'replication-rule', resource: ({ params }) => `#${params.id}` },
      handler: async ({ params }) => {
        await rules.deleteRule(params.id);
        return undefined;
      },
    }),
    route({
      method: 'POST',
      path: '/replication/executions',
      summary: 'Run a replication rule now',
      tag: 'replication',
      auth: 'admin',
      body: z.strictObject({ policyId: z.number().int().positive() }),
      response: executionSchema,
      status: 201,
      audit: { action: 'replication.start', resourceType: 'replication-rule', resource: ({ body }) => `#${body.policyId}` },
      handler: async ({ body }) => executionView(await rules.start(body.policyId, 'manual')),
    }),
    route({
      method: 'GET',
      path: '/replication/executions',
      summary: 'Executions, newest first',
      tag: 'replication',
      auth: 'admin',
      query: z.object({ policy_id: z.coerce.number().int().positive().optional(), page: z.coerce.number().int().min(1).default(1), page_size: z.coerce.number().int().min(1).max(100).default(20) }),
      response: listOf(executionSchema),
      handler: async ({ query, reply }) => {
        const result = await rules.listExecutions(query.policy_id, { offset: (query.page - 1) * query.page_size, limit: query.page_size });
        reply.header('X-Total-Count', String(result.total));
        return { items: result.items.map(executionView), total: result.total };
      },
    }),
    route({
      method: 'GET',
      path: '/replication/executions/{id}',
      summary: 'One execution',
      tag: 'replication',
      auth: 'admin',
      params: idParams,
      response: executionSchema,
      handler: async ({ params }) => executionView(await rules.getExecution(params.id)),
    }),
    route({
      method: 'GET',
      path: '/replication/executions/{id}/tasks',
      summary: 'The artifacts of an execution and how each went',
      tag: 'replication',
      auth: 'admin',
      params: idParams,
      response: listOf(taskSchema),
      handler: async ({ params }) => {
        const items = (await rules.tasks(params.id)).map(taskView);
        return { items, total: items.length };
      },
    }),
    route({
      method: 'POST',
      path: '/replication/executions/{id}/retry',
      summary: 'Run the failed tasks of an execution again, in a new execution',
      tag: 'replication',
      auth: 'admin',
      params: idParams,
      response: executionSchema,
      status: 201,
      audit: { action: 'replication.retry', resourceType: 'replication-execution', resource: ({ params }) => `#${params.id}` },
      handler: async ({ params }) => executionView(await rules.retry(params.id)),
    }),
    route({
      method: 'POST',
      path: '/replication/executions/{id}/stop',
      summary: 'Stop an execution after the task under way',
      tag: 'replication',
      auth: 'admin',
      params: idParams,
      response: executionSchema,
      audit: { action: 'replication.stop', resourceType: 'replication-execution', resource: ({ params }) => `#${params.id}` },
      handler: async ({ params }) => executionView(await rules.stop(params.id)),
    }),
  ];
}
