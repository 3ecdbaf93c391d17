import { sql, type Compilable, type Kysely, type OperationNodeSource } from 'kysely';
import type { Schema } from './schema.js';

/** A data-modifying query (insert, update, delete) as Kysely builds one. */
export type Modification = Compilable & OperationNodeSource;

/**
 * Runs `modifications` as one PostgreSQL statement, each a data-modifying `WITH` query: one
 * round trip, and atomic. All of them see the rows as they were before the statement, so a
 * delete removes only the rows that were there: a record's child rows are replaced by a delete and an insert of the same statement, provided the
 * insert cannot collide with a row the delete removes (no unique key, or none in common). It also
 * means the delete misses rows a concurrent writer commits while the statement waits: lock the
 * parent row in an earlier statement of the same transaction first.
 */
export async function inOneStatement(db: Kysely<Schema>, modifications: Modification[]): Promise<void> {
  if (modifications.length === 0) return;
  const parts = modifications.map((query, i) => sql`${sql.raw(`m${i}`)} AS (${query})`);
  await sql`WITH ${sql.join(parts)} SELECT 1`.execute(db);
}
