import type { FastifyRequest } from 'fastify';
import { BerthError } from '../../domain/errors.js';
import type { Authenticator } from '../../services/identity/authenticator.js';
import { anonymous, type Principal } from '../../services/identity/principal.js';
import type { TokenService, VerifiedToken } from '../../services/identity/token-service.js';

export const sessionCookie = 'berth_session';

export interface RequestIdentity {
  principal: Principal;
  via: 'bearer' | 'basic' | 'session' | 'none';
  /** The verified bearer token, whose `access` claims bound what this request may do. */
  token?: VerifiedToken;
}

export interface CredentialServices {
  authenticator: Authenticator;
  tokens: TokenService;
}

/** Basic credentials from an Authorization header, or undefined. */
export function basicCredentials(header: string | undefined): { username: string; password: string } | undefined {
  if (!header || !/^basic /i.test(header)) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

/**
 * Who sent this request: a bearer token (Docker token auth), Basic credentials, the console's
 * session cookie, or nobody. Bad credentials are an error (never silently anonymous).
 */
export async function identify(request: FastifyRequest, services: CredentialServices, options: { allowSession: boolean }): Promise<RequestIdentity> {
  const header = request.headers.authorization;
  if (header && /^bearer /i.test(header)) {
    const token = await services.tokens.verify(header.slice(7).trim(), 'access');
    return { principal: await current(services, token), via: 'bearer', token };
  }
  const basic = basicCredentials(header);
  if (basic) return { principal: await services.authenticator.verify(basic.username, basic.password, request.ip), via: 'basic' };
  if (header) throw new BerthError('UNAUTHORIZED', { message: 'unsupported Authorization scheme; use Basic or Bearer' });
  if (options.allowSession) {
    const session = cookieValue(request.headers.cookie, sessionCookie);
    if (session) {
      // A stale cookie (expired, key retired, account gone) is no credential at all: the
      // caller is anonymous, and pages that need a login ask for one.
      try {
        const token = await services.tokens.verify(session, 'session');
        return { principal: await current(services, token), via: 'session' };
      } catch {
        return { principal: anonymous, via: 'none' };
      }
    }
  }
  return { principal: anonymous, via: 'none' };
}

/** The token's subject as it is now: deleted, disabled or expired principals are refused. */
async function current(services: CredentialServices, token: VerifiedToken): Promise<Principal> {
  if (token.subject.kind === 'anonymous') return anonymous;
  const stub: Principal =
    token.subject.kind === 'user'
      ? { kind: 'user', id: token.subject.id, name: token.subject.name, isAdmin: false, groupIds: [], source: 'local' }
      : { kind: 'robot', id: token.subject.id, name: token.subject.name, projectId: null, permissions: [] };
  const principal = await services.authenticator.reload(stub);
  if (!principal) throw new BerthError('UNAUTHORIZED', { message: 'the account behind this token no longer exists or is disabled' });
  return principal;
}
