import type pg from 'pg';

/**
 * Named prepared statements for Kysely's PostgreSQL queries. Kysely sends every query unnamed,
 * so PostgreSQL parses and plans it again on each execution; Berth's queries come from a few
 * builders and their text repeats, so each distinct text gets a name and each connection parses
 * it once. A statement's parse and plan cost PostgreSQL about as much as running it: 5,000
 * lookups and upserts by primary key took 0.105 ms of server CPU per statement unnamed and
 * 0.060 named (docs/performance.md, "Prepared statements on PostgreSQL").
 *
 * When a schema change alters what a prepared `select *` returns (a newer instance added a
 * column during a rolling upgrade), PostgreSQL refuses to run it (0A000, "cached plan must not
 * change result type"). The connections prepared before then run unnamed from that moment and
 * are closed when released; a statement outside a transaction is run again unnamed at once,
 * and a transaction is retried by inTransaction.
 */
export interface PreparedStatements {
  /** Makes `client`'s queries prepared (once per client; a client the pool reuses keeps its wrapper). */
  prepare(client: pg.PoolClient): pg.PoolClient;
}

/** Distinct texts named per process; any more run unnamed (a cap on the server's memory per connection). */
const maxNames = 400;
/** Longer texts are batches whose length varies (multi-row inserts): no reuse to gain. */
const maxTextLength = 4096;
const preparable = /^\s*(select|insert|update|delete|with)\b/i;

/** PostgreSQL's refusal to run a prepared statement whose result type a schema change altered (feature_not_supported). */
export function isStalePlan(err: unknown): boolean {
  return (err as { code?: string } | undefined)?.code === '0A000' && /cached plan/i.test((err as Error).message);
}

const wrapped = Symbol('berth.prepared');

interface Wrapped {
  [wrapped]?: { generation: number };
}

export function preparedStatements(): PreparedStatements {
  const names = new Map<string, string>();
  /** Bumped when a prepared statement went stale: connections of an earlier generation stop using names. */
  let generation = 0;
  const nameOf = (text: string): string | undefined => {
    let name = names.get(text);
    if (name === undefined && names.size < maxNames && text.length <= maxTextLength && preparable.test(text)) {
      name = `berth_${names.size + 1}`;
      names.set(text, name);
    }
    return name;
  };
  return {
    prepare(client) {
      const state = client as pg.PoolClient & Wrapped;
      if (state[wrapped]) return client;
      const own = { generation };
      state[wrapped] = own;
      const query = client.query.bind(client) as (...args: unknown[]) => Promise<pg.QueryResult>;
      const release = client.release.bind(client);
      client.release = (err?: Error | boolean) => release(own.generation < generation ? true : err);
      client.query = ((text: unknown, values?: unknown, callback?: unknown) => {
        if (typeof text !== 'string' || !Array.isArray(values) || values.length === 0 || callback !== undefined || own.generation < generation) {
          return query(text, values, callback);
        }
        const name = nameOf(text);
        if (name === undefined) return query(text, values);
        return query({ name, text, values }).catch((err: unknown) => {
          if (!isStalePlan(err)) throw err;
          if (own.generation === generation) generation++;
          // In a transaction the error has aborted it (inTransaction runs it again); alone, nothing ran.
          if (!inTransaction(client)) return query(text, values);
          throw err;
        });
      }) as typeof client.query;
      return client;
    },
  };
}

/**
 * Whether the failed statement ran inside a transaction block: the status the server reported
 * before it (its error arrives before the ReadyForQuery that follows it).
 */
function inTransaction(client: pg.PoolClient): boolean {
  const status = client.getTransactionStatus();
  return status === 'T' || status === 'E';
}
