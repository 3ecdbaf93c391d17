import { z } from 'zod';
import { BerthError } from '../../domain/errors.js';
import { highestRole, projectRoles } from '../../domain/permissions.js';
import type { ProjectRow } from '../../ports/identity-store.js';
import { denial } from '../../services/access/authorizer.js';
import { listOf, listQuery, pageQuery, paged, route, type AnyRoute } from './api-route.js';
import {
  memberSchema,
  memberView,
  projectSchema,
  projectView,
  robotPermissionSchema,
  robotSchema,
  robotView,
  robotWithSecretSchema,
  timeInput,
} from './schemas.js';
import type { ApiServices } from './services.js';

const projectParam = z.object({ project: z.string().min(1).max(255).describe('Project name') });
const projectIdParam = projectParam.extend({ id: z.coerce.number().int().positive() });

const robotInput = z.object({
  name: z.string().min(1).max(100).describe('Short name; the login name becomes robot$<project>+<name> (or robot$<name> for system robots)'),
  description: z.string().max(1000).nullable().optional(),
  expiresAt: timeInput.nullable().optional().describe('When the robot stops working; omit or null for never'),
  permissions: z.array(robotPermissionSchema).min(1).max(100),
});

const robotPatch = z.object({
  description: z.string().max(1000).nullable().optional(),
  expiresAt: timeInput.nullable().optional(),
  disabled: z.boolean().optional(),
  permissions: z.array(robotPermissionSchema).min(1).max(100).optional(),
});

const time = (value: string | null | undefined) => (value === undefined ? undefined : value === null ? null : Date.parse(value));

