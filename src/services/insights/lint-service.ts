import { BerthError } from '../../domain/errors.js';
import { emptyFacts, lintImage, lintRules, unknownRuleIds, type CacheFact, type ImageFacts, type LintFinding, type LintRuleId, type LintSeverity } from '../../domain/lint/index.js';
import type { OperatingSystem } from '../../domain/packages/package.js';
import type { ProjectRow } from '../../ports/identity-store.js';
import type { ImageIndexStore, StoredLint } from '../../ports/image-index-store.js';
import type { PolicyStore } from '../../ports/policy-store.js';
import type { Registry } from '../registry/index.js';
import { inventoryOf } from '../security/inventory.js';
import { LayerView } from '../security/layer-view.js';
import type { WalkLimits } from '../security/layer-walker.js';
import { notableFiles, type LayerSummary } from './file-index.js';
import { LayerReader } from './layer-reader.js';
import { storedImage } from './stored-image.js';

/** A project's lint settings (docs/insights.md): the rules it does not want checked. */
export interface LintPolicy {
  disabledRules: LintRuleId[];
}

export interface LintReport {
  repository: string;
  digest: string;
  tags: string[];
  layers: number;
  os: OperatingSystem | null;
  /** Operating-system packages (dpkg, apk, rpm) the large-base and toolchain rules looked at. */
  packages: number;
  disabledRules: LintRuleId[];
  /** Findings per severity. */
  summary: Record<LintSeverity, number>;
  findings: LintFinding[];
  /** Findings left out per rule (a rule reports at most 25 per image). */
  omitted: Partial<Record<LintRuleId, number>>;
}

export interface ProjectLintSummary {
  project: string;
  /** Tagged images counted (their stored lint results, or linted now when not indexed yet). */
  images: number;
  /** More tagged images exist than `maxSummaryImages`: the counts are of the first ones (newest first per repository). */
  truncated: boolean;
  /** Tagged manifests that are not images (indexes, signatures, SBOMs), not linted. */
  skipped: number;
  failed: Array<{ repository: string; digest: string; error: string }>;
  disabledRules: LintRuleId[];
  rules: Array<{ id: LintRuleId; severity: LintSeverity; title: string; images: number; findings: number }>;
}

export interface LintServiceOptions {
  /** Bytes of layer summaries kept in memory. */
  cacheBytes?: number;
  limits?: Partial<WalkLimits>;
  /** Tagged images a project summary counts at most. */
  maxSummaryImages?: number;
  /** Images a project summary lints on request at most (those the index has not read yet). */
  maxSummaryLints?: number;
  /** The layer reader shared with the image insights and the inventory (else lint keeps its own, of `cacheBytes` and `limits`). */
  layers?: LayerReader;
  /** The image index: a project summary counts the lint results stored at push (image-indexer.ts). */
  index?: ImageIndexStore;
}


/**
 * Best-practice lint of images (issue 17). Lives with the insights, not the supply-chain
 * security: it judges how an image is built, reads no advisory and blocks no pull. Each layer
 * is walked once by digest with the one layer walker (services/security/layer-walker.ts) and
 * summarised into what the rules look at (file-index.ts); the operating-system packages come
 * from that same walk through the inventory's parsers. A hostile layer is a LAYER_UNREADABLE
 * error naming the layer, for this request only.
 */
export class LintService {
  private readonly layers: LayerReader;

  constructor(
    private readonly registry: Registry,
    private readonly policies: PolicyStore,
    private readonly options: LintServiceOptions = {},
  ) {
    this.layers = options.layers ?? new LayerReader(registry, options);
  }

  async policy(project: ProjectRow): Promise<LintPolicy> {
    const stored = (await this.policies.getPolicy(project.id, 'lint'))?.value as Partial<LintPolicy> | undefined;
    return { disabledRules: (stored?.disabledRules ?? []).filter((id) => unknownRuleIds([id]).length === 0) };
  }

  /** Replaces the project's lint policy; an unknown rule id is a BAD_REQUEST naming it. */
  async setPolicy(project: ProjectRow, policy: { disabledRules: string[] }, by: string): Promise<LintPolicy> {
    const unknown = unknownRuleIds(policy.disabledRules);
    if (unknown.length > 0) throw new BerthError('BAD_REQUEST', { message: `unknown lint rule ${unknown.join(', ')}: GET /api/v1/lint/rules lists them`, detail: { unknown } });
    const value: LintPolicy = { disabledRules: [...new Set(policy.disabledRules as LintRuleId[])].sort() };
    await this.policies.putPolicy(project.id, 'lint', value, by, Date.now());
    return value;
  }

