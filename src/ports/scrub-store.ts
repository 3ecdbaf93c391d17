import type { Digest } from '../domain/digest.js';
import type { Quarantine } from '../domain/quarantine.js';

export type ScrubRunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'interrupted';

export interface ScrubCounts {
  objectsChecked: number;
  bytesChecked: number;
  /** Objects found corrupt or missing by this run (already quarantined ones included). */
  corrupt: number;
  missing: number;
  /** Quarantined objects this run found intact again, and released. */
  released: number;
}

/** A manifest that needs a problem object: itself, or one of its layers, its config or a platform manifest of it. */
export interface ScrubDependent {
  repository: string;
  digest: Digest;
  tags: string[];
}

export interface ScrubProblem {
  digest: Digest;
  size: number;
  kind: Quarantine;
  dependents: ScrubDependent[];
}

export interface ScrubRunRow extends ScrubCounts {
  id: number;
  status: ScrubRunStatus;
  triggeredBy: string;
  /** The interrupted (or failed) run this one continued from, after its cursor. */
  resumedFrom: number | null;
  /** The last digest checked. */
  cursor: string | null;
  error: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

/** A stored blob or manifest as a scrub sees it. */
export interface StoredObject {
  digest: Digest;
  size: number;
  touchedAt: number;
  quarantine: Quarantine | null;
}

export interface QuarantinedObject {
  digest: Digest;
  size: number;
  kind: Quarantine;
  quarantinedAt: number;
}

/** What a scrub asks of the database (docs/lifecycle.md, "Scrub"). */
export interface ScrubStore {
  /**
   * Creates a queued run, unless one is queued or running (then CONFLICT naming it). A run whose
   * process died is marked interrupted; the new run continues after the cursor of the latest
   * run when that one was interrupted or failed.
   */
  createRun(triggeredBy: string, now: number): Promise<ScrubRunRow>;
  /** Takes the run (lease): a queued run, or a running one whose lease ran out; undefined when another process holds it. */
  claimRun(id: number, owner: string, leaseMs: number, now: number): Promise<ScrubRunRow | undefined>;
  /** Extends the lease and records progress; false when the lease was lost. */
  progress(id: number, owner: string, leaseMs: number, now: number, cursor: string | null, counts: ScrubCounts): Promise<boolean>;
  finishRun(id: number, owner: string, now: number, status: 'succeeded' | 'failed', counts: ScrubCounts, error: string | null, report: ScrubProblem[]): Promise<void>;
  getRun(id: number): Promise<ScrubRunRow | undefined>;
  /** The run's report: the problems it found (the first thousand). */
  runReport(id: number): Promise<ScrubProblem[] | null>;
  listRuns(page: { offset: number; limit: number }): Promise<{ items: ScrubRunRow[]; total: number }>;

  /** Stored blobs and manifests not being deleted, by digest, after `after`. */
  objects(after: string | undefined, limit: number): Promise<StoredObject[]>;
  /**
   * Quarantines the object if its row is as it was read (not pushed again, touched or marked
   * for deletion since): a push that repaired it meanwhile wins. Resolves whether it did.
   */
  quarantine(object: StoredObject, kind: Quarantine, now: number): Promise<boolean>;
  /** Lifts the quarantine of an object found intact again. */
  release(digest: Digest): Promise<boolean>;
  quarantined(page: { offset: number; limit: number }): Promise<{ items: QuarantinedObject[]; total: number }>;
  /** The manifests that need `digest`, with their tags, the first `limit`. */
  dependents(digest: Digest, limit: number): Promise<ScrubDependent[]>;
}
