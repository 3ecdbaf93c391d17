import type { Digest } from '../domain/digest.js';
import type { Quarantine } from '../domain/quarantine.js';
import type { OutboxEvent } from './event-store.js';

export interface RepositoryRow {
  id: number;
  name: string;
  createdAt: number;
  /** Changes whenever a tag of the repository is created, moved or deleted (a cache key). */
  tagVersion: number;
}

/** MetadataStore.pushState's answer. */
export interface PushState {
  held: boolean;
  /** The manifest the tag points at now; undefined without a tag or when it is new. */
  tagged: Digest | undefined;
  missingBlobs: Digest[];
  missingManifests: Digest[];
  /**
   * Set when pushState was given a pin and the push will write the content (the repository does
   * not hold the manifest and no reference is missing): the digest is pinned as pinBlob pins it.
   */
  pinned?: PinState;
}

export interface BlobRow {
  digest: Digest;
  size: number;
  /** Set when a scrub (or a read) found its stored bytes so: it is never served until pushed again. */
  quarantine?: Quarantine;
}

export type { Quarantine } from '../domain/quarantine.js';

export interface UploadRow {
  id: string;
  repositoryId: number;
  offset: number;
  startedAt: number;
  updatedAt: number;
}

export interface ManifestRow {
  repositoryId: number;
  digest: Digest;
  mediaType: string;
  artifactType: string | null;
  subjectDigest: Digest | null;
  configDigest: Digest | null;
  size: number;
  annotations: Record<string, string> | null;
  createdAt: number;
  /** Last pulled, or null (never, or before Berth recorded it). */
  pulledAt?: number | null;
  /** Pulls recorded (since Berth counted them). */
  pullCount?: number;
}

export interface ManifestReference {
  digest: Digest;
  kind: 'blob' | 'manifest';
}

export interface NewManifest extends Omit<ManifestRow, 'createdAt'> {
  references: ManifestReference[];
}

export interface Page {
  /** Return only names sorting strictly after this one. */
  last?: string;
  limit: number;
}

export interface RepositorySummary {
  id: number;
  name: string;
  createdAt: number;
  artifactCount: number;
  tagCount: number;
  /** Newest manifest push or tag change. */
  updatedAt: number;
}

export interface ArtifactSummary extends ManifestRow {
  tags: string[];
}

/** One reference of a manifest (MetadataStore.referencesOf), with the blob's size where known. */
export interface ParentReference extends ManifestReference {
  parent: Digest;
  size: number | null;
}

/** A manifest that refers to `subject`: by its subject field, or by a cosign tag naming it. */
export interface GroupedReferrer {
  subject: Digest;
  manifest: ManifestRow;
  /** The cosign tag (`sha256-<hex>.sig`, `.att`, `.sbom`) it was found by. */
  cosignTag?: string;
}

export interface TagRow {
  name: string;
  digest: Digest;
  updatedAt: number;
}

/** A writer's pin on a digest (MetadataStore.pinBlob). */
export interface PinState {
  quarantined: boolean;
  /** Garbage collection is deleting this digest's bytes; when it began. */
  removingSince?: number;
}

/**
 * Mutations take the events that describe them and write them to the outbox in the same
 * transaction (shared/DESIGN.md principle 5): an event exists exactly when its change does.
 *
 * Everything Berth knows about content, as rows (shared/DESIGN.md "Metadata in the
 * database, bytes in storage"). One Kysely implementation serves SQLite and PostgreSQL;
 * the same contract suite runs against both.
 */
export interface MetadataStore {
  readonly engine: 'sqlite' | 'postgres';

  getRepository(name: string): Promise<RepositoryRow | undefined>;
  /** The repository's row, created if it does not exist yet. */
  ensureRepository(name: string): Promise<RepositoryRow>;
  listRepositories(page: Page): Promise<string[]>;

  /** A stored blob (not one garbage collection is deleting). */
  getBlob(digest: Digest): Promise<BlobRow | undefined>;
  /**
   * The blob when it is linked into the repository and not being deleted. Telling a client a
   * blob exists restarts its grace period (at most once per `touchIntervalMs`), so it outlives
   * the push that skips uploading it.
   */
  /**
   * The repository's blob. Unless `touch` is false, its grace period (and its link's) restarts
   * when due: a client told it exists may skip uploading it. Background readers (scans, insights)
   * pass false: they promise no client anything, and their writes would only contend with pushes.
   */
  getRepositoryBlob(repositoryId: number, digest: Digest, touch?: boolean): Promise<BlobRow | undefined>;
  /** Records a blob (if new) and links it into the repository. */
  linkBlob(repositoryId: number, blob: BlobRow): Promise<void>;
  /**
   * Links an existing blob into the repository (a cross-repository mount), in a transaction
   * that holds it against garbage collection; false when it is absent or being deleted.
   */
  mountBlob(repositoryId: number, digest: Digest): Promise<BlobRow | undefined>;
  /**
   * Keeps `digest` from being collected while its bytes are written (an upload's commit, a
   * manifest's content), and calls off a deletion garbage collection has marked but not done.
   * `token` names the writer; `completeUpload` and `putManifest` remove it, `unpinBlob` too.
   * `quarantined`: the writer replaces the stored bytes (a push of the content repairs it), and
   * completing the write releases it. `removingSince`: garbage collection is deleting the old
   * bytes of this digest right now (since then); the writer waits for the row to go
   * (services/registry/write-pin.ts) before it writes.
   */
  pinBlob(digest: Digest, token: string, until: number): Promise<PinState>;
  /**
   * Drops the row of a removal that began at `since` and never finished (its collector died),
   * so a waiting writer can write anew; false when the row is gone or changed meanwhile.
   */
  abandonRemoval(digest: Digest, since: number): Promise<boolean>;
  /** Quarantines a blob or manifest whose stored bytes a read found corrupt or missing. */
  quarantineBlob(digest: Digest, kind: Quarantine, now: number): Promise<void>;
  unpinBlob(digest: Digest, token: string): Promise<void>;
  unlinkBlob(repositoryId: number, digest: Digest): Promise<boolean>;
  /** The subset of `digests` not linked into the repository (or being deleted, or quarantined). */
  missingBlobs(repositoryId: number, digests: Digest[]): Promise<Digest[]>;

