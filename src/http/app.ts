import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { projectOf } from '../domain/names.js';
import type { InvalidationBusStatus } from '../ports/invalidation-bus.js';
import { principalName } from '../services/identity/principal.js';
import type { Registry } from '../services/registry/index.js';
import { managementApi, type ApiServices } from './api/index.js';
import { tokenRoutes } from './auth/token-routes.js';
import { endpointNotFound, sendError } from './error-response.js';
import { routerOptions } from './router-options.js';
import { V2Access } from './v2/access.js';
import { v2AuditEntry } from './v2/audit-hook.js';
import { distributionRoutes } from './v2/distribution-routes.js';
import { healthRoutes } from './health-routes.js';
import { installConsole, isConsolePath } from './console-routes.js';
import type { Metrics } from './metrics.js';

export interface AppOptions {
  registry: Registry;
  logger: Logger;
  maxManifestBytes: number;
  keepAliveTimeoutMs: number;
  /** A request's headers must arrive within this (slow-loris defence; 408 otherwise). */
  headersTimeoutMs: number;
  /** A connection on which nothing moves this long is closed. */
  idleTimeoutMs: number;
  /** Open connections this process accepts; more are closed at once. */
  maxConnections: number;
  trustProxy: boolean;
  publicUrl?: string;
  logPulls: boolean;
  /** registry.mirrorProject: the proxy-cache project pulls of names outside any project go to (empty: off). */
  mirrorProject?: string;
  api: ApiServices;
  metrics?: Metrics;
  /** State of the channel other instances' invalidations arrive on (shown by /readyz). */
  invalidation?: () => InvalidationBusStatus;
  /** Work a response must wait for before it leaves (telling other processes of a change). */
  beforeReply?: () => Promise<void> | undefined;
  /**
   * Called when a request body of at least `largeBodyBytes` (or of undeclared length) starts
   * arriving; what it returns is called once its response was sent or its connection closed (the
   * process's heap room, cli/heap-room.ts).
   */
  onLargeBody?: () => () => void;
  /** Called as each request arrives; what it returns is called once its response was sent or its connection closed. */
  onRequest?: () => () => void;
}

/** What counts as a large request body: a layer's, not a manifest's or an API call's. */
export const largeBodyBytes = 1 << 20;

/** Whether `req` carries a large body: declared at `largeBodyBytes` or more, or streamed without a length. */
export function hasLargeBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) >= largeBodyBytes;
  return req.headers['transfer-encoding'] !== undefined;
}

const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/;

/** The HTTP adapter: Fastify with /v2, health endpoints and one access-log line per request. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    // One access line per request from onResponse below, instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'http.request.id' }),
    keepAliveTimeout: options.keepAliveTimeoutMs,
    // Uploads of large layers can take long: no limit on a whole request, but its headers must
    // come quickly (checked every second, not Node's default 30 s) and a connection on which
    // nothing moves is closed, so half-sent requests cannot hold connections for long.
    requestTimeout: 0,
    http: { headersTimeout: options.headersTimeoutMs, connectionsCheckingInterval: Math.min(1000, options.headersTimeoutMs) },
    connectionTimeout: options.idleTimeoutMs,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    trustProxy: options.trustProxy,
    routerOptions,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && requestIdPattern.test(given) ? given : randomUUID();
    },
  });

  // Past this many open connections, new ones are closed at once (docs/hardening.md).
  app.server.maxConnections = options.maxConnections;

  // A client hanging up mid-body makes Node emit 'error' on the request, possibly before any
  // handler runs; streams reading the body see the failure themselves, but an 'error' with no
  // listener would crash the process. Listen from the very first moment.
  app.server.prependListener('request', (req: IncomingMessage) => req.on('error', ignore));
  const { onRequest, onLargeBody } = options;
  if (onRequest) app.server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => res.once('close', onRequest()));
  if (onLargeBody) {
    // Ended by the response, not the request: a request refused before its body was read may
    // never end on its own (its connection waits until a timeout closes it).
    app.server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
      if (hasLargeBody(req)) res.once('close', onLargeBody());
    });
  }

  // Graceful shutdown: once closing, every response ends its connection, so keep-alive
  // clients cannot hold the process open after their in-flight request is answered.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('X-Request-Id', request.id);
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('Connection', 'close');
    // Rare and short (an identity change being told to other processes): any response leaving
    // meanwhile waits, so none can be followed by a request that still sees the old state.
    const pending = options.beforeReply?.();
    if (pending) await pending;
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        http: { request: { method: request.method }, response: { status_code: reply.statusCode } },
        url: { path: request.url.split('?', 1)[0] },
        client: { ip: request.ip },
        user_agent: { original: request.headers['user-agent'] },
        event: { duration: Math.round(reply.elapsedTime * 1e6) },
      },
      'request',
    );
  });
  app.setErrorHandler((err, request, reply) => sendError(request, reply, err));
  const consoleFallback = await installConsole(app);
  app.setNotFoundHandler((request, reply) =>
    isConsolePath(request) ? consoleFallback(request, reply) : sendError(request, reply, endpointNotFound(request.method, request.url)),
  );

  const { api } = options;
  options.metrics?.install(app);
  await app.register(healthRoutes, { registry: options.registry, invalidation: options.invalidation });
  await app.register(tokenRoutes, {
    authenticator: api.authenticator,
    tokens: api.tokens,
    authorizer: api.authorizer,
    onLoginFailure: (request, username, reason) =>
      api.audit.record({
        actor: username.slice(0, 255),
        actorType: username.startsWith('robot$') ? 'robot' : 'user',
        action: 'login',
        resourceType: 'token',
        resource: 'registry',
        project: null,
        sourceIp: request.ip,
        result: 'failure',
        detail: { reason },
        requestId: request.id,
      }),
  });
  await app.register(distributionRoutes, {
    registry: options.registry,
    maxManifestBytes: options.maxManifestBytes,
    metrics: options.metrics,
    limitPull: async (request, identity, repository) =>
      (await api.limits.check({ principal: identity.principal, address: request.ip, category: 'pull', project: projectOf(repository) }))?.headers,
    prepareManifest: (repository, reference) => api.replication.proxy.prepare(repository, reference),
    openBlob: (repository, digest) => api.replication.proxy.openBlob(repository, digest),
    beforePush: (repository) => api.replication.proxy.refusePush(repository),
    checkPull: (repository, digest, identity) => api.security.pullPolicy.checkPull(repository, digest, { kind: identity.principal.kind, name: principalName(identity.principal) }),
    pullName: options.mirrorProject
      ? async (name) => ((await api.authorizer.project(projectOf(name))) ? name : `${options.mirrorProject}/${name}`)
      : undefined,
    access: new V2Access({ authenticator: api.authenticator, tokens: api.tokens, authorizer: api.authorizer, service: api.tokens.settings.service, publicUrl: options.publicUrl }),
    onResponse: (request, reply, route, identity) => {
      const entry = v2AuditEntry(request, reply, route, identity, { logPulls: options.logPulls });
      if (entry) api.audit.record(entry);
    },
  });
  const { metrics } = options;
  await app.register(managementApi, { services: api, label: metrics ? (request, route) => metrics.label(request, route) : undefined });
  return app;
}

function ignore(): void {}

