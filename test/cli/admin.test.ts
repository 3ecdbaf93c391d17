import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:net';
import { ApiClient, basic } from '../helpers/api.js';
import { adminCredentials, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { randomImage, RegistryClient } from '../helpers/oci.js';
import { pgUnavailableReason } from '../helpers/pg.js';
import { runBerthCommand } from '../helpers/process.js';

// The admin CLI (docs/cli.md) as the built `berth` process, against the database of a Berth that
// keeps serving: what it creates and changes is seen by that server's API and registry.

type Json = Record<string, unknown>;

/** Runs `berth <args> --json` with the server's database, and parses what it printed. */
async function cli(berth: TestBerth, args: string[], input?: string): Promise<{ code: number | null; json: Json; stderr: string }> {
  const run = await runBerthCommand([...args, '--json', '--data-dir', berth.dataDir, '--set', `database.url=${berth.config.database.url}`], undefined, { input });
  let json: Json;
  try {
    json = JSON.parse(run.stdout) as Json;
  } catch {
    throw new Error(`berth ${args.join(' ')} printed no JSON (exit ${run.code}): ${run.stdout}${run.stderr}`);
  }
  return { code: run.code, json, stderr: run.stderr };
}

const tokenStatus = async (berth: TestBerth, username: string, password: string) =>
  (await fetch(`${berth.url}/service/token?service=berth&scope=repository:library/app:pull`, { headers: { Authorization: basic(username, password) } })).status;

describe('berth user, project and robot against a running Berth (SQLite)', () => {
  let berth: TestBerth;
  let admin: ApiClient;

  beforeAll(async () => {
    berth = await startTestBerth({ settings: { 'auth.lockout.delaySeconds': 120 } });
    admin = new ApiClient(berth.url);
  });
  afterAll(async () => {
    await berth?.stop();
  });

  it('creates a user with a generated password that logs in, and refuses a duplicate, a weak password and a bad name with their exit codes', async () => {
    const created = await cli(berth, ['user', 'create', 'alice', '--email', 'alice@example.test']);
    expect(created.code).toBe(0);
    const { user, password } = created.json as { user: Json; password: string };
    expect(user).toMatchObject({ username: 'alice', email: 'alice@example.test', source: 'local', isAdmin: false, disabled: false, locked: false, lastLoginAt: null });
    expect(password).toMatch(/^[A-Za-z0-9_-]{20}$/);
    expect(await tokenStatus(berth, 'alice', password)).toBe(200);
    // The API sees the same user.
    const listed = await admin.ok<{ items: Array<{ id: number; username: string }> }>('GET', '/users?q=username=alice');
    expect(listed.items.map((u) => [u.id, u.username])).toEqual([[user.id, 'alice']]);

    const again = await cli(berth, ['user', 'create', 'alice']);
    expect(again.code).toBe(3);
    expect(again.json).toEqual({ error: { code: 'CONFLICT', message: 'user alice already exists' } });
    expect(again.stderr).toBe('berth: user alice already exists\n');

    const weak = await cli(berth, ['user', 'create', 'weak', '--password-stdin'], 'short\n');
    expect(weak.code).toBe(2);
    expect((weak.json.error as Json).code).toBe('BAD_REQUEST');
    const badName = await cli(berth, ['user', 'create', 'robot$x', '--password-stdin'], 'Long-Enough-Passw0rd\n');
    expect(badName.code).toBe(2);
    expect((await admin.ok<{ total: number }>('GET', '/users?q=username=weak')).total).toBe(0);
  });

  it('resets a password from stdin and unlocks an account an address was locked out of', async () => {
    const { json } = await cli(berth, ['user', 'create', 'bob', '--password-stdin'], 'First-Passw0rd\n');
    expect(json.password).toBeUndefined();

    // Five wrong passwords lock this address out of bob, even with the right one.
    for (let i = 0; i < 5; i++) expect(await tokenStatus(berth, 'bob', `Wrong-Passw0rd-${i}`)).toBe(401);
    expect(await tokenStatus(berth, 'bob', 'First-Passw0rd')).toBe(429);
    const listed = await cli(berth, ['user', 'list']);
    expect((listed.json.users as Json[]).find((u) => u.username === 'bob')).toMatchObject({ locked: true, disabled: false });

    const unlocked = await cli(berth, ['user', 'unlock', 'bob']);
    expect(unlocked.code).toBe(0);
    expect(unlocked.json.addresses).toBe(1);
    expect(await tokenStatus(berth, 'bob', 'First-Passw0rd')).toBe(200);
    expect((await cli(berth, ['user', 'unlock', 'bob'])).json.addresses).toBe(0);

    const reset = await cli(berth, ['user', 'reset-password', 'bob', '--password-stdin'], 'Second-Passw0rd\r\n');
    expect(reset.code).toBe(0);
    expect(await tokenStatus(berth, 'bob', 'Second-Passw0rd')).toBe(200);

    const missing = await cli(berth, ['user', 'reset-password', 'nobody']);
    expect(missing.code).toBe(5);
    expect(missing.json).toEqual({ error: { code: 'NOT_FOUND', message: 'there is no user nobody' } });
  });

  it('disables and enables a user, and never disables the last administrator', async () => {
    await cli(berth, ['user', 'create', 'carol', '--password-stdin'], 'Carol-Passw0rd\n');
    const disabled = await cli(berth, ['user', 'disable', 'carol']);
    expect(disabled.code).toBe(0);
    expect((disabled.json.user as Json).disabled).toBe(true);
    // Never logged in, so nothing is cached: refused at once.
    expect(await tokenStatus(berth, 'carol', 'Carol-Passw0rd')).toBe(401);
    expect((await cli(berth, ['user', 'enable', 'carol'])).json.user).toMatchObject({ username: 'carol', disabled: false });
    expect(await tokenStatus(berth, 'carol', 'Carol-Passw0rd')).toBe(200);

    const last = await cli(berth, ['user', 'disable', adminCredentials.username]);
    expect(last.code).toBe(3);
    expect((last.json.error as Json).message).toBe('this is the last enabled system administrator; make another admin first');
    expect(await tokenStatus(berth, adminCredentials.username, adminCredentials.password)).toBe(200);
  });

  it('creates a project with a quota and a robot whose secret pushes into it, and lists both', async () => {
    const project = await cli(berth, ['project', 'create', 'team-a', '--storage-limit', '1MiB', '--artifact-limit', '3']);
    expect(project.code).toBe(0);
    expect(project.json.project).toMatchObject({ name: 'team-a', public: false, limits: { storageBytes: 1_048_576, artifacts: 3 }, usage: { storageBytes: 0, artifacts: 0 } });
    expect(await admin.ok('GET', '/projects/team-a/quota')).toMatchObject({ limits: { storageBytes: 1_048_576, artifacts: 3 } });
    expect((await cli(berth, ['project', 'create', 'Team_A'])).code).toBe(2);
    expect((await cli(berth, ['project', 'create', 'x', '--storage-limit', '5 parsecs'])).code).toBe(2);

    const robot = await cli(berth, ['robot', 'create', 'ci', '--project', 'team-a', '--actions', 'pull,push', '--description', 'CI pushes']);
    expect(robot.code).toBe(0);
    const { robot: view, secret } = robot.json as { robot: Json; secret: string };
    expect(view).toMatchObject({ name: 'robot$team-a+ci', project: 'team-a', description: 'CI pushes', permissions: [{ project: 'team-a', actions: ['pull', 'push'] }], expiresAt: null });
    const registry = new RegistryClient(berth.url, { username: 'robot$team-a+ci', password: secret });
    const image = await registry.pushImage('team-a/app', 'v1', randomImage(1, 1000));
    expect((await registry.fetch(`/v2/team-a/app/manifests/v1`, { method: 'HEAD' })).headers.get('docker-content-digest')).toBe(image.digest);
    // Its permissions end at its project.
    expect((await registry.pushBlob('library/other', image.layers[0]!)).status).toBe(403);

    const listed = await cli(berth, ['project', 'list']);
    expect((listed.json.projects as Json[]).find((p) => p.name === 'team-a')).toMatchObject({ usage: { artifacts: 1 }, limits: { artifacts: 3 } });
    expect(((await cli(berth, ['robot', 'list', '--project', 'team-a'])).json.robots as Json[]).map((r) => r.name)).toEqual(['robot$team-a+ci']);

    const system = await cli(berth, ['robot', 'create', 'puller', '--access', '*:pull', '--expires-days', '30']);
    expect(system.code).toBe(0);
    const expires = Date.parse((system.json.robot as { expiresAt: string }).expiresAt);
    expect(Math.abs(expires - (Date.now() + 30 * 86_400_000))).toBeLessThan(60_000);
    expect((await cli(berth, ['robot', 'create', 'both', '--project', 'team-a', '--access', '*:pull'])).code).toBe(2);
    expect((await cli(berth, ['robot', 'create', 'x', '--project', 'no-such-project'])).code).toBe(5);
    expect((await cli(berth, ['robot', 'create', 'ci', '--project', 'team-a'])).code).toBe(3);
  });

  it('writes every change to the audit log as the CLI', async () => {
    await cli(berth, ['user', 'create', 'audited', '--password-stdin'], 'Audited-Passw0rd\n');
    const entries = await admin.ok<{ items: Array<{ actor: string; actorType: string; action: string; resource: string; detail: Json }> }>('GET', '/audit-logs?action=user.create&page_size=100');
    const entry = entries.items.find((e) => e.resource === 'audited');
    expect(entry).toMatchObject({ actorType: 'system', action: 'user.create', detail: { via: 'cli', isAdmin: false } });
    expect(entry!.actor).toMatch(/^cli \(.+\)$/);
    const robots = await admin.ok<{ items: Array<{ resource: string }> }>('GET', '/audit-logs?action=robot.create&page_size=100');
    expect(robots.items.map((e) => e.resource).sort()).toEqual(['robot$puller', 'robot$team-a+ci']);
  });
});

describe('berth doctor', () => {
  let berth: TestBerth;
  let squatter: Server | undefined;

  beforeAll(async () => {
    berth = await startTestBerth();
  });
  afterAll(async () => {
    squatter?.close();
    await berth?.stop();
  });

  const doctor = async (settings: string[]) => {
    const run = await runBerthCommand(['doctor', '--json', '--data-dir', berth.dataDir, ...settings.flatMap((s) => ['--set', s])]);
    return { code: run.code, report: JSON.parse(run.stdout) as { ok: boolean; checks: Array<{ name: string; status: string; detail: string; fix?: string }> } };
  };

  it('passes a running Berth: database, schema, administrator, storage probe, free space and the port it serves', async () => {
    const { code, report } = await doctor([`server.port=${berth.port}`, 'server.host=127.0.0.1']);
    expect(code).toBe(0);
    expect(report.ok).toBe(true);
    const byName = new Map(report.checks.map((c) => [c.name, c]));
    expect([...byName.keys()]).toEqual(['node', 'config', 'data directory', 'database', 'schema', 'administrator', 'clock', 'storage', 'free space', 'port']);
    expect(byName.get('schema')!.detail).toMatch(/^up to date \(\d{4}_\w+\)$/);
    expect(byName.get('administrator')!.detail).toBe('1 enabled system administrator');
    expect(byName.get('storage')!.detail).toMatch(/a test upload was written, read back and deleted$/);
    expect(byName.get('port')).toMatchObject({ status: 'ok', detail: `127.0.0.1:${berth.port}: a Berth is running there (GET /healthz answers)` });
    expect(byName.get('node')!.status).toBe(Number(process.versions.node.split('.')[0]) >= 22 ? 'ok' : 'warn');
    // The probe leaves nothing behind in the upload area.
    const { readdir } = await import('node:fs/promises');
    const uploads = await readdir(`${berth.dataDir}/storage/uploads`).catch(() => [] as string[]);
    expect(uploads.filter((name) => name.startsWith('doctor-'))).toEqual([]);
  });

  it('fails, with a fix and exit code 4, on a port another program holds and a database it cannot reach', async () => {
    squatter = createServer();
    await new Promise<void>((done) => squatter!.listen(0, '127.0.0.1', done));
    const taken = (squatter.address() as { port: number }).port;
    const { code, report } = await doctor([`server.port=${taken}`, 'server.host=127.0.0.1', 'database.url=postgres://berth@127.0.0.1:1/none']);
    expect(code).toBe(4);
    expect(report.ok).toBe(false);
    const byName = new Map(report.checks.map((c) => [c.name, c]));
    expect(byName.get('port')).toEqual({ name: 'port', status: 'fail', detail: `127.0.0.1:${taken} is taken by another program`, fix: `stop it (ss -ltnp 'sport = :${taken}' names it) or set server.port` });
    expect(byName.get('database')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^postgres:\/\/berth@127\.0\.0\.1:1\/none cannot be reached: .*ECONNREFUSED/) });
    expect(byName.has('schema')).toBe(false);
  });

  it('reports an invalid configuration as a failed check', async () => {
    const { code, report } = await doctor(['storage.driver=s3']);
    expect(code).toBe(4);
    expect(report.checks.map((c) => [c.name, c.status])).toEqual([
      ['node', expect.stringMatching(/^(ok|warn)$/)],
      ['config', 'fail'],
    ]);
    expect(report.checks[1]!.detail).toContain('storage.driver s3 needs storage.s3.bucket');
  });
});

