import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { validCron } from '../../domain/cron.js';
import { BerthError } from '../../domain/errors.js';
import { assertGlob, GlobError, globMatch } from '../../domain/glob.js';
import type { ProjectRow } from '../../ports/identity-store.js';
import { PreheatProviderError, type PreheatProvider } from '../../ports/preheat-provider.js';
import type {
  PreheatExecutionRow,
  PreheatPolicyRow,
  PreheatProviderRow,
  PreheatScope,
  PreheatStore,
  PreheatTaskRow,
  PreheatTrigger,
} from '../../ports/preheat-store.js';
import { SecretKeyError, type SecretBox } from '../../ports/secrets.js';
import type { UpstreamRegistry } from '../../ports/upstream-registry.js';

export interface ProviderInput {
  name: string;
  url: string;
  authMode?: 'none' | 'basic' | 'oauth';
  username?: string | null;
  /** Password or personal access token; write-only. */
  secret?: string | null;
  insecure?: boolean;
  enabled?: boolean;
}

export interface PolicyInput {
  name: string;
  providerId: number;
  repositories?: string;
  tags?: string;
  trigger?: PreheatTrigger;
  cron?: string | null;
  scope?: PreheatScope;
  clusterIds?: number[] | null;
  enabled?: boolean;
}

/** Pull credentials a provider uses to fetch an image: a robot of the project that expires. */
export interface PullCredentials {
  username: string;
  password: string;
  /** Removes them once the provider is done. */
  revoke(): Promise<void>;
}

export interface PreheatServiceOptions {
  box: SecretBox;
  /** A client of a provider, with its secret opened. */
  connect: (provider: PreheatProviderRow, secret: string | null) => PreheatProvider;
  /** Refuses a provider URL the outbound policy refuses now (throws BAD_REQUEST naming the setting). */
  checkUrl: (url: string) => Promise<void>;
  project: (id: number) => Promise<ProjectRow | undefined>;
  /** This Berth as a registry: tags to plan, digests to record. */
  local: UpstreamRegistry;
  /** Pull-only credentials for `project` valid `ttlMs`. */
  pullCredentials: (project: ProjectRow, name: string, ttlMs: number) => Promise<PullCredentials>;
  /** The registry's address as the provider reaches it (server.publicUrl). */
  registryUrl: () => string;
  enqueue: (execution: PreheatExecutionRow) => Promise<void>;
  onScheduleChange?: (policy: PreheatPolicyRow, removed: boolean) => Promise<void>;
  onTaskFinished?: (task: PreheatTaskRow) => void;
  /** How often a running job's state is asked. */
  pollIntervalMs?: number;
  /** How long a job may stay PENDING before its task fails. */
  jobTimeoutMs?: number;
  now?: () => number;
}

const scopes: readonly PreheatScope[] = ['single_seed_peer', 'all_seed_peers', 'all_peers'];
/** Long enough for a provider to fetch every layer of what it preheats; the robot goes when the execution ends. */
const credentialTtlMs = 60 * 60_000;

/**
 * P2P preheat as Harbor has it (docs/preheat.md): providers (Dragonfly managers), and per
 * project policies that, on demand, on a schedule or as tags are pushed, ask the provider to
 * preheat each matching image on the nodes. An execution has a task per image: the provider's
 * job is created with short-lived pull-only credentials of the project, then its state is polled
 * until it succeeds, fails or times out. A process that dies mid-way leaves the tasks not done;
 * the job's retry carries on with them (polling jobs already made).
 */
export class PreheatService {
  private readonly now: () => number;

