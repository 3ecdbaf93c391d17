import { LruCache } from '../../domain/lru-cache.js';
import type { ManifestRow, RepositoryRow } from '../../ports/metadata-store.js';

export interface TagCacheOptions {
  /** Tag → manifest lookups remembered. */
  maxLookups?: number;
  /** Approximate bytes of tag-list pages remembered. */
  maxPageBytes?: number;
}

/**
 * Tag lookups and tag-list pages, keyed by the repository's `tagVersion`. Every tag change
 * bumps that version in its own transaction, and every request reads the repository row
 * anyway, so an entry can never be served after a change — on this instance or any other —
 * and nothing has to be told to invalidate anything. Misses (unknown tags) are not kept.
 */
export class TagCache {
  private readonly lookups: LruCache<string, ManifestRow>;
  private readonly pages: LruCache<string, unknown>;

  constructor(options: TagCacheOptions = {}) {
    this.lookups = new LruCache(options.maxLookups ?? 10_000);
    this.pages = new LruCache(options.maxPageBytes ?? 16 * 1024 * 1024, (page) => weigh(page));
  }

  async manifest(repository: RepositoryRow, tag: string, load: () => Promise<ManifestRow | undefined>): Promise<ManifestRow | undefined> {
    const key = `${repository.id}\0${repository.tagVersion}\0${tag}`;
    const cached = this.lookups.get(key);
    if (cached) return cached;
    const row = await load();
    if (row) this.lookups.set(key, row);
    return row;
  }

  /** A page of a repository's tag list; `page` says which (its `n` and `last`). */
  async page<T extends { items: string[] }>(repository: RepositoryRow, page: { n?: number; last?: string }, load: () => Promise<T>): Promise<T> {
    const key = `${repository.id}\0${repository.tagVersion}\0${page.n ?? ''}\0${page.last ?? ''}`;
    const cached = this.pages.get(key) as T | undefined;
    if (cached) return cached;
    const result = await load();
    this.pages.set(key, result);
    return result;
  }
}

function weigh(page: unknown): number {
  const items = (page as { items: string[] }).items;
  let bytes = 64;
  for (const item of items) bytes += item.length + 16;
  return bytes;
}
