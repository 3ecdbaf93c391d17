import type { FastifyRequest } from 'fastify';
import { BerthError } from '../../domain/errors.js';
import { assertRepositoryName } from '../../domain/names.js';
import { formatScope } from '../../domain/scope.js';
import type { Authorizer, RepositoryAction } from '../../services/access/authorizer.js';
import { denial } from '../../services/access/authorizer.js';
import { identify, type CredentialServices, type RequestIdentity } from '../auth/request-principal.js';
import type { V2Route } from './route-path.js';

export interface V2AccessOptions extends CredentialServices {
  authorizer: Authorizer;
  /** The token service's name (`service=` in challenges and tokens' audience). */
  service: string;
  /** Fixed public base URL, or undefined to derive it from the request. */
  publicUrl?: string;
}

/** What a /v2 request needs: a repository action, or just being someone (base, catalog). */
type Requirement = { repository: string; action: RepositoryAction } | { catalog: true } | { authenticated: true };

/**
 * Access control for the distribution API (distribution's "Token Authentication
 * Specification"): decides with the Authorizer, and answers refusals with the challenge
 * docker/podman/skopeo follow to fetch a token.
 */
export class V2Access {
  constructor(private readonly options: V2AccessOptions) {}

  realm(request: FastifyRequest): string {
    const base = this.options.publicUrl ?? `${request.protocol}://${request.host}`;
    return `${base.replace(/\/$/, '')}/service/token`;
  }

  /** Identifies the caller and checks it may do what the route does; throws a challenge otherwise. */
  async authorize(request: FastifyRequest, route: V2Route): Promise<RequestIdentity> {
    // A malformed name is a client error whoever asks, and must never reach project creation.
    if ('name' in route) assertRepositoryName(route.name);
    const need = requirement(request.method, route);
    let identity: RequestIdentity;
    try {
      identity = await identify(request, this.options, { allowSession: false });
    } catch (err) {
      throw this.withChallenge(request, err as BerthError, need);
    }
    const { principal, token } = identity;

    if ('authenticated' in need) {
      if (principal.kind === 'anonymous') throw this.challenge(request, need, 'authentication required');
      return identity;
    }
    if ('catalog' in need) {
      if (principal.kind === 'anonymous') throw this.challenge(request, need, 'authentication required');
      if (token && !token.access.some((a) => a.type === 'registry' && a.name === 'catalog')) {
        throw this.challenge(request, need, 'the token does not grant registry:catalog:*', true);
      }
      return identity;
    }

    if (token) {
      // A token carries its grants: they bound the request even if the role would allow more.
      const granted = token.access.some((a) => a.type === 'repository' && a.name === need.repository && (a.actions.includes(need.action) || a.actions.includes('*')));
      if (granted) {
        if (need.action === 'push') await this.options.authorizer.ensureProjectForPush(principal, need.repository);
        return identity;
      }
      const couldHave = (await this.options.authorizer.repositoryActions(principal, need.repository)).has(need.action);
      if (couldHave) throw this.challenge(request, need, `the token does not grant ${need.action} on ${need.repository}`, true);
      throw denial(principal, `${need.action} on ${need.repository}`);
    }

    const actions = await this.options.authorizer.repositoryActions(principal, need.repository);
    if (!actions.has(need.action)) {
      if (principal.kind === 'anonymous') throw this.challenge(request, need, `authentication required to ${need.action} ${need.repository}`);
      throw denial(principal, `${need.action} on ${need.repository}`);
    }
    if (need.action === 'push') await this.options.authorizer.ensureProjectForPush(principal, need.repository);
    return identity;
  }

  /**
   * Whether the caller may read a repository (the source of a cross-repository mount). A token
   * naming the source is enough; otherwise the principal's own rights decide, as in Harbor —
   * clients such as the conformance suite's ask a token for the target only.
   */
  async canPull(identity: RequestIdentity, repository: string): Promise<boolean> {
    const granted = identity.token?.access.some((a) => a.type === 'repository' && a.name === repository && (a.actions.includes('pull') || a.actions.includes('*')));
    if (granted) return true;
    return (await this.options.authorizer.repositoryActions(identity.principal, repository)).has('pull');
  }

  catalogFilter(identity: RequestIdentity): Promise<((repository: string) => Promise<boolean>) | 'all'> {
    return this.options.authorizer.catalogFilter(identity.principal);
  }

  private challenge(request: FastifyRequest, need: Requirement, message: string, insufficientScope = false): BerthError {
    return this.withChallenge(request, new BerthError('UNAUTHORIZED', { message }), need, insufficientScope);
  }

  private withChallenge(request: FastifyRequest, err: BerthError, need: Requirement, insufficientScope = false): BerthError {
    if (!(err instanceof BerthError) || err.key !== 'UNAUTHORIZED') return err;
    const parts = [`realm="${this.realm(request)}"`, `service="${this.options.service}"`];
    const scope = scopeOf(need);
    if (scope) parts.push(`scope="${scope}"`);
    if (insufficientScope) parts.push('error="insufficient_scope"');
    return new BerthError('UNAUTHORIZED', { message: err.message, detail: err.detail, headers: { ...err.headers, 'WWW-Authenticate': `Bearer ${parts.join(',')}` } });
  }
}

function scopeOf(need: Requirement): string | undefined {
  if ('catalog' in need) return 'registry:catalog:*';
  if ('repository' in need) {
    // Ask for pull alongside push, as docker does, so one token serves the whole push.
    const actions = need.action === 'push' ? ['pull', 'push'] : [need.action];
    return formatScope({ type: 'repository', name: need.repository, actions });
  }
  return undefined;
}

function requirement(method: string, route: V2Route): Requirement {
  switch (route.kind) {
    case 'base':
      return { authenticated: true };
    case 'catalog':
      return { catalog: true };
    case 'tags':
    case 'referrers':
      return { repository: route.name, action: 'pull' };
    case 'manifest':
    case 'blob':
      if (method === 'DELETE') return { repository: route.name, action: 'delete' };
      if (method === 'PUT') return { repository: route.name, action: 'push' };
      return { repository: route.name, action: 'pull' };
    case 'uploads':
    case 'upload':
      return { repository: route.name, action: 'push' };
    default: {
      const unreachable: never = route;
      throw new Error(`unknown route ${JSON.stringify(unreachable)}`);
    }
  }
}
