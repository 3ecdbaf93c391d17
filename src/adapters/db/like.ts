import { sql, type RawBuilder, type SqlBool } from 'kysely';
import type { Engine } from './migrations.js';

/**
 * `column` contains `value`, case-insensitively, with LIKE's wildcards in `value` taken
 * literally. SQLite's LIKE is case-insensitive for ASCII and needs an explicit ESCAPE;
 * PostgreSQL needs ILIKE.
 */
export function likeContains(engine: Engine, column: string, value: string): RawBuilder<SqlBool> {
  const pattern = `%${value.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql<SqlBool>`${sql.ref(column)} ${sql.raw(engine === 'postgres' ? 'ILIKE' : 'LIKE')} ${pattern} ESCAPE '\\'`;
}
