import { BerthError } from '../../domain/errors.js';
import { projectOf } from '../../domain/names.js';
import type { Digest } from '../../domain/digest.js';
import type { IdentityStore, ListQuery, ProjectRow } from '../../ports/identity-store.js';
import { quotaExceeded } from '../../domain/quota.js';
import type { MetadataStore, ProjectUsage, QuotaLimits } from '../../ports/metadata-store.js';

export interface ProjectQuota {
  project: string;
  limits: QuotaLimits;
  usage: ProjectUsage;
}

export interface QuotaServiceOptions {
  /** A project by name, as the authorizer caches it (asked on every push). */
  project: (name: string) => Promise<ProjectRow | undefined>;
  /** Told after a project's limits changed (caches elsewhere drop the project). */
  onChange: () => void;
  now?: () => number;
}

/**
 * Per-project quotas (docs/lifecycle.md, "Quotas"): storage bytes and artifacts. Usage is kept
 * by the metadata store in the transactions that add and remove manifests; this service reads
 * limits, refuses uploads that could not fit, and lets administrators set limits.
 */
export class QuotaService {
  private readonly now: () => number;

  constructor(
    private readonly identity: IdentityStore,
    private readonly meta: MetadataStore,
    private readonly options: QuotaServiceOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** The limits a push into `repository` must respect; undefined when its project has none. */
  async limitsFor(repository: string): Promise<QuotaLimits | undefined> {
    const project = await this.options.project(projectOf(repository));
    if (!project || (project.quota.bytes === null && project.quota.artifacts === null)) return undefined;
    return project.quota;
  }

  /**
   * Refuses a blob of `size` bytes before any of it is kept when storing it would take the
   * project beyond its storage limit. A digest the project already counts adds nothing; without
   * a digest (a chunk), the bytes are assumed new.
   */
  async admitBlob(repository: string, size: number, digest?: Digest): Promise<void> {
    const limits = await this.limitsFor(repository);
    if (limits?.bytes === undefined || limits.bytes === null) return;
    const project = projectOf(repository);
    const used = (await this.meta.projectUsage([project])).get(project)?.bytes ?? 0;
    if (used + size <= limits.bytes) return;
    if (digest !== undefined && (await this.meta.projectHasBlob(project, digest))) return;
    throw quotaExceeded(project, 'storage', used, size, limits.bytes);
  }

  async get(projectName: string): Promise<ProjectQuota> {
    const project = await this.identity.getProject(projectName);
    if (!project) throw new BerthError('NOT_FOUND', { message: `project ${projectName} not found` });
    const usage = (await this.meta.projectUsage([project.name])).get(project.name) ?? { bytes: 0, artifacts: 0 };
    return { project: project.name, limits: project.quota, usage };
  }

  /**
   * Sets a project's limits (null: unlimited). A limit below current usage is allowed: nothing
   * is deleted, and pushes that add to the usage are refused until it is below the limit again.
   */
  async set(projectName: string, limits: Partial<QuotaLimits>): Promise<ProjectQuota> {
    for (const [kind, value] of Object.entries(limits)) {
      if (value !== null && value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
        throw new BerthError('BAD_REQUEST', { message: `${kind}: a quota is a whole number of at least 0, or null for unlimited` });
      }
    }
    const project = await this.identity.getProject(projectName);
    if (!project) throw new BerthError('NOT_FOUND', { message: `project ${projectName} not found` });
    await this.identity.updateProject(project.id, { quota: limits }, this.now());
    this.options.onChange();
    return this.get(projectName);
  }

  /** Every project's limits and usage (administrators' overview), in the order and page of `query`. */
  async list(query: ListQuery): Promise<{ items: ProjectQuota[]; total: number }> {
    const projects = await this.identity.listProjects(query);
    const usage = await this.meta.projectUsage(projects.items.map((p) => p.name));
    return {
      items: projects.items.map((p) => ({ project: p.name, limits: p.quota, usage: usage.get(p.name) ?? { bytes: 0, artifacts: 0 } })),
      total: projects.total,
    };
  }
}
