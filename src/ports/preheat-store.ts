/** A P2P distribution system Berth asks to preheat images (Dragonfly's manager). */
export interface PreheatProviderRow {
  id: number;
  name: string;
  url: string;
  authMode: 'none' | 'basic' | 'oauth';
  username: string | null;
  /** Password (basic) or personal access token (oauth), sealed. */
  secretSealed: string | null;
  insecure: boolean;
  enabled: boolean;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
}

export type PreheatScope = 'single_seed_peer' | 'all_seed_peers' | 'all_peers';
export type PreheatTrigger = 'manual' | 'cron' | 'event';

export interface PreheatPolicyRow {
  id: number;
  projectId: number;
  name: string;
  providerId: number;
  /** Glob over repository names inside the project (`app/**`), without the project. */
  repositories: string;
  tags: string;
  trigger: PreheatTrigger;
  cron: string | null;
  scope: PreheatScope;
  clusterIds: number[] | null;
  enabled: boolean;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
}

export type PreheatExecutionStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface PreheatExecutionRow {
  id: number;
  policyId: number;
  status: PreheatExecutionStatus;
  trigger: string;
  planned: boolean;
  tasks: { pending: number; running: number; succeeded: number; failed: number };
  error: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export type PreheatTaskStatus = 'pending' | 'running' | 'succeeded' | 'failed';

export interface PreheatTaskRow {
  id: number;
  executionId: number;
  repository: string;
  tag: string;
  digest: string | null;
  jobId: string | null;
  status: PreheatTaskStatus;
  message: string | null;
  startedAt: number | null;
  finishedAt: number | null;
}

export type NewPreheatProvider = Omit<PreheatProviderRow, 'id'>;
export type NewPreheatPolicy = Omit<PreheatPolicyRow, 'id'>;

export interface PreheatStore {
  listProviders(): Promise<PreheatProviderRow[]>;
  getProvider(id: number): Promise<PreheatProviderRow | undefined>;
  /** Throws CONFLICT when the name is taken. */
  createProvider(provider: NewPreheatProvider): Promise<PreheatProviderRow>;
  updateProvider(id: number, patch: Partial<NewPreheatProvider>): Promise<PreheatProviderRow | undefined>;
  /** Throws CONFLICT while policies use it. */
  deleteProvider(id: number): Promise<boolean>;
  listPolicies(projectId: number): Promise<PreheatPolicyRow[]>;
  getPolicy(id: number): Promise<PreheatPolicyRow | undefined>;
  createPolicy(policy: NewPreheatPolicy): Promise<PreheatPolicyRow>;
  updatePolicy(id: number, patch: Partial<NewPreheatPolicy>): Promise<PreheatPolicyRow | undefined>;
  deletePolicy(id: number): Promise<boolean>;
  createExecution(policyId: number, trigger: string, now: number): Promise<PreheatExecutionRow>;
  getExecution(id: number): Promise<PreheatExecutionRow | undefined>;
  listExecutions(policyId: number, page: { offset: number; limit: number }): Promise<{ items: PreheatExecutionRow[]; total: number }>;
  /** Moves an execution from one of `from` to `to`; false when it was in none of them. */
  setExecutionStatus(id: number, from: PreheatExecutionStatus[], to: PreheatExecutionStatus, now: number, error?: string | null): Promise<boolean>;
  /** Writes the tasks and marks the execution planned, in one transaction. */
  planTasks(executionId: number, tasks: Array<{ repository: string; tag: string }>): Promise<void>;
  tasks(executionId: number, status?: PreheatTaskStatus): Promise<PreheatTaskRow[]>;
  updateTask(id: number, patch: Partial<Pick<PreheatTaskRow, 'digest' | 'jobId' | 'status' | 'message' | 'startedAt' | 'finishedAt'>>): Promise<void>;
  /**
   * Reads the event outbox after `consumer`'s cursor and, for each tag pushed that an enabled
   * event-triggered policy of its project matches, makes a planned execution with that one task.
   * Resolves how many events were read and the executions made.
   */
  fanOutEvents(options: { consumer: string; batch: number; now: number; maxAttempts: number }): Promise<{ events: number; executions: number }>;
}