  createUpload(upload: UploadRow): Promise<void>;
  getUpload(id: string): Promise<UploadRow | undefined>;
  /** Moves an upload's offset from `from` to `to`; false when another writer moved it first. */
  advanceUpload(id: string, from: number, to: number, now: number): Promise<boolean>;
  deleteUpload(id: string): Promise<boolean>;
  /** Links the finished blob and removes the upload row (and the upload's pin), in one transaction. */
  completeUpload(id: string, repositoryId: number, blob: BlobRow): Promise<void>;
  /** Uploads not touched since `before` (for cleanup of abandoned sessions). */
  staleUploads(before: number, limit: number): Promise<UploadRow[]>;

  getManifest(repositoryId: number, digest: Digest): Promise<ManifestRow | undefined>;
  getTaggedManifest(repositoryId: number, tag: string): Promise<ManifestRow | undefined>;
  /**
   * What a manifest push checks before it writes, read together (one statement where the lists
   * are short): whether the repository holds manifest `digest`, the manifest `tag` points at now,
   * and which of the references are missing (as missingBlobs and missingManifests answer).
   * With `pin`, a push that will write the content is pinned for it too (`pinned`), in the same
   * round trip on PostgreSQL.
   */
  pushState(
    repositoryId: number,
    digest: Digest,
    tag: string | undefined,
    references: { blobs: Digest[]; manifests: Digest[] },
    pin?: { token: string; until: number },
  ): Promise<PushState>;
  /** The subset of `digests` that are not manifests of the repository. */
  missingManifests(repositoryId: number, digests: Digest[]): Promise<Digest[]>;
  /**
   * Records a manifest (if new), its references and blob row, and points `tag` at it,
   * in one transaction. Last writer wins for the tag. The references are checked inside the
   * transaction, holding them against garbage collection: MissingReferencesError when one is
   * not (or no longer) there. `pin` is the token the content was pinned with (removed here).
   * With `tagMustNotMove`, an existing `tag` pointing at another manifest is a TagMovedError
   * (an immutable tag), checked in the same transaction. A new manifest is counted in its
   * project's usage; with `quota`, one that takes storage or artifacts beyond a limit is a
   * QuotaExceededError, and reaching 80% or 100% of one adds a `quota` event. A `push` event
   * of this manifest is recorded with `created`: whether this put created the manifest in its
   * repository (false: pushed again, under another tag or the same), so consumers that act once
   * per artifact (scan and index on push) can tell.
   */
  putManifest(
    manifest: NewManifest,
    tag: string | undefined,
    now: number,
    events?: OutboxEvent[],
    /** `repositoryName`: the name of `manifest.repositoryId`, when the caller knows it (saves reading it). */
    options?: { pin?: string; tagMustNotMove?: boolean; quota?: QuotaLimits; repositoryName?: string },
  ): Promise<void>;
  /**
   * A push of a manifest the repository holds already (a tag moved to it, or the same push
   * again), with nothing to write or count: in one transaction its grace period starts again,
   * `tag` (when given) points at it and `events` are recorded, its `push` event with `created:
   * false`; `tagMustNotMove` and `repositoryName` as for putManifest. False, with nothing
   * changed, when the repository does not hold it or its stored content is being deleted or is
   * quarantined: the push then writes it with putManifest.
   */
  pushHeldManifest(
    repositoryId: number,
    digest: Digest,
    tag: string | undefined,
    now: number,
    events?: OutboxEvent[],
    options?: { tagMustNotMove?: boolean; repositoryName?: string },
  ): Promise<boolean>;
  /** Deletes the manifest, its tags and its references; false when it did not exist. */
  deleteManifest(repositoryId: number, digest: Digest, events?: OutboxEvent[]): Promise<boolean>;
  deleteTag(repositoryId: number, tag: string, events?: OutboxEvent[]): Promise<boolean>;
  listTags(repositoryId: number, page: Page): Promise<string[]>;
  /** Every tag of the repository with its digest and push time, in name order (tag listings sort and filter them in memory). */
  allTags(repositoryId: number): Promise<TagRow[]>;
  tagsOf(repositoryId: number, digest: Digest): Promise<TagRow[]>;
  /** Manifests whose subject is `digest`, optionally only of one artifact type. */
  listReferrers(repositoryId: number, subject: Digest, artifactType?: string): Promise<ManifestRow[]>;
  /** Indexes of the repository that list `child` (at most `limit`). */
  listParents(repositoryId: number, child: Digest, limit: number): Promise<Digest[]>;

