// Run by test/cli/native-heap.test.ts in a process of its own (with --expose-gc): leaves free
// pages between live allocations in glibc's heap, as a started worker does, and prints the
// heap's resident size before and after each step as JSON. The first argument is
// dist/modules/cli/native-heap.js.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const { trimNativeHeap, nativeHeapTrimmable } = await import(pathToFileURL(process.argv[2]).href);

/** Resident KiB of the main arena's mapping ([heap]). */
function heapKiB() {
  const smaps = readFileSync('/proc/self/smaps', 'utf8');
  const at = smaps.indexOf('[heap]');
  return at < 0 ? 0 : Number(/Rss:\s+(\d+) kB/.exec(smaps.slice(at))[1]);
}

// 2,000 buffers of 16 KiB (below glibc's mmap threshold, so in the heap); nine in ten freed.
let buffers = [];
for (let i = 0; i < 2000; i++) buffers.push(Buffer.allocUnsafeSlow(16384).fill(1));
buffers = buffers.filter((_, i) => i % 10 === 0);
globalThis.gc();
globalThis.gc();
const freed = heapKiB();
await new Promise((resolve) => setTimeout(resolve, 200));
const later = heapKiB();
const trimmable = nativeHeapTrimmable();
const released = trimNativeHeap();
process.stdout.write(JSON.stringify({ trimmable, released, freed, later, trimmed: heapKiB(), kept: buffers.length }));
