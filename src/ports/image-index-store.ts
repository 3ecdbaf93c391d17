import type { LintFinding, LintRuleId, LintSeverity } from '../domain/lint/index.js';
import type { OperatingSystem, Package } from '../domain/packages/package.js';

/**
 * The registry-wide index of images (issue 17: search, file trees, stored lint, base images,
 * rebuild hints). Everything is keyed by content: a layer by its blob digest, an image by its
 * manifest digest, so the same bytes pushed to many repositories are indexed once. Which
 * repositories hold an image (and whether the caller may see them) is joined in at query time
 * from the manifest and repository tables.
 */

/** What an entry of a layer's tar is; `whiteout` and `opaque` are the OCI whiteout markers (the marker file itself is not listed). */
export type IndexedEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'whiteout' | 'opaque' | 'other';

/** One entry of a layer, by its path split into the directory and the name (no leading slash: `usr/bin` + `curl`; the root is `''`). */
export interface IndexedEntry {
  parent: string;
  name: string;
  type: IndexedEntryType;
  /** Bytes of a regular file (0 otherwise). */
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** A symlink's or hardlink's target. */
  linkTarget?: string;
}

export type IndexStatus = 'indexed' | 'failed';

/** One layer's index record (its entries are stored beside it). */
export interface LayerIndexRecord {
  digest: string;
  status: IndexStatus;
  /** Entries the layer lists (all of them, even past the stored ones). */
  entries: number;
  /** Regular files and their bytes. */
  files: number;
  fileBytes: number;
  /** Bytes of the layer's tar once decompressed. */
  uncompressedBytes: number;
  /** More entries than the index keeps per layer: the first ones are stored, `entries` counts them all. */
  truncated: boolean;
  /** Why a failed layer failed (a coded error's message: path traversal, decompression bomb, ...). */
  error?: string;
  indexedAt: number;
}

/** The stored lint result of an image (with no project's disabled rules applied: they are applied when read). */
export interface StoredLint {
  findings: LintFinding[];
  omitted: Partial<Record<LintRuleId, number>>;
  summary: Record<LintSeverity, number>;
}

/** One image's index record: what search, recommendations and rebuild hints read without walking layers. */
export interface ImageIndexRecord {
  /** The image manifest's digest (platform manifests of an index are indexed one by one). */
  digest: string;
  status: IndexStatus;
  error?: string;
  configDigest: string;
  /** `os/architecture[/variant]` from the config. */
  platform: string;
  /** Layer blob digests, lowest first; the store derives their chain ids (domain/layer-chain.ts) for base lookups. */
  layers: string[];
  /** Sum of the layers' compressed sizes (as the manifest gives them) and of their tars. */
  compressedBytes: number;
  uncompressedBytes: number;
  os?: OperatingSystem;
  /** The inventory (the scanner reads it instead of walking the layers again). */
  packages: Package[];
  /** Config labels (`config.Labels`) and manifest annotations, searched alike. */
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** The config's `created`, as epoch ms (null when absent or unparsable). */
  createdAt: number | null;
  lint?: StoredLint;
  indexedAt: number;
  /**
   * The indexer's format that made the record (image-indexer.ts `indexFormat`, raised whenever
   * what an image record holds changes, e.g. a new package detector): older records are indexed
   * again by the backfill, and their inventory is not used for scans. Absent: 0.
   */
  format?: number;
}

/** A search over every indexed image; every given criterion must hold (AND). */
export interface ImageSearchQuery {
  /** A full manifest digest or a prefix of one (`sha256:` and at least 4 hex digits). Matches manifests whether indexed or not. */
  digest?: string;
  /** A path from the root without the leading slash (`usr/bin/curl`), present in the merged filesystem (not whited out or replaced by a later layer). */
  path?: string;
  /** A file's name in any directory (`id_rsa`), present in the merged filesystem. */
  fileName?: string;
  /** A package by name (the ecosystem's, or its source package's), with an exact version when given. */
  package?: { name: string; version?: string; type?: Package['type'] };
  /** A vulnerability id or alias (CVE-…, GHSA-…, DSA-…) in the image's latest scan report. */
  vulnerability?: string;
  /** Images whose lowest layers are exactly the given layer digests (and which have more of their own): built on that base. */
  baseLayers?: string[];
  /** A config label or manifest annotation with that key, and that value when given. */
  label?: { key: string; value?: string };
  /** The manifest's media type or artifact type (either may match). */
  mediaType?: string;
  artifactType?: string;
}

