import type { Digest } from '../domain/digest.js';
import type { RetentionArtifact } from '../domain/retention.js';

export type PolicyName = 'retention' | 'immutability' | 'proxy' | 'security' | 'lint';

export interface StoredPolicy {
  value: unknown;
  updatedAt: number;
  updatedBy: string | null;
}

export type RetentionRunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'interrupted';

export interface RetentionReportEntry {
  repository: string;
  digest: Digest;
  tags: string[];
  action: 'keep' | 'delete';
  /** Why: the rules that kept it (indexes into the policy), "immutable rule N", "no rule applies"; for a real run, "deleted" or "changed since (kept)". */
  reason: string;
}

export interface RetentionRunRow {
  id: number;
  projectId: number;
  status: RetentionRunStatus;
  dryRun: boolean;
  triggeredBy: string;
  kept: number;
  deleted: number;
  report: RetentionReportEntry[] | null;
  error: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface RepositoryArtifacts {
  repositoryId: number;
  /** Full name, e.g. `team/app`. */
  repository: string;
  artifacts: RetentionArtifact[];
}

/** Project policies (retention, immutability) and retention runs. */
export interface PolicyStore {
  getPolicy(projectId: number, name: PolicyName): Promise<StoredPolicy | undefined>;
  putPolicy(projectId: number, name: PolicyName, value: unknown, by: string, now: number): Promise<void>;
  /**
   * A project's top-level artifacts by repository: manifests no index of their repository lists
   * and that are not referrers (those follow their index or subject), with tags and times.
   */
  retentionArtifacts(project: string): Promise<RepositoryArtifacts[]>;
  createRetentionRun(projectId: number, dryRun: boolean, triggeredBy: string, now: number): Promise<RetentionRunRow>;
  /** Moves a queued run to running; false when it is not queued (another process took it). */
  startRetentionRun(id: number, now: number): Promise<boolean>;
  /** Ends a run whose process stopped while it ran (its job came back after its lease ran out). */
  interruptRetentionRun(id: number, now: number): Promise<void>;
  finishRetentionRun(id: number, now: number, outcome: { status: 'succeeded' | 'failed'; kept: number; deleted: number; report: RetentionReportEntry[]; error: string | null }): Promise<void>;
  getRetentionRun(id: number): Promise<RetentionRunRow | undefined>;
  listRetentionRuns(projectId: number, page: { offset: number; limit: number }): Promise<{ items: RetentionRunRow[]; total: number }>;
}
