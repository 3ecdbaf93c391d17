import { describe, expect, it } from 'vitest';
import { defaultWorkers } from '../../src/cli/worker-count.js';

describe('the automatic worker count (server.workers: 0)', () => {
  it('runs one worker on machines of one or two cores and one per core above that', () => {
    expect([1, 2, 3, 4, 8, 64].map((cores) => defaultWorkers(cores))).toEqual([1, 1, 3, 4, 8, 64]);
  });
});
