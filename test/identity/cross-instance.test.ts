import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Invalidation } from '../../src/ports/invalidation-bus.js';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient, basic } from '../helpers/api.js';
import { OCI_MANIFEST, randomImage, RegistryClient } from '../helpers/oci.js';
import { createTempDatabase, pgUnavailableReason, type TempDatabase } from '../helpers/pg.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { until } from '../helpers/wait.js';

const pgSkip = await pgUnavailableReason();
if (pgSkip) console.warn(`SKIPPING cross-instance invalidation tests: ${pgSkip}`);

/**
 * The caches these tests defeat: principals 2 s, verified passwords 60 s, projects and roles
 * 2 s (src/services/identity/authenticator.ts, src/services/access/authorizer.ts), and an
 * unknown signing key looked up at most every 10 s. Each change must reach the other
 * instance far sooner than any of them.
 */
const withinMs = 500;

/** Two requests: the first verifies the password, the second caches the account's state (what reload() trusts for 2 s). */
async function warm(url: string, authorization: string): Promise<void> {
  for (let i = 0; i < 2; i++) expect(await status(url, '/v2/', authorization)).toBe(200);
}

async function status(url: string, path: string, authorization?: string): Promise<number> {
  const res = await fetch(new URL(path, url), { headers: authorization ? { Authorization: authorization } : {} });
  await res.arrayBuffer();
  return res.status;
}

