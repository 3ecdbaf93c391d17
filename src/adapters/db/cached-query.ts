import { createQueryId, type Compilable, type Kysely, type QueryResult, type RootOperationNode } from 'kysely';
import type { Schema } from './schema.js';

/**
 * What a builder sees in place of a parameter's value: Kysely compiles it as a bound parameter
 * (`?` or `$n`) like any value, and each run puts the value given then in its place.
 */
class Slot {
  constructor(
    readonly key: string,
    readonly index: number | undefined,
  ) {}
}

/** Anything queries run on: the database or a transaction (a Transaction is a Kysely). */
type QueryRunner = Kysely<Schema>;

interface Compiled {
  sql: string;
  query: RootOperationNode;
  /** Per bound parameter: the value to take from the run's parameters, or a constant of the builder's. */
  parameters: (Slot | { constant: unknown })[];
}

/** Compiled forms kept per query and dialect: one per shape (which parameters are absent, each list's length). */
const maxShapes = 64;

/**
 * A query built and compiled once per dialect and shape, then run with new parameter values:
 * building a query with Kysely's builder and compiling it cost about 15-20 µs each, a fifth of
 * a push's time on SQLite, where the statement itself often takes less (docs/performance.md,
 * "Queries built once").
 *
 * `build` receives stand-ins for the parameters. It must pass them to Kysely as values only
 * (`where`, `values`, `set`, `in` lists), never look into them: it may branch only on whether one
 * is `undefined` and on a list's length, which make the shape. Constants it writes itself stay
 * as they are.
 */
export class CachedQuery<P extends object, R> {
  private readonly byDialect = new WeakMap<object, Map<string, Compiled>>();

  constructor(private readonly build: (db: QueryRunner, p: P) => Compilable<R>) {}

  async execute(db: QueryRunner, params: P): Promise<QueryResult<R>> {
    const compiled = this.compiled(db, params);
    const parameters = compiled.parameters.map((p) => (p instanceof Slot ? valueOf(params as Record<string, unknown>, p) : p.constant));
    return db.executeQuery<R>({ sql: compiled.sql, parameters, query: compiled.query, queryId: createQueryId() });
  }

  async rows(db: QueryRunner, params: P): Promise<R[]> {
    return (await this.execute(db, params)).rows;
  }

  async first(db: QueryRunner, params: P): Promise<R | undefined> {
    return (await this.execute(db, params)).rows[0];
  }

  /** The SQL and parameters a run with `params` sends (tests compare it with the builder's own). */
  compile(db: QueryRunner, params: P): { sql: string; parameters: unknown[] } {
    const compiled = this.compiled(db, params);
    return { sql: compiled.sql, parameters: compiled.parameters.map((p) => (p instanceof Slot ? valueOf(params as Record<string, unknown>, p) : p.constant)) };
  }

  private compiled(db: QueryRunner, params: P): Compiled {
    const adapter = db.getExecutor().adapter;
    let shapes = this.byDialect.get(adapter);
    if (!shapes) this.byDialect.set(adapter, (shapes = new Map()));
    const shape = shapeOf(params as Record<string, unknown>);
    let compiled = shapes.get(shape);
    if (!compiled) {
      const query = this.build(db, standIns(params)).compile();
      compiled = { sql: query.sql, query: query.query, parameters: query.parameters.map((p) => (p instanceof Slot ? p : { constant: p })) };
      if (shapes.size >= maxShapes) shapes.clear();
      shapes.set(shape, compiled);
    }
    return compiled;
  }
}

function shapeOf(params: Record<string, unknown>): string {
  let shape = '';
  for (const key in params) {
    const value = params[key];
    shape += value === undefined ? `${key}:u;` : Array.isArray(value) ? `${key}:${value.length};` : `${key};`;
  }
  return shape;
}

function standIns<P extends object>(params: P): P {
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(params)) {
    result[key] = value === undefined ? undefined : Array.isArray(value) ? value.map((_, i) => new Slot(key, i)) : new Slot(key, undefined);
  }
  return result as P;
}

function valueOf(params: Record<string, unknown>, slot: Slot): unknown {
  const value = params[slot.key];
  return slot.index === undefined ? value : (value as unknown[])[slot.index];
}
