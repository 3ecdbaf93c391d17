import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { nodeFlagGiven } from './cluster.js';
import { trimNativeHeap } from './native-heap.js';

/**
 * How far V8 lets the old generation grow past what survived its last full collection, as
 * `--heap-growing-percent` (the limit at 1 + percent/100 times the live heap). Measured in
 * docs/performance.md ("Memory"):
 * - while request bodies stream in, 150: Node's HTTP parser copies every body piece into a fresh
 *   buffer that V8 counts against this limit until a scavenge frees it, and with less room a
 *   worker ran a full collection every ~15 MiB received (10 MB pushes cost 60 CPU ms instead of
 *   42);
 * - otherwise 60: with 150 throughout, the write workloads peaked at 207 MiB summed PSS against
 *   163 with 60 (157 with this room), at about the same CPU per request (manifest PUTs 5.33 ms
 *   with 150 throughout, 5.56 with 60, 6.07 with this room, in runs as noisy as 7%).
 */
export const heapGrowingPercent = { receiving: 150, otherwise: 60 } as const;

/** After the last large body ended, how long the room stays (the next push's layers follow). */
const settleMs = 2000;

/** How long after the narrowing collection began the C heap is trimmed (the collection runs as a task). */
const trimAfterMs = 1000;

type Collect = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;

export interface HeapRoomOptions {
  setFlags?: (flags: string) => void;
  /** The full collection that applies the narrower limit at once (else the heap first grows to the wide one). */
  collect?: Collect;
  /** Gives the C heap's free pages back (native-heap.ts), a second after that collection began. */
  trim?: () => unknown;
  settleMs?: number;
}

/**
 * Gives V8's old generation room while large request bodies arrive and takes it back when
 * they stop, so pushes do not pay full collections and the rest of the time the heap stays small.
 * V8 reads the flag whenever it sets the next limit (after each full collection).
 */
export class HeapRoom {
  private receiving = 0;
  private wide = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly setFlags: (flags: string) => void;
  private readonly settleMs: number;

  constructor(private readonly options: HeapRoomOptions = {}) {
    this.setFlags = options.setFlags ?? setFlagsFromString;
    this.settleMs = options.settleMs ?? settleMs;
    this.setFlags(`--heap-growing-percent=${heapGrowingPercent.otherwise}`);
  }

  /** A large body starts arriving; the function returned is called once it ended (more calls do nothing). */
  readonly open = (): (() => void) => {
    this.receiving++;
    clearTimeout(this.timer);
    if (!this.wide) {
      this.wide = true;
      this.setFlags(`--heap-growing-percent=${heapGrowingPercent.receiving}`);
    }
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      if (--this.receiving === 0) this.timer = setTimeout(() => this.narrow(), this.settleMs).unref();
    };
  };

  /** Whether the wide limit is in force (for tests). */
  get widened(): boolean {
    return this.wide;
  }

  private narrow(): void {
    if (this.receiving > 0 || !this.wide) return;
    this.wide = false;
    this.setFlags(`--heap-growing-percent=${heapGrowingPercent.otherwise}`);
    this.options.collect?.({ type: 'major', execution: 'async' });
    // The bodies' buffers are freed as the collection finds them dead; the pages they leave
    // free in the C heap go back once it is done.
    const trim = this.options.trim;
    if (!trim) return;
    setTimeout(() => {
      if (!this.wide) trim();
    }, trimAfterMs).unref();
  }
}

/** This process's heap room, unless the operator chose the growth (then V8 keeps what they chose). */
export function heapRoom(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS): HeapRoom | undefined {
  if (nodeFlagGiven('heap-growing-percent', execArgv, nodeOptions)) return undefined;
  return new HeapRoom({ collect: (globalThis as { gc?: Collect }).gc ?? exposedCollector(), trim: trimNativeHeap });
}

/**
 * The collector of a process started without `--expose-gc` (`berth serve --workers 1`; cluster
 * workers have it): the flag set now exposes `gc` to contexts created after it.
 */
function exposedCollector(): Collect | undefined {
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('gc');
  return typeof gc === 'function' ? (gc as Collect) : undefined;
}
