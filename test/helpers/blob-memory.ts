import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect } from 'vitest';
import type { Digest } from '../../src/domain/digest.js';
import type { BlobStore } from '../../src/ports/blob-store.js';

const MiB = 1024 * 1024;

/** Resident memory while a driver moves blobs: at rest, peak for the small blob, peak for the large one. */
export interface TransferMemory {
  idle: number;
  baseline: number;
  peak: number;
}

/**
 * Moves a `small` and then a `large` blob through `store` (transfer) and samples RSS every 10 ms.
 * V8 collects garbage Buffers only once ~64 MiB of them piled up, which would measure the
 * collector's lag rather than what the driver holds, so a full GC runs every 100 ms while
 * sampling. The baseline is the peak for the small blob: it holds what streaming at all costs
 * (SDK, sockets, V8 heap and allocator sizes, which swing by tens of MiB from run to run), so
 * `peak - baseline` is what scales with the blob. Buffering the blob would add `large - small`.
 */
export async function measureTransfers(store: BlobStore, small: number, large: number): Promise<TransferMemory> {
  const gc = exposeGc();
  let peak = 0;
  let samples = 0;
  const sampler = setInterval(() => {
    if (++samples % 10 === 0) gc();
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  try {
    const idle = process.memoryUsage.rss();
    await transfer(store, small);
    const baseline = peak;
    peak = 0;
    await transfer(store, large);
    return { idle, baseline, peak };
  } finally {
    clearInterval(sampler);
  }
}

/** One line for the test log: "<driver> memory: RSS idle ..., peak ... (+growth over the small blob)". */
export function memoryReport(driver: string, m: TransferMemory, small: number, large: number): string {
  const growth = m.peak - m.baseline;
  return (
    `${driver} memory: RSS idle ${mib(m.idle)}, peak moving ${mib(small)} ${mib(m.baseline)}, peak moving ${mib(large)} ${mib(m.peak)} ` +
    `(${growth < 0 ? '' : '+'}${mib(growth)} over ${mib(small)}, +${mib(m.peak - m.idle)} over idle)`
  );
}

/**
 * Two appends of size/2 (so the commit concatenates), the commit, and a full read checked
 * against the digest.
 */
async function transfer(store: BlobStore, size: number): Promise<void> {
  const id = randomUUID();
  const hash = createHash('sha256');
  await store.createUpload(id);
  let offset = 0;
  for (let i = 0; i < 2; i++) offset = await store.append(id, offset, generated(size / 2, i, hash));
  const digest = `sha256:${hash.digest('hex')}` as Digest;
  await store.commitUpload(id, digest);
  const readBack = createHash('sha256');
  await pipeline(
    await store.read(digest),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        readBack.update(chunk);
        callback();
      },
    }),
  );
  expect(`sha256:${readBack.digest('hex')}`).toBe(digest);
  expect(await store.stat(digest)).toEqual({ size });
}

/** `size` bytes generated 64 KiB at a time (never held whole), fed into `hash` as they go. */
function generated(size: number, seed: number, hash: ReturnType<typeof createHash>): Readable {
  const pattern = randomBytes(64 * 1024);
  let produced = 0;
  return new Readable({
    read() {
      if (produced >= size) return void this.push(null);
      const piece = Buffer.allocUnsafe(Math.min(pattern.length, size - produced));
      pattern.copy(piece);
      piece.writeUInt32BE(produced / pattern.length, 0);
      piece.writeUInt32BE(seed, 4);
      produced += piece.length;
      hash.update(piece);
      this.push(piece);
    },
  });
}

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/** V8's full garbage collection, exposed at run time (test workers start without --expose-gc). */
function exposeGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
