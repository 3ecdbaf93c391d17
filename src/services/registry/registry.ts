import type { Digest } from '../../domain/digest.js';
import type { BlobStore } from '../../ports/blob-store.js';
import type { MetadataStore, RepositoryRow } from '../../ports/metadata-store.js';
import type { OutboxEvent } from '../../ports/event-store.js';
import { BlobService } from './blob-service.js';
import { CatalogService } from './catalog-service.js';
import { ManifestService, type ManifestGuard } from './manifest-service.js';
import { cachedRepository } from './repositories.js';
import type { RepositoryCache } from './repository-cache.js';
import { TagCache } from './tag-cache.js';
import { UploadService } from './upload-service.js';

export interface RegistryOptions {
  maxManifestBytes: number;
  maxBlobBytes?: number;
  automaticMount: boolean;
  manifestCacheBytes: number;
  maxPageSize: number;
  defaultPageSize: number;
  recordPull?: (event: OutboxEvent) => void;
  onEvents?: () => void;
  onBytesReceived?: (bytes: number) => void;
  /** Immutability rules and quotas, asked before tags change and manifests are added. */
  guard?: ManifestGuard;
  /** Refuses blobs a project's quota cannot take (UploadOptions.admit). */
  admitBlob?: (repository: string, size: number, digest?: Digest) => Promise<void>;
  /** Garbage collection's lease: how long a writer waits for a removal of the same digest before it takes over. */
  gcLeaseMs?: number;
  /** Repository rows for pulls (RepositoryCache), kept current by whoever wires the metadata store's onTagsChanged to it. */
  repositories?: RepositoryCache;
}

/** The distribution protocol's use cases, with no HTTP in sight (shared/STYLE.md: the HTTP layer is an adapter). */
export class Registry {
  readonly blobs: BlobService;
  readonly uploads: UploadService;
  readonly manifests: ManifestService;
  readonly catalog: CatalogService;

  private readonly repositories: RepositoryCache | undefined;

  constructor(
    readonly meta: MetadataStore,
    readonly store: BlobStore,
    options: RegistryOptions,
  ) {
    this.repositories = options.repositories;
    this.blobs = new BlobService(meta, store, options.repositories);
    this.uploads = new UploadService(meta, store, {
      maxBlobBytes: options.maxBlobBytes,
      automaticMount: options.automaticMount,
      onBytesReceived: options.onBytesReceived,
      admit: options.admitBlob,
      gcLeaseMs: options.gcLeaseMs,
      repositories: options.repositories,
    });
    const tags = new TagCache();
    this.manifests = new ManifestService(meta, store, {
      maxManifestBytes: options.maxManifestBytes,
      cacheBytes: options.manifestCacheBytes,
      recordPull: options.recordPull,
      onEvents: options.onEvents,
      tags,
      repositories: options.repositories,
      guard: options.guard,
      gcLeaseMs: options.gcLeaseMs,
    });
    this.catalog = new CatalogService(meta, { maxPageSize: options.maxPageSize, defaultPageSize: options.defaultPageSize, tags, repositories: options.repositories });
  }

  /** The row of repository `name`, from the repository cache where there is one (PostgreSQL); undefined when never pushed to. */
  findRepository(name: string): Promise<RepositoryRow | undefined> {
    return cachedRepository(this.meta, name, this.repositories);
  }
}
