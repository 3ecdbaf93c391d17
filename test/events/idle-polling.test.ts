import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, migrate, type Database } from '../../src/adapters/db/connect.js';
import { KyselyJobStore } from '../../src/adapters/db/kysely-job-store.js';
import { JobRunner, idleBackoff } from '../../src/services/jobs/job-runner.js';
import { OutboxLoop } from '../../src/services/jobs/outbox-loop.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An outbox consumer that counts how often it looks. */
class CountingLoop extends OutboxLoop {
  looks = 0;
  /** Whether every look finds an event. */
  busy = false;
  async drain(): Promise<number> {
    this.looks++;
    return this.busy ? 1 : 0;
  }
}

describe('idle polling', () => {
  it('an outbox consumer looks less and less often while the outbox stays empty, and at the interval again once events turn up', async () => {
    const loop = new CountingLoop({ intervalMs: 20 });
    loop.start();
    await sleep(1000);
    // Every 20 ms would be 50 looks; backing off 20, 40, 80, then every 160 ms is about 9.
    const idleLooks = loop.looks;
    expect(idleLooks).toBeGreaterThanOrEqual(5);
    expect(idleLooks).toBeLessThanOrEqual(12);
    expect(idleBackoff).toBe(8);
    // Events keep coming from elsewhere: once the timer finds them (within one backed-off
    // wait, 160 ms), it looks every 20 ms again: about 17 looks in 500 ms.
    loop.busy = true;
    const before = loop.looks;
    await sleep(500);
    loop.busy = false;
    expect(loop.looks - before).toBeGreaterThanOrEqual(12);
    await loop.stop();
  });

  it('drains at once on a notice after a quiet spell, and once per coalescing window while notices keep coming', async () => {
    const loop = new CountingLoop({ intervalMs: 10_000, coalesceMs: 100 });
    const drained: number[] = [];
    const drain = loop.drain.bind(loop);
    loop.drain = async () => {
      drained.push(performance.now());
      return drain();
    };
    loop.start();
    await sleep(150);
    expect(loop.looks).toBe(1);
    const first = performance.now();
    loop.notify();
    await sleep(20);
    // Quiet before: at once.
    expect(loop.looks).toBe(2);
    expect(drained[1]! - first).toBeLessThan(15);
    // A notice every 5 ms for 600 ms: 120 notices, a drain per 100 ms window.
    for (let i = 0; i < 120; i++) {
      loop.notify();
      await sleep(5);
    }
    await sleep(250);
    const looks = loop.looks - 2;
    expect(looks).toBeGreaterThanOrEqual(4);
    expect(looks).toBeLessThanOrEqual(9);
    for (let i = 3; i < drained.length; i++) expect(drained[i]! - drained[i - 1]!).toBeGreaterThanOrEqual(95);
    await loop.stop();
  });

  describe('a job retried while the runner is idle', () => {
    let dir: string;
    let database: Database;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'berth-idle-'));
      database = connect({ url: `sqlite:${join(dir, 'berth.db')}` });
      await migrate(database);
    });
    afterAll(async () => {
      await database.db.destroy();
      await rm(dir, { recursive: true, force: true });
    });

    /** A job of `type` that fails once with 300 ms of backoff, on an idle runner polling every 2 s: the times of its attempts. */
    async function attemptsOfRetried(type: string, now?: () => number): Promise<number[]> {
      const runner = new JobRunner(new KyselyJobStore(database), { concurrency: 2, pollIntervalMs: 2000, leaseMs: 30_000, now });
      const attempts: number[] = [];
      runner.register(type, {
        maxAttempts: 3,
        backoff: () => 300,
        async run() {
          attempts.push(Date.now());
          if (attempts.length === 1) throw new Error('first attempt fails');
        },
      });
      runner.start();
      await runner.enqueue({ type, payload: {} });
      const deadline = Date.now() + 5000;
      while (attempts.length < 2 && Date.now() < deadline) await sleep(20);
      await runner.stop();
      return attempts;
    }

    it('runs again when its backoff ends, not when the backed-off poll timer fires', async () => {
      const attempts = await attemptsOfRetried('test.flaky');
      expect(attempts).toHaveLength(2);
      // 300 ms of backoff; the poll timer alone would have waited 2 s or more.
      expect(attempts[1]! - attempts[0]!).toBeGreaterThanOrEqual(250);
      expect(attempts[1]! - attempts[0]!).toBeLessThan(1500);
    });

    it('runs again when its backoff ends even when its timer fires early by the clock jobs are due by', async () => {
      // A clock at nine tenths of real time: the retry timer (300 ms real) fires when only 270 ms
      // have passed by it, as a timer counted from a lagging event-loop time does.
      const start = Date.now();
      const attempts = await attemptsOfRetried('test.flaky-slow-clock', () => start + Math.floor((Date.now() - start) * 0.9));
      expect(attempts).toHaveLength(2);
      expect(attempts[1]! - attempts[0]!).toBeGreaterThanOrEqual(300);
      expect(attempts[1]! - attempts[0]!).toBeLessThan(1500);
    });
  });
});
