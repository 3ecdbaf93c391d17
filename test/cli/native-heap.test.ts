import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { HeapRoom } from '../../src/cli/heap-room.js';
import { collectOnceSettled } from '../../src/cli/idle-collection.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// malloc_trim is glibc's: the addon builds elsewhere too, and there trims nothing.
const glibc = process.platform === 'linux' && Boolean((process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime);
if (!glibc) console.warn('SKIPPING the C heap trim check: it needs glibc (this is not a glibc Linux)');

describe("the C heap's free pages", () => {
  it.skipIf(!glibc)('go back to the system when trimmed: 28 MiB left free between live buffers stay resident until then', () => {
    // The addon is an optional dependency built at install (native/malloc-trim): a glibc machine
    // with a C compiler, as CI's, must have it, so its absence fails here rather than skipping.
    expect(existsSync(join(root, 'node_modules', '@berth', 'malloc-trim', 'build', 'Release', 'malloc_trim.node'))).toBe(true);
    const probe = join(root, 'test', 'helpers', 'native-heap-probe.mjs');
    const output = execFileSync(process.execPath, ['--expose-gc', probe, join(root, 'dist', 'modules', 'cli', 'native-heap.js')], { encoding: 'utf8', timeout: 60_000 });
    const r = JSON.parse(output) as { trimmable: boolean; released: boolean; freed: number; later: number; trimmed: number; kept: number };
    expect(r.trimmable).toBe(true);
    expect(r.released).toBe(true);
    expect(r.kept).toBe(200);
    // Measured here: 34,964 KiB resident with the buffers freed, the same 200 ms later, 6,552 after the trim.
    expect(r.freed).toBeGreaterThan(30_000);
    expect(r.later).toBeGreaterThan(r.freed - 1024);
    expect(r.trimmed).toBeLessThan(r.freed - 20_000);
  });

  it('are trimmed once the server settled, with or without a collection before', () => {
    vi.useFakeTimers();
    try {
      const trim = vi.fn();
      collectOnceSettled(5000, trim);
      vi.advanceTimersByTime(4999);
      expect(trim).not.toHaveBeenCalled();
      vi.advanceTimersByTime(1);
      expect(trim).toHaveBeenCalledTimes(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it("are trimmed a second after the old generation's room narrowed, unless a large body arrived meanwhile", () => {
    vi.useFakeTimers();
    try {
      const trim = vi.fn();
      const heap = new HeapRoom({ setFlags: () => {}, collect: () => {}, trim, settleMs: 50 });
      heap.open()();
      vi.advanceTimersByTime(50);
      expect(heap.widened).toBe(false);
      vi.advanceTimersByTime(999);
      expect(trim).not.toHaveBeenCalled();
      vi.advanceTimersByTime(1);
      expect(trim).toHaveBeenCalledTimes(1);

      heap.open()();
      vi.advanceTimersByTime(50 + 500);
      const during = heap.open();
      vi.advanceTimersByTime(2000);
      expect(trim).toHaveBeenCalledTimes(1);
      during();
      vi.advanceTimersByTime(50 + 1000);
      expect(trim).toHaveBeenCalledTimes(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