  constructor(
    private readonly store: PreheatStore,
    private readonly options: PreheatServiceOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  listProviders(): Promise<PreheatProviderRow[]> {
    return this.store.listProviders();
  }

  async getProvider(id: number): Promise<PreheatProviderRow> {
    const provider = await this.store.getProvider(id);
    if (!provider) throw new BerthError('NOT_FOUND', { message: `preheat provider ${id} not found` });
    return provider;
  }

  async createProvider(input: ProviderInput, actor: string): Promise<PreheatProviderRow> {
    const url = providerUrl(input.url);
    await this.options.checkUrl(url);
    const now = this.now();
    return this.store.createProvider({
      name: input.name,
      url,
      authMode: input.authMode ?? 'none',
      username: input.username ?? null,
      secretSealed: input.secret ? this.options.box.seal(input.secret) : null,
      insecure: input.insecure ?? false,
      enabled: input.enabled ?? true,
      createdBy: actor,
      createdAt: now,
      updatedAt: now,
    });
  }

  async updateProvider(id: number, patch: Partial<ProviderInput>): Promise<PreheatProviderRow> {
    await this.getProvider(id);
    const url = patch.url === undefined ? undefined : providerUrl(patch.url);
    if (url !== undefined) await this.options.checkUrl(url);
    const updated = await this.store.updateProvider(id, {
      name: patch.name,
      url,
      authMode: patch.authMode,
      username: patch.username,
      secretSealed: patch.secret === undefined ? undefined : patch.secret ? this.options.box.seal(patch.secret) : null,
      insecure: patch.insecure,
      enabled: patch.enabled,
      updatedAt: this.now(),
    });
    return updated!;
  }

  async deleteProvider(id: number): Promise<PreheatProviderRow> {
    const provider = await this.getProvider(id);
    await this.store.deleteProvider(id);
    return provider;
  }

  /** "Test connection": the provider's answer, or what is wrong. */
  async check(id: number): Promise<{ ok: boolean; message: string }> {
    return this.ping(this.client(await this.getProvider(id)));
  }

  async checkUnsaved(input: ProviderInput): Promise<{ ok: boolean; message: string }> {
    const url = providerUrl(input.url);
    const row = { id: 0, name: input.name, url, authMode: input.authMode ?? 'none', username: input.username ?? null, secretSealed: null, insecure: input.insecure ?? false, enabled: true, createdBy: '', createdAt: 0, updatedAt: 0 };
    return this.ping(this.options.connect(row, input.secret ?? null));
  }

  private async ping(client: PreheatProvider): Promise<{ ok: boolean; message: string }> {
    try {
      await client.ping();
      return { ok: true, message: 'the provider answered and accepted the credentials' };
    } catch (err) {
      if (err instanceof PreheatProviderError) return { ok: false, message: err.message };
      throw err;
    }
  }

  private client(provider: PreheatProviderRow): PreheatProvider {
    let secret: string | null = null;
    try {
      secret = provider.secretSealed === null ? null : this.options.box.open(provider.secretSealed);
    } catch (err) {
      if (err instanceof SecretKeyError) throw new BerthError('UNAVAILABLE', { message: `the credentials of preheat provider ${provider.name} cannot be read: ${err.message}` });
      throw err;
    }
    return this.options.connect(provider, secret);
  }

  listPolicies(project: ProjectRow): Promise<PreheatPolicyRow[]> {
    return this.store.listPolicies(project.id);
  }

  async getPolicy(project: ProjectRow, id: number): Promise<PreheatPolicyRow> {
    const policy = await this.store.getPolicy(id);
    if (!policy || policy.projectId !== project.id) throw new BerthError('NOT_FOUND', { message: `preheat policy ${id} not found in project ${project.name}` });
    return policy;
  }

  async createPolicy(project: ProjectRow, input: PolicyInput, actor: string): Promise<PreheatPolicyRow> {
    const now = this.now();
    const policy = await this.validate({
      projectId: project.id,
      name: input.name,
      providerId: input.providerId,
      repositories: input.repositories ?? '**',
      tags: input.tags ?? '**',
      trigger: input.trigger ?? 'manual',
      cron: input.cron ?? null,
      scope: input.scope ?? 'single_seed_peer',
      clusterIds: input.clusterIds?.length ? input.clusterIds : null,
      enabled: input.enabled ?? true,
      createdBy: actor,
      createdAt: now,
      updatedAt: now,
    });
    const created = await this.store.createPolicy(policy);
    await this.options.onScheduleChange?.(created, false);
    return created;
  }

  async updatePolicy(project: ProjectRow, id: number, patch: Partial<PolicyInput>): Promise<PreheatPolicyRow> {
    const current = await this.getPolicy(project, id);
    const given = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<PolicyInput>;
    const { id: _id, ...merged } = { ...current, ...given, updatedAt: this.now() };
    const updated = (await this.store.updatePolicy(id, await this.validate(merged)))!;
    await this.options.onScheduleChange?.(updated, false);
    return updated;
  }

  async deletePolicy(project: ProjectRow, id: number): Promise<PreheatPolicyRow> {
    const policy = await this.getPolicy(project, id);
    await this.store.deletePolicy(id);
    await this.options.onScheduleChange?.(policy, true);
    return policy;
  }

  private async validate<T extends Omit<PreheatPolicyRow, 'id'>>(policy: T): Promise<T> {
    await this.getProvider(policy.providerId);
    for (const [field, pattern] of [
      ['repositories', policy.repositories],
      ['tags', policy.tags],
    ] as const) {
      try {
        assertGlob(pattern);
      } catch (err) {
        if (err instanceof GlobError) throw new BerthError('BAD_REQUEST', { message: `${field}: ${err.message}` });
        throw err;
      }
    }
    if (!scopes.includes(policy.scope)) throw new BerthError('BAD_REQUEST', { message: `scope is one of ${scopes.join(', ')}` });
    if (policy.trigger === 'cron' && (!policy.cron || !validCron(policy.cron))) throw new BerthError('BAD_REQUEST', { message: 'a cron trigger needs a cron expression (5 or 6 fields)' });
    return policy;
  }

  /** Starts an execution of the policy (manual or cron; events make theirs in the store). */
  async start(policyId: number, trigger: string): Promise<PreheatExecutionRow> {
    const policy = await this.store.getPolicy(policyId);
    if (!policy) throw new BerthError('NOT_FOUND', { message: `preheat policy ${policyId} not found` });
    if (!policy.enabled && trigger !== 'manual') throw new BerthError('CONFLICT', { message: `preheat policy ${policy.name} is disabled` });
    const execution = await this.store.createExecution(policy.id, trigger, this.now());
    await this.options.enqueue(execution);
    return execution;
  }

  async getExecution(id: number): Promise<PreheatExecutionRow> {
    const execution = await this.store.getExecution(id);
    if (!execution) throw new BerthError('NOT_FOUND', { message: `preheat execution ${id} not found` });
    return execution;
  }

  listExecutions(policy: PreheatPolicyRow, page: { offset: number; limit: number }): Promise<{ items: PreheatExecutionRow[]; total: number }> {
    return this.store.listExecutions(policy.id, page);
  }

  async tasks(executionId: number): Promise<PreheatTaskRow[]> {
    await this.getExecution(executionId);
    return this.store.tasks(executionId);
  }

  /** Carries out an execution (the job), or what a process that died left of it. */
  async execute(executionId: number): Promise<void> {
    const execution = await this.getExecution(executionId);
    if (!(await this.store.setExecutionStatus(executionId, ['queued', 'running'], 'running', this.now()))) return;
    let credentials: PullCredentials | undefined;
    try {
      const policy = await this.store.getPolicy(execution.policyId);
      const project = policy && (await this.options.project(policy.projectId));
      if (!policy || !project) throw new BerthError('NOT_FOUND', { message: 'the policy or its project is gone' });
      const provider = this.client(await this.getProvider(policy.providerId));
      if (!execution.planned) await this.store.planTasks(executionId, await this.plan(policy, project));
      const pending = await this.store.tasks(executionId, 'pending');
      if (pending.length > 0) credentials = await this.options.pullCredentials(project, `preheat-${executionId}-${randomBytes(3).toString('hex')}`, credentialTtlMs);
      for (const task of pending) await this.submit(provider, policy, task, credentials!);
      await this.follow(provider, executionId);
      const done = (await this.store.getExecution(executionId))!;
      const failed = done.tasks.failed;
      await this.store.setExecutionStatus(executionId, ['running'], failed > 0 ? 'failed' : 'succeeded', this.now(), failed > 0 ? `${failed} of ${failed + done.tasks.succeeded} images failed to preheat` : null);
    } catch (err) {
      await this.store.setExecutionStatus(executionId, ['running'], 'failed', this.now(), (err as Error).message.slice(0, 2000));
    } finally {
      await credentials?.revoke().catch(() => undefined);
    }
  }

  /** One task per tag of the project's repositories that pass the policy's filters. */
  private async plan(policy: PreheatPolicyRow, project: ProjectRow): Promise<Array<{ repository: string; tag: string }>> {
    const prefix = `${project.name}/`;
    const tasks: Array<{ repository: string; tag: string }> = [];
    for (const repository of (await this.options.local.listRepositories()).filter((r) => r.startsWith(prefix)).sort()) {
      if (!globMatch(policy.repositories, repository.slice(prefix.length))) continue;
      for (const tag of (await this.options.local.listTags(repository)).sort()) if (globMatch(policy.tags, tag)) tasks.push({ repository, tag });
    }
    return tasks;
  }

  private async submit(provider: PreheatProvider, policy: PreheatPolicyRow, task: PreheatTaskRow, credentials: PullCredentials): Promise<void> {
    const started = this.now();
    try {
      const manifest = await this.options.local.headManifest(task.repository, task.tag);
      if (!manifest) throw new PreheatProviderError(`${task.repository}:${task.tag} is no longer here`);
      const url = `${this.options.registryUrl().replace(/\/$/, '')}/v2/${task.repository}/manifests/${task.tag}`;
      const job = await provider.createJob({ url, username: credentials.username, password: credentials.password, scope: policy.scope, clusterIds: policy.clusterIds });
      await this.store.updateTask(task.id, { digest: manifest.digest, jobId: job.id, status: 'running', startedAt: started, message: null });
    } catch (err) {
      if (!(err instanceof PreheatProviderError)) throw err;
      await this.finishTask(task, 'failed', err.message, started);
    }
  }

  /** Polls the provider's jobs of the execution's running tasks until each ends, or times out. */
  private async follow(provider: PreheatProvider, executionId: number): Promise<void> {
    const interval = this.options.pollIntervalMs ?? 5_000;
    const timeout = this.options.jobTimeoutMs ?? 30 * 60_000;
    for (;;) {
      const running = await this.store.tasks(executionId, 'running');
      if (running.length === 0) return;
      for (const task of running) {
        try {
          const job = await provider.getJob(task.jobId!);
          if (job.state === 'SUCCESS') await this.finishTask(task, 'succeeded', null);
          else if (job.state === 'FAILURE') await this.finishTask(task, 'failed', `the provider's job ${job.id} failed${job.message ? `: ${job.message}` : ''}`);
          else if (task.startedAt !== null && this.now() - task.startedAt > timeout) await this.finishTask(task, 'failed', `the provider's job ${job.id} was still ${job.state} after ${Math.round(timeout / 60_000)} minutes`);
        } catch (err) {
          if (!(err instanceof PreheatProviderError)) throw err;
          // An unreachable provider is asked again, until the timeout.
          if (task.startedAt !== null && this.now() - task.startedAt > timeout) await this.finishTask(task, 'failed', err.message);
        }
      }
      await sleep(interval);
    }
  }

  private async finishTask(task: PreheatTaskRow, status: 'succeeded' | 'failed', message: string | null, startedAt?: number): Promise<void> {
    const finishedAt = this.now();
    await this.store.updateTask(task.id, { status, message, finishedAt, ...(startedAt !== undefined ? { startedAt } : {}) });
    this.options.onTaskFinished?.({ ...task, status, message, finishedAt });
  }
}

/** A provider's base URL: http(s), no credentials, query or fragment. */
function providerUrl(given: string): string {
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    throw new BerthError('BAD_REQUEST', { message: `provider url is not a URL: ${given.slice(0, 200)}` });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new BerthError('BAD_REQUEST', { message: 'provider url must be http or https' });
  if (url.username || url.password || url.search || url.hash) throw new BerthError('BAD_REQUEST', { message: 'provider url must not hold credentials, a query or a fragment' });
  return url.href.replace(/\/+$/, '');
}
