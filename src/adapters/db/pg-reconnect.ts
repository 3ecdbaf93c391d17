import { PostgresDialect, type CompiledQuery, type DatabaseConnection, type Driver, type QueryResult, type TransactionSettings } from 'kysely';

/**
 * Node errno codes, PostgreSQL SQLSTATEs and node-postgres messages that mean the connection a
 * statement ran on is gone: reset, the server shutting down or crashed, the socket ended.
 */
const lostCodes = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', '57P01', '57P02', '57P03', '08000', '08003', '08006']);
const lostMessage = /Connection terminated|Client has encountered a connection error|Client was closed and is not queryable/i;

/** Whether `err` says the statement's connection dropped (so its outcome is known only to the server). */
export function isConnectionLost(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return (typeof code === 'string' && lostCodes.has(code)) || lostMessage.test((err as Error | undefined)?.message ?? '');
}

/** Calls that change something though they are selected: Berth's push functions, notifications, sequences, advisory locks. */
const writingCall = /\b(berth_\w+|pg_notify|nextval|setval|pg_advisory\w*)\s*\(/i;
const lockingClause = /\bfor\s+(update|no\s+key\s+update|share|key\s+share)\b/i;

/**
 * A statement that reads only: a built select without a locking clause or a call that writes.
 * Raw SQL (the push functions are called so) never counts, whatever its text.
 */
function readsOnly(query: CompiledQuery): boolean {
  return query.query.kind === 'SelectQueryNode' && !lockingClause.test(query.sql) && !writingCall.test(query.sql);
}

type CompileQuery = Parameters<NonNullable<Driver['savepoint']>>[2];

/** How often a read runs again on a fresh connection before its error reaches the caller. */
const maxReadAttempts = 3;

/**
 * Kysely's PostgreSQL dialect, except that a read that was running when its connection dropped
 * (PostgreSQL restarted, a network cut) runs again on a fresh connection, which waits out the
 * restart as every new connection does (`database.connectRetryMs`). Without it such a request
 * was answered 503 at once, and clients such as skopeo give up a copy on a 503 to a token
 * request or a check for a blob.
 *
 * Only reads outside a transaction run again: a write's outcome is unknown when its connection
 * drops (the server may have committed it before the answer was lost), and a transaction's
 * statements are run again whole by inTransaction, which knows whether it had sent COMMIT.
 */
export class ReconnectingPostgresDialect extends PostgresDialect {
  override createDriver(): Driver {
    return new ReconnectingDriver(super.createDriver());
  }
}

class ReconnectingDriver implements Driver {
  constructor(private readonly inner: Driver) {}

  init(): Promise<void> {
    return this.inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return new ReconnectingConnection(this.inner, await this.inner.acquireConnection());
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const own = connection as ReconnectingConnection;
    own.inTransaction = true;
    await this.inner.beginTransaction(own.current, settings);
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const own = connection as ReconnectingConnection;
    try {
      await this.inner.commitTransaction(own.current);
    } finally {
      own.inTransaction = false;
    }
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const own = connection as ReconnectingConnection;
    try {
      await this.inner.rollbackTransaction(own.current);
    } finally {
      own.inTransaction = false;
    }
  }

  savepoint(connection: DatabaseConnection, name: string, compile: CompileQuery): Promise<void> {
    return this.inner.savepoint!((connection as ReconnectingConnection).current, name, compile);
  }

  rollbackToSavepoint(connection: DatabaseConnection, name: string, compile: CompileQuery): Promise<void> {
    return this.inner.rollbackToSavepoint!((connection as ReconnectingConnection).current, name, compile);
  }

  releaseSavepoint(connection: DatabaseConnection, name: string, compile: CompileQuery): Promise<void> {
    return this.inner.releaseSavepoint!((connection as ReconnectingConnection).current, name, compile);
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const own = connection as ReconnectingConnection;
    // Released already when a read's new connection could not be had.
    if (!own.released) await this.inner.releaseConnection(own.current);
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}

/** One Kysely connection whose pool client is replaced when a read finds it dead. */
class ReconnectingConnection implements DatabaseConnection {
  inTransaction = false;
  /** Its pool client went back to the pool (dead) and no other could be had. */
  released = false;

  constructor(
    private readonly driver: Driver,
    public current: DatabaseConnection,
  ) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.current.executeQuery<R>(query);
      } catch (err) {
        if (attempt >= maxReadAttempts || this.inTransaction || !isConnectionLost(err) || !readsOnly(query)) throw err;
        // The pool drops the dead client when it comes back (node-postgres marks it not queryable).
        this.released = true;
        await this.driver.releaseConnection(this.current);
        this.current = await this.driver.acquireConnection();
        this.released = false;
      }
    }
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.current.streamQuery<R>(query, chunkSize);
  }
}
