import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { PublishedInvalidation } from '../ports/invalidation-bus.js';
import type { InitialAdmin } from '../wiring/identity.js';
import { randomBytes } from 'node:crypto';

/** What a worker tells the primary of its configuration when it listens: the primary loads none itself. */
export interface Serving {
  publicUrl?: string;
  /** The database's kind: sqlite or postgres. */
  database: string;
  dataDir: string;
  /** server.shutdownTimeoutMs. */
  shutdownTimeoutMs: number;
}

/** Messages between the primary and its workers. */
export type ClusterMessage =
  /** A worker listens; the first one also says whom it created on a first start (shown once, never logged). */
  | { berth: 'listening'; url: string; port: number; initialAdmin?: InitialAdmin; serving: Serving }
  /** A worker changed what the others may cache; `key` names this change in the acknowledgements. */
  | { berth: 'changed'; key: string; invalidation: PublishedInvalidation }
  /** The primary passes a change on to every other worker. */
  | { berth: 'forget'; key: string; invalidation: PublishedInvalidation }
  /** A worker forgot what change `key` changed. */
  | { berth: 'forgotten'; key: string }
  /** Every other worker forgot it (sent to the one that made the change). */
  | { berth: 'relayed'; key: string };

function isBerthMessage(message: unknown): message is ClusterMessage {
  return typeof message === 'object' && message !== null && 'berth' in message;
}

/**
 * Memory settings a worker starts with unless the operator chose them (docs/performance.md
 * has the measurements). With Node's defaults, a worker keeps up to 32 MiB of V8 young
 * generation and glibc gives each thread that allocates its own malloc arena, which keep what
 * they once held: 207-212 MiB peak RSS under the full benchmark. A smaller young generation and
 * two arenas: 164-188 MiB, with the same throughput. The old generation's room is set while the
 * worker runs (heap-room.ts): wide while request bodies arrive, narrow otherwise.
 */
export const workerMemory = { semiSpaceMiB: 4, mallocArenas: 2 } as const;

/**
 * libuv's thread pool per worker (Node's default is 4): file reads of pulls share it with
 * uploads' writes and garbage collection's deletions, which otherwise queue the reads behind
 * them (bench:gc: pull p99 during a sweep 2.9x idle with 4 threads, 2.1x with 8).
 */
export const workerThreadPool = 16;

/** The V8 flags a worker adds, each unless the operator set it (names as Node spells them on the command line). */
const workerV8Flags = [
  ['max-semi-space-size', workerMemory.semiSpaceMiB],
  // For one collection once the worker has settled (idle-collection.ts).
  ['expose-gc', undefined],
] as const;

/** Whether the Node.js flag `name` (spelled with dashes) was given, on the command line or in NODE_OPTIONS. */
export function nodeFlagGiven(name: string, execArgv: readonly string[], nodeOptions = ''): boolean {
  return [...execArgv, ...nodeOptions.split(/\s+/)].some((given) => {
    const flag = given.replace(/_/g, '-');
    return flag === `--${name}` || flag.startsWith(`--${name}=`);
  });
}

/** The Node.js flags a worker starts with: the primary's, plus each memory flag not already chosen. */
export function workerExecArgv(execArgv: readonly string[], nodeOptions = ''): string[] {
  const added = workerV8Flags
    .filter(([name]) => !nodeFlagGiven(name, execArgv, nodeOptions))
    .map(([name, value]) => (value === undefined ? `--${name}` : `--${name}=${value}`));
  return [...execArgv, ...added];
}

/** Names this primary's workers on the invalidation bus (see workerEnv). */
const siblingGroup = randomBytes(8).toString('hex');

/** The environment a worker adds to the primary's. */
export function workerEnv(env: NodeJS.ProcessEnv, group = siblingGroup): Record<string, string> {
  return {
    BERTH_CLUSTER_WORKER: '1',
    // The workers of one primary: they tell each other of changes through it (main.ts, relay),
    // so the invalidation bus neither waits for nor confirms a sibling (PgInvalidationBus).
    BERTH_SIBLING_GROUP: group,
    MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? String(workerMemory.mallocArenas),
    UV_THREADPOOL_SIZE: env.UV_THREADPOOL_SIZE ?? String(workerThreadPool),
  };
}

export interface PrimaryOptions {
  workers: number;
  logger: Logger;
  /** Called once, when every worker listens. */
  onListening: (url: string, port: number, initialAdmin: InitialAdmin | undefined, serving: Serving) => void;
}

