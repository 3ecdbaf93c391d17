import { artifactTypeOf, isLabelFilter, missingLabel } from '../../domain/artifact-filter.js';
import { validCron } from '../../domain/cron.js';
import { parseManifest } from '../../domain/manifest.js';
import { BerthError } from '../../domain/errors.js';
import { assertGlob, GlobError, globMatch } from '../../domain/glob.js';
import { assertRepositoryName } from '../../domain/names.js';
import { upstreamRepository } from '../../domain/registry-kinds.js';
import { destinationRepository, hasWildcards } from '../../domain/replication-naming.js';
import type { EndpointRow } from '../../ports/endpoint-store.js';
import type {
  ExecutionRow,
  NewReplicationRule,
  PlannedTask,
  ReplicationDirection,
  ReplicationRuleRow,
  ReplicationStore,
  ReplicationTrigger,
  TaskRow,
} from '../../ports/replication-store.js';
import { UpstreamError, type UpstreamRegistry } from '../../ports/upstream-registry.js';
import { Throttle } from '../lifecycle/throttle.js';
import { ArtifactCopier, emptyCounts } from './artifact-copier.js';
import type { EndpointService } from './endpoint-service.js';

export interface RuleInput {
  name: string;
  description?: string;
  endpointId: number;
  direction: ReplicationDirection;
  repositories: string;
  tags?: string;
  destinationNamespace?: string | null;
  flatten?: number;
  trigger?: ReplicationTrigger;
  cron?: string | null;
  copyReferrers?: boolean;
  bandwidthKiB?: number | null;
  replicateDeletion?: boolean;
  artifactTypes?: string[] | null;
  labels?: string[] | null;
  enabled?: boolean;
}

/** Largest image config read for its labels. */
const maxConfigBytes = 1024 * 1024;

export interface ReplicationServiceOptions {
  /** This Berth as a registry (writes as `actor`). */
  local: (actor: string) => UpstreamRegistry;
  /** Queues the job that carries out an execution. */
  enqueue: (execution: ExecutionRow) => Promise<void>;
  /** A rule's schedule changed (cron trigger added, changed or removed). */
  onScheduleChange?: (rule: ReplicationRuleRow, removed: boolean) => Promise<void>;
  /** Told when an execution ends (events, metrics, logs). */
  onFinished?: (execution: ExecutionRow, rule: ReplicationRuleRow) => void;
  now?: () => number;
}

/**
 * Replication rules and their executions (docs/replication.md): pull mode copies from an
 * endpoint into this Berth, push mode from this Berth to an endpoint. An execution plans one
 * task per repository and tag that pass the rule's filters, writes them, then copies them one
 * by one (ArtifactCopier: everything the destination lacks, referrers included). A process
 * that dies mid-way leaves the tasks not done; the job's retry carries on with them.
 */
export class ReplicationService {
  private readonly now: () => number;