  /** Repositories of a project (its name, or names under `<project>/`), with counts. */
  listProjectRepositories(project: string, page: { offset: number; limit: number; nameContains?: string }): Promise<{ items: RepositorySummary[]; total: number }>;
  /** Removes a repository with its manifests, tags, blob links and uploads. */
  /** Resolves the ids of the upload sessions that went with it (their bytes are the caller's to remove). */
  deleteRepository(repositoryId: number, events?: OutboxEvent[]): Promise<string[]>;
  /**
   * A repository's top-level artifacts with their tags: newest first, or with `order: 'semver'` by
   * the highest semver among their tags (domain/tag-order.ts), the others after, newest first.
   * Not listed (they belong to another artifact): untagged manifests an index of the repository
   * names, manifests whose subject is in the repository, and manifests with a cosign tag
   * (`sha256-<hex>.sig`) naming a manifest of the repository.
   */
  listArtifacts(repositoryId: number, page: { offset: number; limit: number; taggedOnly?: boolean; order?: 'pushed' | 'semver' }): Promise<{ items: ArtifactSummary[]; total: number }>;
  /** What each of `parents` references (layers, config, child manifests), with sizes where known. */
  referencesOf(repositoryId: number, parents: Digest[]): Promise<ParentReference[]>;
  /** The referrers of each of `subjects`: by subject field, and by cosign tag; oldest first. */
  groupedReferrers(repositoryId: number, subjects: Digest[]): Promise<GroupedReferrer[]>;
  /** What a manifest references (layers, config, child manifests), with sizes where known. */
  manifestReferences(repositoryId: number, digest: Digest): Promise<Array<ManifestReference & { size: number | null }>>;

  /** Counts pulls and records when manifests were last pulled (written in batches with the pull events). */
  recordPulls(pulls: Array<{ repository: string; digest: Digest; at: number }>): Promise<void>;
  /**
   * Deletes the manifest only if its tags are still exactly `tags` (retention decided on them;
   * a tag pushed since is a reason to keep it). Resolves whether it was deleted.
   */
  deleteManifestIfTagged(repositoryId: number, digest: Digest, tags: string[], events?: OutboxEvent[]): Promise<boolean>;

  /** Projects' usage (projects with nothing stored are absent). */
  projectUsage(projects: string[]): Promise<Map<string, ProjectUsage>>;
  /** Whether the project's usage counts `digest` already (storing it again adds nothing). */
  projectHasBlob(project: string, digest: Digest): Promise<boolean>;

  /** Totals for metrics: repositories, manifests, blobs and their bytes, open upload sessions. */
  stats(): Promise<{ repositories: number; manifests: number; blobs: number; blobBytes: number; uploads: number; quarantined: number }>;

  /** Cheap round trip for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** A manifest's references that are not in its repository (or are being deleted), found inside putManifest's transaction. */
export class MissingReferencesError extends Error {
  constructor(
    readonly blobs: Digest[],
    readonly manifests: Digest[],
  ) {
    super(`manifest references ${blobs.length + manifests.length} unknown blob(s) or manifest(s)`);
    this.name = 'MissingReferencesError';
  }
}

/** The repository a write named was deleted while the write ran (a concurrent repository delete). */
export class RepositoryGoneError extends Error {
  constructor(readonly repositoryId: number) {
    super(`repository ${repositoryId} was deleted during this write`);
    this.name = 'RepositoryGoneError';
  }
}

/** putManifest would have moved a tag that must not move (immutable). */
export class TagMovedError extends Error {
  constructor(
    readonly tag: string,
    readonly current: Digest,
  ) {
    super(`tag ${tag} points at ${current}`);
    this.name = 'TagMovedError';
  }
}

/** A project's limits; null: unlimited. */
export interface QuotaLimits {
  bytes: number | null;
  artifacts: number | null;
}

/** What a project stores: bytes (each digest once) and artifacts (manifests). */
export interface ProjectUsage {
  bytes: number;
  artifacts: number;
}

/** putManifest would have taken a project beyond a limit of its quota. */
export class QuotaExceededError extends Error {
  constructor(
    readonly project: string,
    readonly kind: 'storage' | 'artifacts',
    readonly used: number,
    readonly adding: number,
    readonly limit: number,
  ) {
    super(`project ${project} ${kind} quota: ${used} used + ${adding} > ${limit}`);
    this.name = 'QuotaExceededError';
  }
}
