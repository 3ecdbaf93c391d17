import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { sql, type Kysely } from 'kysely';
import { createDatabase } from './systems.js';

/**
 * The job queue's claim with a backlog: how long one claim and its success take when many jobs
 * are queued, or finished and kept for the retention period (docs/performance.md, "Write paths on PostgreSQL", job claims).
 * Runs Berth's own job store (the build in dist/) against a fresh SQLite file or PostgreSQL
 * database, after `ANALYZE`, as a database that has been running a while has statistics.
 */
const program = new Command()
  .name('bench:jobs')
  .description('Times claiming and finishing jobs from a queue with a backlog of finished and queued jobs')
  .option('--finished <n>', 'finished jobs kept ahead of the queue', '20000')
  .option('--queued <n>', 'queued jobs, all due', '2000')
  .option('--claims <n>', 'claims timed (each followed by its success)', '500')
  .option('--postgres [url]', 'PostgreSQL: a fresh database on this server (default postgres://postgres@127.0.0.1:5432/test)')
  .parse();
const opts = program.opts<{ finished: string; queued: string; claims: string; postgres?: string | true }>();

interface JobStoreLike {
  enqueue(jobs: Array<{ type: string; payload: Record<string, unknown>; maxAttempts: number; runAt: number }>, now: number): Promise<number[]>;
  claim(worker: string, now: number, leaseMs: number, types: string[]): Promise<{ id: number } | undefined>;
  succeed(id: number, worker: string, now: number): Promise<void>;
}
interface DatabaseLike {
  engine: 'sqlite' | 'postgres';
  db: { destroy(): Promise<void> };
}

// The built server's modules, by a path the bench's compiler does not follow.
const connectModule = '../dist/modules/adapters/db/connect.js';
const storeModule = '../dist/modules/adapters/db/kysely-job-store.js';
const { connect, migrate } = (await import(connectModule)) as { connect(o: { url: string }): DatabaseLike; migrate(d: DatabaseLike): Promise<string[]> };
const { KyselyJobStore } = (await import(storeModule)) as { KyselyJobStore: new (d: DatabaseLike) => JobStoreLike };

const finished = Number(opts.finished);
const queued = Number(opts.queued);
const claims = Math.min(Number(opts.claims), queued);
const pg = opts.postgres === undefined ? undefined : await createDatabase(typeof opts.postgres === 'string' ? opts.postgres : 'postgres://postgres@127.0.0.1:5432/test');
const dir = pg ? undefined : await mkdtemp(join(tmpdir(), 'berth-bench-jobs-'));
const database = connect({ url: pg?.url ?? `sqlite:${join(dir!, 'berth.db')}` });
try {
  await migrate(database);
  const store = new KyselyJobStore(database);
  const now = Date.now();
  const db = database.db as unknown as Kysely<unknown>;
  for (let made = 0; made < finished + queued; made += 500) {
    const count = Math.min(500, finished + queued - made);
    await store.enqueue(Array.from({ length: count }, () => ({ type: 'bench.job', payload: {}, maxAttempts: 1, runAt: now })), now);
  }
  await sql`UPDATE job SET status = 'succeeded', finished_at = ${now} WHERE id <= (SELECT min(id) FROM job) + ${finished - 1}`.execute(db);
  await sql`ANALYZE`.execute(db);
  const started = process.hrtime.bigint();
  for (let i = 0; i < claims; i++) {
    const job = await store.claim('bench', now, 60_000, ['bench.job']);
    if (!job) throw new Error(`the queue ran dry after ${i} claims`);
    await store.succeed(job.id, 'bench', now);
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  console.log(`${database.engine}: ${finished} finished and ${queued} queued jobs: ${(ms / claims).toFixed(3)} ms per claim and success (${claims} claims)`);
} finally {
  await database.db.destroy();
  await pg?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
}
