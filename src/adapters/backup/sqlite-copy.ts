import { Worker } from 'node:worker_threads';
import { Sqlite, sqliteModulePath, type SqliteDatabase } from '../db/sqlite-driver.js';

/**
 * `VACUUM INTO`: the copy is one read transaction, so it is the database at one moment, and in
 * WAL mode writers go on meanwhile (the online backup API would restart whenever another
 * connection writes, and never finish under steady pushes). It runs in a worker thread: a
 * scheduled backup inside the server must not stop the event loop for the seconds it takes.
 */
export async function snapshotSqlite(source: string, target: string): Promise<void> {
  const module = sqliteModulePath();
  const code = `
    const { workerData } = require('node:worker_threads');
    const Sqlite = require(workerData.module);
    const db = new Sqlite(workerData.source, { fileMustExist: true });
    try {
      db.pragma('busy_timeout = 30000');
      db.prepare('VACUUM INTO ?').run(workerData.target);
    } finally {
      db.close();
    }`;
  await new Promise<void>((resolve, reject) => {
    const worker = new Worker(code, { eval: true, workerData: { module, source, target } });
    worker.once('error', reject);
    worker.once('exit', (exitCode) => (exitCode === 0 ? resolve() : reject(new Error(`the database copy stopped with exit code ${exitCode}`))));
  });
}

export interface CopiedBlob {
  digest: string;
  size: number;
}

/** A database copy (in a backup or being restored), read and adjusted outside any server. */
export class SqliteCopy {
  private readonly db: SqliteDatabase;

  constructor(path: string, options: { readonly?: boolean } = {}) {
    this.db = new Sqlite(path, { fileMustExist: true, readonly: options.readonly === true });
    // One self-contained file (no -wal or -shm beside it), whatever mode the source was in.
    if (options.readonly !== true) this.db.pragma('journal_mode = DELETE');
  }

  /** Migration names the copy has, oldest first. */
  migrations(): string[] {
    const table = this.db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kysely_migration'`).get();
    if (!table) return [];
    return (this.db.prepare('SELECT name FROM kysely_migration ORDER BY name').all() as Array<{ name: string }>).map((r) => r.name);
  }

  /**
   * Forgets what belongs to requests in flight when the copy was taken: upload sessions (their
   * bytes are scratch space, not in the backup; clients start those uploads again) and the pins
   * their writers held.
   */
  dropInFlight(): void {
    this.db.exec('DELETE FROM upload');
    if (this.db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'blob_pin'`).get()) this.db.exec('DELETE FROM blob_pin');
  }

  /**
   * The blobs whose bytes a backup holds, a page at a time in digest order: every blob row
   * except those garbage collection is deleting and those a scrub quarantined (their bytes are
   * known to be gone or wrong).
   */
  blobsAfter(digest: string, limit: number): CopiedBlob[] {
    return this.db.prepare(`SELECT digest, size FROM blob WHERE digest > ? ${this.heldFilter()} ORDER BY digest LIMIT ?`).all(digest, limit) as CopiedBlob[];
  }

  /** Whether the backup holds the blob's bytes (pruning a reused backup directory). */
  holdsBlob(digest: string): boolean {
    return this.db.prepare(`SELECT 1 FROM blob WHERE digest = ? ${this.heldFilter()}`).get(digest) !== undefined;
  }

  private heldFilter(): string {
    const columns = this.columns('blob');
    return [columns.has('deleting') ? 'AND deleting = 0' : '', columns.has('quarantine') ? 'AND quarantine IS NULL' : ''].join(' ');
  }

  /** Marks a blob as a scrub would: the backup does not hold its bytes, so the restored registry never serves it. */
  quarantine(digest: string, kind: 'missing' | 'corrupt', now: number): void {
    if (!this.columns('blob').has('quarantine')) return;
    this.db.prepare('UPDATE blob SET quarantine = ?, quarantined_at = ? WHERE digest = ?').run(kind, now, digest);
  }

  counts(): { repositories: number; manifests: number; tags: number } {
    const count = (table: string) => (this.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { repositories: count('repository'), manifests: count('manifest'), tags: count('tag') };
  }

  /** SQLite's own check of the file's structure; 'ok' when sound. */
  quickCheck(): string {
    return (this.db.pragma('quick_check', { simple: true }) as string) ?? 'no answer';
  }

  close(): void {
    this.db.close();
  }

  private readonly tableColumns = new Map<string, Set<string>>();

  private columns(table: string): Set<string> {
    const known = this.tableColumns.get(table);
    if (known) return known;
    const columns = new Set((this.db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name));
    this.tableColumns.set(table, columns);
    return columns;
  }
}

/**
 * Whether a process has the database open (a running server, a CLI command): another process
 * holding it in WAL mode keeps SQLite from taking it exclusively.
 */
export function sqliteInUse(path: string): boolean {
  let db: SqliteDatabase | undefined;
  try {
    db = new Sqlite(path, { fileMustExist: true, timeout: 0 });
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    db.exec('COMMIT');
    return false;
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_BUSY') return true;
    throw err;
  } finally {
    db?.close();
  }
}
