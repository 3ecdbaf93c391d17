import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
// Node's own, not the global ones a test's fake timers may replace: a turn of the event loop is real.
import { performance } from 'node:perf_hooks';
import { setImmediate } from 'node:timers';
import type pg from 'pg';
import {
  CompiledQuery,
  sql,
  Kysely,
  Migrator,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type SqliteDialectConfig,
} from 'kysely';
import { LruCache } from '../../domain/lru-cache.js';
import { Sqlite, type SqliteDatabase, type SqliteStatement } from './sqlite-driver.js';
import type { Schema } from './schema.js';
import { migrationProvider, type Engine } from './migrations.js';
import { pgModule } from './pg-module.js';
import { preparedStatements } from './pg-prepared.js';
import { ReconnectingPostgresDialect } from './pg-reconnect.js';

export interface Database {
  db: Kysely<Schema>;
  engine: Engine;
}

export interface ConnectOptions {
  /** `sqlite:<path>`, `sqlite::memory:` or `postgres://…` */
  url: string;
  /** PostgreSQL connection pool size. */
  poolSize?: number;
  /**
   * PostgreSQL: how long to keep trying to open a connection the server refuses (a restart, a
   * failover) before the request fails; 0 fails at once.
   */
  connectRetryMs?: number;
  /** PostgreSQL: name each distinct query so a connection parses and plans it once (pg-prepared.ts); default true. */
  preparedStatements?: boolean;
}

/**
 * SQLite transactions that start as readers and later write fail at once with SQLITE_BUSY
 * when another process wrote in between (the busy timeout cannot help an upgrade). Berth's
 * transactions all write, so they take the write lock up front and wait their turn instead —
 * what several worker processes on one database file need.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async acquireConnection(): Promise<DatabaseConnection> {
    await eventLoopTurn();
    return super.acquireConnection();
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

/**
 * How long queries may follow one another without the event loop getting a turn. SQLite calls
 * return at once, so the promise of one query resolves as a microtask and a loop of queries
 * (an outbox consumer's batch, say) never yields: requests wait until the whole batch is done.
 * Past this, the next query (or transaction) waits for one turn first. 3,000 tag moves on one
 * worker (their rebuild hints drained in batches): p99 101-104 ms with it, 240-248 without
 * (docs/performance.md).
 */
const sqliteStretchMs = 10;

/** When the current stretch of work without a turn of the event loop began; undefined once the loop had its turn. */
let stretchSince: number | undefined;

async function eventLoopTurn(): Promise<void> {
  const now = performance.now();
  if (stretchSince === undefined) {
    stretchSince = now;
    // Runs once the event loop gets past its current phase: the stretch has ended.
    setImmediate(() => (stretchSince = undefined));
    return;
  }
  if (now - stretchSince >= sqliteStretchMs) await new Promise<void>((resolve) => setImmediate(resolve));
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly settings: SqliteDialectConfig) {
    super(settings);
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.settings);
  }
}

/**
 * Kysely's SQLite driver prepares every query anew, which cost a tenth of a manifest GET's CPU
 * in a profile. Berth's queries come from a few builders, so their SQL text repeats: keep the
 * prepared statements of the most recent distinct texts (SQLite re-prepares them itself after
 * a schema change). Safe because Kysely runs one query at a time on the one connection.
 */
const maxCachedSqlLength = 2048;

export function withStatementCache(database: SqliteDatabase, size = 500): Pick<SqliteDatabase, 'prepare' | 'close'> {
  const statements = new LruCache<string, SqliteStatement>(size);
  return {
    prepare(sql: string) {
      // Multi-row inserts (batched audit and pull events) have a text per batch size: no reuse.
      if (sql.length > maxCachedSqlLength) return database.prepare(sql);
      let statement = statements.get(sql);
      if (!statement) {
        statement = database.prepare(sql);
        statements.set(sql, statement);
      }
      return statement;
    },
    close() {
      return database.close();
    },
  } as Pick<SqliteDatabase, 'prepare' | 'close'>;
}

/**
 * Errors of a connection attempt that mean "the server is not taking connections right now":
 * refused, reset, or PostgreSQL starting up or shutting down. Nothing was sent, so trying again
 * is always safe.
 */
const restartCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', '57P01', '57P02', '57P03', '08001', '08006']);

/**
 * A pool connection, waiting out a database restart: a request that needs the database while
 * it restarts is answered a moment later instead of failing (clients such as skopeo do not
 * retry a 503 on a blob upload). Queries already running when it went down still fail.
 */