  constructor(
    private readonly store: ReplicationStore,
    private readonly endpoints: EndpointService,
    private readonly options: ReplicationServiceOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  listRules(): Promise<ReplicationRuleRow[]> {
    return this.store.listRules();
  }

  async getRule(id: number): Promise<ReplicationRuleRow> {
    const rule = await this.store.getRule(id);
    if (!rule) throw new BerthError('NOT_FOUND', { message: `replication rule ${id} not found` });
    return rule;
  }

  async createRule(input: RuleInput, actor: string): Promise<ReplicationRuleRow> {
    const rule = await this.validate({
      name: input.name,
      description: input.description ?? '',
      endpointId: input.endpointId,
      direction: input.direction,
      repositories: input.repositories,
      tags: input.tags ?? '**',
      destinationNamespace: input.destinationNamespace ?? null,
      flatten: input.flatten ?? 0,
      trigger: input.trigger ?? 'manual',
      cron: input.cron ?? null,
      copyReferrers: input.copyReferrers ?? true,
      bandwidthKiB: input.bandwidthKiB ?? null,
      replicateDeletion: input.replicateDeletion ?? false,
      artifactTypes: input.artifactTypes?.length ? input.artifactTypes : null,
      labels: input.labels?.length ? input.labels : null,
      enabled: input.enabled ?? true,
      createdBy: actor,
      createdAt: this.now(),
      updatedAt: this.now(),
    });
    const created = await this.store.createRule(rule);
    await this.options.onScheduleChange?.(created, false);
    return created;
  }

  async updateRule(id: number, patch: Partial<RuleInput>): Promise<ReplicationRuleRow> {
    const current = await this.getRule(id);
    const merged = await this.validate({ ...current, ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)), updatedAt: this.now() });
    const { id: _id, ...values } = merged as ReplicationRuleRow;
    const updated = (await this.store.updateRule(id, values))!;
    await this.options.onScheduleChange?.(updated, false);
    return updated;
  }

  async deleteRule(id: number): Promise<ReplicationRuleRow> {
    const rule = await this.getRule(id);
    await this.store.deleteRule(id);
    await this.options.onScheduleChange?.(rule, true);
    return rule;
  }

  /** Starts an execution of the rule (manual, cron or event). */
  async start(ruleId: number, trigger: string): Promise<ExecutionRow> {
    const rule = await this.getRule(ruleId);
    if (!rule.enabled && trigger !== 'manual') throw new BerthError('CONFLICT', { message: `replication rule ${rule.name} is disabled` });
    const execution = await this.store.createExecution(rule.id, trigger, this.now());
    await this.options.enqueue(execution);
    return execution;
  }

  /** A new execution of only the failed tasks of `executionId`. */
  async retry(executionId: number): Promise<ExecutionRow> {
    const previous = await this.getExecution(executionId);
    const failed = await this.store.tasks(executionId, 'failed');
    if (failed.length === 0) throw new BerthError('CONFLICT', { message: `execution ${executionId} has no failed tasks` });
    const execution = await this.store.createExecution(previous.ruleId, 'retry', this.now(), previous.id);
    await this.store.planTasks(
      execution.id,
      failed.map((t) => ({ source: t.source, destination: t.destination, reference: t.reference, operation: t.operation })),
    );
    await this.options.enqueue(execution);
    return (await this.store.getExecution(execution.id))!;
  }

  /** Asks a queued or running execution to stop after the task under way. */
  async stop(executionId: number): Promise<ExecutionRow> {
    await this.getExecution(executionId);
    if (await this.store.setExecutionStatus(executionId, ['queued'], 'stopped', this.now())) return (await this.store.getExecution(executionId))!;
    if (!(await this.store.setExecutionStatus(executionId, ['running'], 'stopping', this.now()))) {
      throw new BerthError('CONFLICT', { message: `execution ${executionId} is not running` });
    }
    return (await this.store.getExecution(executionId))!;
  }

  async getExecution(id: number): Promise<ExecutionRow> {
    const execution = await this.store.getExecution(id);
    if (!execution) throw new BerthError('NOT_FOUND', { message: `replication execution ${id} not found` });
    return execution;
  }

  listExecutions(ruleId: number | undefined, page: { offset: number; limit: number }): Promise<{ items: ExecutionRow[]; total: number }> {
    return this.store.listExecutions(ruleId, page);
  }

  async tasks(executionId: number): Promise<TaskRow[]> {
    await this.getExecution(executionId);
    return this.store.tasks(executionId);
  }

  /** Carries out an execution (the job), or what a process that died left of it. */
  async execute(executionId: number): Promise<void> {
    const execution = await this.getExecution(executionId);
    if (!(await this.store.setExecutionStatus(executionId, ['queued', 'running'], 'running', this.now()))) return;
    const rule = await this.getRule(execution.ruleId);
    try {
      const endpoint = await this.endpoints.get(rule.endpointId);
      const remote = this.endpoints.client(endpoint, 'replication');
      const local = this.options.local(`replication:${rule.name}`);
      const [source, destination] = rule.direction === 'pull' ? [remote, local] : [local, remote];
      // Tasks planned elsewhere (from events, or a retry's) have not met the artifact filters yet.
      const checkFilters = execution.planned;
      if (!execution.planned) await this.store.planTasks(executionId, await this.plan(rule, endpoint, source));
      // One limit for the whole execution, whatever the task.
      const throttle = rule.bandwidthKiB ? new Throttle(rule.bandwidthKiB * 1024) : undefined;
      const copier = new ArtifactCopier({ referrers: rule.copyReferrers, onBytes: throttle && ((bytes) => throttle.take(bytes)) });
      for (const task of await this.store.tasks(executionId, 'pending')) {
        if ((await this.store.getExecution(executionId))?.status === 'stopping') {
          await this.store.setExecutionStatus(executionId, ['stopping'], 'stopped', this.now());
          return this.finished(executionId, rule);
        }
        await this.runTask(copier, task, source, destination, checkFilters ? rule : undefined);
      }
      const done = (await this.store.getExecution(executionId))!;
      const status = done.tasks.failed > 0 ? 'failed' : 'succeeded';
      await this.store.setExecutionStatus(executionId, ['running', 'stopping'], status, this.now(), done.tasks.failed > 0 ? `${done.tasks.failed} of ${done.tasks.failed + done.tasks.succeeded + done.tasks.skipped} tasks failed` : null);
    } catch (err) {
      await this.store.setExecutionStatus(executionId, ['running', 'stopping'], 'failed', this.now(), (err as Error).message.slice(0, 2000));
    }
    await this.finished(executionId, rule);
  }

  private async finished(executionId: number, rule: ReplicationRuleRow): Promise<void> {
    const execution = await this.store.getExecution(executionId);
    if (execution) this.options.onFinished?.(execution, rule);
  }

  private async runTask(copier: ArtifactCopier, task: TaskRow, source: UpstreamRegistry, destination: UpstreamRegistry, filters: ReplicationRuleRow | undefined): Promise<void> {
    const started = this.now();
    const counts = emptyCounts();
    if (task.operation === 'delete') {
      try {
        await destination.deleteManifest(task.destination, task.reference);
        await this.store.finishTask(task.id, { status: 'succeeded', digest: null, bytes: 0, manifests: 0, blobs: 0, error: null }, started, this.now());
      } catch (err) {
        await this.store.finishTask(task.id, { status: 'failed', digest: null, bytes: 0, manifests: 0, blobs: 0, error: (err as Error).message.slice(0, 2000) }, started, this.now());
      }
      return;
    }
    try {
      const filteredOut = filters && (await this.filteredOut(filters, source, task.source, task.reference));
      if (filteredOut) {
        await this.store.finishTask(task.id, { status: 'skipped', digest: null, bytes: 0, manifests: 0, blobs: 0, error: filteredOut }, started, this.now());
        return;
      }
      const digest = await copier.copy({ registry: source, repository: task.source }, { registry: destination, repository: task.destination }, task.reference, counts);
      const copied = counts.manifestsCopied + counts.blobsCopied + counts.blobsMounted > 0;
      await this.store.finishTask(
        task.id,
        { status: copied ? 'succeeded' : 'skipped', digest, bytes: counts.bytesCopied, manifests: counts.manifestsCopied, blobs: counts.blobsCopied + counts.blobsMounted, error: null },
        started,
        this.now(),
      );
    } catch (err) {
      const message = err instanceof UpstreamError || err instanceof BerthError ? err.message : `${(err as Error).message}`;
      await this.store.finishTask(task.id, { status: 'failed', digest: null, bytes: counts.bytesCopied, manifests: counts.manifestsCopied, blobs: counts.blobsCopied, error: message.slice(0, 2000) }, started, this.now());
    }
  }

  /** One task per source repository and tag that pass the filters. */
  private async plan(rule: ReplicationRuleRow, endpoint: EndpointRow, source: UpstreamRegistry): Promise<PlannedTask[]> {
    const pull = rule.direction === 'pull';
    // Docker Hub's official images: `alpine` is `library/alpine` there.
    const named = (name: string) => (pull ? upstreamRepository(endpoint.kind, name) : name);
    const repositories = hasWildcards(rule.repositories) ? (await source.listRepositories()).filter((name) => globMatch(rule.repositories, name)) : [named(rule.repositories)];
    const tasks: PlannedTask[] = [];
    for (const repository of repositories.sort()) {
      const destination = destinationRepository(repository, rule.destinationNamespace, rule.flatten);
      for (const tag of (await source.listTags(repository)).sort()) {
        if (globMatch(rule.tags, tag) && !(await this.filteredOut(rule, source, repository, tag))) tasks.push({ source: repository, destination, reference: tag });
      }
    }
    return tasks;
  }

  /**
   * Why the rule's artifact-type and label filters leave `repository:reference` out, or
   * undefined when it passes (or the rule has no such filter). Labels are the manifest's
   * annotations and, for an image, its config's labels (`LABEL` in a Dockerfile); an index is
   * judged by its own annotations and its first image's.
   */
  private async filteredOut(rule: ReplicationRuleRow, source: UpstreamRegistry, repository: string, reference: string): Promise<string | undefined> {
    if (!rule.artifactTypes && !rule.labels) return undefined;
    const manifest = await source.getManifest(repository, reference);
    if (!manifest) return undefined;
    const parsed = parseManifest(manifest.body, manifest.mediaType);
    const type = artifactTypeOf(parsed);
    if (rule.artifactTypes && !rule.artifactTypes.includes(type)) return `filtered out: artifact type ${type} is not one of ${rule.artifactTypes.join(', ')}`;
    if (!rule.labels) return undefined;
    let labels: Record<string, string> = { ...parsed.annotations };
    let image = parsed;
    if (parsed.kind === 'index' && parsed.manifests[0]) {
      const child = await source.getManifest(repository, parsed.manifests[0].digest);
      if (child) image = parseManifest(child.body, child.mediaType);
      labels = { ...image.annotations, ...labels };
    }
    if (image.kind === 'image' && image.config && image.config.size <= maxConfigBytes && artifactTypeOf(image) === 'image') {
      labels = { ...(await this.configLabels(source, repository, image.config.digest)), ...labels };
    }
    const missing = missingLabel(rule.labels, labels);
    return missing === undefined ? undefined : `filtered out: no label ${missing}`;
  }

  private async configLabels(source: UpstreamRegistry, repository: string, digest: string): Promise<Record<string, string>> {
    const blob = await source.getBlob(repository, digest);
    if (!blob) return {};
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of blob.body) {
      size += (chunk as Buffer).length;
      if (size > maxConfigBytes) {
        blob.body.destroy();
        return {};
      }
      chunks.push(chunk as Buffer);
    }
    try {
      const config = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { config?: { Labels?: Record<string, unknown> | null } };
      return Object.fromEntries(Object.entries(config.config?.Labels ?? {}).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
    } catch {
      return {};
    }
  }

  private async validate(rule: NewReplicationRule): Promise<NewReplicationRule> {
    await this.endpoints.get(rule.endpointId);
    for (const [field, pattern] of [
      ['repositories', rule.repositories],
      ['tags', rule.tags],
    ] as const) {
      try {
        assertGlob(pattern);
      } catch (err) {
        if (err instanceof GlobError) throw new BerthError('BAD_REQUEST', { message: `${field}: ${err.message}` });
        throw err;
      }
    }
    if (rule.destinationNamespace !== null) {
      try {
        assertRepositoryName(`${rule.destinationNamespace}/x`);
      } catch {
        throw new BerthError('BAD_REQUEST', { message: `destinationNamespace ${rule.destinationNamespace} is not a repository path` });
      }
    }
    if (rule.bandwidthKiB !== null && (!Number.isInteger(rule.bandwidthKiB) || rule.bandwidthKiB < 1)) throw new BerthError('BAD_REQUEST', { message: 'bandwidthKiB is a whole number of KiB/s, or null for no limit' });
    if (!Number.isInteger(rule.flatten) || rule.flatten < -1) throw new BerthError('BAD_REQUEST', { message: 'flatten is 0 (none), a number of leading segments, or -1 (all but the last)' });
    if (rule.trigger === 'cron' && (!rule.cron || !validCron(rule.cron))) {
      throw new BerthError('BAD_REQUEST', { message: 'a cron trigger needs a cron expression (5 or 6 fields)' });
    }
    if (rule.labels && !rule.labels.every(isLabelFilter)) throw new BerthError('BAD_REQUEST', { message: 'labels are `key` or `key=value`' });
    if (rule.artifactTypes && rule.artifactTypes.some((t) => t.trim() === '' || t.length > 255)) throw new BerthError('BAD_REQUEST', { message: "artifactTypes are 'image', 'index' or artifact media types" });
    if (rule.replicateDeletion && rule.trigger !== 'event') throw new BerthError('BAD_REQUEST', { message: 'replicateDeletion is for event-triggered push rules (a delete here is replicated as it happens)' });
    if (rule.trigger === 'event' && rule.direction !== 'push') throw new BerthError('BAD_REQUEST', { message: 'the event trigger (on push and delete) is for push rules' });
    return rule;
  }
}
