import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { loadConfig, type ResolvedConfig } from '../../src/config/load.js';
import { startBerth, type RunningBerth } from '../../src/server.js';
import type { InvalidationBus } from '../../src/ports/invalidation-bus.js';
import { createTempDatabase, pgUnavailableReason, type TempDatabase } from './pg.js';

export type Engine = 'sqlite' | 'postgres';

/** The first administrator of every test server. */
export const adminCredentials = { username: 'admin', password: 'Admin-Passw0rd' } as const;

export interface TestBerth extends RunningBerth {
  config: ResolvedConfig;
  dataDir: string;
  /** Every log line the server wrote (JSON), for assertions such as "no secret was logged". */
  logs: string[];
  stop(): Promise<void>;
}

export interface TestBerthOptions {
  engine?: Engine;
  /** Settings by dotted key, as `--set` takes them. */
  settings?: Record<string, unknown>;
  /** Reuse a data directory / database (to test restarts). */
  dataDir?: string;
  databaseUrl?: string;
  /** Replaces the bus chosen by engine (e.g. one whose connection a test slows down). */
  invalidationBus?: InvalidationBus;
  /** Told when a large request body starts arriving (StartOptions.onLargeBody). */
  onLargeBody?: () => () => void;
}

/** Starts Berth in this process on a free loopback port with its own data directory. */
export async function startTestBerth(options: TestBerthOptions = {}): Promise<TestBerth> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'berth-test-')));
  let database: TempDatabase | undefined;
  let databaseUrl = options.databaseUrl;
  if (!databaseUrl && options.engine === 'postgres') {
    database = await createTempDatabase();
    databaseUrl = database.url;
  }
  const config = loadConfig({
    env: {},
    flags: {
      'server.host': '127.0.0.1',
      'server.port': 0,
      dataDir,
      'database.url': databaseUrl,
      'log.level': 'info',
      'auth.initialAdminPassword': adminCredentials.password,
      ...options.settings,
    },
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(chunk.toString('utf8'));
      callback();
    },
  });
  const berth = await startBerth(config, { logger: pino({ level: 'info', messageKey: 'message' }, sink), invalidationBus: options.invalidationBus, onLargeBody: options.onLargeBody });
  return {
    ...berth,
    config,
    dataDir,
    logs,
    async stop() {
      await berth.close();
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
      await database?.drop();
    },
  };
}

/** The engines to run a suite against, with the reason PostgreSQL is skipped if it is. */
export async function engineMatrix(): Promise<Array<{ engine: Engine; skip?: string }>> {
  const reason = await pgUnavailableReason();
  if (reason) console.warn(`SKIPPING PostgreSQL variants: ${reason}`);
  return [{ engine: 'sqlite' }, { engine: 'postgres', skip: reason }];
}
