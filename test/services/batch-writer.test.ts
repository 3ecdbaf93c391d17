import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BatchWriter } from '../../src/services/batch-writer.js';

describe('BatchWriter', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('writes a batch one interval after its first item, and sets no timer while nothing is pending', async () => {
    const written: number[][] = [];
    const writer = new BatchWriter<number>(async (items) => void written.push(items), { intervalMs: 50, maxBatch: 100, maxPending: 1000 });
    expect(vi.getTimerCount()).toBe(0);
    writer.add(1);
    await vi.advanceTimersByTimeAsync(30);
    writer.add(2);
    expect(written).toEqual([]);
    await vi.advanceTimersByTimeAsync(20);
    expect(written).toEqual([[1, 2]]);
    expect(vi.getTimerCount()).toBe(0);
    writer.add(3);
    await vi.advanceTimersByTimeAsync(50);
    expect(written).toEqual([[1, 2], [3]]);
    await writer.close();
  });

  it('writes at once at maxBatch items, tries a failed batch again a second later, and writes at once once closed', async () => {
    const written: number[][] = [];
    let fail = true;
    const errors: unknown[] = [];
    const writer = new BatchWriter<number>(
      async (items) => {
        if (fail) throw new Error('database down');
        written.push(items);
      },
      { intervalMs: 50, maxBatch: 3, maxPending: 1000, onError: (err) => errors.push(err) },
    );
    for (const n of [1, 2, 3]) writer.add(n);
    await vi.advanceTimersByTimeAsync(0);
    expect(errors).toHaveLength(1);
    fail = false;
    // The failed batch is tried again a second later (not every 50 ms while the database is down).
    await vi.advanceTimersByTimeAsync(999);
    expect(written).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(written).toEqual([[1, 2, 3]]);
    await writer.close();
    writer.add(5);
    await vi.advanceTimersByTimeAsync(0);
    expect(written).toEqual([[1, 2, 3], [5]]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
