import { describe, expect, it } from 'vitest';
import { RebuildTriggers } from '../../../src/services/insights/rebuild-hints.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('rebuild hint triggers', () => {
  it('drain once at start and then only when notified: an idle registry costs no database read', async () => {
    let drains = 0;
    const triggers = new RebuildTriggers({ drain: async () => (drains++, 0) }, () => undefined);
    triggers.notify();
    await sleep(20);
    // Not started: notices are ignored (a Berth with jobs disabled runs no consumer).
    expect(drains).toBe(0);
    triggers.start();
    await triggers.idle();
    expect(drains).toBe(1);
    await sleep(600);
    expect(drains).toBe(1);
    triggers.notify();
    await triggers.idle();
    expect(drains).toBe(2);
    await triggers.stop();
    triggers.notify();
    await sleep(20);
    expect(drains).toBe(2);
  });

  it('takes notices that arrive during a drain together into one more drain, and keeps going after a failed one', async () => {
    let drains = 0;
    const errors: unknown[] = [];
    let release: () => void = () => undefined;
    const triggers = new RebuildTriggers(
      {
        drain: async () => {
          drains++;
          if (drains === 1) await new Promise<void>((r) => (release = r));
          if (drains === 2) throw new Error('database away');
          return 0;
        },
      },
      (err) => errors.push(err),
    );
    triggers.start();
    await sleep(10);
    for (let i = 0; i < 50; i++) triggers.notify();
    release();
    await triggers.idle();
    expect(drains).toBe(2);
    expect(errors).toHaveLength(1);
    triggers.notify();
    await triggers.idle();
    expect(drains).toBe(3);
    await triggers.stop();
  });

  it('takes a burst of notices together: one drain per coalescing interval, not one per notice', async () => {
    const started: number[] = [];
    const triggers = new RebuildTriggers({ drain: async () => (started.push(performance.now()), 0) }, () => undefined, 100);
    triggers.start();
    await triggers.idle();
    // A notice every 5 ms for 450 ms, each arriving while a drain runs or waits its turn.
    const burstStart = performance.now();
    for (let i = 0; i < 90; i++) {
      triggers.notify();
      await sleep(5);
    }
    const burstMs = performance.now() - burstStart;
    await triggers.idle();
    const during = started.slice(1);
    // Drains start 100 ms apart at the closest: at most one per interval of the burst, plus the last one.
    expect(during.length).toBeGreaterThanOrEqual(2);
    expect(during.length).toBeLessThanOrEqual(Math.floor(burstMs / 100) + 2);
    // (Timers run on the event loop's millisecond clock, which can read up to a millisecond behind.)
    for (let i = 1; i < during.length; i++) expect(during[i]! - during[i - 1]!).toBeGreaterThanOrEqual(98);
    await triggers.stop();
  });
});
