import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import type { Database } from '../adapters/db/connect.js';
import { LocalInvalidationBus } from '../adapters/bus/local-invalidation-bus.js';
import { PgInvalidationBus } from '../adapters/bus/pg-invalidation-bus.js';
import type { InvalidationBus, PublishedInvalidation } from '../ports/invalidation-bus.js';

/** How this process tells others what changed here, and how long a response waits for that. */
export interface Invalidations {
  bus: InvalidationBus;
  /** Tells other instances (bus) and sibling workers (relay) what changed here; the change's response waits for both. */
  announce(invalidation: PublishedInvalidation): void;
  /** What a response leaving now must wait for (AppOptions.beforeReply): at most a second. */
  beforeReply(): Promise<void> | undefined;
}

export interface InvalidationOptions {
  logger: Logger;
  /** Tells sibling processes (cluster workers on SQLite) what changed here (StartOptions.relay). */
  relay?: (invalidation: PublishedInvalidation) => Promise<void> | undefined;
  /** Names the processes `relay` reaches (StartOptions.siblingGroup). */
  siblingGroup?: string;
  /** Replaces the bus chosen by engine. */
  invalidationBus?: InvalidationBus;
}

/**
 * Wires the invalidation bus (docs/scale-out.md): PostgreSQL's LISTEN/NOTIFY between instances,
 * the cluster relay between sibling workers. Telling others is under way while a change's
 * response is prepared; the response leaves when they are done, so a client's next request sees
 * the change on whichever process or instance it lands.
 */
export async function wireInvalidation(database: Database, config: ResolvedConfig, options: InvalidationOptions): Promise<Invalidations> {
  const { logger } = options;
  const bus = options.invalidationBus ?? (await startInvalidationBus(config, database, logger, options.relay ? options.siblingGroup : undefined));
  const tell = (invalidation: PublishedInvalidation) =>
    bus.publish(invalidation).catch((err: unknown) => logger.warn({ err, invalidation: invalidation.kind }, 'telling other instances failed; their caches expire on their own (2-60 s)'));
  const telling = new Set<Promise<unknown>>();
  const track = (work: Promise<unknown> | undefined) => {
    if (!work) return;
    telling.add(work);
    void work.finally(() => telling.delete(work));
  };
  return {
    bus,
    announce(invalidation) {
      track(tell(invalidation));
      track(options.relay?.(invalidation));
    },
    beforeReply: () => (telling.size === 0 ? undefined : atMost(1000, Promise.all([...telling]))),
  };
}

/**
 * PostgreSQL: LISTEN/NOTIFY on the shared database, so every instance hears every other.
 * SQLite: one machine, one process (cluster workers relay through their primary).
 */
async function startInvalidationBus(config: ResolvedConfig, database: Database, logger: Logger, siblingGroup: string | undefined): Promise<InvalidationBus> {
  const instanceId = siblingGroup && /^[0-9a-f]{16}$/.test(siblingGroup) ? `${siblingGroup}.${randomUUID().slice(0, 13)}` : randomUUID();
  if (database.engine !== 'postgres') return new LocalInvalidationBus(undefined, instanceId);
  const bus = new PgInvalidationBus({
    url: config.database.url,
    db: database.db,
    instanceId,
    siblingPrefix: siblingGroup && instanceId.startsWith(`${siblingGroup}.`) ? `${siblingGroup}.` : undefined,
    onStatus: (status) =>
      status.connected
        ? logger.info({ instanceId }, 'listening for invalidations from other instances')
        : logger.warn({ instanceId, reason: status.error }, 'lost the invalidation channel; reconnecting (meanwhile caches expire on their own, 2-60 s)'),
    onError: (err) => logger.error({ err }, 'an invalidation handler failed'),
    onUnconfirmed: (instances, invalidation) =>
      logger.warn({ instances, invalidation: invalidation.kind }, 'instances did not confirm an invalidation in time; they trust their caches again only once they have heard it'),
  });
  await bus.start();
  return bus;
}

/** Resolves when `work` settles or after `ms`, whichever comes first; never rejects. */
function atMost(ms: number, work: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    work.then(done, done);
  });
}
