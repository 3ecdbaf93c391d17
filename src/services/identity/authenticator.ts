import { createHash } from 'node:crypto';
import { BerthError } from '../../domain/errors.js';
import type { IdentityStore, UserPatch, UserRow } from '../../ports/identity-store.js';
import type { LdapDirectory, LdapUser } from './ldap-directory.js';
import { hashSecret, isCurrentHash, verifySecret } from './password.js';
import type { LoginThrottle } from './login-throttle.js';
import type { Principal } from './principal.js';

export interface AuthenticatorOptions {
  /** Back-off per account and client address; without it (tests, internal callers) nothing is counted. */
  throttle?: LoginThrottle;
  ldap?: LdapDirectory;
  /** LDAP group DN whose members are system admins. */
  ldapAdminGroupDn?: string;
  now?: () => number;
}

const robotPrefix = 'robot$';
/** How long a verified password is remembered (scrypt per /v2 request would cost ~120 ms each). */
const verifiedTtlMs = 60_000;
/** How long a principal's enabled/exists state is trusted between database checks. */
const principalTtlMs = 2_000;
/**
 * While the database cannot be read, a principal's last known state is used for this long
 * instead of failing every token request: clients keep working through a short outage or
 * restart (docs/hardening.md). Changes made here still drop it at once (invalidate).
 */
export const staleIfErrorMs = 60_000;

/**
 * Turns credentials into a Principal: local users (scrypt), robot accounts (`robot$…`),
 * LDAP users (bind), and OIDC users' CLI secrets. Wrong secrets count towards the login
 * back-off of that account from that client address (LoginThrottle).
 */
export class Authenticator {
  private readonly verified = new Map<string, { principal: Principal; expires: number }>();
  /** Verifications under way, so a burst of identical requests costs one scrypt run, not one each. */
  private readonly verifying = new Map<string, Promise<Principal>>();
  /** Bumped by invalidate(): a verification that began before a change must not be cached after it. */
  private generation = 0;
  private readonly principals = new Map<string, { principal: Principal | undefined; expires: number; fetchedAt: number }>();
  private readonly now: () => number;
  // A real hash to compare against for unknown users, so timing does not reveal which exist.
  private readonly decoy = hashSecret('decoy-password-for-timing');

