import { BerthError } from '../../domain/errors.js';
import { countAtOrAbove, defaultSecurityPolicy, judgePull, restrictsPulls, unsignedReason, type PullVerdict, type SecurityPolicy } from '../../domain/pull-policy.js';
import type { ProjectRow } from '../../ports/identity-store.js';
import type { PolicyStore } from '../../ports/policy-store.js';
import type { ScanStore } from '../../ports/scan-store.js';
import type { SignatureService } from './signature-service.js';

/** How long a policy read from the database stands (other instances' changes take at most this long). */
const policyTtlMs = 5_000;

export interface PullPolicyOptions {
  project: (name: string) => Promise<ProjectRow | undefined>;
  /** False when scanning is switched off: policies that need a scan then refuse nothing. */
  scanning: boolean;
  signatures: SignatureService;
  now?: () => number;
  /** A pull refused (events, metrics, audit). */
  onBlocked?: (blocked: { repository: string; digest: string; policy: string; reason: string; who: string }) => void;
}

/**
 * A project's security policy (docs/vulnerabilities.md) and its one use on the request path:
 * judging a manifest pull. Projects without a pull policy cost a cached lookup; those with one
 * read the report's counts, cached for a few seconds (scan-head-cache.ts), and its findings only
 * when those say the pull may be refused.
 */
export class PullPolicyService {
  private readonly cache = new Map<number, { policy: SecurityPolicy; expires: number }>();
  private readonly now: () => number;

  constructor(
    private readonly store: PolicyStore,
    private readonly reports: ScanStore,
    private readonly options: PullPolicyOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  async policy(project: ProjectRow): Promise<SecurityPolicy> {
    const cached = this.cache.get(project.id);
    if (cached && cached.expires > this.now()) return cached.policy;
    const stored = (await this.store.getPolicy(project.id, 'security'))?.value as Partial<SecurityPolicy> | undefined;
    const policy = { ...defaultSecurityPolicy, ...stored };
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(project.id, { policy, expires: this.now() + policyTtlMs });
    return policy;
  }

  async setPolicy(project: ProjectRow, policy: SecurityPolicy, by: string): Promise<void> {
    await this.store.putPolicy(project.id, 'security', policy, by, this.now());
    this.cache.delete(project.id);
  }

  /** The project's policy for a repository (its first path component names the project). */
  async policyFor(repository: string): Promise<SecurityPolicy | undefined> {
    const project = await this.options.project(repository.split('/', 1)[0]!);
    return project ? this.policy(project) : undefined;
  }

  /**
   * Refuses a pull of `digest` from `repository` with DENIED when the project's policy forbids
   * it, naming the policy and the reason (podman and skopeo print the message).
   */
  async checkPull(repository: string, digest: string, who: { kind: string; name: string }): Promise<void> {
    const policy = await this.policyFor(repository);
    if (!policy || !restrictsPulls(policy)) return;
    if (who.kind === 'robot' && policy.exemptRobots.includes(who.name)) return;
    const verdict = await this.judge(repository, digest, policy);
    if (verdict.allowed) return;
    this.options.onBlocked?.({ repository, digest, policy: verdict.policy, reason: verdict.reason, who: who.name });
    throw new BerthError('DENIED', {
      message: `pull of ${repository}@${digest} refused by the project's ${verdict.policy} policy: ${verdict.reason}`,
      detail: { policy: verdict.policy, reason: verdict.reason, digest },
    });
  }

  private async judge(repository: string, digest: string, policy: SecurityPolicy): Promise<PullVerdict> {
    if (policy.preventUnsigned) {
      const status = await this.options.signatures.status(repository, digest, policy.trust ?? undefined);
      if (!status.verified && status.verifiedThrough === undefined) return { allowed: false, policy: 'prevent-unsigned', reason: unsignedReason(status.signatures) };
    }
    if (!this.options.scanning || (!policy.preventUnscanned && policy.preventVulnerable === null)) return { allowed: true };
    const head = (await this.reports.heads([digest])).get(digest);
    let findings: Awaited<ReturnType<ScanStore['get']>> | undefined;
    // The findings are read only when the counts say the image may be refused: to weigh the allowlist and name them.
    if (head?.status === 'succeeded' && policy.preventVulnerable !== null && countAtOrAbove(head.summary, policy.preventVulnerable) > 0) findings = await this.reports.get(digest);
    return judgePull(policy, head, () => findings?.findings, this.now());
  }
}
