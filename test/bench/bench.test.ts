import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
const distribution = '/usr/bin/docker-registry';
const skip = existsSync(distribution) ? undefined : `CNCF distribution is not installed (${distribution}; Debian package docker-registry)`;
if (skip) console.warn(`SKIPPING the benchmark smoke run: ${skip}`);

interface Figures {
  ops: number;
  reqPerSec: number;
  p99Ms: number;
  cpuMsPerOp: number;
  settleSeconds: number;
  peakRssBytes: number;
  peakPssBytes: number;
}

/** `npm run bench` keeps working: a short run of a few workloads against both registries. */
describe.skipIf(skip !== undefined)('npm run bench', () => {
  it('measures the same workloads on distribution and Berth and writes the results', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-bench-'));
    try {
      const out = join(dir, 'result.json');
      const { stdout } = await exec(process.execPath, [join(root, 'dist-bench/run.js'), '--quick', '--only', '^(blob pull 1 MB|manifest GET by tag|tags/list \\(500 tags\\))$', '--out', out], {
        cwd: root,
        timeout: 120_000,
      });
      const result = JSON.parse(await readFile(out, 'utf8')) as { rows: Array<{ workload: string; distribution: Figures; berth: Figures }>; systems: Record<string, { label: string }> };
      expect(result.rows.map((r) => r.workload)).toEqual(['blob pull 1 MB', 'manifest GET by tag', 'tags/list (500 tags)']);
      for (const row of result.rows) {
        for (const figures of [row.distribution, row.berth]) {
          expect(figures.ops).toBeGreaterThan(0);
          expect(figures.reqPerSec).toBeGreaterThan(0);
          expect(figures.peakRssBytes).toBeGreaterThan(10 * 2 ** 20);
          // Cost as well as speed: CPU of every process of the system per operation, and PSS summed over them.
          expect(figures.cpuMsPerOp).toBeGreaterThan(0);
          expect(figures.peakPssBytes).toBeGreaterThan(10 * 2 ** 20);
          // ... counted until the system went quiet after its last response (background work included).
          expect(figures.settleSeconds).toBeGreaterThanOrEqual(0);
          expect(figures.settleSeconds).toBeLessThan(120);
        }
      }
      // --quick: 0.05 × the default counts, every one completed (pulls are digest-checked, so
      // a completed operation is a correct one).
      expect(result.rows.map((r) => [r.distribution.ops, r.berth.ops])).toEqual([
        [50, 50],
        [1000, 1000],
        [50, 50],
      ]);
      expect(result.systems.distribution?.label).toMatch(/^CNCF distribution 2\./);
      expect(result.systems.berth?.label).toMatch(/^Berth /);
      expect(stdout).toContain('| workload | req/s (dist / berth) | MB/s | p50 ms | p99 ms | CPU ms/op | quiet after s | summed PSS MiB | berth ÷ dist |');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
