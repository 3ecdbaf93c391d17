import type { Package } from '../packages/package.js';
import { largeBaseOf } from './bases.js';
import type { FileFact, ImageFacts } from './facts.js';
import { cacheNames, isSetuid, isToolchainFile, isWorldWritable } from './files.js';
import { lintRules, maxLayers, type LintRuleId, type LintSeverity } from './rules.js';
import { buildArguments, secretKindNames, secretPath, secretVariable } from './secrets.js';

/** One thing a rule found, with its evidence: a path and layer, a variable name, never a secret's value. */
export interface LintFinding {
  rule: LintRuleId;
  severity: LintSeverity;
  title: string;
  message: string;
  fix: string;
  /** The file, from the root (`/etc/shadow`). */
  path?: string;
  /** The layer holding it, 0 = the lowest. */
  layer?: number;
  /** The environment variable or build argument. */
  variable?: string;
}

export interface LintResult {
  findings: LintFinding[];
  /** Findings beyond `maxFindingsPerRule` left out, per rule. */
  omitted: Partial<Record<LintRuleId, number>>;
}

/** Findings one rule reports at most per image; the rest are counted in `omitted`. */
export const maxFindingsPerRule = 25;

/** The OCI annotations (image-spec annotations.md) an image should carry. */
export const wantedAnnotations = ['org.opencontainers.image.source', 'org.opencontainers.image.revision', 'org.opencontainers.image.licenses', 'org.opencontainers.image.created'] as const;

type Evidence = Pick<LintFinding, 'message' | 'path' | 'layer' | 'variable'>;

const checks: Record<LintRuleId, (facts: ImageFacts) => Evidence[]> = {
  'BERTH-L001-root-user': (facts) => {
    const user = (facts.user ?? '').trim();
    const name = user.split(':', 1)[0]!;
    if (user === '') return [{ message: 'the image sets no USER, so it runs as root' }];
    if (name === 'root' || name === '0') return [{ message: `the image runs as root (USER ${user})` }];
    return [];
  },
  'BERTH-L002-no-healthcheck': (facts) => {
    const test = facts.healthcheck?.test;
    if (!test || test.length === 0) return [{ message: 'the image declares no HEALTHCHECK' }];
    if (test[0] === 'NONE') return [{ message: 'the image disables its HEALTHCHECK (NONE)' }];
    return [];
  },
  'BERTH-L003-secret-file': (facts) =>
    facts.files.flatMap((file) => {
      if (file.type !== 'file' && file.type !== 'hardlink') return [];
      const secret = secretPath(file.path);
      if (!secret || (secret.needs && !file.markers?.includes(secret.needs))) return [];
      return [{ message: `/${file.path} (${secretKindNames[secret.kind]}) in layer ${file.layer}${gone(file)}`, path: `/${file.path}`, layer: file.layer }];
    }),
  'BERTH-L004-secret-env': (facts) => {
    const found: Evidence[] = [];
    for (const entry of facts.env) {
      const eq = entry.indexOf('=');
      const name = eq < 0 ? entry : entry.slice(0, eq);
      const value = eq < 0 ? '' : entry.slice(eq + 1);
      if (value !== '' && secretVariable(name)) found.push({ message: `environment variable ${name} looks like a secret (its value is in the image configuration)`, variable: name });
    }
    facts.history.forEach((step, index) => {
      for (const name of buildArguments(step.createdBy ?? '')) {
        if (secretVariable(name)) found.push({ message: `build argument ${name} is recorded with its value in history step ${index}`, variable: name });
      }
    });
    return found;
  },
  'BERTH-L005-package-cache': (facts) =>
    facts.caches
      .filter((c) => c.files > 0)
      .map((c) => ({ message: `${cacheNames[c.kind]} left in layer ${c.layer}: ${c.files} ${c.files === 1 ? 'file' : 'files'}, ${c.bytes} bytes in /${c.dir}`, path: `/${c.dir}`, layer: c.layer })),
  'BERTH-L006-build-toolchain': (facts) => {
    const packages = facts.packages.filter(isToolchainPackage);
    if (packages.length > 0) return packages.map((p) => ({ message: `${p.type} package ${p.name} ${p.version} is a build toolchain (listed in ${p.foundIn})`, path: p.foundIn }));
    return facts.files
      .filter((f) => f.present && isToolchainFile(f.path))
      .map((f) => ({ message: `/${f.path} is a compiler or build tool (layer ${f.layer})`, path: `/${f.path}`, layer: f.layer }));
  },
  'BERTH-L007-large-base': (facts) => {
    const large = largeBaseOf(facts);
    if (!large) return [];
    const os = facts.os?.prettyName ?? facts.os?.id ?? 'the distribution';
    const count = large.counts.deb + large.counts.rpm + large.counts.apk;
    return [{ message: `${os} with ${count} packages looks like ${large.base}; a slimmer variant exists: ${large.slimmer}` }];
  },
  'BERTH-L008-latest-only-tag': (facts) => (facts.tags.length > 0 && facts.tags.every((t) => t === 'latest') ? [{ message: 'the only tag of this artifact is latest' }] : []),
  'BERTH-L009-too-many-layers': (facts) => (facts.layerCount > maxLayers ? [{ message: `the image has ${facts.layerCount} layers (more than ${maxLayers})` }] : []),
  'BERTH-L010-missing-oci-annotations': (facts) => {
    const missing = wantedAnnotations.filter((key) => !facts.annotations[key]?.trim() && !facts.labels[key]?.trim());
    return missing.length > 0 ? [{ message: `missing ${missing.join(', ')} (neither a manifest annotation nor a config label)` }] : [];
  },
  'BERTH-L011-world-writable': (facts) =>
    facts.files
      .filter((f) => f.present && isWorldWritable(f))
      .map((f) => ({ message: `/${f.path} is a world-writable ${f.type === 'directory' ? 'directory' : 'file'} (mode ${octal(f.mode)}, layer ${f.layer})`, path: `/${f.path}`, layer: f.layer })),
  'BERTH-L012-setuid-binary': (facts) =>
    facts.files
      .filter((f) => f.present && isSetuid(f))
      .map((f) => ({
        message: `/${f.path} is ${(f.mode & 0o4000) !== 0 ? ((f.mode & 0o2000) !== 0 ? 'setuid and setgid' : 'setuid') : 'setgid'} (mode ${octal(f.mode)}, owner uid ${f.uid}, layer ${f.layer})`,
        path: `/${f.path}`,
        layer: f.layer,
      })),
};

