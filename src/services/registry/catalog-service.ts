import { BerthError } from '../../domain/errors.js';
import type { MetadataStore } from '../../ports/metadata-store.js';
import { readableRepository } from './repositories.js';
import type { RepositoryCache } from './repository-cache.js';
import { TagCache } from './tag-cache.js';

export interface PageRequest {
  /** `n`: how many entries the client wants; undefined for the server's default. */
  n?: number;
  /** `last`: return entries after this one. */
  last?: string;
}

export interface PageResult {
  items: string[];
  /** Set when more entries follow: where the next page starts (OCI dist-spec Link header). */
  next?: { last: string; n: number };
}

export interface CatalogOptions {
  /** The most entries one page returns; a larger `n` is cut to this. */
  maxPageSize: number;
  /** Catalog page size when the client gives no `n`. Tag lists are whole (up to maxPageSize) without `n`, as in distribution. */
  defaultPageSize: number;
  /** Tag-list pages (keyed by the repository's tag version); shared with manifest lookups. */
  tags?: TagCache;
  /** Repository rows, shared with manifest pulls. */
  repositories?: RepositoryCache;
}

/** Tag listing and the repository catalog (OCI dist-spec "Listing Tags", distribution's `_catalog`). */
export class CatalogService {
  private readonly tagPages: TagCache;

  constructor(
    private readonly meta: MetadataStore,
    private readonly options: CatalogOptions,
  ) {
    this.tagPages = options.tags ?? new TagCache();
  }

  async tags(repositoryName: string, page: PageRequest): Promise<PageResult> {
    const repository = await readableRepository(this.meta, repositoryName, this.options.repositories);
    return this.tagPages.page(repository, page, () => this.paginate(page, this.options.maxPageSize, (limit, last) => this.meta.listTags(repository.id, { limit, last })));
  }

  /**
   * The catalog, optionally only the repositories `visible` admits. Filtering reads further
   * pages until the page is full, so pagination stays exact for every caller.
   */
  async repositories(page: PageRequest, visible: ((name: string) => Promise<boolean>) | 'all' = 'all'): Promise<PageResult> {
    if (visible === 'all') return this.paginate(page, this.options.defaultPageSize, (limit, last) => this.meta.listRepositories({ limit, last }));
    return this.paginate(page, this.options.defaultPageSize, async (limit, last) => {
      const out: string[] = [];
      let cursor = last;
      for (;;) {
        const batch = await this.meta.listRepositories({ limit: Math.max(limit, 100), last: cursor });
        for (const name of batch) {
          if (await visible(name)) out.push(name);
          if (out.length === limit) return out;
        }
        if (batch.length === 0 || batch.length < Math.max(limit, 100)) return out;
        cursor = batch[batch.length - 1];
      }
    });
  }

  private async paginate(page: PageRequest, defaultSize: number, read: (limit: number, last?: string) => Promise<string[]>): Promise<PageResult> {
    if (page.n !== undefined && (!Number.isSafeInteger(page.n) || page.n < 0)) {
      throw new BerthError('PAGINATION_INVALID', { detail: { n: page.n } });
    }
    const n = Math.min(page.n ?? defaultSize, this.options.maxPageSize);
    if (n === 0) return { items: [] };
    // One extra row tells whether a next page exists without a COUNT.
    const rows = await read(n + 1, page.last);
    if (rows.length <= n) return { items: rows };
    const items = rows.slice(0, n);
    return { items, next: { last: items[items.length - 1]!, n } };
  }
}
