import { BerthError } from '../../domain/errors.js';
import type { IdentityStore, ListQuery, ListResult, UserRow } from '../../ports/identity-store.js';
import { assertPasswordPolicy, generateSecret, hashSecret, verifySecret, type PasswordPolicy } from './password.js';

export interface NewUserInput {
  username: string;
  password: string;
  email?: string | null;
  displayName?: string | null;
  isAdmin?: boolean;
}

export interface UserServiceOptions {
  passwordPolicy: PasswordPolicy;
  /** Called after every change, so caches of verified credentials and principals are dropped. */
  onChange: () => void;
  now?: () => number;
}

const usernamePattern = /^[a-zA-Z0-9][a-zA-Z0-9._@-]{0,254}$/;

/** Local accounts: creation with the password policy, updates, password changes, CLI secrets. */
export class UserService {
  private readonly now: () => number;

  constructor(
    private readonly identity: IdentityStore,
    private readonly options: UserServiceOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  async create(input: NewUserInput): Promise<UserRow> {
    if (!usernamePattern.test(input.username) || input.username.startsWith('robot$')) {
      throw new BerthError('BAD_REQUEST', { message: 'username must be 1-255 letters, digits, or . _ @ - and not start with robot$' });
    }
    assertPasswordPolicy(input.password, this.options.passwordPolicy);
    if (await this.identity.getUserByName(input.username)) {
      throw new BerthError('CONFLICT', { message: `user ${input.username} already exists` });
    }
    const user = await this.identity.createUser(
      {
        username: input.username,
        email: input.email ?? null,
        displayName: input.displayName ?? null,
        passwordHash: await hashSecret(input.password),
        source: 'local',
        externalId: null,
        isAdmin: input.isAdmin ?? false,
      },
      this.now(),
    );
    this.options.onChange();
    return user;
  }

  async get(id: number): Promise<UserRow> {
    const user = await this.identity.getUser(id);
    if (!user) throw new BerthError('NOT_FOUND', { message: `user ${id} not found` });
    return user;
  }

  list(query: ListQuery): Promise<ListResult<UserRow>> {
    return this.identity.listUsers(query);
  }

  async update(id: number, patch: { email?: string | null; displayName?: string | null; isAdmin?: boolean; disabled?: boolean }): Promise<UserRow> {
    const user = await this.get(id);
    if ((patch.isAdmin === false || patch.disabled === true) && user.isAdmin && !user.disabled) await this.assertNotLastAdmin();
    const updated = await this.identity.updateUser(id, patch, this.now());
    this.options.onChange();
    return updated!;
  }

  async delete(id: number): Promise<UserRow> {
    const user = await this.get(id);
    if (user.isAdmin && !user.disabled) await this.assertNotLastAdmin();
    await this.identity.deleteUser(id);
    this.options.onChange();
    return user;
  }

  async setPreferences(id: number, preferences: UserRow['preferences']): Promise<UserRow> {
    return (await this.identity.updateUser(id, { preferences }, this.now()))!;
  }

  /** A user changing their own password must prove the old one; an admin resetting need not. */
  async changePassword(id: number, newPassword: string, oldPassword?: string): Promise<void> {
    const user = await this.get(id);
    if (user.source !== 'local') throw new BerthError('BAD_REQUEST', { message: `${user.source} users change their password at their identity provider` });
    if (oldPassword !== undefined && !(await verifySecret(oldPassword, user.passwordHash))) {
      throw new BerthError('BAD_REQUEST', { message: 'the old password is wrong' });
    }
    assertPasswordPolicy(newPassword, this.options.passwordPolicy);
    await this.identity.updateUser(id, { passwordHash: await hashSecret(newPassword) }, this.now());
    this.options.onChange();
  }

  /** A new secret for `docker login` by an OIDC user; returned once, stored hashed. */
  async regenerateCliSecret(id: number): Promise<string> {
    const user = await this.get(id);
    if (user.source !== 'oidc') throw new BerthError('BAD_REQUEST', { message: 'only OIDC users have a CLI secret; others log in with their password' });
    const secret = generateSecret(32);
    await this.identity.updateUser(id, { cliSecretHash: await hashSecret(secret) }, this.now());
    this.options.onChange();
    return secret;
  }

  /**
   * First start: when no administrator exists, creates `admin` with the given password, or a
   * generated one that the caller shows once. Resolves undefined when an admin already exists.
   */
  async ensureInitialAdmin(password: string | undefined): Promise<{ username: string; password: string; generated: boolean } | undefined> {
    if ((await this.identity.countAdmins()) > 0) return undefined;
    const chosen = password ?? generateSecret(20);
    const existing = await this.identity.getUserByName('admin');
    if (existing) {
      await this.identity.updateUser(existing.id, { isAdmin: true, disabled: false, passwordHash: await hashSecret(chosen) }, this.now());
    } else {
      try {
        await this.create({ username: 'admin', password: chosen, isAdmin: true, displayName: 'System administrator' });
      } catch (err) {
        // Another instance sharing the database created it at the same moment; that one reports it.
        if ((await this.identity.countAdmins()) > 0) return undefined;
        throw err;
      }
    }
    this.options.onChange();
    return { username: 'admin', password: chosen, generated: password === undefined };
  }

  private async assertNotLastAdmin(): Promise<void> {
    if ((await this.identity.countAdmins()) <= 1) {
      throw new BerthError('CONFLICT', { message: 'this is the last enabled system administrator; make another admin first' });
    }
  }
}
