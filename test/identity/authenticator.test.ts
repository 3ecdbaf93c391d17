import { randomBytes, scryptSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, migrate, type Database } from '../../src/adapters/db/connect.js';
import { KyselyIdentityStore } from '../../src/adapters/db/kysely-identity-store.js';
import type { BerthError } from '../../src/domain/errors.js';
import type { IdentityStore } from '../../src/ports/identity-store.js';
import { KyselyLoginFailureStore } from '../../src/adapters/db/kysely-login-failure-store.js';
import { Authenticator } from '../../src/services/identity/authenticator.js';
import { LoginThrottle } from '../../src/services/identity/login-throttle.js';
import { hashSecret, isCurrentHash, verifySecret } from '../../src/services/identity/password.js';

/** The identity store, counting how often the authenticator looks a user up by name. */
function countingStore(store: IdentityStore): { store: IdentityStore; lookups: () => number } {
  let lookups = 0;
  const counted = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (key === 'getUserByName') {
        return (...args: Parameters<IdentityStore['getUserByName']>) => {
          lookups++;
          return target.getUserByName(...args);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store: counted, lookups: () => lookups };
}

describe('password verification', () => {
  let database: Database;
  let identity: KyselyIdentityStore;

  beforeAll(async () => {
    database = connect({ url: 'sqlite::memory:' });
    await migrate(database);
    identity = new KyselyIdentityStore(database);
    await identity.createUser({ username: 'alice', email: null, displayName: null, passwordHash: await hashSecret('Alice-Passw0rd'), source: 'local', externalId: null, isAdmin: false }, Date.now());
  });
  afterAll(async () => {
    await database.db.destroy();
  });

  it('verifies a burst of identical logins once', async () => {
    const { store, lookups } = countingStore(identity);
    const authenticator = new Authenticator(store, {});
    const principals = await Promise.all(Array.from({ length: 10 }, () => authenticator.verify('alice', 'Alice-Passw0rd')));
    expect(new Set(principals.map((p) => (p.kind === 'user' ? p.name : p.kind)))).toEqual(new Set(['alice']));
    expect(lookups()).toBe(1);
    // Remembered afterwards too.
    await authenticator.verify('alice', 'Alice-Passw0rd');
    expect(lookups()).toBe(1);
  });

  it('counts a burst of identical wrong passwords as one failed attempt', async () => {
    const { store, lookups } = countingStore(identity);
    const failures = new KyselyLoginFailureStore(database);
    const throttle = new LoginThrottle(failures, { attempts: 5, delayMs: 60_000, maxDelayMs: 600_000, sourceAttempts: 50, forgetMs: 86_400_000 });
    const authenticator = new Authenticator(store, { throttle });
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => authenticator.verify('alice', 'wrong-Passw0rd', '127.0.0.9')));
    expect(results.map((r) => (r.status === 'rejected' ? (r.reason as BerthError).key : 'fulfilled'))).toEqual(Array(10).fill('UNAUTHORIZED'));
    expect(lookups()).toBe(1);
    expect((await failures.get([{ account: 'alice', source: '127.0.0.9' }])).map((r) => r.failures)).toEqual([1]);
    await throttle.unlock('alice');
  });

  it('does not remember a verification that was under way when identities changed', async () => {
    const { store, lookups } = countingStore(identity);
    const authenticator = new Authenticator(store, {});
    const first = authenticator.verify('alice', 'Alice-Passw0rd');
    authenticator.invalidate();
    await first;
    await authenticator.verify('alice', 'Alice-Passw0rd');
    expect(lookups()).toBe(2);
  });

  it('gets every result right when more hashes are asked for than run at once', async () => {
    const stored = await hashSecret('Secret-1');
    const checks = await Promise.all(['Secret-1', 'Secret-2', 'Secret-1', 'Secret-3', 'Secret-1', 'Secret-4'].map((s) => verifySecret(s, stored)));
    expect(checks).toEqual([true, false, true, false, true, false]);
  });
});

/** A hash as Berth stored them before 2026-12: scrypt N=2^15, r=8, p=1. */
function oldHash(secret: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(secret, salt, 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
  return ['scrypt', 2 ** 15, 8, 1, salt.toString('base64'), key.toString('base64')].join('$');
}

describe('hashes stored with earlier parameters', () => {
  let database: Database;
  let identity: KyselyIdentityStore;

  beforeAll(async () => {
    database = connect({ url: 'sqlite::memory:' });
    await migrate(database);
    identity = new KyselyIdentityStore(database);
  });
  afterAll(async () => {
    await database.db.destroy();
  });

  it("replaces a local user's old hash at the first successful login, never at a failed one", async () => {
    const old = oldHash('Old-Passw0rd');
    const { id } = await identity.createUser({ username: 'olduser', email: null, displayName: null, passwordHash: old, source: 'local', externalId: null, isAdmin: false }, Date.now());
    await expect(new Authenticator(identity, {}).verify('olduser', 'wrong-Passw0rd')).rejects.toMatchObject({ key: 'UNAUTHORIZED' });
    expect((await identity.getUser(id))!.passwordHash).toBe(old);

    await new Authenticator(identity, {}).verify('olduser', 'Old-Passw0rd');
    const stored = (await identity.getUser(id))!.passwordHash!;
    expect(stored).not.toBe(old);
    expect(stored.split('$').slice(0, 4)).toEqual(['scrypt', '8192', '8', '10']);
    expect(await verifySecret('Old-Passw0rd', stored)).toBe(true);
    // A fresh authenticator (nothing remembered) logs in with the new hash, and leaves it be.
    await new Authenticator(identity, {}).verify('olduser', 'Old-Passw0rd');
    expect((await identity.getUser(id))!.passwordHash).toBe(stored);
  });

  it("replaces a robot's old secret hash at its next login", async () => {
    const old = oldHash('Robot-Secr3t');
    const robot = await identity.createRobot({ name: 'robot$old', projectId: null, description: null, secretHash: old, permissions: [], expiresAt: null, disabled: false, createdBy: null }, Date.now());
    await new Authenticator(identity, {}).verify('robot$old', 'Robot-Secr3t');
    const stored = (await identity.getRobot(robot.id))!.secretHash;
    expect(isCurrentHash(old)).toBe(false);
    expect(isCurrentHash(stored)).toBe(true);
    expect(await verifySecret('Robot-Secr3t', stored)).toBe(true);
  });
});
