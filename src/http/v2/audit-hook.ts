import type { FastifyReply, FastifyRequest } from 'fastify';
import { projectOf } from '../../domain/names.js';
import type { AuditEntry } from '../../ports/audit-store.js';
import type { RequestIdentity } from '../auth/request-principal.js';
import type { V2Route } from './route-path.js';

/**
 * The audit entry a finished /v2 request deserves: pushes and deletes always, manifest pulls
 * when `logPulls` is on, refusals of those as failures. Blob traffic is not audited (the
 * manifest pull or push already names the image).
 */
export function v2AuditEntry(
  request: FastifyRequest,
  reply: FastifyReply,
  route: V2Route,
  identity: RequestIdentity | undefined,
  options: { logPulls: boolean },
): Omit<AuditEntry, 'time'> | undefined {
  let action: string | undefined;
  let resource: string | undefined;
  if (route.kind === 'manifest') {
    const separator = route.reference.includes(':') ? '@' : ':';
    resource = `${route.name}${separator}${route.reference}`;
    if (request.method === 'GET' && options.logPulls) action = 'pull';
    else if (request.method === 'PUT') action = 'push';
    else if (request.method === 'DELETE') action = 'delete';
  } else if (route.kind === 'blob' && request.method === 'DELETE') {
    action = 'delete';
    resource = `${route.name}@${route.digest}`;
  }
  if (!action || !resource) return undefined;
  const status = reply.statusCode;
  // Client errors that are not refusals (bad manifests, unknown tags) are noise, not audit.
  if (status >= 400 && status !== 401 && status !== 403) return undefined;
  const principal = identity?.principal ?? { kind: 'anonymous' as const };
  const pushedDigest = reply.getHeader('docker-content-digest');
  return {
    actor: principal.kind === 'anonymous' ? 'anonymous' : principal.name,
    actorType: principal.kind,
    action,
    resourceType: route.kind === 'manifest' ? 'artifact' : 'blob',
    resource,
    project: 'name' in route ? projectOf(route.name) : null,
    sourceIp: request.ip,
    result: status < 400 ? 'success' : 'failure',
    detail: status < 400 ? (typeof pushedDigest === 'string' && action !== 'delete' ? { digest: pushedDigest } : null) : { status },
    requestId: request.id,
  };
}