/**
 * Runs every rule but the `disabled` ones over an image's facts (issue 17). Findings come in
 * rule-table order, each rule's in the order of its evidence, at most `maxFindingsPerRule` each.
 */
export function lintImage(facts: ImageFacts, disabled: Iterable<string> = []): LintResult {
  const off = new Set(disabled);
  const findings: LintFinding[] = [];
  const omitted: LintResult['omitted'] = {};
  for (const rule of lintRules) {
    if (off.has(rule.id)) continue;
    const evidence = checks[rule.id](facts);
    for (const e of evidence.slice(0, maxFindingsPerRule)) findings.push({ rule: rule.id, severity: rule.severity, title: rule.title, ...e, fix: rule.fix });
    if (evidence.length > maxFindingsPerRule) omitted[rule.id] = evidence.length - maxFindingsPerRule;
  }
  return { findings, omitted };
}

/** The rule ids among `ids` that no rule has. */
export function unknownRuleIds(ids: readonly string[]): string[] {
  return ids.filter((id) => !lintRules.some((r) => r.id === id));
}

/** Compilers, build tools and development packages (Debian/Alpine `-dev`, RPM `-devel`). */
export function isToolchainPackage(p: Package): boolean {
  if (p.type !== 'deb' && p.type !== 'apk' && p.type !== 'rpm') return false;
  if (/^(gcc|g\+\+|clang|llvm)(-\d+(\.\d+)*)?$/.test(p.name)) return true;
  if (['make', 'cmake', 'build-essential', 'build-base', 'autoconf', 'automake', 'libtool', 'gcc-c++', 'golang', 'rustc', 'cargo'].includes(p.name)) return true;
  return p.type === 'rpm' ? p.name.endsWith('-devel') : p.name.endsWith('-dev');
}

function gone(file: FileFact): string {
  return file.present ? '' : ' (deleted by a later layer, still in its bytes)';
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}
