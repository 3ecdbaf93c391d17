export type ReplicationDirection = 'pull' | 'push';
export type ReplicationTrigger = 'manual' | 'cron' | 'event';
export type ExecutionStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'stopping' | 'stopped';
export type TaskStatus = 'pending' | 'succeeded' | 'failed' | 'skipped';
export type TaskOperation = 'copy' | 'delete';

export interface ReplicationRuleRow {
  id: number;
  name: string;
  description: string;
  endpointId: number;
  direction: ReplicationDirection;
  /** Glob over the source's repository names (`library/**`, `team/app`). */
  repositories: string;
  /** Glob over tags (`v*`, `**` for all). */
  tags: string;
  destinationNamespace: string | null;
  /** Leading path segments dropped from the source name: 0 none, -1 all but the last (Harbor's flattening). */
  flatten: number;
  trigger: ReplicationTrigger;
  cron: string | null;
  copyReferrers: boolean;
  /** KiB/s an execution may move (blob bytes); null: unlimited. */
  bandwidthKiB: number | null;
  /** Event-triggered push rules: a manifest or tag deleted here is deleted at the destination too. */
  replicateDeletion: boolean;
  /** Only artifacts of these types: 'image', 'index', or an artifact type (`application/vnd.cncf.helm.config.v1+json`); null: any. */
  artifactTypes: string[] | null;
  /** Only artifacts whose labels (annotations, image config labels) have all of these `key` or `key=value`; null: any. */
  labels: string[] | null;
  enabled: boolean;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
}

export type NewReplicationRule = Omit<ReplicationRuleRow, 'id'>;

export interface ExecutionRow {
  id: number;
  ruleId: number;
  status: ExecutionStatus;
  trigger: string;
  planned: boolean;
  retryOf: number | null;
  error: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** Task counts by status. */
  tasks: Record<TaskStatus, number>;
  bytes: number;
}

export interface TaskRow {
  id: number;
  executionId: number;
  source: string;
  destination: string;
  reference: string;
  operation: TaskOperation;
  status: TaskStatus;
  digest: string | null;
  bytes: number;
  manifests: number;
  blobs: number;
  error: string | null;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface PlannedTask {
  source: string;
  destination: string;
  reference: string;
  operation?: TaskOperation;
}

export interface ReplicationStore {
  listRules(): Promise<ReplicationRuleRow[]>;
  getRule(id: number): Promise<ReplicationRuleRow | undefined>;
  /** Throws CONFLICT when the name is taken. */
  createRule(rule: NewReplicationRule): Promise<ReplicationRuleRow>;
  updateRule(id: number, patch: Partial<NewReplicationRule>): Promise<ReplicationRuleRow | undefined>;
  deleteRule(id: number): Promise<boolean>;

  createExecution(ruleId: number, trigger: string, now: number, retryOf?: number): Promise<ExecutionRow>;
  getExecution(id: number): Promise<ExecutionRow | undefined>;
  listExecutions(ruleId: number | undefined, page: { offset: number; limit: number }): Promise<{ items: ExecutionRow[]; total: number }>;
  /** Moves an execution from one of `from` to `to`; false when it was in none of them. */
  setExecutionStatus(id: number, from: ExecutionStatus[], to: ExecutionStatus, now: number, error?: string | null): Promise<boolean>;
  /** Writes the tasks and marks the execution planned, in one transaction. */
  planTasks(executionId: number, tasks: PlannedTask[]): Promise<void>;
  tasks(executionId: number, status?: TaskStatus): Promise<TaskRow[]>;
  /**
   * Reads outbox events after the consumer's cursor and, in one transaction, starts an
   * execution (one planned task and its job) for each tag pushed that an enabled event-triggered
   * push rule matches, then advances the cursor. Resolves how many events it read and how many
   * executions it started.
   */
  fanOutEvents(options: { consumer: string; batch: number; now: number; maxAttempts: number }): Promise<{ events: number; executions: number }>;
  finishTask(id: number, result: Pick<TaskRow, 'status' | 'digest' | 'bytes' | 'manifests' | 'blobs' | 'error'>, startedAt: number, now: number): Promise<void>;
}
