import { describe, expect, it } from 'vitest';
import { workerEnv, workerExecArgv } from '../../src/cli/cluster.js';

describe('worker memory settings', () => {
  it("adds the young-generation size and --expose-gc (one collection once settled) to the primary's flags", () => {
    expect(workerExecArgv(['--enable-source-maps'])).toEqual(['--enable-source-maps', '--max-semi-space-size=4', '--expose-gc']);
  });

  it('keeps each memory flag the operator chose, on the command line or in NODE_OPTIONS, and adds the other', () => {
    expect(workerExecArgv(['--max-semi-space-size=32'])).toEqual(['--max-semi-space-size=32', '--expose-gc']);
    expect(workerExecArgv(['--max_semi_space_size=2'])).toEqual(['--max_semi_space_size=2', '--expose-gc']);
    expect(workerExecArgv([], '--inspect --max-semi-space-size=16')).toEqual(['--expose-gc']);
    expect(workerExecArgv(['--heap_growing_percent=50'])).toEqual(['--heap_growing_percent=50', '--max-semi-space-size=4', '--expose-gc']);
    expect(workerExecArgv(['--heap-growing-percent=300', '--max-semi-space-size=2'])).toEqual(['--heap-growing-percent=300', '--max-semi-space-size=2', '--expose-gc']);
  });

  it('does not take a flag for another one that starts alike', () => {
    expect(workerExecArgv(['--max-semi-space-size-extra=1'])).toEqual(['--max-semi-space-size-extra=1', '--max-semi-space-size=4', '--expose-gc']);
  });

  it('limits glibc to two malloc arenas unless MALLOC_ARENA_MAX is set', () => {
    expect(workerEnv({}, '0123456789abcdef')).toEqual({ BERTH_CLUSTER_WORKER: '1', BERTH_SIBLING_GROUP: '0123456789abcdef', MALLOC_ARENA_MAX: '2', UV_THREADPOOL_SIZE: '16' });
    expect(workerEnv({ MALLOC_ARENA_MAX: '8', UV_THREADPOOL_SIZE: '16' }, '0123456789abcdef')).toEqual({ BERTH_CLUSTER_WORKER: '1', BERTH_SIBLING_GROUP: '0123456789abcdef', MALLOC_ARENA_MAX: '8', UV_THREADPOOL_SIZE: '16' });
  });
});