describe.skipIf(pgSkip !== undefined)('two instances on one PostgreSQL database', () => {
  let database: TempDatabase;
  let storage: string | undefined;
  let proxy: TcpProxy;
  let a: TestBerth;
  let b: TestBerth;
  let adminA: ApiClient;
  const latencies: Record<string, number> = {};

  beforeAll(async () => {
    database = await createTempDatabase();
    storage = await mkdtemp(join(tmpdir(), 'berth-cross-'));
    // One database and one blob store, as instances behind a load balancer share them.
    const settings = { 'storage.filesystem.root': storage };
    // B reaches the database through a relay, so one test can cut B off (LISTEN connection included).
    const target = new URL(database.url);
    proxy = new TcpProxy(target.hostname, Number(target.port));
    await proxy.start();
    const viaProxy = new URL(database.url);
    viaProxy.port = String(proxy.port);
    // Both at once on the empty database: migrations, first administrator and signing key race.
    [a, b] = await Promise.all([startTestBerth({ databaseUrl: database.url, settings }), startTestBerth({ databaseUrl: viaProxy.toString(), settings })]);
    adminA = new ApiClient(a.url);
  });
  afterAll(async () => {
    console.log(`ms from A's answer to B hearing the change (reconnect: ms to listen again): ${JSON.stringify(latencies)}`);
    await a?.stop();
    await b?.stop();
    await proxy?.cut();
    await database?.drop();
    if (storage) await rm(storage, { recursive: true, force: true });
  });

  it('start together on an empty database: one administrator, one active signing key, tokens good on both', async () => {
    expect([a.initialAdmin, b.initialAdmin].filter(Boolean)).toHaveLength(1);
    expect((await a.api.identity.listUsers({ offset: 0, limit: 10 })).items.map((u) => u.username)).toEqual(['admin']);
    const active = (await a.api.identity.listSigningKeys()).filter((k) => k.retiredAt === null);
    expect(active).toHaveLength(1);
    for (const issuer of [a, b]) {
      const res = await fetch(`${issuer.url}/service/token?service=berth`, { headers: { Authorization: basic('admin', 'Admin-Passw0rd') } });
      const { token } = (await res.json()) as { token: string };
      for (const verifier of [a, b]) expect(await status(verifier.url, '/v2/', `Bearer ${token}`)).toBe(200);
    }
  });

  it('run as different instances, each listening on the shared bus', async () => {
    expect(a.instanceId).not.toBe(b.instanceId);
    for (const berth of [a, b]) {
      const ready = (await (await fetch(`${berth.url}/readyz`)).json()) as { checks: Record<string, string> };
      expect(ready.checks.invalidation).toBe('ok');
    }
  });

  /**
   * Makes a change through A and resolves how long after A answered B heard of it; fails when
   * B has not heard within `withinMs`.
   */
  async function changeOnA(kind: Invalidation['kind'], change: () => Promise<unknown>): Promise<number> {
    let unsubscribe = () => undefined as unknown;
    const heard = new Promise<number>((resolve) => {
      unsubscribe = b.invalidation.subscribe((invalidation, sender) => {
        if (invalidation.kind === kind && sender === a.instanceId) resolve(performance.now());
      });
    });
    try {
      await change();
      const answered = performance.now();
      const timeout = new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error(`B did not hear "${kind}" within ${withinMs} ms`)), withinMs).unref());
      return Math.max(0, (await Promise.race([heard, timeout])) - answered);
    } finally {
      unsubscribe();
    }
  }

  it('a user deleted on A is refused by B at once', async () => {
    const { id } = await adminA.createUser('leaver', 'Leaver-Passw0rd');
    const auth = basic('leaver', 'Leaver-Passw0rd');
    await warm(b.url, auth);
    latencies.userDeleted = await changeOnA('identity', () => adminA.ok('DELETE', `/users/${id}`));
    expect(await status(b.url, '/v2/', auth)).toBe(401);
  });

  it('a password changed on A stops working on B at once (B remembered it for 60 s)', async () => {
    const { id } = await adminA.createUser('rotator', 'Rotator-Passw0rd');
    const old = basic('rotator', 'Rotator-Passw0rd');
    await warm(b.url, old);
    latencies.passwordChanged = await changeOnA('identity', () => adminA.ok('PUT', `/users/${id}/password`, { password: 'Rotator-Passw0rd-2' }));
    expect(await status(b.url, '/v2/', old)).toBe(401);
    expect(await status(b.url, '/v2/', basic('rotator', 'Rotator-Passw0rd-2'))).toBe(200);
  });

  it('a robot disabled on A is refused by B at once', async () => {
    await adminA.createProject('crossrobots');
    const robot = await adminA.createRobot('crossrobots', 'ci', ['pull', 'push']);
    const auth = basic(robot.name, robot.secret);
    await warm(b.url, auth);
    latencies.robotDisabled = await changeOnA('identity', () => adminA.ok('PATCH', `/projects/crossrobots/robots/${robot.id}`, { disabled: true }));
    expect(await status(b.url, '/v2/', auth)).toBe(401);
  });

  it('a project made private on A stops anonymous pulls on B at once', async () => {
    await adminA.createProject('crosspublic', true);
    await new RegistryClient(a.url).pushImage('crosspublic/app', 'v1');
    const anonymousPull = () => status(b.url, '/v2/crosspublic/app/manifests/v1');
    expect(await anonymousPull()).toBe(200);
    latencies.projectPrivate = await changeOnA('identity', () => adminA.ok('PATCH', '/projects/crosspublic', { public: false }));
    expect(await anonymousPull()).toBe(401);
  });

  it('a tag moved or deleted on A is served so by B at once (B trusts a repository row it was not told about for 5 s)', async () => {
    const registryA = new RegistryClient(a.url);
    const registryB = new RegistryClient(b.url);
    const v1 = await registryA.pushImage('crosstags/app', 'latest', randomImage(1, 500));
    const digestOnB = async () => {
      const res = await registryB.fetch('/v2/crosstags/app/manifests/latest', { method: 'HEAD', headers: { Accept: OCI_MANIFEST } });
      return res.status === 200 ? res.headers.get('docker-content-digest') : res.status;
    };
    // B reads the repository row and the tag once, then serves both from memory.
    for (let i = 0; i < 3; i++) expect(await digestOnB()).toBe(v1.digest);
    const v2 = randomImage(1, 500);
    latencies.tagMoved = await changeOnA('cache', () => registryA.pushImage('crosstags/app', 'latest', v2));
    expect(await digestOnB()).toBe(v2.digest);
    latencies.tagDeleted = await changeOnA('cache', () => registryA.fetch('/v2/crosstags/app/manifests/latest', { method: 'DELETE' }));
    expect(await digestOnB()).toBe(404);
  });

  it('a signing key rotated on A verifies on B at once', async () => {
    // B has just verified A's current key; without a message it would not look again for 10 s.
    const token = async () => {
      const res = await fetch(`${a.url}/service/token?service=berth`, { headers: { Authorization: basic('admin', 'Admin-Passw0rd') } });
      return ((await res.json()) as { token: string }).token;
    };
    expect(await status(b.url, '/v2/', `Bearer ${await token()}`)).toBe(200);
    let kid = '';
    latencies.signingKeyRotated = await changeOnA('signing-keys', async () => {
      ({ kid } = await adminA.ok<{ kid: string }>('POST', '/system/signing-keys/rotate'));
    });
    const fresh = await token();
    expect(JSON.parse(Buffer.from(fresh.split('.')[0]!, 'base64url').toString()).kid).toBe(kid);
    // B reloads its keys when it hears; give that one query a moment.
    await until(async () => (await status(b.url, '/v2/', `Bearer ${fresh}`)) === 200, withinMs, 'B to accept the new key');
  });

  it('B recovers after its database connections are cut: a change made meanwhile applies, and new ones arrive at once', async () => {
    const { id } = await adminA.createUser('offline', 'Offline-Passw0rd');
    const old = basic('offline', 'Offline-Passw0rd');
    await warm(b.url, old);

    await proxy.cut();
    await until(async () => !b.invalidation.status().connected, 3000, 'B to notice the cut');
    // Sent while B cannot hear: the notification is lost, and B must not trust its cache after.
    await adminA.ok('PUT', `/users/${id}/password`, { password: 'Offline-Passw0rd-2' });
    await proxy.start();
    latencies.reconnect = await until(() => b.invalidation.status().connected, 10_000, 'B to listen again');
    expect(await status(b.url, '/v2/', old)).toBe(401);
    expect(await status(b.url, '/v2/', basic('offline', 'Offline-Passw0rd-2'))).toBe(200);

    latencies.userDeletedAfterReconnect = await changeOnA('identity', () => adminA.ok('DELETE', `/users/${id}`));
    expect(await status(b.url, '/v2/', basic('offline', 'Offline-Passw0rd-2'))).toBe(401);
    expect(b.logs.join('')).toContain('lost the invalidation channel; reconnecting');
  });
});
