import { validCron } from '../../domain/cron.js';
import { BerthError } from '../../domain/errors.js';
import { GlobError, assertGlob } from '../../domain/glob.js';
import { projectOf } from '../../domain/names.js';
import { immutabilityCovers, immutableBy, type ImmutabilityRule, type RetentionRule, type Selector } from '../../domain/retention.js';
import type { ProjectRow } from '../../ports/identity-store.js';
import type { PolicyStore } from '../../ports/policy-store.js';

export interface RetentionPolicy {
  rules: RetentionRule[];
  /** Cron (UTC) of scheduled runs; empty: on demand only. */
  schedule: string;
}

export const maxRules = 15;
const emptyRetention: RetentionPolicy = { rules: [], schedule: '' };

export interface ProjectPoliciesOptions {
  project: (name: string) => Promise<ProjectRow | undefined>;
  /** Told when a project's retention schedule changed (the scheduler follows). */
  onScheduleChange?: (project: ProjectRow, schedule: string) => Promise<void>;
  /** Told after any change, so other processes drop their cached rules. */
  onChange?: () => void;
  now?: () => number;
}

/**
 * A project's retention policy and immutability rules (docs/lifecycle.md). Immutability is asked
 * on every tag push, so the rules are cached per project for a few seconds (changes made here
 * drop the cache at once; other processes are told).
 */
export class ProjectPolicies {
  private readonly immutability = new Map<number, { rules: ImmutabilityRule[]; expires: number }>();
  private readonly now: () => number;

  constructor(
    private readonly store: PolicyStore,
    private readonly options: ProjectPoliciesOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  invalidate(): void {
    this.immutability.clear();
  }

  async retention(project: ProjectRow): Promise<RetentionPolicy> {
    return ((await this.store.getPolicy(project.id, 'retention'))?.value as RetentionPolicy | undefined) ?? emptyRetention;
  }

  async setRetention(project: ProjectRow, policy: RetentionPolicy, by: string): Promise<RetentionPolicy> {
    validateRules(policy.rules);
    policy = { ...policy, rules: policy.rules.map(canonical) };
    if (policy.schedule !== '' && !validCron(policy.schedule)) {
      throw new BerthError('BAD_REQUEST', { message: `schedule: ${JSON.stringify(policy.schedule)} is not a cron expression (5 or 6 fields), or empty` });
    }
    await this.store.putPolicy(project.id, 'retention', policy, by, this.now());
    await this.options.onScheduleChange?.(project, policy.schedule);
    this.options.onChange?.();
    return policy;
  }

  async immutabilityRules(project: ProjectRow): Promise<ImmutabilityRule[]> {
    const cached = this.immutability.get(project.id);
    if (cached && cached.expires > this.now()) return cached.rules;
    const rules = ((await this.store.getPolicy(project.id, 'immutability'))?.value as ImmutabilityRule[] | undefined) ?? [];
    if (this.immutability.size > 10_000) this.immutability.clear();
    this.immutability.set(project.id, { rules, expires: this.now() + 5_000 });
    return rules;
  }

  async setImmutability(project: ProjectRow, given: ImmutabilityRule[], by: string): Promise<ImmutabilityRule[]> {
    validateRules(given);
    const rules = given.map(canonical);
    await this.store.putPolicy(project.id, 'immutability', rules, by, this.now());
    this.immutability.delete(project.id);
    this.options.onChange?.();
    return rules;
  }

  /** False when no immutability rule of `repository`'s project names it: none of its tags can be immutable. */
  async mayHaveImmutableTags(repository: string): Promise<boolean> {
    const projectName = projectOf(repository);
    const project = await this.options.project(projectName);
    if (!project) return false;
    return immutabilityCovers(await this.immutabilityRules(project), relativeName(repository, projectName));
  }

  /** Describes the rule that makes `tag` of `repository` (a full name) immutable, or undefined. */
  async immutableTag(repository: string, tag: string): Promise<string | undefined> {
    const projectName = projectOf(repository);
    const project = await this.options.project(projectName);
    if (!project) return undefined;
    const rules = await this.immutabilityRules(project);
    if (rules.length === 0) return undefined;
    const index = immutableBy(rules, relativeName(repository, projectName), tag);
    if (index < 0) return undefined;
    const rule = rules[index]!;
    return `immutability rule ${index + 1} of project ${projectName}: repositories ${describe(rule.repositories)}, tags ${describe(rule.tags)}`;
  }
}

/** A repository's name within its project (`team/app` in project `team` is `app`; a repository named as its project is `` ). */
export function relativeName(repository: string, project: string): string {
  return repository === project ? '' : repository.slice(project.length + 1);
}

/** A rule as stored and returned: false flags left out, so `exclude: false` and no `exclude` are one rule. */
function canonical<R extends { repositories: Selector; tags: Selector; disabled?: boolean }>(rule: R): R {
  const selector = ({ pattern, exclude }: Selector): Selector => (exclude ? { pattern, exclude } : { pattern });
  const { disabled, ...rest } = rule;
  return { ...rest, repositories: selector(rule.repositories), tags: selector(rule.tags), ...(disabled ? { disabled } : {}) } as R;
}

function describe(selector: { pattern: string; exclude?: boolean }): string {
  return `${selector.exclude ? 'excluding ' : ''}${JSON.stringify(selector.pattern)}`;
}

function validateRules(rules: Array<{ repositories: { pattern: string }; tags: { pattern: string } }>): void {
  if (rules.length > maxRules) throw new BerthError('BAD_REQUEST', { message: `at most ${maxRules} rules, got ${rules.length}` });
  rules.forEach((rule, i) => {
    for (const [field, selector] of [
      ['repositories', rule.repositories],
      ['tags', rule.tags],
    ] as const) {
      try {
        assertGlob(selector.pattern);
      } catch (err) {
        if (err instanceof GlobError) throw new BerthError('BAD_REQUEST', { message: `rule ${i + 1} ${field}: ${err.message}` });
        throw err;
      }
    }
  });
}
