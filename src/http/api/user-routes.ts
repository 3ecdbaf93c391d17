import { z } from 'zod';
import { BerthError } from '../../domain/errors.js';
import { listOf, listQuery, pageQuery, paged, route, type AnyRoute } from './api-route.js';
import { groupSchema, groupView, idParam, userSchema, userView } from './schemas.js';
import type { ApiServices } from './services.js';

const newUser = z.object({
  username: z.string().min(1).max(255),
  password: z.string().min(1).max(256),
  email: z.email().nullable().optional(),
  displayName: z.string().max(255).nullable().optional(),
  isAdmin: z.boolean().optional(),
});

const userPatch = z.object({
  email: z.email().nullable().optional(),
  displayName: z.string().max(255).nullable().optional(),
  isAdmin: z.boolean().optional(),
  disabled: z.boolean().optional(),
});

/** Users and groups (system administrators), and the caller's own account. */
export function userRoutes(s: ApiServices): AnyRoute[] {
  const currentUser = (principal: Parameters<AnyRoute['handler']>[0]['principal']) => {
    if (principal.kind !== 'user') throw new BerthError('BAD_REQUEST', { message: 'only users have an account; robots do not' });
    return principal;
  };
  return [
    route({
      method: 'GET',
      path: '/users/current',
      summary: 'The calling user',
      tag: 'users',
      auth: 'authenticated',
      response: userSchema,
      handler: async ({ principal }) => userView(await s.users.get(currentUser(principal).id)),
    }),
    route({
      method: 'PATCH',
      path: '/users/current/preferences',
      summary: 'Remember console language and theme for your account',
      tag: 'users',
      auth: 'authenticated',
      body: z.object({ language: z.enum(['en', 'zh-CN']).optional(), theme: z.enum(['light', 'dark', 'system']).optional() }),
      response: userSchema,
      handler: async ({ principal, body }) => {
        const user = await s.users.get(currentUser(principal).id);
        return userView(await s.users.setPreferences(user.id, { ...user.preferences, ...body }));
      },
    }),
    route({
      method: 'PUT',
      path: '/users/current/password',
      summary: 'Change your own password',
      tag: 'users',
      auth: 'authenticated',
      body: z.object({ oldPassword: z.string(), newPassword: z.string() }),
      audit: { action: 'user.password', resourceType: 'user', resource: ({ principal }) => (principal.kind === 'user' ? principal.name : '') },
      handler: async ({ principal, body }) => {
        await s.users.changePassword(currentUser(principal).id, body.newPassword, body.oldPassword);
        return undefined;
      },
    }),
    route({
      method: 'POST',
      path: '/users/current/cli-secret',
      summary: 'Generate a new CLI secret (OIDC users log in to docker/podman with it)',
      tag: 'users',
      auth: 'authenticated',
      response: z.object({ secret: z.string() }),
      audit: { action: 'user.cli-secret', resourceType: 'user', resource: ({ principal }) => (principal.kind === 'user' ? principal.name : '') },
      handler: async ({ principal }) => ({ secret: await s.users.regenerateCliSecret(currentUser(principal).id) }),
    }),
    route({
      method: 'GET',
      path: '/users',
      summary: 'List users',
      tag: 'users',
      auth: 'admin',
      query: pageQuery,
      response: listOf(userSchema),
      handler: async ({ query, request, reply }) => {
        const [result, blocked] = await Promise.all([s.users.list(listQuery(query)), s.loginThrottle.blockedAccounts()]);
        return paged(reply, request, query, { items: result.items.map((u) => userView(u, new Set(blocked))), total: result.total });
      },
    }),
    route({
      method: 'POST',
      path: '/users',
      summary: 'Create a local user',
      tag: 'users',
      auth: 'admin',
      body: newUser,
      response: userSchema,
      status: 201,
      audit: { action: 'user.create', resourceType: 'user', resource: ({ body }) => body.username },
      handler: async ({ body }) => userView(await s.users.create(body)),
    }),
    route({
      method: 'GET',
      path: '/users/{id}',
      summary: 'Get a user',
      tag: 'users',
      auth: 'admin',
      params: idParam,
      response: userSchema,
      handler: async ({ params }) => userView(await s.users.get(params.id), new Set(await s.loginThrottle.blockedAccounts())),
    }),
    route({
      method: 'POST',
      path: '/users/{id}/unlock',
      summary: 'Let every client address try this account again at once (clears its login back-off)',
      tag: 'users',
      auth: 'admin',
      params: idParam,
      response: z.object({ addresses: z.number().int().describe('Client addresses whose failures were forgotten.') }),
      audit: { action: 'user.unlock', resourceType: 'user', resource: ({ params }) => `#${params.id}` },
      handler: async ({ params }) => ({ addresses: await s.loginThrottle.unlock((await s.users.get(params.id)).username) }),
    }),
    route({
      method: 'PATCH',
      path: '/users/{id}',
      summary: 'Update a user (email, name, admin flag, disabled)',
      tag: 'users',
      auth: 'admin',
      params: idParam,
      body: userPatch,
      response: userSchema,
      audit: { action: 'user.update', resourceType: 'user', resource: ({ params }, user) => user?.username ?? `#${params.id}` },
      handler: async ({ params, body }) => userView(await s.users.update(params.id, body)),
    }),
    route({
      method: 'DELETE',
      path: '/users/{id}',
      summary: 'Delete a user',
      tag: 'users',
      auth: 'admin',
      params: idParam,
      audit: { action: 'user.delete', resourceType: 'user', resource: ({ params }) => `#${params.id}` },
      handler: async ({ params }) => {
        await s.users.delete(params.id);
        return undefined;
      },
    }),
    route({
      method: 'PUT',
      path: '/users/{id}/password',
      summary: "Reset a local user's password",
      tag: 'users',
      auth: 'admin',
      params: idParam,
      body: z.object({ password: z.string() }),
      audit: { action: 'user.password-reset', resourceType: 'user', resource: ({ params }) => `#${params.id}` },
      handler: async ({ params, body }) => {
        await s.users.changePassword(params.id, body.password);
        // A new password makes earlier guesses moot.
        await s.loginThrottle.unlock((await s.users.get(params.id)).username);
        return undefined;
      },
    }),
    route({
      method: 'GET',
      path: '/groups',
      summary: 'List groups (local, LDAP and OIDC)',
      tag: 'groups',
      auth: 'admin',
      query: pageQuery,
      response: listOf(groupSchema),
      handler: async ({ query, request, reply }) => {
        const result = await s.identity.listGroups(listQuery(query));
        return paged(reply, request, query, { items: result.items.map(groupView), total: result.total });
      },
    }),
    route({
      method: 'POST',
      path: '/groups',
      summary: 'Create a local group',
      tag: 'groups',
      auth: 'admin',
      body: z.object({ name: z.string().min(1).max(255) }),
      response: groupSchema,
      status: 201,
      audit: { action: 'group.create', resourceType: 'group', resource: ({ body }) => body.name },
      handler: async ({ body }) => {
        const existing = await s.identity.listGroups({ offset: 0, limit: 1, exact: { name: body.name, source: 'local' } });
        if (existing.total > 0) throw new BerthError('CONFLICT', { message: `group ${body.name} already exists` });
        const group = await s.identity.createGroup({ name: body.name, source: 'local', externalId: null }, Date.now());
        s.onIdentityChange();
        return groupView(group);
      },
    }),
    route({
      method: 'DELETE',
      path: '/groups/{id}',
      summary: 'Delete a group (and its project memberships)',
      tag: 'groups',
      auth: 'admin',
      params: idParam,
      audit: { action: 'group.delete', resourceType: 'group', resource: ({ params }) => `#${params.id}` },
      handler: async ({ params }) => {
        if (!(await s.identity.deleteGroup(params.id))) throw new BerthError('NOT_FOUND', { message: `group ${params.id} not found` });
        s.onIdentityChange();
        return undefined;
      },
    }),
    route({
      method: 'POST',
      path: '/groups/{id}/members',
      summary: 'Add a user to a local group',
      tag: 'groups',
      auth: 'admin',
      params: idParam,
      body: z.object({ username: z.string().min(1) }),
      audit: { action: 'group.member-add', resourceType: 'group', resource: ({ params, body }) => `#${params.id} ${body.username}` },
      handler: async ({ params, body }) => {
        const group = await s.identity.getGroup(params.id);
        if (!group) throw new BerthError('NOT_FOUND', { message: `group ${params.id} not found` });
        if (group.source !== 'local') throw new BerthError('BAD_REQUEST', { message: `${group.source} group memberships come from the identity provider` });
        const user = await s.identity.getUserByName(body.username);
        if (!user) throw new BerthError('NOT_FOUND', { message: `user ${body.username} not found` });
        await s.identity.addUserToGroup(user.id, group.id);
        s.onIdentityChange();
        return undefined;
      },
    }),
    route({
      method: 'DELETE',
      path: '/groups/{id}/members/{userId}',
      summary: 'Remove a user from a local group',
      tag: 'groups',
      auth: 'admin',
      params: z.object({ id: z.coerce.number().int().positive(), userId: z.coerce.number().int().positive() }),
      audit: { action: 'group.member-remove', resourceType: 'group', resource: ({ params }) => `#${params.id} user #${params.userId}` },
      handler: async ({ params }) => {
        if (!(await s.identity.removeUserFromGroup(params.userId, params.id))) throw new BerthError('NOT_FOUND', { message: 'no such membership' });
        s.onIdentityChange();
        return undefined;
      },
    }),
  ];
}
