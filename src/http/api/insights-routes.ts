import { z } from 'zod';
import { lintRuleIds, lintRules } from '../../domain/lint/index.js';
import { route, type AnyRoute } from './api-route.js';
import { artifactParams, fullName } from './repository-routes.js';
import type { ApiServices } from './services.js';

const projectParam = z.object({ project: z.string().min(1).max(255) });
const by = (principal: { kind: string; name?: string }) => (principal.kind === 'anonymous' ? 'anonymous' : (principal.name ?? principal.kind));
const severity = z.enum(['info', 'warning', 'error']);
const ruleId = z.enum(lintRuleIds);

const ruleSchema = z.object({ id: ruleId, severity, title: z.string(), explanation: z.string(), fix: z.string() });

const findingSchema = z.object({
  rule: ruleId,
  severity,
  title: z.string(),
  message: z.string().describe('What was found, with its evidence: a path and layer, or a variable name (never a secret value)'),
  fix: z.string(),
  path: z.string().optional(),
  layer: z.number().int().optional().describe('0 = the lowest layer'),
  variable: z.string().optional(),
});

const reportSchema = z.object({
  repository: z.string(),
  digest: z.string(),
  tags: z.array(z.string()),
  layers: z.number().int(),
  os: z.object({ id: z.string(), versionId: z.string().optional(), prettyName: z.string().optional(), codename: z.string().optional() }).nullable(),
  packages: z.number().int().describe('Operating-system packages (dpkg, apk, rpm) the rules looked at'),
  disabledRules: z.array(ruleId),
  summary: z.object({ error: z.number().int(), warning: z.number().int(), info: z.number().int() }),
  findings: z.array(findingSchema),
  omitted: z.record(z.string(), z.number().int()).describe('Findings left out per rule (at most 25 per rule and image)'),
});

const lintPolicy = z.strictObject({ disabledRules: z.array(z.string().min(1).max(100)).max(100).describe('Rule ids not checked in this project (GET /lint/rules)') });

const summarySchema = z.object({
  project: z.string(),
  images: z.number().int(),
  truncated: z.boolean().describe('More tagged images exist than were linted (at most 50)'),
  skipped: z.number().int().describe('Tagged manifests that are not images (indexes, signatures, SBOMs)'),
  failed: z.array(z.object({ repository: z.string(), digest: z.string(), error: z.string() })),
  disabledRules: z.array(ruleId),
  rules: z.array(z.object({ id: ruleId, severity, title: z.string(), images: z.number().int().describe('Images with a finding of this rule'), findings: z.number().int() })),
});

const nullableText = z.string().nullable();
const insightsSchema = z.object({
  repository: z.string(),
  digest: z.string(),
  layers: z.array(
    z.object({
      index: z.number().int().describe('0 = the lowest layer'),
      digest: z.string(),
      mediaType: z.string(),
      compressedSize: z.number().int().describe("The blob's size, as the manifest gives it"),
      uncompressedSize: z.number().int().describe("Bytes of the layer's tar once decompressed"),
      files: z.number().int().describe('Regular files the layer lists'),
      createdBy: nullableText.describe('From the history step matched to the layer; null when none is'),
      created: nullableText,
      emptyLayer: z.literal(false),
    }),
  ),
  history: z.array(
    z.object({
      index: z.number().int(),
      created: nullableText,
      createdBy: nullableText,
      comment: nullableText,
      emptyLayer: z.boolean(),
      layer: z.number().int().nullable().describe('The layer the step made; null for an empty step or when historyMismatch'),
    }),
  ),
  historyMismatch: z.boolean().describe("The config history's non-empty steps are not as many as the layers: none is matched"),
  totalCompressed: z.number().int(),
  totalUncompressed: z.number().int(),
  wasted: z.object({
    bytes: z.number().int().describe('Bytes of regular files a later layer overwrites or deletes'),
    files: z.number().int(),
    largest: z.array(z.object({ path: z.string(), bytes: z.number().int(), layer: z.number().int(), replacedIn: z.number().int() })),
  }),
  efficiency: z.number().describe('1 − wasted.bytes / bytes of all regular files of all layers (1 without file bytes)'),
  base: z
    .object({ repository: z.string(), tag: z.string().optional(), digest: z.string(), layers: z.number().int(), matchedBy: z.enum(['layers', 'annotation']) })
    .optional()
    .describe('The image this one was built from, among images the caller may pull'),
});

/** Insights: best-practice lint of images, its rules, and each project's disabled rules (docs/insights.md). */
export function insightsRoutes(s: ApiServices): AnyRoute[] {
  const { lint, images } = s.insights;
  const project = (name: string) => s.projects.get(name);
  return [
    route({
      method: 'GET',
      path: '/lint/rules',
      summary: 'The best-practice lint rules: stable id, severity, title, explanation and fix',
      tag: 'insights',
      auth: 'public',
      response: z.array(ruleSchema),
      handler: async () => lintRules.map((r) => ({ ...r })),
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/repositories/{repository}/artifacts/{reference}/lint',
      summary: "An image's best-practice lint report, without the project's disabled rules",
      tag: 'insights',
      auth: { action: 'read', project: ({ params }) => params.project },
      params: artifactParams,
      response: reportSchema,
      handler: async ({ params }) => lint.lint(await project(params.project), fullName(params.project, params.repository), params.reference),
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/repositories/{repository}/artifacts/{reference}/insights',
      summary: "An image's layers with sizes beside its history, its wasted space and efficiency, and the base image it was built from",
      tag: 'insights',
      auth: { action: 'read', project: ({ params }) => params.project },
      params: artifactParams,
      response: insightsSchema,
      handler: async ({ params, principal }) =>
        // A base is named only when the caller may pull it, as /v2 pulls are authorized.
        images.insights(fullName(params.project, params.repository), params.reference, async (repository) => (await s.authorizer.repositoryActions(principal, repository)).has('pull')),
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/lint-summary',
      summary: "Lint findings per rule over the project's tagged images (at most 50, newest first per repository)",
      tag: 'insights',
      auth: { action: 'read', project: ({ params }) => params.project },
      params: projectParam,
      response: summarySchema,
      handler: async ({ params }) => lint.projectSummary(await project(params.project)),
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/lint-policy',
      summary: "The project's lint policy: the rules it does not check",
      tag: 'insights',
      auth: { action: 'read-policies', project: ({ params }) => params.project },
      params: projectParam,
      response: lintPolicy,
      handler: async ({ params }) => lint.policy(await project(params.project)),
    }),
    route({
      method: 'PUT',
      path: '/projects/{project}/lint-policy',
      summary: "Replace the project's lint policy (an unknown rule id is refused)",
      tag: 'insights',
      auth: { action: 'manage-policies', project: ({ params }) => params.project },
      params: projectParam,
      body: lintPolicy,
      response: lintPolicy,
      audit: { action: 'lint-policy.update', resourceType: 'project', resource: ({ params }) => params.project, project: ({ params }) => params.project },
      handler: async ({ params, body, principal }) => lint.setPolicy(await project(params.project), body, by(principal)),
    }),
  ];
}