  /**
   * Lints the image `reference` names in `repository` with the project's policy: the result the
   * index stored at push, with the policy and the tag rule applied now; an image not indexed yet
   * (or whose indexing failed, to report why) is linted from its layers.
   */
  async lint(project: ProjectRow, repository: string, reference: string): Promise<LintReport> {
    const { repositoryId, digest, parsed, config } = await storedImage(this.registry, repository, reference, 'lint reads images');
    const { disabledRules } = await this.policy(project);
    const tags = (await this.registry.meta.tagsOf(repositoryId, digest)).map((t) => t.name).sort();
    const record = await this.options.index?.getImage(digest);
    if (record?.status === 'indexed' && record.lint) {
      const packages = record.packages.filter((p) => osPackageTypes.has(p.type)).length;
      return { repository, digest, tags, layers: record.layers.length, os: record.os ?? null, packages, disabledRules, ...appliedLint(record.lint, tags, disabledRules) };
    }
    const layers = await Promise.all(parsed.layers.map((layer, index) => this.summary(repository, layer.digest, index)));
    return { repository, digest, tags, layers: parsed.layers.length, ...lintOf(factsOf(config, parsed.annotations ?? {}, tags, layers), disabledRules) };
  }

  /**
   * Findings per rule over the project's tagged images, newest first per repository, at most
   * `maxSummaryImages` (default 1000) of them: each image's lint result stored when it was
   * indexed, with the project's disabled rules and the tag rule applied now; an image the index
   * has not read yet (just pushed) is linted as `lint` does, at most `maxSummaryLints` (default
   * 50) of them. Images whose layers cannot be read are listed, not counted.
   */
  async projectSummary(project: ProjectRow): Promise<ProjectLintSummary> {
    const maxImages = this.options.maxSummaryImages ?? (this.options.index ? 1000 : 50);
    let lints = this.options.maxSummaryLints ?? 50;
    const { disabledRules } = await this.policy(project);
    const counts = new Map<LintRuleId, { images: number; findings: number }>();
    const result: ProjectLintSummary = { project: project.name, images: 0, truncated: false, skipped: 0, failed: [], disabledRules, rules: [] };
    const pageSize = 100;
    scan: for (let offset = 0; ; offset += pageSize) {
      const repositories = await this.registry.meta.listProjectRepositories(project.name, { offset, limit: pageSize });
      for (const repo of repositories.items) {
        for (let page = 0; ; page += pageSize) {
          const artifacts = await this.registry.meta.listArtifacts(repo.id, { offset: page, limit: pageSize, taggedOnly: true });
          for (const artifact of artifacts.items) {
            if (result.images + result.failed.length >= maxImages) {
              result.truncated = true;
              break scan;
            }
            try {
              const stored = await this.storedReport(artifact.digest, artifact.tags, disabledRules);
              if (stored && 'error' in stored) {
                result.failed.push({ repository: repo.name, digest: artifact.digest, error: stored.error });
                continue;
              }
              if (!stored && lints-- <= 0) {
                result.truncated = true;
                break scan;
              }
              const report = stored ?? (await this.lint(project, repo.name, artifact.digest));
              result.images++;
              const seen = new Set<LintRuleId>();
              for (const f of report.findings) {
                const c = counts.get(f.rule) ?? { images: 0, findings: 0 };
                c.findings++;
                if (!seen.has(f.rule)) c.images++;
                seen.add(f.rule);
                counts.set(f.rule, c);
              }
              for (const [rule, extra] of Object.entries(report.omitted)) counts.get(rule as LintRuleId)!.findings += extra;
            } catch (err) {
              if (err instanceof BerthError && (err.key === 'NOT_SCANNABLE' || err.key === 'BAD_REQUEST' || err.key === 'MANIFEST_UNKNOWN')) result.skipped++;
              else if (err instanceof BerthError && err.key === 'LAYER_UNREADABLE') result.failed.push({ repository: repo.name, digest: artifact.digest, error: err.message });
              else throw err;
            }
          }
          if (artifacts.items.length < pageSize) break;
        }
      }
      if (repositories.items.length < pageSize) break;
    }
    const off = new Set<string>(disabledRules);
    result.rules = lintRules.filter((r) => !off.has(r.id)).map((r) => ({ id: r.id, severity: r.severity, title: r.title, ...(counts.get(r.id) ?? { images: 0, findings: 0 }) }));
    return result;
  }

  /**
   * The stored lint result of image `digest` tagged `tags`, as `lint` would report it with
   * `disabledRules`; the error when the index recorded a failure (a hostile layer); undefined
   * when there is none (not indexed yet, or not an image: `lint` says which).
   */
  private async storedReport(digest: string, tags: string[], disabledRules: LintRuleId[]): Promise<Pick<LintReport, 'findings' | 'omitted'> | { error: string } | undefined> {
    const record = await this.options.index?.getImage(digest);
    if (!record) return undefined;
    if (record.status === 'failed') return { error: record.error ?? 'the image could not be indexed' };
    if (!record.lint) return undefined;
    return appliedLint(record.lint, tags, disabledRules);
  }

