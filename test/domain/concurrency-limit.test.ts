import { describe, expect, it } from 'vitest';
import { ConcurrencyLimit } from '../../src/domain/concurrency-limit.js';

describe('a concurrency limit', () => {
  it('runs at most `limit` at once, in the order asked, and joins work of a key already running', async () => {
    const limit = new ConcurrencyLimit(2);
    let active = 0;
    let most = 0;
    const order: number[] = [];
    const releases: Array<() => void> = [];
    const job = (n: number) => () =>
      new Promise<number>((resolve) => {
        active++;
        most = Math.max(most, active);
        order.push(n);
        releases.push(() => {
          active--;
          resolve(n);
        });
      });
    const all = [1, 2, 3, 4].map((n) => limit.run(job(n)));
    const joined = [limit.once('k', job(5)), limit.once('k', job(6))];
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 5));
      releases.shift()?.();
    }
    expect(await Promise.all(all)).toEqual([1, 2, 3, 4]);
    expect(await Promise.all(joined)).toEqual([5, 5]);
    expect(order).toEqual([1, 2, 3, 4, 5]);
    expect(most).toBe(2);
  });
});