/** Projects, their members and their robot accounts; and system-level robots. */
export function projectRoutes(s: ApiServices): AnyRoute[] {
  const project = (name: string): Promise<ProjectRow> => s.projects.get(name);
  return [
    route({
      method: 'GET',
      path: '/projects',
      summary: 'List the projects you can see (public ones, and those you are a member of)',
      tag: 'projects',
      auth: 'public',
      query: pageQuery,
      response: listOf(projectSchema),
      handler: async ({ principal, query, request, reply }) => {
        const result = await s.projects.list(principal, listQuery(query));
        const roles = principal.kind === 'user' ? await s.identity.projectRolesOf(principal.id, principal.groupIds) : [];
        const items = await Promise.all(
          result.items.map(async (p) => {
            const repositories = await s.registry.meta.listProjectRepositories(p.name, { offset: 0, limit: 1 });
            const role = highestRole(roles.filter((r) => r.projectName === p.name).map((r) => r.role)) ?? null;
            return projectView(p, { repositoryCount: repositories.total, currentUserRole: role });
          }),
        );
        return paged(reply, request, query, { items, total: result.total });
      },
    }),
    route({
      method: 'POST',
      path: '/projects',
      summary: 'Create a project',
      tag: 'projects',
      auth: 'authenticated',
      body: z.object({ name: z.string().min(1).max(255), public: z.boolean().default(false) }),
      response: projectSchema,
      status: 201,
      audit: { action: 'project.create', resourceType: 'project', resource: ({ body }) => body.name, project: ({ body }) => body.name },
      handler: async ({ principal, body }) => {
        if (!s.authorizer.canCreateProject(principal)) throw denial(principal, 'creating projects is limited to administrators');
        return projectView(await s.projects.create(body.name, body.public, principal));
      },
    }),
    route({
      method: 'GET',
      path: '/projects/{project}',
      summary: 'Get a project',
      tag: 'projects',
      auth: { action: 'read', project: ({ params }) => params.project },
      params: projectParam,
      response: projectSchema,
      handler: async ({ params, principal }) => {
        const p = await project(params.project);
        const repositories = await s.registry.meta.listProjectRepositories(p.name, { offset: 0, limit: 1 });
        const roles = principal.kind === 'user' ? await s.identity.projectRolesOf(principal.id, principal.groupIds) : [];
        const role = highestRole(roles.filter((r) => r.projectName === p.name).map((r) => r.role)) ?? null;
        return projectView(p, { repositoryCount: repositories.total, currentUserRole: role });
      },
    }),
    route({
      method: 'PATCH',
      path: '/projects/{project}',
      summary: 'Make a project public or private',
      tag: 'projects',
      auth: { action: 'update-project', project: ({ params }) => params.project },
      params: projectParam,
      body: z.object({ public: z.boolean().optional() }),
      response: projectSchema,
      audit: { action: 'project.update', resourceType: 'project', resource: ({ params }) => params.project, project: ({ params }) => params.project },
      handler: async ({ params, body }) => projectView(await s.projects.update(params.project, body)),
    }),
    route({
      method: 'DELETE',
      path: '/projects/{project}',
      summary: 'Delete an empty project',
      tag: 'projects',
      auth: { action: 'delete-project', project: ({ params }) => params.project },
      params: projectParam,
      audit: { action: 'project.delete', resourceType: 'project', resource: ({ params }) => params.project, project: ({ params }) => params.project },
      handler: async ({ params }) => {
        await s.projects.delete(params.project);
        return undefined;
      },
    }),

    route({
      method: 'GET',
      path: '/projects/{project}/members',
      summary: 'List members',
      tag: 'members',
      auth: { action: 'read-members', project: ({ params }) => params.project },
      params: projectParam,
      query: pageQuery,
      response: listOf(memberSchema),
      handler: async ({ params, query, request, reply }) => {
        const result = await s.projects.listMembers(await project(params.project), listQuery(query));
        return paged(reply, request, query, { items: result.items.map(memberView), total: result.total });
      },
    }),
    route({
      method: 'POST',
      path: '/projects/{project}/members',
      summary: 'Add a user or group with a role',
      tag: 'members',
      auth: { action: 'manage-members', project: ({ params }) => params.project },
      params: projectParam,
      body: z
        .object({
          type: z.enum(['user', 'group']),
          name: z.string().min(1).optional(),
          id: z.number().int().positive().optional(),
          role: z.enum(projectRoles),
        })
        .refine((b) => b.name !== undefined || b.id !== undefined, 'give name or id'),
      response: memberSchema,
      status: 201,
      audit: {
        action: 'member.add',
        resourceType: 'member',
        resource: ({ body }) => `${body.type} ${body.name ?? `#${body.id}`} as ${body.role}`,
        project: ({ params }) => params.project,
      },
      handler: async ({ params, body }) => memberView(await s.projects.addMember(await project(params.project), body, body.role)),
    }),
    route({
      method: 'PATCH',
      path: '/projects/{project}/members/{id}',
      summary: "Change a member's role",
      tag: 'members',
      auth: { action: 'manage-members', project: ({ params }) => params.project },
      params: projectIdParam,
      body: z.object({ role: z.enum(projectRoles) }),
      response: memberSchema,
      audit: {
        action: 'member.update',
        resourceType: 'member',
        resource: ({ params, body }, m) => `${m?.principalName ?? `#${params.id}`} as ${body.role}`,
        project: ({ params }) => params.project,
      },
      handler: async ({ params, body }) => memberView(await s.projects.updateMember(await project(params.project), params.id, body.role)),
    }),
    route({
      method: 'DELETE',
      path: '/projects/{project}/members/{id}',
      summary: 'Remove a member',
      tag: 'members',
      auth: { action: 'manage-members', project: ({ params }) => params.project },
      params: projectIdParam,
      audit: { action: 'member.remove', resourceType: 'member', resource: ({ params }) => `#${params.id}`, project: ({ params }) => params.project },
      handler: async ({ params }) => {
        await s.projects.removeMember(await project(params.project), params.id);
        return undefined;
      },
    }),

    route({
      method: 'GET',
      path: '/projects/{project}/robots',
      summary: "List the project's robot accounts",
      tag: 'robots',
      auth: { action: 'read-robots', project: ({ params }) => params.project },
      params: projectParam,
      query: pageQuery,
      response: listOf(robotSchema),
      handler: async ({ params, query, request, reply }) => {
        const p = await project(params.project);
        const result = await s.robots.list(p, listQuery(query));
        return paged(reply, request, query, { items: result.items.map((r) => robotView(r, p.name)), total: result.total });
      },
    }),
    route({
      method: 'POST',
      path: '/projects/{project}/robots',
      summary: 'Create a project robot account (the secret is shown once)',
      tag: 'robots',
      auth: { action: 'manage-robots', project: ({ params }) => params.project },
      params: projectParam,
      body: robotInput,
      response: robotWithSecretSchema,
      status: 201,
      audit: { action: 'robot.create', resourceType: 'robot', resource: (_i, r) => r?.name ?? '', project: ({ params }) => params.project },
      handler: async ({ params, body, principal }) => {
        const p = await project(params.project);
        const { robot, secret } = await s.robots.create({ ...body, expiresAt: time(body.expiresAt) }, p, principalLabel(principal));
        return { ...robotView(robot, p.name), secret };
      },
    }),
    route({
      method: 'PATCH',
      path: '/projects/{project}/robots/{id}',
      summary: 'Update, disable or re-enable a project robot',
      tag: 'robots',
      auth: { action: 'manage-robots', project: ({ params }) => params.project },
      params: projectIdParam,
      body: robotPatch,
      response: robotSchema,
      audit: { action: 'robot.update', resourceType: 'robot', resource: ({ params }, r) => r?.name ?? `#${params.id}`, project: ({ params }) => params.project },
      handler: async ({ params, body }) => {
        const p = await project(params.project);
        return robotView(await s.robots.update(params.id, p, { ...body, expiresAt: time(body.expiresAt) }), p.name);
      },
    }),
    route({
      method: 'POST',
      path: '/projects/{project}/robots/{id}/secret',
      summary: "Replace a project robot's secret (shown once)",
      tag: 'robots',
      auth: { action: 'manage-robots', project: ({ params }) => params.project },
      params: projectIdParam,
      response: z.object({ secret: z.string() }),
      audit: { action: 'robot.secret', resourceType: 'robot', resource: ({ params }) => `#${params.id}`, project: ({ params }) => params.project },
      handler: async ({ params }) => ({ secret: await s.robots.refreshSecret(params.id, await project(params.project)) }),
    }),
    route({
      method: 'DELETE',
      path: '/projects/{project}/robots/{id}',
      summary: 'Delete a project robot',
      tag: 'robots',
      auth: { action: 'manage-robots', project: ({ params }) => params.project },
      params: projectIdParam,
      audit: { action: 'robot.delete', resourceType: 'robot', resource: ({ params }) => `#${params.id}`, project: ({ params }) => params.project },
      handler: async ({ params }) => {
        await s.robots.delete(params.id, await project(params.project));
        return undefined;
      },
    }),

    route({
      method: 'GET',
      path: '/robots',
      summary: 'List system robot accounts',
      tag: 'robots',
      auth: 'admin',
      query: pageQuery,
      response: listOf(robotSchema),
      handler: async ({ query, request, reply }) => {
        const result = await s.robots.list(null, listQuery(query));
        return paged(reply, request, query, { items: result.items.map((r) => robotView(r, null)), total: result.total });
      },
    }),
    route({
      method: 'POST',
      path: '/robots',
      summary: "Create a system robot account, across projects ('*' or named ones); the secret is shown once",
      tag: 'robots',
      auth: 'admin',
      body: robotInput,
      response: robotWithSecretSchema,
      status: 201,
      audit: { action: 'robot.create', resourceType: 'robot', resource: (_i, r) => r?.name ?? '' },
      handler: async ({ body, principal }) => {
        for (const permission of body.permissions) {
          if (permission.project !== '*' && !(await s.identity.getProject(permission.project))) {
            throw new BerthError('BAD_REQUEST', { message: `project ${permission.project} does not exist` });
          }
        }
        const { robot, secret } = await s.robots.create({ ...body, expiresAt: time(body.expiresAt) }, null, principalLabel(principal));
        return { ...robotView(robot, null), secret };
      },
    }),
    route({
      method: 'PATCH',
      path: '/robots/{id}',
      summary: 'Update, disable or re-enable a system robot',
      tag: 'robots',
      auth: 'admin',
      params: z.object({ id: z.coerce.number().int().positive() }),
      body: robotPatch,
      response: robotSchema,
      audit: { action: 'robot.update', resourceType: 'robot', resource: ({ params }, r) => r?.name ?? `#${params.id}` },
      handler: async ({ params, body }) => robotView(await s.robots.update(params.id, null, { ...body, expiresAt: time(body.expiresAt) }), null),
    }),
    route({
      method: 'POST',
      path: '/robots/{id}/secret',
      summary: "Replace a system robot's secret (shown once)",
      tag: 'robots',
      auth: 'admin',
      params: z.object({ id: z.coerce.number().int().positive() }),
      response: z.object({ secret: z.string() }),
      audit: { action: 'robot.secret', resourceType: 'robot', resource: ({ params }) => `#${params.id}` },
      handler: async ({ params }) => ({ secret: await s.robots.refreshSecret(params.id, null) }),
    }),
    route({
      method: 'DELETE',
      path: '/robots/{id}',
      summary: 'Delete a system robot',
      tag: 'robots',
      auth: 'admin',
      params: z.object({ id: z.coerce.number().int().positive() }),
      audit: { action: 'robot.delete', resourceType: 'robot', resource: ({ params }) => `#${params.id}` },
      handler: async ({ params }) => {
        await s.robots.delete(params.id, null);
        return undefined;
      },
    }),
  ];
}

function principalLabel(principal: { kind: string; name?: string }): string {
  return principal.kind === 'anonymous' ? 'anonymous' : (principal.name ?? principal.kind);
}