  private summary(repository: string, digest: string, index: number): Promise<LayerSummary> {
    return this.layers.summary(repository, digest, index);
  }
}

/**
 * A stored lint result (linted with no tags and no rule disabled, image-indexer.ts) as a report
 * for an artifact tagged `tags` in a project that disabled `disabledRules`: the tag rule
 * (BERTH-L008) runs now on the tags, the disabled rules' findings are dropped.
 */
export function appliedLint(stored: StoredLint, tags: string[], disabledRules: readonly LintRuleId[]): Pick<LintReport, 'summary' | 'findings' | 'omitted'> {
  const off = new Set<string>(disabledRules);
  const byTag = lintImage({ ...emptyFacts(), tags }, lintRules.filter((r) => r.id !== tagRule).map((r) => r.id));
  const findings = [...stored.findings.filter((f) => f.rule !== tagRule), ...byTag.findings].filter((f) => !off.has(f.rule));
  const order = new Map(lintRules.map((r, i) => [r.id, i]));
  findings.sort((a, b) => order.get(a.rule)! - order.get(b.rule)!);
  const omitted: Partial<Record<LintRuleId, number>> = {};
  for (const [rule, n] of Object.entries(stored.omitted) as Array<[LintRuleId, number]>) if (!off.has(rule) && rule !== tagRule) omitted[rule] = n;
  const summary: Record<LintSeverity, number> = { error: 0, warning: 0, info: 0 };
  for (const f of findings) summary[f.severity]++;
  return { summary, findings, omitted };
}

/** The operating system's package managers: the packages the large-base and toolchain rules look at. */
const osPackageTypes = new Set(['deb', 'apk', 'rpm']);

/** The one rule that reads an artifact's tags: stored results leave it out, as tags move. */
const tagRule: LintRuleId = 'BERTH-L008-latest-only-tag';

/** The findings part of a lint report (the API's and `berth inspect`'s): the rules run over an image's facts. */
export function lintOf(facts: ImageFacts, disabledRules: LintRuleId[]): Pick<LintReport, 'os' | 'packages' | 'disabledRules' | 'summary' | 'findings' | 'omitted'> {
  const result = lintImage(facts, disabledRules);
  const summary: Record<LintSeverity, number> = { error: 0, warning: 0, info: 0 };
  for (const f of result.findings) summary[f.severity]++;
  return { os: facts.os ?? null, packages: facts.packages.length, disabledRules, summary, findings: result.findings, omitted: result.omitted };
}

/** The facts the rules look at, from an image's config, manifest annotations, tags and layer summaries. */
export function factsOf(config: Record<string, unknown>, annotations: Record<string, string>, tags: string[], layers: readonly LayerSummary[]): ImageFacts {
  const run = (typeof config.config === 'object' && config.config !== null ? config.config : {}) as Record<string, unknown>;
  const strings = (value: unknown) => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);
  const healthcheck = run.Healthcheck as { Test?: unknown } | undefined | null;
  const labels: Record<string, string> = {};
  if (typeof run.Labels === 'object' && run.Labels !== null) for (const [k, v] of Object.entries(run.Labels)) if (typeof v === 'string') labels[k] = v;
  const history = Array.isArray(config.history)
    ? (config.history as unknown[]).slice(0, 10_000).map((h) => {
        const step = (typeof h === 'object' && h !== null ? h : {}) as Record<string, unknown>;
        return { ...(typeof step.created_by === 'string' ? { createdBy: step.created_by } : {}), emptyLayer: step.empty_layer === true };
      })
    : [];
  const caches: CacheFact[] = layers.flatMap((summary, layer) => summary.caches.map((c) => ({ ...c, layer })));
  const inventory = inventoryOf(new LayerView(layers.map((l) => l.packages)));
  const facts: ImageFacts = {
    env: strings(run.Env),
    labels,
    annotations,
    history,
    layerCount: layers.length,
    tags,
    files: notableFiles(layers),
    caches,
    docFiles: layers.reduce((n, l) => n + l.docFiles, 0),
    packages: inventory.packages.filter((p) => osPackageTypes.has(p.type)),
  };
  if (typeof run.User === 'string') facts.user = run.User;
  if (healthcheck && typeof healthcheck === 'object') facts.healthcheck = { test: strings(healthcheck.Test) };
  if (inventory.os) facts.os = inventory.os;
  return facts;
}
