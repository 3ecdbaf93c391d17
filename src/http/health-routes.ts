import type { FastifyInstance } from 'fastify';
import type { InvalidationBusStatus } from '../ports/invalidation-bus.js';
import type { Registry } from '../services/registry/index.js';

/** Liveness and readiness (for load balancers and orchestrators). */
export async function healthRoutes(app: FastifyInstance, options: { registry: Registry; invalidation?: () => InvalidationBusStatus }): Promise<void> {
  app.get('/healthz', async (_request, reply) => reply.send({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const checks: Record<string, string> = {};
    let ready = true;
    try {
      // A restarting database makes requests wait for it; readiness answers within a second.
      await withinSecond(options.registry.meta.ping());
      checks.database = 'ok';
    } catch (err) {
      ready = false;
      checks.database = `failing: ${(err as Error).message}`;
    }
    try {
      await withinSecond(options.registry.store.ping());
      checks.storage = 'ok';
    } catch (err) {
      ready = false;
      checks.storage = `failing: ${(err as Error).message}`;
    }
    // Shown, but not a reason to leave the load balancer: while the channel reconnects, caches
    // fall back to their few-second lifetimes.
    const bus = options.invalidation?.();
    if (bus) checks.invalidation = bus.connected ? (bus.scope === 'shared' ? 'ok' : 'this process only') : `reconnecting: ${bus.error ?? 'unknown error'}`;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });
}

function withinSecond<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error('no answer within 1 s')), 1000);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
