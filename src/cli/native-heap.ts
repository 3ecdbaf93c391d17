import { createRequire } from 'node:module';

/** `@berth/malloc-trim` (native/malloc-trim): glibc's malloc_trim(0) through Node-API. */
interface MallocTrim {
  trim(): boolean;
  supported: boolean;
}

const require = createRequire(import.meta.url);
let loaded: MallocTrim | null | undefined;

/** The addon, or null where it was not built (an optional dependency: it needs a C compiler). */
function addon(): MallocTrim | null {
  if (loaded === undefined) {
    try {
      loaded = require('@berth/malloc-trim') as MallocTrim;
    } catch {
      loaded = null;
    }
  }
  return loaded;
}

/** Whether trimNativeHeap can give anything back here: the addon is built and the C library is glibc. */
export function nativeHeapTrimmable(): boolean {
  return addon()?.supported === true;
}

/**
 * Gives the pages free in the C heap back to the system (glibc's malloc_trim(0), about 1 ms).
 * A worker that has just started holds 5-12 MiB of them, freed between live allocations (V8's
 * compiler zones, mostly), which glibc keeps resident (docs/performance.md, "glibc's free
 * pages"). Returns whether any were given back.
 */
export function trimNativeHeap(): boolean {
  const trim = addon();
  return trim?.supported === true && trim.trim();
}
