/**
 * Request counters per key and fixed window, shared by every process and instance on the
 * database, so a limit holds in total however requests are spread.
 */
export interface RateCounterStore {
  /**
   * Adds `want` to the key's count in the window when the sum stays within `limit`; resolves
   * the count after (granted) or undefined (refused, nothing added). `want` ≤ `limit`.
   */
  claim(key: string, windowStart: number, want: number, limit: number): Promise<number | undefined>;
  /** Gives back `count` claimed but unused (a process that went idle). */
  release(key: string, windowStart: number, count: number): Promise<void>;
  /** Removes counters of windows that started before `before`. */
  prune(before: number): Promise<number>;
}
