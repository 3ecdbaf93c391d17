import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, migrate, type Database } from '../../src/adapters/db/connect.js';
import { KyselyIdentityStore } from '../../src/adapters/db/kysely-identity-store.js';
import type { BerthError } from '../../src/domain/errors.js';
import type { Principal } from '../../src/services/identity/principal.js';
import { TokenService } from '../../src/services/identity/token-service.js';

const settings = { issuer: 'test-issuer', service: 'test', accessTtlSeconds: 300, refreshTtlSeconds: 3600, sessionTtlSeconds: 3600, keyRotationDays: 30 };
const alice: Principal = { kind: 'user', id: 7, name: 'alice', isAdmin: false, groupIds: [], source: 'local' };

async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'accepted';
  } catch (err) {
    return (err as BerthError).key;
  }
}

describe('token verification', () => {
  let database: Database;
  let now = Date.now();
  let tokens: TokenService;

  beforeAll(async () => {
    database = connect({ url: 'sqlite::memory:' });
    await migrate(database);
    tokens = new TokenService(new KyselyIdentityStore(database), settings, { now: () => now });
    await tokens.init();
  });
  afterAll(async () => {
    await database.db.destroy();
  });

  it('keeps refusing a token once it expires, though it verified before', async () => {
    const { token } = await tokens.issue('access', alice, [{ type: 'repository', name: 'a/b', actions: ['pull'] }]);
    expect((await tokens.verify(token, 'access')).access).toEqual([{ type: 'repository', name: 'a/b', actions: ['pull'] }]);
    now += 299_000;
    expect((await tokens.verify(token, 'access')).subject).toEqual({ kind: 'user', id: 7, name: 'alice' });
    // 300 s lifetime + 30 s tolerated skew, and then no more.
    now += 32_000;
    expect(await rejection(tokens.verify(token, 'access'))).toBe('UNAUTHORIZED');
  });

  it('refuses a token with one byte changed after the original verified', async () => {
    const { token } = await tokens.issue('access', alice);
    await tokens.verify(token, 'access');
    const last = token.at(-2) === 'A' ? 'B' : 'A';
    const tampered = `${token.slice(0, -2)}${last}${token.at(-1)}`;
    expect(await rejection(tokens.verify(tampered, 'access'))).toBe('UNAUTHORIZED');
  });

  it('refuses a verified session token where an access token is needed', async () => {
    const { token } = await tokens.issue('session', alice);
    expect((await tokens.verify(token, 'session')).use).toBe('session');
    expect(await rejection(tokens.verify(token, 'access'))).toBe('UNAUTHORIZED');
  });
});
