import type { Database } from '../adapters/db/connect.js';
import { KyselyImageIndexStore } from '../adapters/db/kysely-image-index-store.js';
import type { ImageIndexStore } from '../ports/image-index-store.js';
import type { Authorizer } from '../services/access/authorizer.js';
import { FileTreeService } from '../services/insights/file-tree-service.js';
import { SearchService } from '../services/insights/search-service.js';
import type { Registry } from '../services/registry/index.js';

export interface SearchDependencies {
  registry: Registry;
  authorizer: Authorizer;
  /** The image index the indexer fills (one instance shared with it), else one of its own. */
  index?: ImageIndexStore;
  /** Indexes an image at once, when the indexer offers it (a file tree asked before the indexer got to the image). */
  indexNow?: (repository: string, digest: string) => Promise<void>;
}

/** Search across the registry and images' file trees (docs/search.md): reads of the image index, nothing in the background. */
export interface Search {
  images: SearchService;
  files: FileTreeService;
}

export function wireSearch(database: Database, deps: SearchDependencies): Search {
  const index = deps.index ?? new KyselyImageIndexStore(database);
  return {
    images: new SearchService(index, deps.registry, deps.authorizer),
    files: new FileTreeService(index, deps.registry, deps.indexNow),
  };
}