/**
 * The cluster primary: forks `workers` processes that share the listening port (Node's
 * cluster module), relays identity-cache invalidations between them, restarts a worker that
 * dies unexpectedly, and on SIGTERM/SIGINT stops them gracefully and exits 0 when all did.
 *
 * It does nothing else, so it loads neither the HTTP stack nor the database, nor the
 * configuration's schema (main.ts reads the two settings it needs as given, and the first worker
 * reports the rest). The first worker validates the configuration, migrates the database and
 * creates the first administrator as it starts, and the others are forked once it listens (so
 * they never race it through first-start work). If the first worker dies before it listens,
 * the primary exits with its code: a start that cannot work (an invalid configuration, an
 * unreachable database) fails at once, with the worker's own message.
 */
export function runPrimary(options: PrimaryOptions): void {
  const { logger } = options;
  let stopping = false;
  let listening = 0;
  let announced = false;
  let started = false;
  let initialAdmin: InitialAdmin | undefined;
  /** server.shutdownTimeoutMs, once a worker said it. */
  let shutdownTimeoutMs: number | undefined;
  const restarts: number[] = [];
  /** Changes being relayed: who made each, and the workers that have not acknowledged it yet. */
  const relays = new Map<string, { origin: Worker; waiting: Set<number> }>();
  const settle = (key: string) => {
    const relay = relays.get(key);
    if (!relay || relay.waiting.size > 0) return;
    relays.delete(key);
    if (relay.origin.isConnected()) relay.origin.send({ berth: 'relayed', key } satisfies ClusterMessage);
  };

  const fork = (): Worker => {
    const worker = cluster.fork(workerEnv(process.env));
    worker.on('message', (message: unknown) => {
      if (!isBerthMessage(message)) return;
      if (message.berth === 'listening') {
        listening++;
        initialAdmin ??= message.initialAdmin;
        shutdownTimeoutMs = message.serving.shutdownTimeoutMs;
        if (!started) {
          started = true;
          for (let i = 1; i < options.workers; i++) fork();
        }
        if (!announced && listening >= options.workers) {
          announced = true;
          options.onListening(message.url, message.port, initialAdmin, message.serving);
        }
      } else if (message.berth === 'changed') {
        const others = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w !== worker && w.isConnected());
        relays.set(message.key, { origin: worker, waiting: new Set(others.map((w) => w.id)) });
        for (const other of others) other.send({ berth: 'forget', key: message.key, invalidation: message.invalidation } satisfies ClusterMessage);
        settle(message.key);
      } else if (message.berth === 'forgotten') {
        relays.get(message.key)?.waiting.delete(worker.id);
        settle(message.key);
      }
    });
    return worker;
  };

  cluster.on('exit', (worker, code, signal) => {
    // A worker that died acknowledges nothing; it has no caches left either.
    for (const [key, relay] of relays) {
      relay.waiting.delete(worker.id);
      if (relay.origin === worker) relays.delete(key);
      else settle(key);
    }
    if (!started && !stopping) {
      logger.fatal({ pid: worker.process.pid, code, signal }, 'the first worker stopped before it listened; not starting');
      process.exit(code || 1);
    }
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        logger.info('all workers stopped');
        process.exit(0);
      }
      return;
    }
    // A crash loop must not spin: at most 5 restarts a minute.
    const now = Date.now();
    restarts.push(now);
    while (restarts.length > 0 && restarts[0]! < now - 60_000) restarts.shift();
    if (restarts.length > 5) {
      logger.fatal({ pid: worker.process.pid, code, signal }, 'workers keep dying; giving up');
      process.exit(1);
    }
    logger.error({ pid: worker.process.pid, code, signal }, 'worker died; starting a new one');
    fork();
  });

  cluster.setupPrimary({ execArgv: workerExecArgv(process.execArgv, process.env.NODE_OPTIONS) });
  fork();

  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, workers: Object.keys(cluster.workers ?? {}).length }, 'shutting down: finishing in-flight requests');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    // Before any worker listened, none has requests to finish either, nor a handler for the signal.
    if (shutdownTimeoutMs === undefined) return;
    const force = setTimeout(() => {
      logger.warn('shutdown timed out; exiting with requests still in flight');
      process.exit(1);
    }, shutdownTimeoutMs + 2000);
    force.unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** In a worker: how to reach the primary, or undefined when running without cluster. */
export function workerChannel(): { send: (message: ClusterMessage) => void; onMessage: (handler: (message: ClusterMessage) => void) => void } | undefined {
  if (!cluster.isWorker || !process.send) return undefined;
  return {
    send: (message) => process.send?.(message),
    onMessage: (handler) =>
      process.on('message', (message: unknown) => {
        if (isBerthMessage(message)) handler(message);
      }),
  };
}
