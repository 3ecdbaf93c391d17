import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { connect, migrate, type Database } from '../../src/adapters/db/connect.js';
import { KyselyJobStore } from '../../src/adapters/db/kysely-job-store.js';
import type { JobRow } from '../../src/ports/job-store.js';
import { JobRunner, exponentialBackoff } from '../../src/services/jobs/job-runner.js';
import { Scheduler } from '../../src/services/jobs/scheduler.js';
import { createTempDatabase, pgUnavailableReason, type TempDatabase } from '../helpers/pg.js';

const pgSkip = await pgUnavailableReason();
if (pgSkip) console.warn(`SKIPPING PostgreSQL job-queue tests: ${pgSkip}`);

interface Engine {
  name: string;
  skip?: string;
  /** Two independent connections to one database: two Berth instances, as far as the queue can tell. */
  open(): Promise<{ a: Database; b: Database; cleanup(): Promise<void> }>;
}

const engines: Engine[] = [
  {
    name: 'sqlite',
    async open() {
      const dir = await mkdtemp(join(tmpdir(), 'berth-jobs-'));
      const url = `sqlite:${join(dir, 'berth.db')}`;
      const a = connect({ url });
      await migrate(a);
      const b = connect({ url });
      return { a, b, cleanup: async () => { await a.db.destroy(); await b.db.destroy(); await rm(dir, { recursive: true, force: true }); } };
    },
  },
  {
    name: 'postgres',
    skip: pgSkip,
    async open() {
      const temp: TempDatabase = await createTempDatabase();
      const a = connect({ url: temp.url });
      await migrate(a);
      const b = connect({ url: temp.url });
      return { a, b, cleanup: async () => { await a.db.destroy(); await b.db.destroy(); await temp.drop(); } };
    },
  },
];

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const engine of engines) {
  describe.skipIf(engine.skip !== undefined)(`job queue on ${engine.name}${engine.skip ? ` (skipped: ${engine.skip})` : ''}`, () => {
    let dbs: Awaited<ReturnType<Engine['open']>>;
    beforeAll(async () => {
      dbs = await engine.open();
    });
    afterAll(async () => {
      await dbs?.cleanup();
    });

    function runner(database: Database, concurrency = 4): JobRunner {
      return new JobRunner(new KyselyJobStore(database), { concurrency, pollIntervalMs: 20, leaseMs: 30_000 });
    }

    it('never runs a job twice with two instances claiming from one database (400 jobs)', async () => {
      const runs = new Map<number, string[]>();
      const handler = (who: string) => ({
        maxAttempts: 1,
        backoff: () => 0,
        async run(job: JobRow) {
          runs.set(job.id, [...(runs.get(job.id) ?? []), who]);
          await new Promise((r) => setTimeout(r, Math.random() * 3));
        },
      });
      const first = runner(dbs.a);
      const second = runner(dbs.b);
      first.register('test.count', handler('first'));
      second.register('test.count', handler('second'));
      const ids = await new KyselyJobStore(dbs.a).enqueue(
        Array.from({ length: 400 }, (_, i) => ({ type: 'test.count', payload: { i }, maxAttempts: 1, runAt: Date.now() })),
        Date.now(),
      );
      first.start();
      second.start();
      await until(() => runs.size === 400, 60_000);
      await Promise.all([first.stop(), second.stop()]);
      expect([...runs.keys()].sort((x, y) => x - y)).toEqual(ids);
      expect([...runs.values()].filter((who) => who.length !== 1)).toEqual([]);
      const byFirst = [...runs.values()].filter((w) => w[0] === 'first').length;
      expect(byFirst).toBeGreaterThan(0);
      expect(byFirst).toBeLessThan(400);
      expect(await new KyselyJobStore(dbs.a).counts()).toMatchObject({ queued: 0, running: 0, succeeded: 400 });
    });

    it('asks the database once per poll interval when idle, not once per slot, and still fills every slot with work another instance queued', async () => {
      let claims = 0;
      class CountingStore extends KyselyJobStore {
        override claim(...args: Parameters<KyselyJobStore['claim']>) {
          claims++;
          return super.claim(...args);
        }
      }
      const idle = new JobRunner(new CountingStore(dbs.a), { concurrency: 4, pollIntervalMs: 100, leaseMs: 30_000 });
      let active = 0;
      let maxActive = 0;
      let done = 0;
      idle.register('test.idle', {
        maxAttempts: 1,
        backoff: () => 0,
        async run() {
          active++;
          maxActive = Math.max(maxActive, active);
          await new Promise((r) => setTimeout(r, 150));
          active--;
          done++;
        },
      });
      idle.start();
      await new Promise((r) => setTimeout(r, 1000));
      // Four slots polling each would have asked about 40 times.
      const idleClaims = claims;
      expect(idleClaims).toBeGreaterThanOrEqual(5);
      expect(idleClaims).toBeLessThanOrEqual(14);
      // Queued through the other connection: nothing here is told, the poll finds them.
      await new KyselyJobStore(dbs.b).enqueue(
        Array.from({ length: 8 }, (_, i) => ({ type: 'test.idle', payload: { i }, maxAttempts: 1, runAt: Date.now() })),
        Date.now(),
      );
      await until(() => done === 8, 10_000);
      await idle.stop();
      expect(maxActive).toBe(4);
    });

    it('wakes one idle slot per job queued here, so a trickle of jobs costs about two claims each, not one per slot', async () => {
      let claims = 0;
      let found = 0;
      class CountingStore extends KyselyJobStore {
        override async claim(...args: Parameters<KyselyJobStore['claim']>) {
          claims++;
          const job = await super.claim(...args);
          if (job) found++;
          return job;
        }
      }
      // The poll timer stays out of it: every claim below was woken by a job.
      const trickle = new JobRunner(new CountingStore(dbs.a), { concurrency: 4, pollIntervalMs: 60_000, leaseMs: 30_000 });
      let done = 0;
      trickle.register('test.trickle', { maxAttempts: 1, backoff: () => 0, run: async () => void (await new Promise((r) => setTimeout(r, 2)), done++) });
      trickle.start();
      // Each slot looks once as it starts.
      await until(() => claims === 4, 5_000);
      await new Promise((r) => setTimeout(r, 100));
      claims = 0;
      // One job at a time, each after the last one finished, as pushes that come a few ms apart queue them.
      for (let i = 0; i < 40; i++) {
        await trickle.enqueue({ type: 'test.trickle', payload: { i } });
        await until(() => done === i + 1, 5_000);
        await new Promise((r) => setTimeout(r, 10));
      }
      await trickle.stop();
      expect(found).toBe(40);
      // Per job: the claim that finds it, the look for more by a second slot it wakes, and the
      // finishing slot's look for the next. Waking every idle slot cost 11 per job.
      console.log(`claims for 40 jobs queued one by one: ${claims}`);
      expect(claims).toBeLessThanOrEqual(3 * 40);
    });

    it('runs jobs with one ordering key strictly one after another, in order, even across instances', async () => {
      const order: number[] = [];
      let active = 0;
      let maxActive = 0;
      const handler = {
        maxAttempts: 1,
        backoff: () => 0,
        async run(job: JobRow) {
          active++;
          maxActive = Math.max(maxActive, active);
          await new Promise((r) => setTimeout(r, 5));
          order.push(job.payload.n as number);
          active--;
        },
      };
      const first = runner(dbs.a);
      const second = runner(dbs.b);
      first.register('test.ordered', handler);
      second.register('test.ordered', handler);
      await new KyselyJobStore(dbs.a).enqueue(
        Array.from({ length: 30 }, (_, n) => ({ type: 'test.ordered', payload: { n }, orderingKey: 'same-key', maxAttempts: 1, runAt: Date.now() })),
        Date.now(),
      );
      first.start();
      second.start();
      await until(() => order.length === 30, 30_000);
      await Promise.all([first.stop(), second.stop()]);
      expect(order).toEqual(Array.from({ length: 30 }, (_, n) => n));
      expect(maxActive).toBe(1);
    });

    it('retries a failing job with backoff and gives up after maxAttempts', async () => {
      const attempts: number[] = [];
      const r = runner(dbs.a, 1);
      r.register('test.flaky', {
        maxAttempts: 3,
        backoff: exponentialBackoff(50, 200),
        async run(job) {
          attempts.push(Date.now());
          if (job.payload.succeedOn !== job.attempts) throw new Error(`attempt ${job.attempts} fails`);
        },
      });
      const store = new KyselyJobStore(dbs.a);
      const [ok] = await store.enqueue([{ type: 'test.flaky', payload: { succeedOn: 2 }, maxAttempts: 3, runAt: Date.now() }], Date.now());
      const [doomed] = await store.enqueue([{ type: 'test.flaky', payload: { succeedOn: 99 }, maxAttempts: 3, runAt: Date.now() }], Date.now());
      r.start();
      await until(async () => (await store.get(doomed!))!.status === 'failed' && (await store.get(ok!))!.status === 'succeeded', 10_000);
      await r.stop();
      expect(await store.get(ok!)).toMatchObject({ status: 'succeeded', attempts: 2 });
      expect(await store.get(doomed!)).toMatchObject({ status: 'failed', attempts: 3, lastError: 'attempt 3 fails' });
      expect(attempts).toHaveLength(5);
    });

    it('claims the oldest due job past finished jobs and jobs not yet due, walking queued jobs in id order', async () => {
      const store = new KyselyJobStore(dbs.a);
      const now = Date.now();
      const job = (runAt: number) => ({ type: 'test.claim-order', payload: {}, maxAttempts: 1, runAt });
      const finished = await store.enqueue(Array.from({ length: 200 }, () => job(now)), now);
      await sql`UPDATE job SET status = 'succeeded', finished_at = ${now} WHERE id IN (${sql.join(finished)})`.execute(dbs.a.db);
      const [later] = await store.enqueue([job(now + 60_000)], now);
      const due = await store.enqueue([job(now), job(now)], now);
      expect((await store.claim('w', now, 1000, ['test.claim-order']))?.id).toBe(due[0]);
      expect((await store.claim('w', now, 1000, ['test.claim-order']))?.id).toBe(due[1]);
      expect(await store.claim('w', now, 1000, ['test.claim-order'])).toBeUndefined();
      expect((await store.claim('w', now + 60_000, 1000, ['test.claim-order']))?.id).toBe(later);
      if (engine.name === 'sqlite') {
        // The claim's search as SQLite plans it: queued jobs from the (status, id) index, no sort.
        const plan = await sql<{ detail: string }>`EXPLAIN QUERY PLAN SELECT j.id FROM job j WHERE j.status = 'queued' AND j.run_at <= ${now} AND j.type IN ('test.claim-order') ORDER BY j.id LIMIT 1`.execute(dbs.a.db);
        expect(plan.rows.map((r) => r.detail)).toEqual(['SEARCH j USING INDEX job_status_id (status=?)']);
      }
    });

    it('returns the job of a vanished worker to the queue when its lease runs out', async () => {
      const store = new KyselyJobStore(dbs.a);
      const [id] = await store.enqueue([{ type: 'test.lease', payload: {}, maxAttempts: 3, runAt: Date.now() }], Date.now());
      const claimed = await store.claim('crashed-worker', Date.now(), 100, ['test.lease']);
      expect(claimed?.id).toBe(id);
      expect(await store.claim('other', Date.now(), 100, ['test.lease'])).toBeUndefined();
      await new Promise((r) => setTimeout(r, 150));
      expect(await store.releaseExpired(Date.now())).toBe(1);
      const again = await new KyselyJobStore(dbs.b).claim('other', Date.now(), 100, ['test.lease']);
      expect(again).toMatchObject({ id, attempts: 2, lockedBy: 'other' });
    });

    it('claims deferred types only once they were due by the given time, and other jobs queued after them meanwhile', async () => {
      const store = new KyselyJobStore(dbs.a);
      const now = Date.now();
      const [background] = await store.enqueue([{ type: 'test.defer-bg', payload: {}, maxAttempts: 1, runAt: now - 1000 }], now);
      const [foreground] = await store.enqueue([{ type: 'test.defer-fg', payload: {}, maxAttempts: 1, runAt: now }], now);
      const types = ['test.defer-bg', 'test.defer-fg'];
      expect((await store.claim('w', now, 1000, types, { types: ['test.defer-bg'], dueBy: now - 1001 }))?.id).toBe(foreground);
      expect(await store.claim('w', now, 1000, types, { types: ['test.defer-bg'], dueBy: now - 1001 })).toBeUndefined();
      expect((await store.claim('w', now, 1000, types, { types: ['test.defer-bg'], dueBy: now - 1000 }))?.id).toBe(background);
      for (const id of [foreground!, background!]) await store.succeed(id, 'w', now);
    });

    it('holds background jobs back while the process is saturated, and runs them within 250 ms once it is not, or once they waited their longest', async () => {
      let saturated = true;
      const ran = new Map<string, number>();
      // A poll interval far longer than the test: only the runner's recheck after holding jobs back can start them.
      const held = new JobRunner(new KyselyJobStore(dbs.a), { concurrency: 2, pollIntervalMs: 60_000, leaseMs: 30_000, saturated: () => saturated, backgroundMaxDelayMs: 60_000 });
      const record = (name: string) => ({ maxAttempts: 1, backoff: () => 0, async run() { ran.set(name, Date.now()); } });
      held.register('test.held-bg', { ...record('background'), background: true });
      held.register('test.held-fg', record('foreground'));
      held.start();
      await held.enqueue({ type: 'test.held-bg', payload: {} });
      await held.enqueue({ type: 'test.held-fg', payload: {} });
      await until(() => ran.has('foreground'), 5000);
      await new Promise((r) => setTimeout(r, 600));
      expect(ran.has('background')).toBe(false);
      const released = Date.now();
      saturated = false;
      await until(() => ran.has('background'), 5000);
      expect(ran.get('background')! - released).toBeLessThan(1000);
      await held.stop();

      // Saturated all along: the job runs once it has waited backgroundMaxDelayMs.
      const bounded = new JobRunner(new KyselyJobStore(dbs.a), { concurrency: 1, pollIntervalMs: 60_000, leaseMs: 30_000, saturated: () => true, backgroundMaxDelayMs: 700 });
      bounded.register('test.bounded-bg', { ...record('bounded'), background: true });
      bounded.start();
      const queuedAt = Date.now();
      await bounded.enqueue({ type: 'test.bounded-bg', payload: {} });
      await until(() => ran.has('bounded'), 5000);
      await bounded.stop();
      expect(ran.get('bounded')! - queuedAt).toBeGreaterThanOrEqual(700);
      expect(ran.get('bounded')! - queuedAt).toBeLessThan(2000);
    });

    it('fires a cron schedule once per due run across two instances', async () => {
      const storeA = new KyselyJobStore(dbs.a);
      const storeB = new KyselyJobStore(dbs.b);
      let clock = Date.parse('2026-11-24T10:00:30Z');
      const a = new Scheduler(storeA, { intervalMs: 1000, now: () => clock });
      const b = new Scheduler(storeB, { intervalMs: 1000, now: () => clock });
      await a.define({ name: 'every-minute', cron: '* * * * *', jobType: 'test.cron' });
      await b.define({ name: 'every-minute', cron: '* * * * *', jobType: 'test.cron' });
      clock = Date.parse('2026-11-24T10:01:05Z');
      // PostgreSQL instances race for real; SQLite's one writer is shared by processes, and two
      // connections inside one process would block each other's event loop, so they take turns.
      const fired = engine.name === 'postgres' ? await Promise.all([a.tick(), b.tick(), a.tick(), b.tick()]) : [await a.tick(), await b.tick(), await a.tick(), await b.tick()];
      expect(fired.reduce((x, y) => x + y, 0)).toBe(1);
      const jobs = await storeA.list({ type: 'test.cron' }, { offset: 0, limit: 10 });
      expect(jobs.items).toHaveLength(1);
      expect(jobs.items[0]!.payload).toMatchObject({ schedule: 'every-minute', scheduledFor: Date.parse('2026-11-24T10:01:00Z') });
    });
  });
}
