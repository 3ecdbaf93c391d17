import { z } from 'zod';
import { outboundAllowSchema, quotaDefaultsSchema, rateLimitsSchema } from '../../config/schema.js';
import { route, type AnyRoute } from './api-route.js';
import { projectSchema, projectView, rateLimitOverridesSchema, robotSchema, robotView } from './schemas.js';
import type { ApiServices } from './services.js';

const settingsSchema = z.object({
  outbound: outboundAllowSchema.describe('Allowlists set here; they add to those of the config file.'),
  outboundFromFile: outboundAllowSchema.describe('Allowlists of the config file (change them there).'),
  rateLimits: rateLimitsSchema.describe('The rate limits in force.'),
  rateLimitsFrom: z.enum(['file', 'settings']).describe('Whether the rate limits come from the config file or were set here.'),
  quotaDefaults: quotaDefaultsSchema.describe('The quota a new project gets.'),
  quotaDefaultsFrom: z.enum(['file', 'settings']).describe('Whether the default quota comes from the config file or was set here.'),
});

/** System settings changed at run time, and the rate limits of single projects and robots. */
export function settingsRoutes(s: ApiServices): AnyRoute[] {
  return [
    route({
      method: 'GET',
      path: '/system/settings',
      summary: 'Settings an administrator changes while Berth runs: outbound allowlists, rate limits, default quota',
      tag: 'system',
      auth: 'admin',
      response: settingsSchema,
      handler: async () => s.settings.view(),
    }),
    route({
      method: 'PATCH',
      path: '/system/settings',
      summary: 'Change the outbound allowlists (replaced as a whole), the rate limits or the default quota of new projects (null returns to the config file)',
      tag: 'system',
      auth: 'admin',
      body: z.strictObject({ outbound: outboundAllowSchema.optional(), rateLimits: rateLimitsSchema.nullable().optional(), quotaDefaults: quotaDefaultsSchema.nullable().optional() }),
      response: settingsSchema,
      audit: { action: 'settings.update', resourceType: 'system', resource: ({ body }) => Object.keys(body).join(',') },
      handler: async ({ body, principal }) => s.settings.update(body, principal.kind === 'anonymous' ? 'anonymous' : principal.name),
    }),
    route({
      method: 'PUT',
      path: '/projects/{project}/rate-limits',
      summary: "Set a project's own pull and API limits (all callers together); null follows the system setting",
      tag: 'projects',
      auth: 'admin',
      params: z.object({ project: z.string().min(1).max(255) }),
      body: rateLimitOverridesSchema.partial(),
      response: projectSchema,
      audit: { action: 'project.rate-limits', resourceType: 'project', resource: ({ params }) => params.project, project: ({ params }) => params.project },
      handler: async ({ params, body }) => projectView(await s.projects.update(params.project, { rateLimits: body })),
    }),
    route({
      method: 'PUT',
      path: '/robots/{id}/rate-limits',
      summary: "Set a robot account's own pull and API limits (project or system robot); null follows the system setting",
      tag: 'robots',
      auth: 'admin',
      params: z.object({ id: z.coerce.number().int().positive() }),
      body: rateLimitOverridesSchema.partial(),
      response: robotSchema,
      audit: { action: 'robot.rate-limits', resourceType: 'robot', resource: ({ params }, r) => r?.name ?? `#${params.id}` },
      handler: async ({ params, body }) => {
        const robot = await s.robots.setRateLimits(params.id, body);
        const project = robot.projectId === null ? null : ((await s.identity.getProjectById(robot.projectId))?.name ?? null);
        return robotView(robot, project);
      },
    }),
  ];
}
