import { describe, expect, it } from 'vitest';
import { ProgressReporter, formatBytes, formatDuration, progressBar, progressLine } from '../../src/cli/progress.js';
import type { MigrationProgress } from '../../src/services/storage-migration/storage-migration.js';

const MiB = 1024 * 1024;

function progress(overrides: Partial<MigrationProgress> = {}): MigrationProgress {
  return {
    phase: 'copying',
    totalBlobs: 10,
    totalBytes: 100 * MiB,
    doneBlobs: 4,
    copiedBlobs: 3,
    copiedBytes: 30 * MiB,
    skippedBlobs: 1,
    skippedBytes: 10 * MiB,
    failedBlobs: 0,
    transferredBytes: 40 * MiB,
    ...overrides,
  };
}

describe('migrate-storage progress', () => {
  it('formats sizes and durations', () => {
    expect([0, 1023, 1536, 10 * MiB + MiB / 2, 150 * MiB, 3 * 1024 * MiB].map(formatBytes)).toEqual(['0 B', '1023 B', '1.50 KiB', '10.5 MiB', '150 MiB', '3.00 GiB']);
    expect([0, 59.4, 83, 3723].map(formatDuration)).toEqual(['0:00', '0:59', '1:23', '1:02:03']);
  });

  it('draws a bar with percentage, bytes, blobs, rate and time left', () => {
    // 40 MiB streamed + 10 MiB skipped of 100 MiB, 40 MiB in 4 s; the bar takes what the line leaves of 100 columns.
    expect(progressBar(progress(), 4000, 100)).toBe('[###################-------------------]  50%  50.0 MiB / 100 MiB  4/10 blobs  10.0 MiB/s  ETA 0:05');
    expect(progressBar(progress({ failedBlobs: 2 }), 4000, 200)).toMatch(/^\[#{20}-{20}\] {2}50%.* {2}2 failed$/);
    expect(progressBar(progress({ phase: 'scanning', totalBlobs: 1234, totalBytes: 5 * MiB }), 0)).toBe('scanning… 1234 blobs, 5.00 MiB');
  });

  it('writes a line every n blobs when not on a terminal, and totals once', () => {
    const written: string[] = [];
    const reporter = new ProgressReporter({ write: (t) => written.push(t), isTTY: false }, 2);
    reporter.update(progress({ phase: 'scanning', doneBlobs: 0 }));
    for (const doneBlobs of [0, 1, 1, 2, 2, 3, 4]) reporter.update(progress({ doneBlobs }));
    reporter.finish();
    expect(written.map((l) => l.replace(/, [\d.]+ \S+\/s,/, ', <rate>,'))).toEqual([
      'migrate-storage: 10 blobs, 100 MiB in the source\n',
      'migrate-storage: 2/10 blobs, 50.0 MiB of 100 MiB (50%), <rate>, 3 copied, 1 skipped, 0 failed\n',
      'migrate-storage: 4/10 blobs, 50.0 MiB of 100 MiB (50%), <rate>, 3 copied, 1 skipped, 0 failed\n',
    ]);
    expect(progressLine(progress(), 4000)).toBe('migrate-storage: 4/10 blobs, 50.0 MiB of 100 MiB (50%), 10.0 MiB/s, 3 copied, 1 skipped, 0 failed');
  });
});
