import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, fetch as undiciFetch } from 'undici';
import { connect, migrate, type Database } from '../../src/adapters/db/connect.js';
import { KyselyLoginFailureStore } from '../../src/adapters/db/kysely-login-failure-store.js';
import { LoginThrottle } from '../../src/services/identity/login-throttle.js';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient, basic } from '../helpers/api.js';

/** HTTP from a chosen loopback source address, as a client on another machine would come from its own. */
function from(address: string) {
  const dispatcher = new Agent({ localAddress: address });
  return {
    fetch: (url: string, init: Parameters<typeof undiciFetch>[1] = {}) => undiciFetch(url, { ...init, dispatcher }),
    close: () => dispatcher.close(),
  };
}

type Client = ReturnType<typeof from>;

describe('login back-off per account and client address', () => {
  let berth: TestBerth;
  let admin: ApiClient;
  let attacker: Client;
  let user: Client;
  const password = 'Right-Passw0rd';

  beforeAll(async () => {
    // Berth listens on 127.0.0.1; the clients connect from 127.0.0.2 (the attacker) and 127.0.0.3 (the real user).
    berth = await startTestBerth({ settings: { 'auth.lockout.delaySeconds': 120 } });
    admin = new ApiClient(berth.url);
    attacker = from('127.0.0.2');
    user = from('127.0.0.3');
  });
  afterAll(async () => {
    await attacker?.close();
    await user?.close();
    await berth?.stop();
  });

  const token = (client: Client, username: string, secret: string) =>
    client.fetch(`${berth.url}/service/token?service=berth&scope=repository:library/app:pull`, { headers: { Authorization: basic(username, secret) } });
  const v2 = (client: Client, username: string, secret: string) => client.fetch(`${berth.url}/v2/`, { headers: { Authorization: basic(username, secret) } });
  const consoleLogin = (client: Client, username: string, secret: string) =>
    client.fetch(`${berth.url}/api/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username, password: secret }) });

  /** 20 wrong passwords from the attacker's address: the first 5 are checked (401), the rest refused unchecked (429). */
  async function burst(username: string): Promise<number[]> {
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await token(attacker, username, `Wrong-Passw0rd-${i}`)).status);
    return statuses;
  }

  async function expectWaiting(res: Awaited<ReturnType<Client['fetch']>>): Promise<void> {
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(100);
    const body = (await res.json()) as { errors?: Array<{ code: string; message: string }>; code?: string; title?: string };
    const message = body.errors?.[0]?.message ?? body.title;
    expect(message).toMatch(/^too many failed logins from this address; try again in \d+ s \(other addresses are not affected\)$/);
  }

  it.each([
    ['a user', 'dev', false],
    ['the administrator', 'admin', true],
  ])('lets %s in from another address while the guessing address waits', async (_who, username, isAdmin) => {
    const secret = isAdmin ? 'Admin-Passw0rd' : password;
    if (!isAdmin) await admin.createUser(username, password);
    expect(await burst(username)).toEqual([...Array<number>(5).fill(401), ...Array<number>(15).fill(429)]);

    // The real user, from 127.0.0.3: token endpoint, Basic on /v2/, and the console's login.
    const issued = await token(user, username, secret);
    expect(issued.status).toBe(200);
    expect(((await issued.json()) as { token: string }).token).toMatch(/^ey/);
    expect((await v2(user, username, secret)).status).toBe(200);
    const session = await consoleLogin(user, username, secret);
    expect(session.status).toBe(200);
    expect(session.headers.get('set-cookie')).toMatch(/^berth_session=/);

    // The right password from the guessing address, right after the burst: refused, everywhere.
    await expectWaiting(await token(attacker, username, secret));
    await expectWaiting(await v2(attacker, username, secret));
    await expectWaiting(await consoleLogin(attacker, username, secret));
  });

  it('treats a robot account the same', async () => {
    await admin.createProject('robots');
    const robot = await admin.createRobot('robots', 'ci', ['pull', 'push']);
    expect(await burst(robot.name)).toEqual([...Array<number>(5).fill(401), ...Array<number>(15).fill(429)]);
    expect((await token(user, robot.name, robot.secret)).status).toBe(200);
    expect((await v2(user, robot.name, robot.secret)).status).toBe(200);
    await expectWaiting(await token(attacker, robot.name, robot.secret));
    await expectWaiting(await v2(attacker, robot.name, robot.secret));
  });

  it('records refused attempts in the audit log, marks the account, and lets an administrator unlock it', async () => {
    await admin.createUser('audited', password);
    await burst('audited');
    const failures = await admin.ok<{ items: Array<{ result: string; sourceIp: string; detail: { reason: string } | null }> }>(
      'GET',
      '/audit-logs?action=login&actor=audited&page_size=100',
    );
    expect(failures.items).toHaveLength(20);
    expect(new Set(failures.items.map((e) => e.sourceIp))).toEqual(new Set(['127.0.0.2']));
    expect(failures.items.filter((e) => e.detail?.reason.startsWith('too many failed logins'))).toHaveLength(15);
    const { id } = (await admin.ok<{ items: Array<{ id: number; locked: boolean }> }>('GET', '/users?q=username=audited')).items[0]!;
    expect((await admin.ok<{ locked: boolean }>('GET', `/users/${id}`)).locked).toBe(true);
    expect(await admin.ok('POST', `/users/${id}/unlock`)).toEqual({ addresses: 1 });
    expect((await admin.ok<{ locked: boolean }>('GET', `/users/${id}`)).locked).toBe(false);
    expect((await token(attacker, 'audited', password)).status).toBe(200);
  });

  it('makes an address that guesses across many accounts wait for all of them (password spraying)', async () => {
    const sprayer = from('127.0.0.4');
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 52; i++) statuses.push((await token(sprayer, `nobody-${i}`, 'Spring2026!')).status);
      expect(statuses.slice(0, 50)).toEqual(Array<number>(50).fill(401));
      expect(statuses.slice(50)).toEqual([429, 429]);
      await expectWaiting(await token(sprayer, 'admin', 'Admin-Passw0rd'));
      expect((await token(user, 'admin', 'Admin-Passw0rd')).status).toBe(200);
    } finally {
      await sprayer.close();
    }
  });
});

describe('the client address behind a proxy', () => {
  it('takes X-Forwarded-For only with server.trustProxy, so a client cannot choose its own address', async () => {
    for (const trustProxy of [false, true]) {
      const berth = await startTestBerth({ settings: { 'server.trustProxy': trustProxy } });
      try {
        await new ApiClient(berth.url).createUser('proxied', 'Right-Passw0rd');
        for (let i = 0; i < 5; i++) {
          const res = await fetch(`${berth.url}/service/token?service=berth`, { headers: { Authorization: basic('proxied', `Wrong-${i}-Passw0rd`), 'X-Forwarded-For': '203.0.113.9' } });
          expect(res.status).toBe(401);
        }
        const sameProxyOtherClient = await fetch(`${berth.url}/service/token?service=berth`, {
          headers: { Authorization: basic('proxied', 'Right-Passw0rd'), 'X-Forwarded-For': '198.51.100.7' },
        });
        // Trusted: 198.51.100.7 is another client and gets in. Not trusted: every request is 127.0.0.1, which must wait.
        expect(sameProxyOtherClient.status, `trustProxy ${trustProxy}`).toBe(trustProxy ? 200 : 429);
      } finally {
        await berth.stop();
      }
    }
  });
});

describe('the back-off schedule', () => {
  let database: Database;

  beforeAll(async () => {
    database = connect({ url: 'sqlite::memory:' });
    await migrate(database);
  });
  afterAll(async () => {
    await database?.db.destroy();
  });

  it('waits after the 3rd failure, doubles each time, caps, and forgets after a success', async () => {
    let now = 1_000_000;
    const throttle = new LoginThrottle(new KyselyLoginFailureStore(database), { attempts: 3, delayMs: 1000, maxDelayMs: 5000, sourceAttempts: 100, forgetMs: 3_600_000 }, { now: () => now });
    const waitOf = async () => {
      try {
        await throttle.check('eve', '10.9.9.9');
        return 0;
      } catch (err) {
        return Number((err as { headers: Record<string, string> }).headers['Retry-After']);
      }
    };
    const waits: number[] = [];
    for (let failure = 1; failure <= 7; failure++) {
      await throttle.failed('eve', '10.9.9.9');
      waits.push(await waitOf());
      now += 10_000; // past any wait, so the next attempt is checked
    }
    expect(waits).toEqual([0, 0, 1, 2, 4, 5, 5]);
    // Another address for the same account never waited.
    expect(await throttle.check('eve', '10.9.9.10')).toBe(false);
    expect(await throttle.check('eve', '10.9.9.9')).toBe(true);
    await throttle.succeeded('eve', '10.9.9.9');
    await throttle.failed('eve', '10.9.9.9');
    expect(await waitOf()).toBe(0);
    // Failures older than the memory start again from one.
    now += 3_600_001;
    await throttle.failed('eve', '10.9.9.9');
    await throttle.failed('eve', '10.9.9.9');
    expect(await waitOf()).toBe(0);
  });
});