  constructor(
    private readonly identity: IdentityStore,
    private readonly options: AuthenticatorOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Forgets cached verifications and principal states (call after any identity change). */
  invalidate(): void {
    this.generation++;
    this.verified.clear();
    this.verifying.clear();
    this.principals.clear();
  }

  /**
   * Verifies a username and password/secret; throws UNAUTHORIZED with a reason otherwise, or
   * TOOMANYREQUESTS while `source` (the client's address) must wait for this account.
   * Remembered per address, so a correct password from an address that is waiting is refused
   * even while another address's login with it is remembered.
   */
  async verify(username: string, secret: string, source?: string): Promise<Principal> {
    const key = createHash('sha256').update(username).update('\0').update(secret).update('\0').update(source ?? '').digest('hex');
    const cached = this.verified.get(key);
    if (cached && cached.expires > this.now()) {
      const current = await this.reload(cached.principal);
      if (current) return current;
    }
    const inFlight = this.verifying.get(key);
    if (inFlight) return inFlight;
    const generation = this.generation;
    const verification = (async () => {
      const throttle = source === undefined ? undefined : this.options.throttle;
      const hadFailures = throttle ? await throttle.check(username, source!) : false;
      let principal: Principal;
      try {
        principal = username.startsWith(robotPrefix) ? await this.verifyRobot(username, secret) : await this.verifyUser(username, secret);
      } catch (err) {
        if (throttle && guesses.has(err as Error)) await throttle.failed(username, source!);
        throw err;
      }
      if (throttle && hadFailures) await throttle.succeeded(username, source!);
      if (generation === this.generation) {
        if (this.verified.size > 10_000) this.verified.clear();
        this.verified.set(key, { principal, expires: this.now() + verifiedTtlMs });
      }
      return principal;
    })();
    this.verifying.set(key, verification);
    try {
      return await verification;
    } finally {
      if (this.verifying.get(key) === verification) this.verifying.delete(key);
    }
  }

  /**
   * The principal as the database knows it now: undefined when deleted, disabled, locked or
   * expired. Used for every token and session, so revocations bite within seconds.
   */
  async reload(principal: Principal): Promise<Principal | undefined> {
    if (principal.kind === 'anonymous') return principal;
    const key = `${principal.kind}:${principal.id}`;
    const cached = this.principals.get(key);
    if (cached && cached.expires > this.now()) return cached.principal;
    const generation = this.generation;
    let current: Principal | undefined;
    try {
      current = await this.fetchPrincipal(principal);
    } catch (err) {
      if (cached && this.now() - cached.fetchedAt < staleIfErrorMs) return cached.principal;
      throw err;
    }
    // A read that began before a change was announced answers this request, but is not kept.
    if (generation !== this.generation) return current;
    if (this.principals.size > 10_000) this.principals.clear();
    this.principals.set(key, { principal: current, expires: this.now() + principalTtlMs, fetchedAt: this.now() });
    return current;
  }

  private async fetchPrincipal(principal: Exclude<Principal, { kind: 'anonymous' }>): Promise<Principal | undefined> {
    if (principal.kind === 'user') {
      const user = await this.identity.getUser(principal.id);
      return user && !user.disabled ? await this.userPrincipal(user) : undefined;
    }
    const robot = await this.identity.getRobot(principal.id);
    return robot && !robot.disabled && (robot.expiresAt === null || robot.expiresAt > this.now())
      ? { kind: 'robot', id: robot.id, name: robot.name, projectId: robot.projectId, permissions: robot.permissions, rateLimits: robot.rateLimits }
      : undefined;
  }

  async userPrincipal(user: UserRow): Promise<Principal> {
    return { kind: 'user', id: user.id, name: user.username, isAdmin: user.isAdmin, groupIds: await this.identity.groupIdsOf(user.id), source: user.source };
  }

  private async verifyRobot(name: string, secret: string): Promise<Principal> {
    const robot = await this.identity.getRobotByName(name);
    if (!robot) {
      await verifySecret(secret, await this.decoy);
      throw wrongSecret();
    }
    if (!(await verifySecret(secret, robot.secretHash))) throw wrongSecret();
    if (robot.disabled) throw unauthorized('the robot account is disabled');
    if (robot.expiresAt !== null && robot.expiresAt <= this.now()) throw unauthorized('the robot account has expired');
    if (!isCurrentHash(robot.secretHash)) await this.identity.updateRobot(robot.id, { secretHash: await hashSecret(secret) }, this.now());
    return { kind: 'robot', id: robot.id, name: robot.name, projectId: robot.projectId, permissions: robot.permissions, rateLimits: robot.rateLimits };
  }

  private async verifyUser(username: string, secret: string): Promise<Principal> {
    let user = await this.identity.getUserByName(username);
    let ok = false;
    if (user && user.source === 'local') {
      ok = await verifySecret(secret, user.passwordHash);
    } else if (user && user.source === 'oidc') {
      // OIDC users log in to the console at their provider; docker/podman use their CLI secret.
      ok = await verifySecret(secret, user.cliSecretHash);
    } else if (this.options.ldap && (!user || user.source === 'ldap')) {
      const found = await this.options.ldap.authenticate(username, secret).catch((err: unknown) => {
        throw new BerthError('UNAVAILABLE', { message: `the LDAP directory cannot be reached: ${(err as Error).message}`, cause: err });
      });
      if (found) {
        user = await this.syncLdapUser(found, user);
        ok = true;
      }
    } else {
      await verifySecret(secret, await this.decoy);
    }

    if (!ok) throw wrongSecret();
    if (user!.disabled) throw unauthorized('the account is disabled');
    const patch: UserPatch = {};
    // A hash stored with earlier parameters is replaced now that the secret is at hand.
    if (user!.source === 'local' && !isCurrentHash(user!.passwordHash)) patch.passwordHash = await hashSecret(secret);
    if (user!.source === 'oidc' && !isCurrentHash(user!.cliSecretHash)) patch.cliSecretHash = await hashSecret(secret);
    if (Object.keys(patch).length > 0) await this.identity.updateUser(user!.id, patch, this.now());
    return this.userPrincipal(user!);
  }

  /** Creates or refreshes the local record of an LDAP user and its group memberships. */
  private async syncLdapUser(found: LdapUser, existing: UserRow | undefined): Promise<UserRow> {
    const now = this.now();
    const isAdmin = this.options.ldapAdminGroupDn !== undefined && found.groups.some((g) => g.dn.toLowerCase() === this.options.ldapAdminGroupDn!.toLowerCase());
    const user =
      existing ??
      (await this.identity.getUserByExternalId('ldap', found.dn)) ??
      (await this.identity.createUser(
        { username: found.username, email: found.email, displayName: found.displayName, passwordHash: null, source: 'ldap', externalId: found.dn, isAdmin },
        now,
      ));
    const groupIds: number[] = [];
    for (const group of found.groups) {
      const row =
        (await this.identity.getGroupByExternalId('ldap', group.dn)) ??
        (await this.identity.createGroup({ name: group.name, source: 'ldap', externalId: group.dn }, now));
      groupIds.push(row.id);
    }
    await this.identity.setUserGroups(user.id, 'ldap', groupIds);
    const updated = await this.identity.updateUser(user.id, { email: found.email, displayName: found.displayName, isAdmin: this.options.ldapAdminGroupDn !== undefined ? isAdmin : user.isAdmin, lastLoginAt: now }, now);
    this.principals.delete(`user:${user.id}`);
    return updated ?? user;
  }
}

/** Refusals for a wrong secret or an unknown name: the ones the back-off counts (not "disabled" or "expired"). */
const guesses = new WeakSet<Error>();

function wrongSecret(): BerthError {
  const err = unauthorized('invalid username or password');
  guesses.add(err);
  return err;
}

function unauthorized(message: string): BerthError {
  return new BerthError('UNAUTHORIZED', { message });
}