async function connectPatiently(pool: pg.Pool, retryMs: number): Promise<pg.PoolClient> {
  const deadline = Date.now() + retryMs;
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    try {
      return await pool.connect();
    } catch (err) {
      const code = (err as { code?: string }).code;
      const restarting = (code !== undefined && restartCodes.has(code)) || /Connection terminated/i.test((err as Error).message);
      if (!restarting || Date.now() + delay > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

export function engineOf(url: string): Engine {
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return 'postgres';
  if (url.startsWith('sqlite:')) return 'sqlite';
  throw new Error(`unsupported database url: expected sqlite:<path> or postgres://…`);
}

export function connect(options: ConnectOptions): Database {
  const engine = engineOf(options.url);
  if (engine === 'postgres') {
    const pool = new (pgModule().Pool)({ connectionString: options.url, max: options.poolSize ?? 10 });
    // A client losing its server (restart, network cut) must not crash the process: the pool
    // reports idle clients on 'error', and a checked-out client emits 'error' itself after
    // failing its query, with nobody listening unless we do.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', () => undefined));
    const retryMs = options.connectRetryMs ?? 0;
    const prepared = options.preparedStatements === false ? undefined : preparedStatements();
    const connectClient = async () => {
      const client = await connectPatiently(pool, retryMs);
      return prepared ? prepared.prepare(client) : client;
    };
    return { engine, db: new Kysely<Schema>({ dialect: new ReconnectingPostgresDialect({ pool: { connect: connectClient, end: () => pool.end() } }) }) };
  }
  const path = options.url.slice('sqlite:'.length);
  if (path !== ':memory:') mkdirSync(dirname(resolve(path)), { recursive: true });
  const database = new Sqlite(path === ':memory:' ? ':memory:' : resolve(path));
  database.pragma('journal_mode = WAL');
  // WAL + NORMAL: a crash of the process loses nothing committed; only power loss can drop the last commits.
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 10000');
  database.pragma(`wal_autocheckpoint = ${walCheckpointPages}`);
  return { engine, db: new Kysely<Schema>({ dialect: new ImmediateSqliteDialect({ database: withStatementCache(database) }) }) };
}

/**
 * How many pages (4 KiB each) the SQLite write-ahead log grows by before the commit that passes
 * it copies them into the database file, syncing both (SQLite's default is 1,000). Fewer
 * checkpoints, each copying once a page that pushes wrote many times over. 3,000 pushes of new
 * images on one worker (docs/performance.md, three runs each in turns): 177, 235 and 201 a
 * second with 1,000; 237, 229 and 261 with 4,000. 10,000 was faster again but made the p99
 * worse (90-97 ms against 73-81), as each checkpoint holds the committing process longer. The
 * log takes up to about 16 MiB on disk.
 */
const walCheckpointPages = 4_000;

/**
 * The database was migrated by a newer Berth: it holds migrations this code does not know.
 * Starting anyway could misread rows or undo what the newer code relies on, so Berth refuses.
 */
export class SchemaTooNewError extends Error {
  constructor(
    readonly unknown: string[],
    readonly known: string,
  ) {
    super(
      `the database schema is newer than this Berth: it has migration${unknown.length === 1 ? '' : 's'} ${unknown.join(', ')}, ` +
        `which this version (schema ${known}) does not know. A newer Berth has upgraded this database. ` +
        `Run that version or a newer one; to go back to this version, restore a backup taken before the upgrade (docs/upgrades.md). Berth never downgrades a schema.`,
    );
    this.name = 'SchemaTooNewError';
  }
}

export interface SchemaStatus {
  /** Migrations the database has, in the order they ran. */
  applied: string[];
  /** The newest migration this code knows: its schema version. */
  latest: string;
  /** Migrations this code knows that the database lacks (a migrate applies them). */
  pending: string[];
  /** Migrations in the database this code does not know (a newer Berth ran them). */
  unknown: string[];
}

/** Every migration name this code knows, oldest first. */
export async function knownMigrations(engine: Engine): Promise<string[]> {
  return Object.keys(await migrationProvider(engine).getMigrations()).sort();
}

/** Where the database's schema stands against this code's migrations; reads only. */
export async function schemaStatus(database: Database): Promise<SchemaStatus> {
  const known = await knownMigrations(database.engine);
  let applied: string[];
  try {
    applied = (await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(database.db)).rows.map((r) => r.name);
  } catch (err) {
    // A database no Berth has migrated yet.
    if (!/no such table|does not exist/i.test((err as Error).message)) throw err;
    applied = [];
  }
  const knownSet = new Set(known);
  const appliedSet = new Set(applied);
  return { applied, latest: known[known.length - 1]!, pending: known.filter((n) => !appliedSet.has(n)), unknown: applied.filter((n) => !knownSet.has(n)) };
}

/** Refuses a database a newer Berth migrated (SchemaTooNewError). */
export async function assertSchemaNotNewer(database: Database): Promise<SchemaStatus> {
  const status = await schemaStatus(database);
  if (status.unknown.length > 0) throw new SchemaTooNewError(status.unknown, status.latest);
  return status;
}

/**
 * Brings the schema to the newest version; safe to run from several instances at once.
 * Migrations only go forward; a database that a newer Berth migrated is refused
 * (SchemaTooNewError) before anything is touched.
 */
export async function migrate(database: Database, options: { upTo?: string } = {}): Promise<string[]> {
  await assertSchemaNotNewer(database);
  const migrator = new Migrator({ db: database.db, provider: migrationProvider(database.engine) });
  // `upTo` stops after that migration: how tests make a database of an older schema.
  const { error, results } = options.upTo === undefined ? await migrator.migrateToLatest() : await migrator.migrateTo(options.upTo);
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
