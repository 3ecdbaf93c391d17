import type { Command } from 'commander';
import { BerthError } from '../domain/errors.js';
import { userView } from '../http/api/schemas.js';
import type { UserRow } from '../ports/identity-store.js';
import { generateSecret } from '../services/identity/password.js';
import { withAdmin, withConfigFlags, type AdminContext, type ConfigFlags } from './admin-context.js';
import { columns, printResult, secretFromStdin } from './output.js';

interface PasswordFlags extends ConfigFlags {
  passwordStdin?: boolean;
}

/**
 * `berth user create|reset-password|unlock|disable|enable|list`: local accounts, for when the
 * console cannot be reached (a lost admin password, a locked-out account). The same rules as
 * the API: password policy, never the last enabled administrator; every change is audited.
 */
export function registerUsers(program: Command): void {
  const user = program.command('user').description('manage user accounts without the console (create, reset a password, unlock, disable)');

  withConfigFlags(
    user
      .command('create')
      .description('create a local user; prints a generated password once unless --password-stdin gives one')
      .argument('<username>', 'login name')
      .option('--admin', 'make the user a system administrator')
      .option('--email <address>', 'e-mail address')
      .option('--display-name <name>', 'name shown in the console')
      .option('--password-stdin', 'read the password from standard input (its first line)'),
    'print the user (and a generated password) as JSON',
  ).action(async (username: string, opts: PasswordFlags & { admin?: boolean; email?: string; displayName?: string }) => {
    const password = await passwordFor(opts);
    await withAdmin(opts, async (admin) => {
      const created = await admin.users.create({ username, password: password.value, isAdmin: opts.admin === true, email: opts.email, displayName: opts.displayName });
      admin.audit({ action: 'user.create', resourceType: 'user', resource: created.username, project: null, detail: { via: 'cli', isAdmin: created.isAdmin } });
      printResult(opts.json, { user: userView(created, new Set()), ...(password.generated ? { password: password.value } : {}) }, () =>
        [`created user ${created.username}${created.isAdmin ? ' (system administrator)' : ''}`, ...generatedLines(password), ''].join('\n'),
      );
    });
  });

  withConfigFlags(
    user
      .command('reset-password')
      .description("set a local user's password (and clear its login back-off); prints a generated one once unless --password-stdin gives one")
      .argument('<username>', 'login name')
      .option('--password-stdin', 'read the new password from standard input (its first line)'),
    'print the user (and a generated password) as JSON',
  ).action(async (username: string, opts: PasswordFlags) => {
    const password = await passwordFor(opts);
    await withAdmin(opts, async (admin) => {
      const found = await userNamed(admin, username);
      await admin.users.changePassword(found.id, password.value);
      // A new password makes earlier guesses moot (as the API's reset does).
      await admin.loginFailures.clearAccount(found.username);
      admin.audit({ action: 'user.password-reset', resourceType: 'user', resource: found.username, project: null, detail: { via: 'cli' } });
      printResult(opts.json, { user: userView(found, new Set()), ...(password.generated ? { password: password.value } : {}) }, () =>
        [`reset the password of ${found.username}`, ...generatedLines(password), ''].join('\n'),
      );
    });
  });

  withConfigFlags(
    user
      .command('unlock')
      .description('let every client address try this account again at once (clears its login back-off)')
      .argument('<username>', 'login name'),
  ).action(async (username: string, opts: ConfigFlags) => {
    await withAdmin(opts, async (admin) => {
      const found = await userNamed(admin, username);
      const addresses = await admin.loginFailures.clearAccount(found.username);
      admin.audit({ action: 'user.unlock', resourceType: 'user', resource: found.username, project: null, detail: { via: 'cli', addresses } });
      printResult(opts.json, { user: userView(found, new Set()), addresses }, () =>
        addresses === 0 ? `${found.username} was not locked\n` : `unlocked ${found.username} (failed logins from ${addresses} address${addresses === 1 ? '' : 'es'} forgotten)\n`,
      );
    });
  });

  for (const [name, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    withConfigFlags(
      user
        .command(name)
        .description(disabled ? 'refuse every login and token of this user until enabled again (never the last administrator)' : 'let a disabled user log in again')
        .argument('<username>', 'login name'),
    ).action(async (username: string, opts: ConfigFlags) => {
      await withAdmin(opts, async (admin) => {
        const found = await userNamed(admin, username);
        const updated = await admin.users.update(found.id, { disabled });
        admin.audit({ action: 'user.update', resourceType: 'user', resource: found.username, project: null, detail: { via: 'cli', disabled } });
        const locked = new Set(await admin.loginFailures.blockedAccounts(Date.now()));
        printResult(opts.json, { user: userView(updated, locked) }, () => `${disabled ? 'disabled' : 'enabled'} ${updated.username}\n`);
      });
    });
  }

  withConfigFlags(user.command('list').description('list users, locked ones marked').option('--search <text>', 'only users whose name contains this')).action(
    async (opts: ConfigFlags & { search?: string }) => {
      await withAdmin(opts, async (admin) => {
        const { items, total } = await admin.users.list({ offset: 0, limit: 100_000, fuzzy: opts.search ? { username: opts.search } : undefined });
        const locked = new Set(await admin.loginFailures.blockedAccounts(Date.now()));
        const users = items.map((u) => userView(u, locked));
        printResult(opts.json, { users, total }, () =>
          columns(
            ['USERNAME', 'SOURCE', 'ADMIN', 'STATE', 'LAST LOGIN'],
            users.map((u) => [u.username, u.source, u.isAdmin ? 'yes' : 'no', u.disabled ? 'disabled' : u.locked ? 'locked' : 'active', u.lastLoginAt ?? 'never']),
          ),
        );
      });
    },
  );
}

async function userNamed(admin: AdminContext, username: string): Promise<UserRow> {
  const found = await admin.identity.getUserByName(username);
  if (!found) throw new BerthError('NOT_FOUND', { message: `there is no user ${username}` });
  return found;
}

async function passwordFor(opts: PasswordFlags): Promise<{ value: string; generated: boolean }> {
  return opts.passwordStdin ? { value: await secretFromStdin(), generated: false } : { value: generateSecret(20), generated: true };
}

function generatedLines(password: { value: string; generated: boolean }): string[] {
  return password.generated ? ['', 'password (shown only now):', '', `    ${password.value}`, ''] : [];
}
