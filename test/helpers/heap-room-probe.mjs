// Counts V8's full collections while 1 GiB of 64 KiB buffers arrives, as request bodies do:
// with the heap room narrow, wide (a large body open), and narrow again. Run by
// test/cli/heap-room.test.ts as `node --max-semi-space-size=4 --expose-gc heap-room-probe.mjs <heap-room.js>`.
import { PerformanceObserver, constants } from 'node:perf_hooks';

const { HeapRoom } = await import(process.argv[2]);
let full = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) if (entry.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) full++;
}).observe({ entryTypes: ['gc'] });

// A live heap the size of a worker's (~30 MiB), whose growth limit the room multiplies.
const live = Array.from({ length: 300_000 }, (_, i) => ({ i, name: `x${i}`, list: [i] }));
const room = new HeapRoom({ collect: globalThis.gc, settleMs: 0 });
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function receive(bytes) {
  for (let n = 0; n < bytes / 65536; n++) {
    Buffer.allocUnsafe(65536)[0] = 1;
    if (n % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  await pause(50);
}

/** Full collections during 1 GiB received, after 256 MiB to let the limit settle. */
async function fullCollections() {
  await receive(256 << 20);
  full = 0;
  await receive(1 << 30);
  return full;
}

// A full collection first, so V8's limit comes from the narrow growth, not from its start-up size.
globalThis.gc();
const narrow = await fullCollections();
const end = room.open();
const wide = await fullCollections();
end();
await pause(100);
const narrowAgain = await fullCollections();
process.stdout.write(JSON.stringify({ narrow, wide, narrowAgain, live: live.length }));
