import { describe, expect, it } from 'vitest';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { RequestLoad } from '../../src/services/jobs/request-load.js';

/** An event loop whose busy and idle milliseconds the test moves on by hand. */
function fakeLoop() {
  const clock = { active: 0, idle: 0 };
  const utilization = (from?: EventLoopUtilization): EventLoopUtilization => {
    const active = clock.active - (from?.active ?? 0);
    const idle = clock.idle - (from?.idle ?? 0);
    return { active, idle, utilization: active + idle === 0 ? 0 : active / (active + idle) };
  };
  return { clock, utilization };
}

describe('RequestLoad', () => {
  it('is saturated only while a request is in flight and the loop was busy for the threshold share of the last window', () => {
    const { clock, utilization } = fakeLoop();
    const load = new RequestLoad({ threshold: 0.75, windowMs: 100, utilization });
    clock.active += 90;
    clock.idle += 10;
    expect(load.saturated()).toBe(false); // busy, but no request in flight
    const end = load.begin();
    expect(load.requests).toBe(1);
    clock.active += 80;
    clock.idle += 20;
    expect(load.saturated()).toBe(true);
    // Less than a window since the last reading: the last share holds.
    clock.idle += 50;
    expect(load.saturated()).toBe(true);
    // A window that was mostly idle: 20 ms busy of 100.
    clock.active += 20;
    clock.idle += 30;
    expect(load.saturated()).toBe(false);
    end();
    end();
    expect(load.requests).toBe(0);
  });

  it('reads the real event loop: a busy stretch with a request in flight saturates it', async () => {
    const load = new RequestLoad({ threshold: 0.75, windowMs: 100 });
    await new Promise((r) => setTimeout(r, 150)); // a first window, idle
    const end = load.begin();
    expect(load.saturated()).toBe(false);
    const until = performance.now() + 150;
    while (performance.now() < until) {
      // busy
    }
    expect(load.saturated()).toBe(true);
    end();
    expect(load.saturated()).toBe(false);
  });
});
