import type { FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { BerthError } from '../../domain/errors.js';
import type { AuditFilter } from '../../ports/audit-store.js';
import type { PendingLogin } from '../../services/identity/oidc-login.js';
import { cookieValue, sessionCookie } from '../auth/request-principal.js';
import { listOf, route, type AnyRoute } from './api-route.js';
import { auditSchema, auditView, timeInput, userSchema, userView } from './schemas.js';
import type { ApiServices } from './services.js';

const auditQuery = z.object({
  page: z.coerce.number().int().min(1).default(1),
  page_size: z.coerce.number().int().min(1).max(100).default(20),
  actor: z.string().optional(),
  action: z.string().optional(),
  resource_type: z.string().optional(),
  resource: z.string().optional().describe('Substring of the resource'),
  result: z.enum(['success', 'failure']).optional(),
  from: timeInput.optional(),
  to: timeInput.optional(),
});

function filterOf(query: z.infer<typeof auditQuery>, project?: string): AuditFilter {
  return {
    project,
    actor: query.actor,
    action: query.action,
    resourceType: query.resource_type,
    resource: query.resource,
    result: query.result,
    from: query.from ? Date.parse(query.from) : undefined,
    to: query.to ? Date.parse(query.to) : undefined,
  };
}

const oidcStateCookie = 'berth_oidc';

/** Audit log, system information, key rotation, and console login (password and OIDC). */
export function systemRoutes(s: ApiServices): AnyRoute[] {
  const cookie = (name: string, value: string, maxAgeSeconds: number) =>
    `${name}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}${s.secureCookies ? '; Secure' : ''}`;

  const auditList = (project?: string) =>
    async ({ query, reply }: { query: z.infer<typeof auditQuery>; reply: FastifyReply }) => {
      const result = await s.audit.list(filterOf(query, project), { offset: (query.page - 1) * query.page_size, limit: query.page_size });
      reply.header('X-Total-Count', String(result.total));
      return { items: result.items.map(auditView), total: result.total };
    };

  return [
    route({
      method: 'GET',
      path: '/audit-logs',
      summary: 'Query the audit log (newest first)',
      tag: 'audit',
      auth: 'admin',
      query: auditQuery,
      response: listOf(auditSchema),
      handler: auditList(),
    }),
    route({
      method: 'GET',
      path: '/audit-logs/export',
      summary: 'Export the audit log as JSON lines (oldest first), streamed',
      tag: 'audit',
      auth: 'admin',
      query: auditQuery.omit({ page: true, page_size: true }),
      handler: async ({ query, reply }) => {
        const rows = s.audit.export(filterOf({ ...query, page: 1, page_size: 1 }));
        const lines = Readable.from(
          (async function* () {
            for await (const row of rows) yield `${JSON.stringify(auditView(row))}\n`;
          })(),
        );
        reply.type('application/x-ndjson').header('Content-Disposition', 'attachment; filename="berth-audit.jsonl"');
        await reply.send(lines);
        return undefined;
      },
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/audit-logs',
      summary: "Query a project's audit log",
      tag: 'audit',
      auth: { action: 'read-audit', project: ({ params }) => params.project },
      params: z.object({ project: z.string().min(1).max(255) }),
      query: auditQuery,
      response: listOf(auditSchema),
      handler: async ({ params, query, reply }) => auditList(params.project)({ query, reply }),
    }),
    route({
      method: 'GET',
      path: '/system/info',
      summary: 'Version and login methods',
      tag: 'system',
      auth: 'public',
      response: z.object({
        version: z.string(),
        authentication: z.object({ local: z.boolean(), ldap: z.boolean(), oidc: z.boolean() }),
        tokenService: z.string(),
      }),
      handler: async () => ({
        version: s.version,
        authentication: { local: true, ldap: s.ldapEnabled, oidc: s.oidc !== undefined },
        tokenService: s.tokens.settings.service,
      }),
    }),
    route({
      method: 'POST',
      path: '/system/signing-keys/rotate',
      summary: 'Start signing tokens with a new key (old keys keep verifying until their tokens expire)',
      tag: 'system',
      auth: 'admin',
      response: z.object({ kid: z.string() }),
      audit: { action: 'signing-key.rotate', resourceType: 'system', resource: (_i, r) => r?.kid ?? '' },
      handler: async () => ({ kid: await s.tokens.rotate() }),
    }),
    route({
      method: 'POST',
      path: '/auth/login',
      summary: 'Log in to the console with a username and password (sets a session cookie)',
      tag: 'auth',
      auth: 'public',
      body: z.object({ username: z.string().min(1).max(255), password: z.string().min(1).max(1024) }),
      response: userSchema,
      handler: async ({ body, reply, request }) => {
        let principal;
        try {
          principal = await s.authenticator.verify(body.username, body.password, request.ip);
        } catch (err) {
          if (err instanceof BerthError && (err.key === 'UNAUTHORIZED' || err.key === 'TOOMANYREQUESTS')) {
            s.audit.record({
              actor: body.username,
              actorType: 'user',
              action: 'login',
              resourceType: 'session',
              resource: 'console',
              project: null,
              sourceIp: request.ip,
              result: 'failure',
              detail: { reason: err.message },
              requestId: request.id,
            });
          }
          throw err;
        }
        if (principal.kind !== 'user') throw new BerthError('BAD_REQUEST', { message: 'robot accounts cannot log in to the console' });
        const session = await s.tokens.issue('session', principal);
        reply.header('Set-Cookie', cookie(sessionCookie, session.token, session.expiresIn));
        s.audit.record({
          actor: principal.name,
          actorType: 'user',
          action: 'login',
          resourceType: 'session',
          resource: 'console',
          project: null,
          sourceIp: request.ip,
          result: 'success',
          detail: null,
          requestId: request.id,
        });
        return userView(await s.users.get(principal.id));
      },
    }),
    route({
      method: 'GET',
      path: '/auth/session',
      summary: 'The logged-in user, or null (never 401, so the console can ask quietly)',
      tag: 'auth',
      auth: 'public',
      response: z.object({ user: userSchema.nullable() }),
      handler: async ({ principal }) => ({ user: principal.kind === 'user' ? userView(await s.users.get(principal.id)) : null }),
    }),
    route({
      method: 'POST',
      path: '/auth/logout',
      summary: 'End the console session',
      tag: 'auth',
      auth: 'public',
      handler: async ({ reply }) => {
        reply.header('Set-Cookie', cookie(sessionCookie, '', 0));
        return undefined;
      },
    }),
    route({
      method: 'GET',
      path: '/auth/oidc/login',
      summary: 'Start an OIDC login (redirects to the provider)',
      tag: 'auth',
      auth: 'public',
      query: z.object({ returnTo: z.string().max(2000).optional() }),
      handler: async ({ query, request, reply }) => {
        if (!s.oidc) throw new BerthError('NOT_FOUND', { message: 'OIDC login is not configured' });
        const { url, pending } = await s.oidc.start(callbackUrl(request), safeReturn(query.returnTo));
        reply.header('Set-Cookie', cookie(oidcStateCookie, await s.tokens.signState({ ...pending }, 600), 600));
        await reply.redirect(url, 302);
        return undefined;
      },
    }),
    route({
      method: 'GET',
      path: '/auth/oidc/callback',
      summary: 'Where the OIDC provider sends the browser back (sets a session cookie)',
      tag: 'auth',
      auth: 'public',
      handler: async ({ request, reply }) => {
        if (!s.oidc) throw new BerthError('NOT_FOUND', { message: 'OIDC login is not configured' });
        const state = cookieValue(request.headers.cookie, oidcStateCookie);
        if (!state) throw new BerthError('UNAUTHORIZED', { message: 'no OIDC login in progress (cookie missing or expired)' });
        const pending = (await s.tokens.verifyState(state)) as unknown as PendingLogin;
        const user = await s.oidc.finish(new URL(request.url, callbackUrl(request)), pending);
        const principal = await s.authenticator.userPrincipal(user);
        const session = await s.tokens.issue('session', principal);
        reply.header('Set-Cookie', [cookie(sessionCookie, session.token, session.expiresIn), cookie(oidcStateCookie, '', 0)]);
        s.audit.record({
          actor: user.username,
          actorType: 'user',
          action: 'login',
          resourceType: 'session',
          resource: 'console (oidc)',
          project: null,
          sourceIp: request.ip,
          result: 'success',
          detail: null,
          requestId: request.id,
        });
        s.onIdentityChange();
        await reply.redirect(safeReturn(pending.returnTo), 302);
        return undefined;
      },
    }),
  ];

  function callbackUrl(request: FastifyRequest): string {
    return `${s.publicUrl ?? `${request.protocol}://${request.host}`}/api/v1/auth/oidc/callback`;
  }
}

/** Only local paths: never an open redirect to another site. */
function safeReturn(value: string | undefined): string {
  return value && value.startsWith('/') && !value.startsWith('//') && !value.startsWith('/\\') ? value : '/';
}

