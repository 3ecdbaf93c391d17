import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * A CommonJS package loaded on its first use rather than when Berth starts, so a process that
 * never needs it (a SQLite deployment and the PostgreSQL driver; a registry that never connects
 * out and the HTTP client) never holds its code in memory. Loading is synchronous, so the first
 * caller does not change shape.
 */
export function lazyModule<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(name) as T);
}
