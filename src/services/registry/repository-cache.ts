import { LruCache } from '../../domain/lru-cache.js';
import type { RepositoryRow } from '../../ports/metadata-store.js';

/** The invalidation bus channel a repository's tag changes travel on (keys: repository ids as strings). */
export const repositoriesChannel = 'repositories';

/** Changes remembered per repository; a load that ran across an older, forgotten one keeps nothing. */
const maxChanges = 4096;

export interface RepositoryCacheOptions {
  /** How long a row is trusted without being told of a change: the bound for a change nobody announced. */
  ttlMs: number;
  maxEntries?: number;
  /** False while changes may be unheard (the bus is reconnecting or behind, see InvalidationBus.fresh): every read goes to the database then. */
  trusted?: () => boolean;
  now?: () => number;
}

/**
 * Repository rows for pulls, so a manifest GET of a warm tag costs PostgreSQL nothing: the row's
 * `tagVersion` keys the tag cache, and it changes only with the tags. Every transaction that
 * changes a repository's tags tells this cache afterwards (the metadata store's `onTagsChanged`),
 * here, in sibling workers and on other instances through the invalidation bus; the response to
 * that change waits until every instance listening has applied the message. A load that overlaps a change of its
 * repository is not kept, so a row read before a change is never served after it. `ttlMs` bounds what a change nobody
 * announced (a lost message the bus has not noticed yet) can leave stale.
 */
export class RepositoryCache {
  private readonly entries = new Map<string, { row: RepositoryRow; expires: number }>();
  private readonly names = new Map<number, string>();
  /** Ids by name, kept across tag changes and deletes (see `lastId`). */
  private readonly ids: LruCache<string, number>;
  /** Counts the changes heard; a load keeps its row only when its repository did not change while it ran. */
  private generation = 0;
  /** The generation of the last change heard, per repository id (the most recent `maxChanges`). */
  private readonly changed = new Map<number, number>();
  /** Loads started before this generation keep nothing: changes at or before it may have been forgotten, or all were (clear). */
  private floor = 0;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(private readonly options: RepositoryCacheOptions) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.ids = new LruCache(this.maxEntries);
    this.now = options.now ?? Date.now;
  }

  async get(name: string, load: () => Promise<RepositoryRow | undefined>): Promise<RepositoryRow | undefined> {
    if (this.options.trusted && !this.options.trusted()) return this.loadId(name, load);
    const hit = this.entries.get(name);
    if (hit && hit.expires > this.now()) return hit.row;
    const started = this.generation;
    const row = await this.loadId(name, load);
    // Unknown names are not kept: the first push creates them. A change of another repository
    // does not spoil this read: under a burst of pushes, reads of the others still fill the cache.
    if (row && started >= this.floor && (this.changed.get(row.id) ?? 0) <= started) this.keep(name, row);
    return row;
  }

  /**
   * The id repository `name` had when this process last read its row, whatever changed since: a
   * repository keeps its id while it exists, and a new one of the same name gets another. What
   * its user finds under that id is there (a delete takes the repository's rows with it); a miss
   * it must confirm against the row (`get`). So, unlike a row, it needs no message to stay right:
   * every row read sets it, whatever changed meanwhile, and it is kept while changes go unheard.
   */
  lastId(name: string): number | undefined {
    return this.ids.get(name);
  }

  /** The repository's tags changed (or it was deleted). */
  forget(repositoryId: number): void {
    this.generation++;
    this.changed.delete(repositoryId);
    this.changed.set(repositoryId, this.generation);
    if (this.changed.size > maxChanges) {
      const [oldest, at] = this.changed.entries().next().value as [number, number];
      this.changed.delete(oldest);
      this.floor = Math.max(this.floor, at);
    }
    const name = this.names.get(repositoryId);
    if (name === undefined) return;
    this.names.delete(repositoryId);
    this.entries.delete(name);
  }

  /** Changes may have been missed (the bus reconnected): nothing cached is trusted. */
  clear(): void {
    this.generation++;
    this.floor = this.generation;
    this.changed.clear();
    this.entries.clear();
    this.names.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  private async loadId(name: string, load: () => Promise<RepositoryRow | undefined>): Promise<RepositoryRow | undefined> {
    const row = await load();
    if (row) this.ids.set(name, row.id);
    return row;
  }

  private keep(name: string, row: RepositoryRow): void {
    const previous = this.entries.get(name);
    if (previous) this.names.delete(previous.row.id);
    this.entries.delete(name);
    this.entries.set(name, { row, expires: this.now() + this.options.ttlMs });
    this.names.set(row.id, name);
    if (this.entries.size > this.maxEntries) {
      const [oldest, entry] = this.entries.entries().next().value as [string, { row: RepositoryRow }];
      this.entries.delete(oldest);
      this.names.delete(entry.row.id);
    }
  }
}
