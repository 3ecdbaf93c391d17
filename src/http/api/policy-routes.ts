import { z } from 'zod';
import { keepKinds } from '../../domain/retention.js';
import type { RetentionRunRow } from '../../ports/policy-store.js';
import { listOf, route, type AnyRoute } from './api-route.js';
import type { ApiServices } from './services.js';

const projectParam = z.object({ project: z.string().min(1).max(255) });
const selector = z.strictObject({ pattern: z.string().min(1).max(500).describe('Glob: * within a segment, ** across, ?, [abc], {a,b}'), exclude: z.boolean().optional() });

const retentionRule = z.strictObject({
  repositories: selector.describe('Repositories within the project (not the project name): `**`, `app`, `team/*`'),
  tags: selector,
  untagged: z.boolean().default(false).describe('The rule also takes (and may delete) untagged artifacts'),
  keep: z
    .strictObject({
      kind: z.enum(keepKinds),
      value: z.number().int().min(0).max(100_000).optional().describe('How many (latestPushed, latestPulled, highestSemver) or days (pushedWithinDays, pulledWithinDays)'),
    })
    .refine((keep) => keep.kind === 'always' || keep.value !== undefined, { message: 'value is required for every kind but always' }),
  disabled: z.boolean().optional(),
});

const retentionPolicy = z.strictObject({
  rules: z.array(retentionRule).max(15),
  schedule: z.string().max(100).default('').describe('Cron (UTC) of scheduled runs; empty: on demand only'),
});

const immutabilityRules = z.strictObject({ rules: z.array(z.strictObject({ repositories: selector, tags: selector, disabled: z.boolean().optional() })).max(15) });

const time = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const runSchema = z.object({
  id: z.number().int(),
  status: z.enum(['queued', 'running', 'succeeded', 'failed', 'interrupted']),
  dryRun: z.boolean(),
  triggeredBy: z.string(),
  kept: z.number().int(),
  deleted: z.number().int().describe('Artifacts deleted (a dry run: that would be)'),
  error: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});
const runDetail = runSchema.extend({
  report: z
    .array(z.object({ repository: z.string(), digest: z.string(), tags: z.array(z.string()), action: z.enum(['keep', 'delete']), reason: z.string() }))
    .nullable()
    .describe('Every artifact with what the run decided and why'),
});

function runView(run: RetentionRunRow): z.infer<typeof runSchema> {
  return {
    id: run.id,
    status: run.status,
    dryRun: run.dryRun,
    triggeredBy: run.triggeredBy,
    kept: run.kept,
    deleted: run.deleted,
    error: run.error,
    createdAt: time(run.createdAt)!,
    startedAt: time(run.startedAt),
    finishedAt: time(run.finishedAt),
  };
}

const by = (principal: { kind: string; name?: string }) => (principal.kind === 'anonymous' ? 'anonymous' : (principal.name ?? principal.kind));

/** A project's retention policy, its runs, and its immutability rules (docs/lifecycle.md). */
export function policyRoutes(s: ApiServices): AnyRoute[] {
  const project = (name: string) => s.projects.get(name);
  return [
    route({
      method: 'GET',
      path: '/projects/{project}/retention',
      summary: "The project's retention policy",
      tag: 'lifecycle',
      auth: { action: 'read-policies', project: ({ params }) => params.project },
      params: projectParam,
      response: retentionPolicy,
      handler: async ({ params }) => s.lifecycle.policies.retention(await project(params.project)),
    }),
    route({
      method: 'PUT',
      path: '/projects/{project}/retention',
      summary: 'Replace the retention policy (rules kept as their union; the rest of what they see is deleted)',
      tag: 'lifecycle',
      auth: { action: 'manage-policies', project: ({ params }) => params.project },
      params: projectParam,
      body: retentionPolicy,
      response: retentionPolicy,
      audit: { action: 'retention.update', resourceType: 'project', resource: ({ params }) => params.project, project: ({ params }) => params.project },
      handler: async ({ params, body, principal }) => s.lifecycle.policies.setRetention(await project(params.project), body, by(principal)),
    }),
    route({
      method: 'POST',
      path: '/projects/{project}/retention/runs',
      summary: 'Run the retention policy now, or a dry run that lists every artifact with the rule that kept it',
      tag: 'lifecycle',
      auth: { action: 'manage-policies', project: ({ params }) => params.project },
      params: projectParam,
      body: z.strictObject({ dryRun: z.boolean().default(false) }).prefault({}),
      response: runSchema,
      status: 201,
      audit: { action: 'retention.run', resourceType: 'project', resource: ({ params }) => params.project, project: ({ params }) => params.project },
      handler: async ({ params, body, principal }) => runView(await s.lifecycle.requestRetention(await project(params.project), body.dryRun, by(principal))),
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/retention/runs',
      summary: 'Retention runs, newest first',
      tag: 'lifecycle',
      auth: { action: 'read-policies', project: ({ params }) => params.project },
      params: projectParam,
      query: z.object({ page: z.coerce.number().int().min(1).default(1), page_size: z.coerce.number().int().min(1).max(100).default(20) }),
      response: listOf(runSchema),
      handler: async ({ params, query, reply }) => {
        const result = await s.lifecycle.retention.runs(await project(params.project), { offset: (query.page - 1) * query.page_size, limit: query.page_size });
        reply.header('X-Total-Count', String(result.total));
        return { items: result.items.map(runView), total: result.total };
      },
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/retention/runs/{id}',
      summary: 'One retention run with its report',
      tag: 'lifecycle',
      auth: { action: 'read-policies', project: ({ params }) => params.project },
      params: projectParam.extend({ id: z.coerce.number().int().positive() }),
      response: runDetail,
      handler: async ({ params }) => {
        const run = await s.lifecycle.retention.run(await project(params.project), params.id);
        return { ...runView(run), report: run.report };
      },
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/immutability',
      summary: "The project's immutability rules",
      tag: 'lifecycle',
      auth: { action: 'read-policies', project: ({ params }) => params.project },
      params: projectParam,
      response: immutabilityRules,
      handler: async ({ params }) => ({ rules: await s.lifecycle.policies.immutabilityRules(await project(params.project)) }),
    }),
    route({
      method: 'PUT',
      path: '/projects/{project}/immutability',
      summary: 'Replace the immutability rules: a push that would move or delete a matching tag is refused (DENIED)',
      tag: 'lifecycle',
      auth: { action: 'manage-policies', project: ({ params }) => params.project },
      params: projectParam,
      body: immutabilityRules,
      response: immutabilityRules,
      audit: { action: 'immutability.update', resourceType: 'project', resource: ({ params }) => params.project, project: ({ params }) => params.project },
      handler: async ({ params, body, principal }) => ({ rules: await s.lifecycle.policies.setImmutability(await project(params.project), body.rules, by(principal)) }),
    }),
  ];
}