/** Which projects' repositories the caller may pull from: every project (a system admin) or the named ones. */
export type SearchScope = 'all' | { projects: readonly string[] };

/** One search hit: an image manifest in one repository the caller may pull from. */
export interface ImageSearchHit {
  repository: string;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  /** Tags naming this manifest in the repository. */
  tags: string[];
  /** Indexes of the same repository listing this manifest, with their tags (a platform manifest is found through them). */
  indexes: Array<{ digest: string; tags: string[] }>;
  pushedAt: number;
  /** What matched, for the criteria that name something inside the image. */
  matched: {
    /** Files matching `path` or `fileName`, at most 10, with the layer (0 = lowest) the merged filesystem takes each from. */
    files?: Array<{ path: string; layer: number; size: number }>;
    packages?: Array<{ name: string; version: string; type: string }>;
    vulnerabilities?: Array<{ id: string; severity: string; package: string }>;
    labels?: Record<string, string>;
  };
}

export interface ImageSearchPage {
  hits: ImageSearchHit[];
  /** Opaque: pass back as `after` for the next page; absent on the last page. */
  next?: string;
}

/** A directory listing of one layer, or of the merged filesystem of an image. */
export interface DirectoryListing {
  path: string;
  entries: Array<IndexedEntry & { /** The layer (0 = lowest) the entry comes from, in a merged listing. */ layer?: number }>;
  /** More children than `limit`: the first `limit` by name are listed. */
  truncated: boolean;
}

/** Images sharing a base: for rebuild hints and recommendations. */
export interface DerivedImage {
  digest: string;
  /** Its layers (lowest first): `baseLayers` is a prefix of them. */
  layers: number;
  createdAt: number | null;
}

export interface ImageIndexStore {
  getLayer(digest: string): Promise<LayerIndexRecord | undefined>;
  /** The layer records (indexed or failed) of those of `digests` that have one, in one read for an image's layers. */
  getLayers(digests: readonly string[]): Promise<Map<string, LayerIndexRecord>>;
  /**
   * Stores a layer's record and its entries, replacing any earlier ones, in one transaction
   * (entries arrive in order; a path listed twice keeps the later entry). `entries` may be
   * large: the store writes them in batches.
   */
  putLayer(record: LayerIndexRecord, entries: Iterable<IndexedEntry>): Promise<void>;

  getImage(digest: string): Promise<ImageIndexRecord | undefined>;
  /** Stores an image's record with its packages, labels and layer chain, replacing any earlier one. */
  putImage(record: ImageIndexRecord): Promise<void>;
  /**
   * Image manifests some repository holds that have no image record yet (or, with `format`, only
   * a record of an older format), oldest first, with one repository holding each.
   */
  unindexed(limit: number, format?: number): Promise<Array<{ digest: string; repository: string }>>;

  search(query: ImageSearchQuery, scope: SearchScope, page: { limit: number; after?: string }): Promise<ImageSearchPage>;
  /**
   * The children of `path` in one layer (`layer` set) or in the merged filesystem of `layers`
   * (lowest first), by name, at most `limit`; `nameContains` filters them case-insensitively.
   */
  listDirectory(layers: readonly string[], path: string, options: { layer?: number; limit: number; nameContains?: string }): Promise<DirectoryListing>;
  /** Paths (from the root, no leading slash) of the merged filesystem of `layers` whose name contains `text`, at most `limit`, sorted. */
  findFiles(layers: readonly string[], text: string, limit: number): Promise<Array<{ path: string; layer: number; type: IndexedEntryType; size: number }>>;
  /** Indexed images whose lowest layers are `baseLayers` and which have more, at most `limit`. */
  derivedFrom(baseLayers: readonly string[], limit: number): Promise<DerivedImage[]>;
  /** Indexed images whose whole layer list is a proper prefix of `layers` (the candidates for its base), longest first, at most `limit`. */
  basesOf(layers: readonly string[], limit: number): Promise<DerivedImage[]>;

  /** Removes image records no repository holds and layer records no image record lists; returns how many of each. */
  prune(): Promise<{ images: number; layers: number }>;
}

/** Entries a layer's index keeps at most (a layer of a million files is counted, and the first ones stored). */
export const maxIndexedEntriesPerLayer = 250_000;
