import { availableParallelism } from 'node:os';

/**
 * The workers `server.workers: 0` (the default) runs: one per core, but one on a machine of two
 * cores or fewer. There the database, libuv's threads and the clients share the cores with
 * Berth, and a second worker doubles the memory (about 190 MiB more at the benchmark's peak)
 * for 5-30% more small reads, while it makes SQLite pushes slower: two processes queue on the
 * one write lock and tell each other of every tag change (docs/performance.md, "How many
 * workers").
 */
export function defaultWorkers(cores = availableParallelism()): number {
  return cores <= 2 ? 1 : cores;
}
