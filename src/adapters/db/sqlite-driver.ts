import { createRequire } from 'node:module';
import type BetterSqlite from 'better-sqlite3';

/** Node.js major versions from which better-sqlite3 13 (Node-API) is used. */
const nodeApiFrom = 22;

/**
 * better-sqlite3, the release this Node.js can run: 12 before Node.js 22, 13 from 22 on (the
 * package alias `better-sqlite3-napi`). Two releases because neither runs everywhere Berth
 * does: 12 wraps its objects in node::ObjectWrap, and built against Node.js 24.19's headers or
 * later its statements abort the process when they are garbage collected (nodejs/node#65446);
 * 13 uses Node-API and ships prebuilt in its package, but needs Node.js 22 (on 20 it crashes).
 * Every use of SQLite loads it from here.
 */
export const Sqlite: typeof BetterSqlite = createRequire(import.meta.url)(sqlitePackage()) as typeof BetterSqlite;

/** The package Sqlite comes from, resolved to a path: a worker thread that opens SQLite itself loads the same one. */
export function sqliteModulePath(): string {
  return createRequire(import.meta.url).resolve(sqlitePackage());
}

function sqlitePackage(): string {
  return Number(process.versions.node.split('.')[0]) >= nodeApiFrom ? 'better-sqlite3-napi' : 'better-sqlite3';
}

export type SqliteDatabase = BetterSqlite.Database;
export type SqliteStatement = BetterSqlite.Statement;
