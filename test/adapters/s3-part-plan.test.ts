import { describe, expect, it } from 'vitest';
import { copyPartPlan, s3Limits, streamPartSize } from '../../src/adapters/storage/s3-part-plan.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe('S3 multipart arithmetic', () => {
  it('fits a 50 GB layer in 10,000 parts at the default and at the minimum part size', () => {
    const size = 50e9;
    expect(streamPartSize(size, 16 * MiB)).toBe(16 * MiB);
    expect(Math.ceil(size / (16 * MiB))).toBe(2981);
    expect(streamPartSize(size, 5 * MiB)).toBe(5 * MiB);
    expect(Math.ceil(size / (5 * MiB))).toBe(9537);
  });

  it('grows the part size, in whole MiB, when an object would need more than 10,000 parts', () => {
    expect(streamPartSize(100e9, 5 * MiB)).toBe(10 * MiB);
    expect(Math.ceil(100e9 / streamPartSize(100e9, 5 * MiB))).toBeLessThanOrEqual(s3Limits.maxParts);
    expect(streamPartSize(5 * 1024 * GiB, 16 * MiB)).toBe(525 * MiB);
    expect(streamPartSize(0, 1)).toBe(5 * MiB);
  });

  it('copies one part per chunk when every chunk but the last has at least 5 MiB', () => {
    expect(copyPartPlan([{ start: 0, size: 5 * MiB }, { start: 5 * MiB, size: 16 * MiB }, { start: 21 * MiB, size: 10 }])).toEqual([
      { chunk: 0, start: 0, end: 5 * MiB - 1 },
      { chunk: 1, start: 0, end: 16 * MiB - 1 },
      { chunk: 2, start: 0, end: 9 },
    ]);
  });

  it('splits a chunk over 5 GiB into equal parts of at most 5 GiB', () => {
    const plan = copyPartPlan([{ start: 0, size: 12 * GiB }])!;
    expect(plan).toHaveLength(3);
    expect(plan.map((p) => p.end - p.start + 1)).toEqual([4 * GiB, 4 * GiB, 4 * GiB]);
    expect(plan.at(-1)!.end).toBe(12 * GiB - 1);
    const odd = copyPartPlan([{ start: 0, size: 10 * GiB + 1 }])!;
    expect(odd.every((p) => p.end - p.start + 1 <= s3Limits.maxPartBytes && p.end - p.start + 1 >= s3Limits.minPartBytes)).toBe(true);
    expect(odd.reduce((sum, p) => sum + p.end - p.start + 1, 0)).toBe(10 * GiB + 1);
  });

  it('refuses a server-side copy S3 would reject: a small non-final chunk, too many parts, nothing', () => {
    expect(copyPartPlan([{ start: 0, size: 5 * MiB - 1 }, { start: 5 * MiB - 1, size: 6 * MiB }])).toBeUndefined();
    const many = Array.from({ length: 10_001 }, (_, i) => ({ start: i * 5 * MiB, size: 5 * MiB }));
    expect(copyPartPlan(many)).toBeUndefined();
    expect(copyPartPlan(many.slice(0, 10_000))).toHaveLength(10_000);
    expect(copyPartPlan([])).toBeUndefined();
  });
});
