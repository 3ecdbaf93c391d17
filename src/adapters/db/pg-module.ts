import type * as Pg from 'pg';
import { lazyModule } from '../lazy-module.js';

const load = lazyModule<typeof Pg.default>('pg');
let configured = false;

/** The PostgreSQL driver, loaded when a PostgreSQL URL is first used (a SQLite deployment never loads it). */
export function pgModule(): typeof Pg.default {
  const pg = load();
  if (!configured) {
    // PostgreSQL returns int8 as strings; Berth's sizes and times fit in a double exactly.
    pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));
    configured = true;
  }
  return pg;
}
