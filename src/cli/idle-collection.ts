import { trimNativeHeap } from './native-heap.js';

/** V8's `gc` extension (`--expose-gc`); versions that do not know an option ignore it. */
type ExposedGc = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async'; flavor?: 'regular' | 'last-resort' }) => void;

/**
 * One full garbage collection a few seconds after the server starts listening, when the process
 * was started with `--expose-gc` (cluster workers are, see cluster.ts). Starting up loads and
 * compiles the whole server, and V8 keeps the young generation it grew for that, and the old
 * generation's garbage, until its memory reducer runs some 30-60 s later; collecting once at
 * rest gives that memory back within seconds (docs/performance.md, "Footprint").
 *
 * The collection is V8's last-resort kind, which compacts the heap and returns the pages it
 * freed. A regular one, on Node.js 24, keeps the freed pages in V8's page pool (7 MiB per
 * worker here) and compacts less: an idle two-worker Berth measured 179-181 MiB summed PSS with
 * it and 156-163 with this. Node.js 20 knows no flavor and collects as before.
 *
 * Then the C heap's free pages go back to the system (native-heap.ts), with or without the
 * collection: 5-12 MiB per worker.
 */
export function collectOnceSettled(delayMs = 5000, trim: () => unknown = trimNativeHeap): void {
  const gc = (globalThis as { gc?: ExposedGc }).gc;
  setTimeout(() => {
    if (typeof gc === 'function') gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    trim();
  }, delayMs).unref();
}
