export interface AuditEntry {
  time: number;
  /** Username, robot name, or 'anonymous'. */
  actor: string;
  actorType: 'user' | 'robot' | 'anonymous' | 'system';
  /** What was done, e.g. `push`, `pull`, `delete`, `user.create`, `login.failure`. */
  action: string;
  resourceType: string;
  /** The thing acted on, e.g. `team/app:v1`, `team/app@sha256:…`, `user alice`. */
  resource: string;
  project: string | null;
  sourceIp: string | null;
  result: 'success' | 'failure';
  detail: Record<string, unknown> | null;
  requestId: string | null;
}

export interface AuditRow extends AuditEntry {
  id: number;
}

export interface AuditFilter {
  project?: string;
  actor?: string;
  action?: string;
  resourceType?: string;
  /** Substring of the resource. */
  resource?: string;
  result?: 'success' | 'failure';
  from?: number;
  to?: number;
}

/** The audit trail: append-only rows, queried newest first. */
export interface AuditStore {
  append(entries: AuditEntry[]): Promise<void>;
  list(filter: AuditFilter, page: { offset: number; limit: number }): Promise<{ items: AuditRow[]; total: number }>;
  /** Rows in id order after `afterId`, for streaming exports in bounded batches. */
  batch(filter: AuditFilter, afterId: number, limit: number): Promise<AuditRow[]>;
  deleteBefore(time: number): Promise<number>;
}
