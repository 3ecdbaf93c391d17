import { describe, expect, it } from 'vitest';
import { azureLimits, blockId, blockOffset, blockRanges, blockSizeFor } from '../../src/adapters/storage/azure-block-plan.js';

const MiB = 1024 * 1024;

describe('Azure block arithmetic', () => {
  it('keeps the preferred block size while the blob fits in 50,000 blocks', () => {
    expect(blockSizeFor(150 * 1024, 64 * 1024)).toBe(64 * 1024);
    // A 50 GB layer at 16 MiB: 2,981 blocks.
    expect(blockSizeFor(50_000_000_000, 16 * MiB)).toBe(16 * MiB);
    expect(blockRanges(50_000_000_000, 16 * MiB)).toHaveLength(2981);
    expect(blockSizeFor(50_000 * 16 * MiB, 16 * MiB)).toBe(16 * MiB);
  });

  it('grows blocks in whole MiB when the blob needs more than 50,000 of them, up to 4000 MiB', () => {
    expect(blockSizeFor(50_000 * 16 * MiB + 1, 16 * MiB)).toBe(17 * MiB);
    // 1 TiB at 16 MiB would be 65,536 blocks: 21 MiB blocks make 49,933.
    expect(blockSizeFor(1024 * 1024 * MiB, 16 * MiB)).toBe(21 * MiB);
    expect(blockRanges(1024 * 1024 * MiB, 21 * MiB)).toHaveLength(49_933);
    expect(blockSizeFor(azureLimits.maxBlobBytes, 16 * MiB)).toBe(4000 * MiB);
    expect(blockSizeFor(10, 8000 * MiB)).toBe(4000 * MiB);
    // Server-side copies: 100 MiB ranges, so a 10 GiB blob is 103 Put Block From URL requests.
    expect(blockRanges(10 * 1024 * MiB, blockSizeFor(10 * 1024 * MiB, azureLimits.copyBlockBytes))).toHaveLength(103);
  });

  it('cuts a blob into ranges that cover it exactly, the last one shorter', () => {
    expect(blockRanges(10, 4)).toEqual([
      { start: 0, count: 4 },
      { start: 4, count: 4 },
      { start: 8, count: 2 },
    ]);
    expect(blockRanges(8, 4)).toEqual([
      { start: 0, count: 4 },
      { start: 4, count: 4 },
    ]);
    expect(blockRanges(0, 4)).toEqual([]);
    expect(() => blockRanges(50_001, 1)).toThrow(/more than 50000 blocks/);
  });

  it('makes block ids of one length that name their offset', () => {
    const ids = [0, 5, 16 * MiB, Number.MAX_SAFE_INTEGER].map((offset) => blockId(offset, '0123456789ab'));
    expect(new Set(ids.map((id) => id.length))).toEqual(new Set([40]));
    expect(ids.map(blockOffset)).toEqual([0, 5, 16 * MiB, Number.MAX_SAFE_INTEGER]);
    expect(Buffer.from(ids[1]!, 'base64').toString()).toBe('0000000000000005.0123456789ab');
    expect(blockOffset(Buffer.from('something else').toString('base64'))).toBeUndefined();
    expect(() => blockId(0, 'not hex!')).toThrow(/nonce/);
  });
});
