import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { fixedBlocks } from '../../src/adapters/storage/fixed-blocks.js';

/** The blocks fixedBlocks yields for `pieces`, copied (a yielded full block is reused afterwards). */
async function blocks(pieces: string[], size: number): Promise<string[]> {
  const out: string[] = [];
  for await (const block of fixedBlocks(Readable.from(pieces.map((p) => Buffer.from(p))), size)) out.push(block.toString());
  return out;
}

describe('fixedBlocks', () => {
  it('cuts pieces of any size into blocks of exactly the size, the last one shorter', async () => {
    expect(await blocks(['ab', 'cdefg', 'h', 'ijklmnopq'], 4)).toEqual(['abcd', 'efgh', 'ijkl', 'mnop', 'q']);
    expect(await blocks(['abcdefgh'], 4)).toEqual(['abcd', 'efgh']);
  });

  it('yields a body shorter than one block as one piece, and nothing for an empty body', async () => {
    expect(await blocks(['a', 'b', 'c'], 4)).toEqual(['abc']);
    expect(await blocks([], 4)).toEqual([]);
  });

  it('refills one buffer: a full block is the same memory as the previous one', async () => {
    const seen: Buffer[] = [];
    for await (const block of fixedBlocks(Readable.from([Buffer.from('abcdefghij')]), 4)) seen.push(block);
    expect(seen[0]!.buffer).toBe(seen[1]!.buffer);
    expect(seen[0]!.byteOffset).toBe(seen[1]!.byteOffset);
  });

  it('refuses a block size that is not a positive whole number', async () => {
    await expect(blocks(['a'], 0)).rejects.toThrow(/block size 0/);
  });
});
