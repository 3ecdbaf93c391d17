import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, migrate, type Database } from '../../src/adapters/db/connect.js';
import { KyselyIdentityStore } from '../../src/adapters/db/kysely-identity-store.js';
import type { BerthError } from '../../src/domain/errors.js';
import type { IdentityStore } from '../../src/ports/identity-store.js';
import { Authenticator } from '../../src/services/identity/authenticator.js';
import { hashSecret, verifySecret } from '../../src/services/identity/password.js';

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
    const authenticator = new Authenticator(store, { lockout: { maxAttempts: 5, durationMs: 60_000 } });
    const principals = await Promise.all(Array.from({ length: 10 }, () => authenticator.verify('alice', 'Alice-Passw0rd')));
    expect(new Set(principals.map((p) => (p.kind === 'user' ? p.name : p.kind)))).toEqual(new Set(['alice']));
    expect(lookups()).toBe(1);
    // Remembered afterwards too.
    await authenticator.verify('alice', 'Alice-Passw0rd');
    expect(lookups()).toBe(1);
  });

  it('counts a burst of identical wrong passwords as one failed attempt', async () => {
    const { store, lookups } = countingStore(identity);
    const authenticator = new Authenticator(store, { lockout: { maxAttempts: 5, durationMs: 60_000 } });
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => authenticator.verify('alice', 'wrong-Passw0rd')));
    expect(results.map((r) => (r.status === 'rejected' ? (r.reason as BerthError).key : 'fulfilled'))).toEqual(Array(10).fill('UNAUTHORIZED'));
    expect(lookups()).toBe(1);
    expect((await identity.getUserByName('alice'))?.failedLogins).toBe(1);
    await identity.updateUser((await identity.getUserByName('alice'))!.id, { failedLogins: 0 }, Date.now());
  });

  it('does not remember a verification that was under way when identities changed', async () => {
    const { store, lookups } = countingStore(identity);
    const authenticator = new Authenticator(store, { lockout: { maxAttempts: 5, durationMs: 60_000 } });
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
