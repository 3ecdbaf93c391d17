import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BerthError } from '../../domain/errors.js';
import { parseScope, type AccessEntry } from '../../domain/scope.js';
import type { Authorizer } from '../../services/access/authorizer.js';
import type { Authenticator } from '../../services/identity/authenticator.js';
import { anonymous, type Principal } from '../../services/identity/principal.js';
import type { TokenService } from '../../services/identity/token-service.js';
import { sendError } from '../error-response.js';
import { basicCredentials } from './request-principal.js';

export interface TokenRouteOptions {
  authenticator: Authenticator;
  tokens: TokenService;
  authorizer: Authorizer;
  /** Records a failed login (audit). */
  onLoginFailure: (request: FastifyRequest, username: string, reason: string) => void;
}

type Params = Record<string, string | string[] | undefined>;

/**
 * The Docker registry token service (distribution "Token Authentication Specification" and
 * "OAuth2 Token Authentication"): GET with Basic credentials (docker pull/push), POST with
 * grant_type=password or refresh_token (docker login stores the refresh token), and the JWKS.
 */
export async function tokenRoutes(app: FastifyInstance, options: TokenRouteOptions): Promise<void> {
  const { tokens, authorizer, authenticator } = options;

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, body, done) => {
    const params = new URLSearchParams(body as string);
    const out: Params = {};
    for (const key of new Set(params.keys())) {
      const values = params.getAll(key);
      out[key] = values.length === 1 ? values[0] : values;
    }
    done(null, out);
  });

  app.get('/service/token', async (request, reply) => {
    try {
      const query = request.query as Params;
      checkService(query.service, tokens.settings.service);
      const basic = basicCredentials(request.headers.authorization);
      if (request.headers.authorization && !basic) throw new BerthError('UNAUTHORIZED', { message: 'the token endpoint takes Basic credentials' });
      const principal = basic ? await login(request, basic.username, basic.password) : anonymous;
      const access = await grants(principal, scopesOf(query.scope));
      const issued = await tokens.issue('access', principal, access);
      const body: Record<string, unknown> = {
        token: issued.token,
        access_token: issued.token,
        expires_in: issued.expiresIn,
        issued_at: issued.issuedAt.toISOString(),
      };
      if (single(query.offline_token) === 'true' && principal.kind !== 'anonymous') {
        body.refresh_token = (await tokens.issue('refresh', principal)).token;
      }
      return reply.header('Cache-Control', 'no-store').send(body);
    } catch (err) {
      return sendError(request, reply, err);
    }
  });

  app.post('/service/token', async (request, reply) => {
    try {
      const form = (request.body ?? {}) as Params;
      if (typeof form !== 'object') throw new BerthError('BAD_REQUEST', { message: 'send an application/x-www-form-urlencoded body' });
      checkService(form.service, tokens.settings.service);
      const grantType = single(form.grant_type);
      let principal: Principal;
      let refreshToken: string | undefined;
      if (grantType === 'password') {
        const username = single(form.username) ?? '';
        principal = await login(request, username, single(form.password) ?? '');
        if (single(form.access_type) === 'offline') refreshToken = (await tokens.issue('refresh', principal)).token;
      } else if (grantType === 'refresh_token') {
        const given = single(form.refresh_token) ?? '';
        const verified = await tokens.verify(given, 'refresh');
        if (verified.subject.kind === 'anonymous') throw new BerthError('UNAUTHORIZED', { message: 'invalid refresh token' });
        const reloaded = await authenticator.reload(
          verified.subject.kind === 'user'
            ? { kind: 'user', id: verified.subject.id, name: verified.subject.name, isAdmin: false, groupIds: [], source: 'local' }
            : { kind: 'robot', id: verified.subject.id, name: verified.subject.name, projectId: null, permissions: [] },
        );
        if (!reloaded) throw new BerthError('UNAUTHORIZED', { message: 'the account behind this refresh token no longer exists or is disabled' });
        principal = reloaded;
        refreshToken = given;
      } else {
        throw new BerthError('BAD_REQUEST', { message: 'grant_type must be password or refresh_token' });
      }
      const access = await grants(principal, scopesOf(form.scope));
      const issued = await tokens.issue('access', principal, access);
      const body: Record<string, unknown> = {
        access_token: issued.token,
        token_type: 'Bearer',
        expires_in: issued.expiresIn,
        issued_at: issued.issuedAt.toISOString(),
        scope: access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`).join(' '),
      };
      if (refreshToken) body.refresh_token = refreshToken;
      return reply.header('Cache-Control', 'no-store').send(body);
    } catch (err) {
      return sendError(request, reply, err);
    }
  });

  app.get('/service/keys', async (_request, reply: FastifyReply) => reply.send(tokens.jwks()));

  async function login(request: FastifyRequest, username: string, password: string): Promise<Principal> {
    try {
      return await authenticator.verify(username, password, request.ip);
    } catch (err) {
      if (err instanceof BerthError && (err.key === 'UNAUTHORIZED' || err.key === 'TOOMANYREQUESTS')) options.onLoginFailure(request, username, err.message);
      throw err;
    }
  }

  /** The intersection of what is asked and what the principal may do, per scope entry. */
  async function grants(principal: Principal, asked: AccessEntry[]): Promise<AccessEntry[]> {
    const out: AccessEntry[] = [];
    for (const entry of asked) {
      if (entry.type === 'registry' && entry.name === 'catalog') {
        if (principal.kind !== 'anonymous') out.push({ type: 'registry', name: 'catalog', actions: ['*'] });
        continue;
      }
      if (entry.type !== 'repository') continue;
      const allowed = await authorizer.repositoryActions(principal, entry.name);
      const wanted = entry.actions.includes('*') ? ['pull', 'push', 'delete'] : entry.actions;
      const actions = wanted.filter((a) => allowed.has(a as 'pull' | 'push' | 'delete'));
      if (actions.length > 0) out.push({ type: 'repository', name: entry.name, actions: [...new Set(actions)] });
    }
    return out;
  }
}

function scopesOf(value: string | string[] | undefined): AccessEntry[] {
  const values = value === undefined ? [] : Array.isArray(value) ? value : [value];
  return values.flatMap(parseScope).slice(0, 100);
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function checkService(given: string | string[] | undefined, expected: string): void {
  const service = single(given);
  if (service !== undefined && service !== expected) {
    throw new BerthError('BAD_REQUEST', { message: `unknown service ${service}; this token service is ${expected}` });
  }
}
