import type { Command } from 'commander';
import { ConfigError } from '../config/load.js';
import type { RobotAction } from '../domain/permissions.js';
import { robotView } from '../http/api/schemas.js';
import type { ProjectRow, RobotPermission } from '../ports/identity-store.js';
import { withAdmin, withConfigFlags, type ConfigFlags } from './admin-context.js';
import { columns, printResult, shownTime } from './output.js';

interface RobotFlags extends ConfigFlags {
  project?: string;
  actions: string;
  access?: string[];
  description?: string;
  expiresDays?: string;
}

/** `team-a:pull,push` (or `*:pull`) as a permission. */
function accessOf(text: string): RobotPermission {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) throw new ConfigError(`--access expects <project>:<actions>, e.g. team-a:pull,push or '*:pull', got "${text}"`);
  return { project: text.slice(0, colon), actions: actionsOf(text.slice(colon + 1)) };
}

function actionsOf(text: string): RobotAction[] {
  return text.split(',').map((a) => a.trim()) as RobotAction[];
}

/**
 * `berth robot create|list`: robot accounts for CI and Kubernetes pulls (imagePullSecrets),
 * without the console. The secret is printed once, as the API returns it.
 */
export function registerRobots(program: Command): void {
  const robot = program.command('robot').description('create and list robot accounts without the console');

  withConfigFlags(
    robot
      .command('create')
      .description('create a robot account and print its secret once: a project robot with --project, a system robot with --access')
      .argument('<name>', 'lowercase letters and digits, separated by . _ or -; the login is robot$<project>+<name> or robot$<name>')
      .option('--project <project>', 'a project robot, acting only in this project')
      .option('--actions <list>', 'what a project robot may do: pull, push, delete', 'pull')
      .option('--access <project:actions...>', "a system robot's permissions, e.g. team-a:pull,push '*:pull' (repeatable)")
      .option('--description <text>', 'what the robot is for')
      .option('--expires-days <days>', 'expire after this many days (default: never)'),
    'print the robot and its secret as JSON',
  ).action(async (name: string, opts: RobotFlags) => {
    if (opts.project !== undefined && opts.access !== undefined) throw new ConfigError('--project makes a project robot and --access a system robot: give one of them');
    if (opts.project === undefined && opts.access === undefined) throw new ConfigError('give --project <project> (a project robot) or --access <project:actions> (a system robot)');
    let expiresAt: number | null = null;
    if (opts.expiresDays !== undefined) {
      const days = Number(opts.expiresDays);
      if (!Number.isFinite(days) || days <= 0) throw new ConfigError(`--expires-days expects a number of days above 0, got "${opts.expiresDays}"`);
      expiresAt = Date.now() + days * 86_400_000;
    }
    await withAdmin(opts, async (admin) => {
      const project = opts.project === undefined ? null : await admin.projects.get(opts.project);
      const permissions = project ? [{ project: project.name, actions: actionsOf(opts.actions) }] : opts.access!.map(accessOf);
      const { robot: created, secret } = await admin.robots.create({ name, description: opts.description ?? null, expiresAt, permissions }, project, admin.actor);
      admin.audit({ action: 'robot.create', resourceType: 'robot', resource: created.name, project: project?.name ?? null, detail: { via: 'cli', permissions: created.permissions } });
      printResult(opts.json, { robot: robotView(created, project?.name ?? null), secret }, () =>
        [
          `created ${created.name} (${created.permissions.map((p) => `${p.project}: ${p.actions.join(', ')}`).join('; ')}${expiresAt === null ? '' : `, expires ${shownTime(expiresAt)}`})`,
          '',
          'secret (shown only now):',
          '',
          `    ${secret}`,
          '',
          `log in with: podman login -u '${created.name}' --password-stdin <registry>`,
          '',
        ].join('\n'),
      );
    });
  });

  withConfigFlags(
    robot.command('list').description("list robot accounts: the system's, or one project's with --project").option('--project <project>', "this project's robots"),
  ).action(async (opts: ConfigFlags & { project?: string }) => {
    await withAdmin(opts, async (admin) => {
      const project: ProjectRow | null = opts.project === undefined ? null : await admin.projects.get(opts.project);
      const { items, total } = await admin.robots.list(project, { offset: 0, limit: 100_000 });
      const robots = items.map((r) => robotView(r, project?.name ?? null));
      printResult(opts.json, { robots, total }, () =>
        columns(
          ['NAME', 'PERMISSIONS', 'STATE', 'EXPIRES'],
          robots.map((r) => [
            r.name,
            r.permissions.map((p) => `${p.project}:${p.actions.join(',')}`).join(' '),
            r.disabled ? 'disabled' : r.expiresAt !== null && Date.parse(r.expiresAt) <= Date.now() ? 'expired' : 'active',
            r.expiresAt ?? 'never',
          ]),
        ),
      );
    });
  });
}
