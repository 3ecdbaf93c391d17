/** One measured workload run: how many operations, how long, how many payload bytes. */
export interface LoadResult {
  ops: number;
  seconds: number;
  bytes: number;
  /** Latencies of each operation, in milliseconds, sorted ascending. */
  latencies: number[];
}

export interface LoadOptions {
  concurrency: number;
  /** Stop after this many operations... */
  maxOps: number;
  /** ...or once this much time has passed (operations under way finish). */
  maxMs: number;
  /** Runs operation `i`; resolves with the payload bytes it moved. Throws on any wrong answer. */
  op: (i: number) => Promise<number>;
}

/**
 * Runs `op` from `concurrency` loops until `maxOps` operations started or `maxMs` passed,
 * both bounds always applying. The first error stops every loop and fails the run: a
 * benchmark of wrong answers measures nothing.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = [];
  let next = 0;
  let bytes = 0;
  let failed: unknown;
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(options.maxMs) * 1_000_000n;
  const loop = async () => {
    while (failed === undefined && next < options.maxOps && process.hrtime.bigint() < deadline) {
      const i = next++;
      const t0 = process.hrtime.bigint();
      try {
        const moved = await options.op(i);
        bytes += moved;
      } catch (err) {
        failed ??= err;
        return;
      }
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, loop));
  if (failed !== undefined) throw failed;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  return { ops: latencies.length, seconds, bytes, latencies };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