const pgSkip = await pgUnavailableReason();
if (pgSkip) console.warn(`SKIPPING the admin CLI's PostgreSQL test: ${pgSkip}`);

describe.skipIf(pgSkip !== undefined)('berth user on PostgreSQL tells running instances at once', () => {
  let berth: TestBerth;

  beforeAll(async () => {
    berth = await startTestBerth({ engine: 'postgres' });
  });
  afterAll(async () => {
    await berth?.stop();
  });

  it('refuses an old password right after reset-password, though the server had it cached for 60 s', async () => {
    await cli(berth, ['user', 'create', 'dave', '--password-stdin'], 'Old-Passw0rd-1\n');
    expect(await tokenStatus(berth, 'dave', 'Old-Passw0rd-1')).toBe(200);
    expect((await cli(berth, ['user', 'reset-password', 'dave', '--password-stdin'], 'New-Passw0rd-2\n')).code).toBe(0);
    // NOTIFY reaches the server's listening connection within moments; its cache would keep the old password for 60 s.
    const deadline = Date.now() + 5000;
    let status = await tokenStatus(berth, 'dave', 'Old-Passw0rd-1');
    while (status === 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      status = await tokenStatus(berth, 'dave', 'Old-Passw0rd-1');
    }
    expect(status).toBe(401);
    expect(await tokenStatus(berth, 'dave', 'New-Passw0rd-2')).toBe(200);
  });
});
