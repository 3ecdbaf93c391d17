/**
 * Block arithmetic for Azure block blobs ("Scalability and performance targets for Blob
 * storage", service version 2019-12-12 and later): a blob is at most 50,000 committed blocks of
 * at most 4000 MiB each (190.7 TiB); Copy Blob From URL copies a source of at most 256 MiB in
 * one synchronous request. Pure functions, so the limits are checked by unit tests.
 */

const MiB = 1024 * 1024;

export const azureLimits = {
  maxBlocks: 50_000,
  maxBlockBytes: 4000 * MiB,
  /** 50,000 blocks of 4000 MiB. */
  maxBlobBytes: 50_000 * 4000 * MiB,
  /** Largest source of Copy Blob From URL (syncCopyFromURL). */
  maxSyncCopyBytes: 256 * MiB,
  /**
   * Block size of server-side copies (Put Block From URL): 100 MiB, the range every service
   * version that has the operation accepts, grown for blobs over 50,000 × 100 MiB.
   */
  copyBlockBytes: 100 * MiB,
  /** Sub-requests in one blob batch request. */
  maxBatchRequests: 256,
} as const;

/** Bytes [start, start + count) of a blob: one block of a commit. */
export interface BlockRange {
  start: number;
  count: number;
}

/**
 * Block size for a blob of `totalBytes` made of equal blocks: `preferredBytes`, grown (in whole
 * MiB) until the blob fits in 50,000 blocks, at most 4000 MiB. 50 GB at 16 MiB is 2,981 blocks; a
 * 1 TiB blob at 16 MiB needs 21 MiB blocks.
 */
export function blockSizeFor(totalBytes: number, preferredBytes: number): number {
  const preferred = Math.min(Math.max(preferredBytes, 1), azureLimits.maxBlockBytes);
  if (Math.ceil(totalBytes / preferred) <= azureLimits.maxBlocks) return preferred;
  return Math.min(Math.ceil(totalBytes / azureLimits.maxBlocks / MiB) * MiB, azureLimits.maxBlockBytes);
}

/** The ranges that cut `totalBytes` into blocks of `blockBytes` (the last may be shorter). */
export function blockRanges(totalBytes: number, blockBytes: number): BlockRange[] {
  if (Math.ceil(totalBytes / blockBytes) > azureLimits.maxBlocks) throw new Error(`${totalBytes} bytes need more than ${azureLimits.maxBlocks} blocks of ${blockBytes} bytes`);
  const ranges: BlockRange[] = [];
  for (let start = 0; start < totalBytes; start += blockBytes) ranges.push({ start, count: Math.min(blockBytes, totalBytes - start) });
  return ranges;
}

const blockIdPattern = /^(\d{16})\.([0-9a-f]{12})$/;

/**
 * A block id: `<offset of its first byte, 16 digits>.<12 hex digits>`, base64-encoded as Put
 * Block requires, the same length for every block (Azure refuses a blob whose block ids differ
 * in length). The nonce is fresh for every write, so blocks two writers staged at the same
 * offset never share an id ("Latest" in Put Block List would otherwise pick either).
 */
export function blockId(offset: number, nonce: string): string {
  if (!/^[0-9a-f]{12}$/.test(nonce)) throw new Error(`not a block id nonce: ${nonce}`);
  return Buffer.from(`${String(offset).padStart(16, '0')}.${nonce}`).toString('base64');
}

/** The offset a block id names, or undefined for an id Berth did not make. */
export function blockOffset(id: string): number | undefined {
  const match = blockIdPattern.exec(Buffer.from(id, 'base64').toString('latin1'));
  return match ? Number(match[1]) : undefined;
}
