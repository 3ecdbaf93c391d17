import type { Digest } from '../../domain/digest.js';
import { BerthError } from '../../domain/errors.js';
import { projectOf } from '../../domain/names.js';
import { evaluateRetention, type Decision } from '../../domain/retention.js';
import type { OutboxEvent } from '../../ports/event-store.js';
import type { GcStore } from '../../ports/gc-store.js';
import type { IdentityStore, ProjectRow } from '../../ports/identity-store.js';
import type { MetadataStore } from '../../ports/metadata-store.js';
import type { PolicyStore, RetentionReportEntry, RetentionRunRow } from '../../ports/policy-store.js';
import { relativeName, type ProjectPolicies } from './policies.js';

export interface RetentionOptions {
  /** Told after deletions were written with their events (wakes the webhook dispatcher). */
  onEvents?: () => void;
  onFinished?: (run: RetentionRunRow, project: ProjectRow) => void;
  now?: () => number;
}

/**
 * Runs a project's retention policy (docs/lifecycle.md): each repository's artifacts decided by
 * domain/retention.ts, deletions made only where the artifact's tags are still the ones decided
 * on, an index's platform manifests deleted with it; a dry run reports the same decisions and
 * deletes nothing. The bytes are freed by the next garbage collection.
 */
export class RetentionService {
  private readonly now: () => number;

  constructor(
    private readonly policies: ProjectPolicies,
    private readonly store: PolicyStore,
    private readonly meta: MetadataStore,
    private readonly identity: IdentityStore,
    private readonly gc: GcStore,
    private readonly options: RetentionOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  request(project: ProjectRow, dryRun: boolean, triggeredBy: string): Promise<RetentionRunRow> {
    return this.store.createRetentionRun(project.id, dryRun, triggeredBy, this.now());
  }

  async run(project: ProjectRow, id: number): Promise<RetentionRunRow> {
    const run = await this.store.getRetentionRun(id);
    if (!run || run.projectId !== project.id) throw new BerthError('NOT_FOUND', { message: `retention run ${id} not found in project ${project.name}` });
    return run;
  }

  runs(project: ProjectRow, page: { offset: number; limit: number }): Promise<{ items: RetentionRunRow[]; total: number }> {
    return this.store.listRetentionRuns(project.id, page);
  }

  /** Carries out a queued run (the `retention.run` job); undefined when another process took it. */
  /** Ends a run whose process stopped midway (see the retention.run job). */
  interrupt(id: number): Promise<void> {
    return this.store.interruptRetentionRun(id, this.now());
  }

  async execute(id: number): Promise<RetentionRunRow | undefined> {
    if (!(await this.store.startRetentionRun(id, this.now()))) return undefined;
    const run = (await this.store.getRetentionRun(id))!;
    const project = await this.identity.getProjectById(run.projectId);
    if (!project) return undefined;
    const report: RetentionReportEntry[] = [];
    let kept = 0;
    let deleted = 0;
    try {
      const policy = await this.policies.retention(project);
      const immutability = await this.policies.immutabilityRules(project);
      const now = this.now();
      for (const repository of await this.store.retentionArtifacts(project.name)) {
        const decisions = evaluateRetention(policy.rules, immutability, relativeName(repository.repository, project.name), repository.artifacts, now);
        for (const decision of decisions) {
          const artifact = repository.artifacts.find((a) => a.digest === decision.digest)!;
          const tags = artifact.tags.map((t) => t.name).sort();
          const entry = { repository: repository.repository, digest: decision.digest as Digest, tags };
          if (decision.action === 'keep') {
            kept++;
            report.push({ ...entry, action: 'keep', reason: reasonOf(decision) });
          } else if (run.dryRun) {
            deleted++;
            report.push({ ...entry, action: 'delete', reason: 'no rule keeps it' });
          } else if (await this.delete(repository.repositoryId, repository.repository, decision.digest as Digest, tags, run.triggeredBy)) {
            deleted++;
            report.push({ ...entry, action: 'delete', reason: 'no rule keeps it' });
          } else {
            kept++;
            report.push({ ...entry, action: 'keep', reason: 'its tags changed since it was decided on' });
          }
        }
      }
      await this.store.finishRetentionRun(id, this.now(), { status: 'succeeded', kept, deleted, report, error: null });
    } catch (err) {
      await this.store.finishRetentionRun(id, this.now(), { status: 'failed', kept, deleted, report, error: (err as Error).message.slice(0, 2000) });
      throw err;
    } finally {
      if (deleted > 0 && !run.dryRun) this.options.onEvents?.();
    }
    const finished = (await this.store.getRetentionRun(id))!;
    this.options.onFinished?.(finished, project);
    return finished;
  }

  /** Deletes the artifact if its tags are unchanged, and the platform manifests only it listed. */
  private async delete(repositoryId: number, repository: string, digest: Digest, tags: string[], operator: string): Promise<boolean> {
    const children = (await this.meta.manifestReferences(repositoryId, digest)).filter((r) => r.kind === 'manifest');
    const event = (d: Digest): OutboxEvent => ({ type: 'delete', project: projectOf(repository), repository, data: { operator: `retention (${operator})`, repository, digest: d } });
    if (!(await this.meta.deleteManifestIfTagged(repositoryId, digest, tags, [event(digest)]))) return false;
    for (const child of children) {
      await this.gc.deleteManifestIfCollectable({ repositoryId, repository, digest: child.digest, size: 0 }, Number.MAX_SAFE_INTEGER, true, [event(child.digest)]);
    }
    return true;
  }
}

function reasonOf(decision: Extract<Decision, { action: 'keep' }>): string {
  if (decision.reason === 'immutable') return `immutable (immutability rule ${decision.rule + 1})`;
  if (decision.reason === 'rule') return `kept by rule ${decision.rules.map((r) => r + 1).join(', ')}`;
  return 'no rule applies to its repository';
}
