import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Interop and process tests start servers and real clients; keep parallelism modest on 2 cores.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
