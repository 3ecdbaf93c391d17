import type { Digest } from '../domain/digest.js';
import type { OutboxEvent } from './event-store.js';

/** Passes over the manifests: each may free the children of the indexes it took; a bound, not a goal. */
export const maxManifestPasses = 16;

export interface GcOptions {
  /** Only what has not been pushed, linked or looked up for this long is collected. */
  graceMs: number;
  /** Collect manifests no tag and no index references (Harbor's "untagged artifacts"). */
  deleteUntagged: boolean;
  /** Report what would go, change nothing. */
  dryRun: boolean;
}

export type GcRunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'interrupted';
export type GcPhase = 'uploads' | 'manifests' | 'links' | 'blobs' | 'done';

export interface GcCounts {
  manifestsDeleted: number;
  linksDeleted: number;
  blobsDeleted: number;
  bytesFreed: number;
  uploadsExpired: number;
}

export interface GcRunRow extends GcCounts {
  id: number;
  status: GcRunStatus;
  dryRun: boolean;
  options: GcOptions;
  triggeredBy: string;
  phase: GcPhase | null;
  error: string | null;
  /** A dry run's list of the manifests that would go (the first thousand). */
  preview: ManifestCandidate[] | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface ManifestCandidate {
  repositoryId: number;
  repository: string;
  digest: Digest;
  size: number;
}

export interface LinkCandidate {
  repositoryId: number;
  digest: Digest;
}

export interface GcPreview {
  manifests: number;
  /** The first `listLimit` of them. */
  manifestList: ManifestCandidate[];
  links: number;
  blobs: number;
  bytes: number;
}

export interface BlobCandidate {
  digest: Digest;
  size: number;
}

/**
 * What garbage collection asks of the database. Candidates come from queries, never from a
 * storage walk; every deletion re-checks its candidate inside a transaction that holds the row
 * against concurrent pushes (docs/lifecycle.md, "Why a push always wins").
 */
export interface GcStore {
  /**
   * Untagged manifests no index in their repository references, and referrers whose subject
   * is gone from their repository (when `untagged` is false, only those), untouched since
   * `before`; keyset-paged after (repositoryId, digest).
   */
  manifestCandidates(before: number, untagged: boolean, after: { repositoryId: number; digest: string } | undefined, limit: number): Promise<ManifestCandidate[]>;
  /**
   * Deletes the manifest if it still qualifies (re-checked holding its row), with its tags'
   * absence, references and the events given; false when it no longer does.
   */
  deleteManifestIfCollectable(candidate: ManifestCandidate, before: number, untagged: boolean, events: OutboxEvent[]): Promise<boolean>;

  /** Blob links of repositories where no manifest of the repository uses the blob, older than `before`. */
  linkCandidates(before: number, after: LinkCandidate | undefined, limit: number): Promise<LinkCandidate[]>;
  /** Removes the links that still qualify; resolves how many. */
  deleteLinksIfCollectable(links: LinkCandidate[], before: number): Promise<number>;

  /** Blobs nothing references (no manifest, no link, no pin), untouched since `before`, not yet marked. */
  blobCandidates(before: number, after: string | undefined, limit: number): Promise<BlobCandidate[]>;
  /** Marks as being deleted those that still qualify (re-checked under row locks); resolves them. */
  markBlobsDeleting(digests: Digest[], before: number): Promise<BlobCandidate[]>;
  /** Blobs marked as being deleted, or being removed (including those a crashed run left), oldest digest first. */
  deletingBlobs(after: string | undefined, limit: number): Promise<BlobCandidate[]>;
  /**
   * Takes for removal (`deleting = 2`, since `now`) the rows still marked and unpinned, and
   * those a run left being removed; resolves them. From then on a writer of the same digest
   * waits until the row is gone (services/registry/write-pin.ts), so the bytes can be deleted
   * without holding the rows.
   */
  claimForRemoval(digests: Digest[], now: number): Promise<BlobCandidate[]>;
  /** Deletes the rows taken for removal at `since` whose bytes are gone; resolves them. */
  deleteRemoved(digests: Digest[], since: number): Promise<BlobCandidate[]>;
  /**
   * What a run with these options would delete now, without deleting: manifests decided on
   * pass by pass as the real run does (an index's children once the index goes), then links,
   * then blobs, each seeing the registry as the earlier steps would leave it.
   */
  dryRun(before: number, untagged: boolean, now: number, listLimit: number): Promise<GcPreview>;
  /** Drops pins of writers that died. */
  prunePins(now: number): Promise<number>;

  /** Creates a queued run, unless one is queued or running (then CONFLICT naming it). */
  createRun(options: GcOptions, triggeredBy: string, now: number): Promise<GcRunRow>;
  /**
   * Takes the run for this process (lease): a queued run, or a running one whose lease ran out
   * (its process died); resolves undefined when another process holds it.
   */
  claimRun(id: number, owner: string, leaseMs: number, now: number): Promise<GcRunRow | undefined>;
  /** Extends the lease and records progress; false when the lease was lost. */
  progress(id: number, owner: string, leaseMs: number, now: number, phase: GcPhase, counts: GcCounts): Promise<boolean>;
  finishRun(id: number, owner: string, now: number, status: 'succeeded' | 'failed', counts: GcCounts, error: string | null, preview?: ManifestCandidate[]): Promise<void>;
  getRun(id: number): Promise<GcRunRow | undefined>;
  listRuns(page: { offset: number; limit: number }): Promise<{ items: GcRunRow[]; total: number }>;
  /** Runs marked running whose lease ran out (their process died), to take over. */
  abandonedRuns(now: number): Promise<GcRunRow[]>;
}
