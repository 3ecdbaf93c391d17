/**
 * One full garbage collection a few seconds after the server starts listening, when the process
 * was started with `--expose-gc` (cluster workers are, see cluster.ts). Starting up loads and
 * compiles the whole server, and V8 keeps the young generation it grew for that, and the old
 * generation's garbage, until its memory reducer runs some 30-60 s later; collecting once at
 * rest gives that memory back within seconds (docs/performance.md, "Footprint").
 */
export function collectOnceSettled(delayMs = 5000): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') return;
  setTimeout(() => gc(), delayMs).unref();
}
