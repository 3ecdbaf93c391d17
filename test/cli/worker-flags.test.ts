import { describe, expect, it } from 'vitest';
import { workerEnv, workerExecArgv } from '../../src/cli/cluster.js';

describe('worker memory settings', () => {
  it("adds the young-generation size to the primary's flags", () => {
    expect(workerExecArgv(['--enable-source-maps'])).toEqual(['--enable-source-maps', '--max-semi-space-size=8']);
  });

  it('keeps a young-generation size the operator chose, on the command line or in NODE_OPTIONS', () => {
    expect(workerExecArgv(['--max-semi-space-size=32'])).toEqual(['--max-semi-space-size=32']);
    expect(workerExecArgv(['--max_semi_space_size=2'])).toEqual(['--max_semi_space_size=2']);
    expect(workerExecArgv([], '--inspect --max-semi-space-size=16')).toEqual([]);
  });

  it('limits glibc to two malloc arenas unless MALLOC_ARENA_MAX is set', () => {
    expect(workerEnv({})).toEqual({ BERTH_CLUSTER_WORKER: '1', MALLOC_ARENA_MAX: '2' });
    expect(workerEnv({ MALLOC_ARENA_MAX: '8' })).toEqual({ BERTH_CLUSTER_WORKER: '1', MALLOC_ARENA_MAX: '8' });
  });
});
