import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { BerthError } from '../../domain/errors.js';
import type { ProjectAction } from '../../domain/permissions.js';
import type { ListQuery } from '../../ports/identity-store.js';
import type { Authorizer } from '../../services/access/authorizer.js';
import type { Principal } from '../../services/identity/principal.js';

/** Who may call a route; the Authorizer decides (handlers never re-check). */
export type RouteAuth<I> = 'public' | 'authenticated' | 'admin' | { action: ProjectAction; project: (input: I) => string };

export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal;
  request: FastifyRequest;
  reply: FastifyReply;
}

export interface AuditSpec<I, R> {
  action: string;
  resourceType: string;
  resource: (input: I, result: R) => string;
  project?: (input: I, result: R) => string | null;
}

export interface RouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType, R extends z.ZodType> {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** OpenAPI-style path under /api/v1, e.g. `/projects/{project}`. */
  path: string;
  summary: string;
  tag: string;
  params?: P;
  query?: Q;
  body?: B;
  /** Schema of the response body (documentation); omit for 204. */
  response?: R;
  status?: 200 | 201 | 204;
  auth: RouteAuth<RouteInput<z.infer<P>, z.infer<Q>, z.infer<B>>>;
  /** Every mutation is audited: what to record once the handler succeeded. */
  audit?: AuditSpec<RouteInput<z.infer<P>, z.infer<Q>, z.infer<B>>, z.infer<R>>;
  handler: (input: RouteInput<z.infer<P>, z.infer<Q>, z.infer<B>>) => Promise<z.infer<R> | undefined>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyRoute = RouteSpec<any, any, any, any>;

export function route<P extends z.ZodType = z.ZodObject, Q extends z.ZodType = z.ZodObject, B extends z.ZodType = z.ZodUndefined, R extends z.ZodType = z.ZodUnknown>(
  spec: RouteSpec<P, Q, B, R>,
): RouteSpec<P, Q, B, R> {
  return spec;
}

export interface ApiContext {
  authorizer: Authorizer;
  /** Resolves the caller (Basic, session cookie); throws UNAUTHORIZED on bad credentials. */
  principalOf: (request: FastifyRequest) => Promise<Principal>;
  /** Counts an API call against the rate limits (headers to send; throws TOOMANYREQUESTS at the limit). */
  limit?: (request: FastifyRequest, principal: Principal, project: string | undefined) => Promise<Record<string, string> | undefined>;
  audit: (request: FastifyRequest, principal: Principal, entry: { action: string; resourceType: string; resource: string; project: string | null; result: 'success' | 'failure'; detail?: Record<string, unknown> }) => void;
}

/** Answers one route's requests; `params` are the request path's, decoded (api-router.ts finds them). */
export type RouteHandler = (request: FastifyRequest, reply: FastifyReply, params: Record<string, string | undefined>) => Promise<unknown>;

/** A route's path in Fastify's syntax (`/api/v1/projects/:project`), as the router and the metrics name it. */
export function routePath(spec: AnyRoute): string {
  return `/api/v1${spec.path.replace(/\{(\w+)\}/g, ':$1')}`;
}

/** The handler of one route: validation, authorization, audit and problem errors. */
export function routeHandler(spec: AnyRoute, context: ApiContext): RouteHandler {
  return async (request, reply, params) => {
    const principal = await context.principalOf(request);
    const input: RouteInput<unknown, unknown, unknown> = {
      params: parse(spec.params, params, 'path'),
      query: parse(spec.query, request.query, 'query'),
      body: spec.body ? parse(spec.body, request.body, 'body') : undefined,
      principal,
      request,
      reply,
    };
    if (context.limit) {
      const project = (input.params as { project?: unknown }).project;
      const headers = await context.limit(request, principal, typeof project === 'string' ? project : undefined);
      if (headers) reply.headers(headers);
    }
    await authorize(context.authorizer, spec.auth, input);
    let result: unknown;
    try {
      result = await spec.handler(input);
    } catch (err) {
      if (spec.audit && err instanceof BerthError && err.status < 500 && err.key !== 'NOT_FOUND') {
        context.audit(request, principal, {
          action: spec.audit.action,
          resourceType: spec.audit.resourceType,
          resource: safe(() => spec.audit!.resource(input, undefined)) ?? request.url.split('?', 1)[0]!,
          project: safe(() => spec.audit!.project?.(input, undefined)) ?? null,
          result: 'failure',
          detail: { code: err.code, message: err.message },
        });
      }
      throw err;
    }
    if (spec.audit) {
      context.audit(request, principal, {
        action: spec.audit.action,
        resourceType: spec.audit.resourceType,
        resource: spec.audit.resource(input, result),
        project: spec.audit.project?.(input, result) ?? null,
        result: 'success',
      });
    }
    if (reply.sent) return reply;
    const status = spec.status ?? 200;
    if (status === 204 || result === undefined) return reply.code(status === 200 && result === undefined ? 204 : status).send();
    return reply.code(status).send(result);
  };
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

async function authorize(authorizer: Authorizer, auth: RouteAuth<RouteInput<unknown, unknown, unknown>>, input: RouteInput<unknown, unknown, unknown>): Promise<void> {
  if (auth === 'public') return;
  if (auth === 'authenticated') return authorizer.requireAuthenticated(input.principal);
  if (auth === 'admin') {
    authorizer.requireAuthenticated(input.principal);
    return authorizer.requireSystemAdmin(input.principal);
  }
  await authorizer.require(input.principal, auth.action, auth.project(input));
}

function parse(schema: z.ZodType | undefined, value: unknown, where: string): unknown {
  if (!schema) return value ?? {};
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : where}: ${i.message}`);
  throw new BerthError('BAD_REQUEST', { message: `invalid ${where}: ${problems.join('; ')}`, detail: problems });
}

// --- shared pieces of list endpoints -------------------------------------------------------

export const pageQuery = z.object({
  page: z.coerce.number().int().min(1).default(1).describe('Page number, from 1.'),
  page_size: z.coerce.number().int().min(1).max(100).default(20).describe('Items per page (at most 100).'),
  sort: z
    .string()
    .regex(/^-?[a-z_]+$/)
    .optional()
    .describe('Field to sort by; prefix with - for descending, e.g. -created_at.'),
  q: z
    .string()
    .max(500)
    .optional()
    .describe('Filters: comma-separated key=value (exact) or key=~value (contains), e.g. name=~web,public=true.'),
});

export function listQuery(query: z.infer<typeof pageQuery>): ListQuery {
  const exact: Record<string, string> = {};
  const fuzzy: Record<string, string> = {};
  for (const part of (query.q ?? '').split(',')) {
    const fuzzyAt = part.indexOf('=~');
    const exactAt = part.indexOf('=');
    if (fuzzyAt > 0) fuzzy[part.slice(0, fuzzyAt).trim()] = part.slice(fuzzyAt + 2).trim();
    else if (exactAt > 0) {
      const value = part.slice(exactAt + 1).trim();
      exact[part.slice(0, exactAt).trim()] = value === 'true' ? '1' : value === 'false' ? '0' : value;
    }
  }
  return {
    offset: (query.page - 1) * query.page_size,
    limit: query.page_size,
    sort: query.sort ? { field: query.sort.replace(/^-/, ''), descending: query.sort.startsWith('-') } : undefined,
    exact,
    fuzzy,
  };
}

/** Sends a page with `X-Total-Count` and a `Link` to the next page, as Harbor's API does. */
export function paged<T>(reply: FastifyReply, request: FastifyRequest, query: z.infer<typeof pageQuery>, result: { items: T[]; total: number }): { items: T[]; total: number } {
  reply.header('X-Total-Count', String(result.total));
  if (query.page * query.page_size < result.total) {
    const url = new URL(request.url, 'http://x');
    url.searchParams.set('page', String(query.page + 1));
    url.searchParams.set('page_size', String(query.page_size));
    reply.header('Link', `<${url.pathname}${url.search}>; rel="next"`);
  }
  return result;
}

export function listOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), total: z.number().int() });
}

// --- OpenAPI -------------------------------------------------------------------------------

/** OpenAPI 3.1 generated from the same zod schemas that validate requests. */
export function openApiDocument(routes: AnyRoute[], info: { version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of routes) {
    const parameters = [...parametersOf(spec.params, 'path'), ...parametersOf(spec.query, 'query')];
    const status = String(spec.status ?? (spec.response ? 200 : 204));
    const operation: Record<string, unknown> = {
      summary: spec.summary,
      tags: [spec.tag],
      operationId: operationId(spec),
      parameters,
      security: spec.auth === 'public' ? [] : [{ basic: [] }, { session: [] }],
      responses: {
        [status]: spec.response && status !== '204' ? { description: 'OK', content: { 'application/json': { schema: jsonSchema(spec.response) } } } : { description: 'Done' },
        default: { description: 'Error', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
      },
    };
    if (spec.body) operation.requestBody = { required: true, content: { 'application/json': { schema: jsonSchema(spec.body) } } };
    const path = `/api/v1${spec.path}`;
    paths[path] = { ...(paths[path] ?? {}), [spec.method.toLowerCase()]: operation };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Berth management API', version: info.version, description: 'Projects, members, robots, users, repositories, artifacts and the audit log.' },
    servers: [{ url: '/' }],
    paths,
    components: {
      securitySchemes: {
        basic: { type: 'http', scheme: 'basic' },
        session: { type: 'apiKey', in: 'cookie', name: 'berth_session' },
      },
      schemas: {
        Problem: {
          type: 'object',
          properties: {
            type: { type: 'string' },
            title: { type: 'string' },
            status: { type: 'integer' },
            code: { type: 'string' },
            detail: { type: 'string' },
            instance: { type: 'string' },
          },
          required: ['type', 'title', 'status', 'code'],
        },
      },
    },
  };
}

function operationId(spec: AnyRoute): string {
  const words = spec.path
    .split('/')
    .filter((p) => p !== '' && !p.startsWith('{'))
    .map((w) => w.replace(/[^a-zA-Z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : '')));
  return [spec.method.toLowerCase(), ...words.map((w) => w[0]!.toUpperCase() + w.slice(1))].join('') + (spec.path.endsWith('}') ? 'ById' : '');
}

function jsonSchema(schema: z.ZodType): unknown {
  return z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'output', unrepresentable: 'any' });
}

function parametersOf(schema: z.ZodType | undefined, where: 'path' | 'query'): unknown[] {
  if (!schema || !(schema instanceof z.ZodObject)) return [];
  const doc = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, { description?: string }>;
    required?: string[];
  };
  return Object.entries(doc.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || (doc.required ?? []).includes(name),
    description: property.description,
    schema: property,
  }));
}
