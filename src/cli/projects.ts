import type { Command } from 'commander';
import { ConfigError } from '../config/load.js';
import type { ProjectRow } from '../ports/identity-store.js';
import type { ProjectUsage, QuotaLimits } from '../ports/metadata-store.js';
import { withAdmin, withConfigFlags, type ConfigFlags } from './admin-context.js';
import { columns, printResult, shownTime } from './output.js';
import { formatBytes } from './progress.js';

/** A project as the API shows it, with its quota's limits and usage (GET /api/v1/quotas/{project}). */
function projectView(project: ProjectRow, usage: ProjectUsage) {
  return {
    id: project.id,
    name: project.name,
    public: project.public,
    createdAt: shownTime(project.createdAt),
    createdBy: project.createdBy,
    limits: { storageBytes: project.quota.bytes, artifacts: project.quota.artifacts },
    usage: { storageBytes: usage.bytes, artifacts: usage.artifacts },
  };
}

const sizeUnits: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** `10GiB`, `500MB`, `1048576` as bytes; `none` for no limit. */
export function parseSize(text: string): number | null {
  if (text === 'none') return null;
  const match = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim());
  const unit = match ? sizeUnits[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) throw new ConfigError(`a size is a number of bytes with an optional unit (KiB, MiB, GiB, TiB, KB, MB, GB, TB) or "none", got "${text}"`);
  return Math.round(Number(match[1]) * unit);
}

function parseCount(text: string): number | null {
  if (text === 'none') return null;
  if (!/^\d+$/.test(text)) throw new ConfigError(`an artifact limit is a whole number or "none", got "${text}"`);
  return Number(text);
}

/** `berth project create|list`: projects and their quotas without the console. */
export function registerProjects(program: Command): void {
  const project = program.command('project').description('create and list projects without the console');

  withConfigFlags(
    project
      .command('create')
      .description('create a project (private unless --public), with the system default quota unless limits are given')
      .argument('<name>', 'project name: lowercase letters and digits, separated by . _ __ or -')
      .option('--public', 'anyone may pull from it without logging in')
      .option('--storage-limit <size>', 'storage quota, e.g. 10GiB, or "none"')
      .option('--artifact-limit <count>', 'artifact quota, or "none"'),
  ).action(async (name: string, opts: ConfigFlags & { public?: boolean; storageLimit?: string; artifactLimit?: string }) => {
    const limits: Partial<QuotaLimits> = {};
    if (opts.storageLimit !== undefined) limits.bytes = parseSize(opts.storageLimit);
    if (opts.artifactLimit !== undefined) limits.artifacts = parseCount(opts.artifactLimit);
    await withAdmin(opts, async (admin) => {
      // Created as a system administrator would (the CLI acts as one): no member is added.
      let created = await admin.projects.create(name, opts.public === true, admin.principal);
      if (Object.keys(limits).length > 0) {
        await admin.quotas.set(created.name, limits);
        created = await admin.projects.get(created.name);
      }
      admin.audit({ action: 'project.create', resourceType: 'project', resource: created.name, project: created.name, detail: { via: 'cli', public: created.public } });
      printResult(opts.json, { project: projectView(created, { bytes: 0, artifacts: 0 }) }, () => `created ${created.public ? 'public' : 'private'} project ${created.name}\n`);
    });
  });

  withConfigFlags(project.command('list').description('list projects with their quota usage')).action(async (opts: ConfigFlags) => {
    await withAdmin(opts, async (admin) => {
      const { items, total } = await admin.identity.listProjects({ offset: 0, limit: 100_000, sort: { field: 'name', descending: false } });
      const quotas = new Map((await admin.quotas.list({ offset: 0, limit: 100_000 })).items.map((q) => [q.project, q.usage]));
      const projects = items.map((p) => projectView(p, quotas.get(p.name) ?? { bytes: 0, artifacts: 0 }));
      printResult(opts.json, { projects, total }, () =>
        columns(
          ['NAME', 'ACCESS', 'STORAGE', 'ARTIFACTS', 'CREATED'],
          projects.map((p) => [
            p.name,
            p.public ? 'public' : 'private',
            `${formatBytes(p.usage.storageBytes)} of ${p.limits.storageBytes === null ? 'unlimited' : formatBytes(p.limits.storageBytes)}`,
            `${p.usage.artifacts} of ${p.limits.artifacts ?? 'unlimited'}`,
            p.createdAt,
          ]),
        ),
      );
    });
  });
}
