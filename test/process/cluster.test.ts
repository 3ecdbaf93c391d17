import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliPath, spawnBerth, type BerthProcess } from '../helpers/process.js';
import { ApiClient, basic } from '../helpers/api.js';
import { RegistryClient } from '../helpers/oci.js';
import { pgUnavailableReason, createTempDatabase, type TempDatabase } from '../helpers/pg.js';

const pgSkip = await pgUnavailableReason();

/** The pids that wrote access-log lines, i.e. the workers that served requests. */
function servingPids(p: BerthProcess): Set<number> {
  const pids = new Set<number>();
  for (const line of p.output.join('').split('\n')) {
    if (!line.includes('"message":"request"')) continue;
    pids.add((JSON.parse(line) as { 'process.pid': number })['process.pid']);
  }
  return pids;
}

describe('cluster mode (--workers)', () => {
  let dataDir: string | undefined;
  let database: TempDatabase | undefined;
  const running: BerthProcess[] = [];
  /** Primaries a test spawned itself, killed if it failed before stopping them. */
  const spawned: ChildProcess[] = [];

  afterEach(async () => {
    for (const proc of spawned.splice(0)) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    for (const p of running.splice(0)) {
      if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
      await p.exited;
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    await database?.drop();
    database = undefined;
  });

  for (const engine of ['sqlite', 'postgres'] as const) {
    it.skipIf(engine === 'postgres' && pgSkip !== undefined)(`serves one port from several processes on ${engine}, shares identity changes at once, and stops cleanly`, async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'berth-cluster-'));
      const args = ['--port', '0', '--data-dir', dataDir, '--workers', '3'];
      if (engine === 'postgres') {
        database = await createTempDatabase();
        args.push('--database-url', database.url);
      }
      const berth = await spawnBerth(args);
      running.push(berth);
      const admin = new ApiClient(berth.url);
      const registry = new RegistryClient(berth.url);

      // Pushes and pulls spread over the workers, all against one database.
      const images = await Promise.all(Array.from({ length: 6 }, (_, i) => registry.pushImage(`library/app${i}`, 'v1')));
      for (const [i, image] of images.entries()) {
        const res = await registry.fetch(`/v2/library/app${i}/manifests/v1`, { method: 'HEAD' });
        expect(res.headers.get('docker-content-digest')).toBe(image.digest);
      }
      expect(servingPids(berth).size).toBe(3);
      // Each worker runs with the memory settings (cluster.ts, workerMemory).
      for (const pid of servingPids(berth)) {
        const flags = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        expect(flags).toContain('--max-semi-space-size=4');
        // The old generation's room is set as the worker runs (heap-room.ts), not on its command line.
        expect(flags.some((flag) => flag.startsWith('--heap-growing-percent'))).toBe(false);
        expect(flags).toContain('--expose-gc');
        expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain('MALLOC_ARENA_MAX=2');
      }

      // Tokens signed by any worker verify on every worker: the workers started together on an
      // empty database agree on one signing key, and a rotation reaches all of them at once.
      const tokensAccepted = async () => {
        const tokens = await Promise.all(
          Array.from({ length: 6 }, async () => {
            const res = await fetch(`${berth.url}/service/token?service=berth`, { headers: { Authorization: basic('admin', 'Admin-Passw0rd') } });
            return ((await res.json()) as { token: string }).token;
          }),
        );
        const statuses = await Promise.all(tokens.flatMap((token) => Array.from({ length: 9 }, async () => (await fetch(`${berth.url}/v2/`, { headers: { Authorization: `Bearer ${token}` } })).status)));
        return { kids: new Set(tokens.map((t) => (JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid)), statuses };
      };
      const before = await tokensAccepted();
      expect(before.statuses).toEqual(Array(54).fill(200));
      expect(before.kids.size).toBe(1);
      const { kid } = (await admin.ok('POST', '/system/signing-keys/rotate')) as { kid: string };
      const rotated = await tokensAccepted();
      expect(rotated.statuses).toEqual(Array(54).fill(200));
      expect([...rotated.kids]).toEqual([kid]);

      // A tag moved through one worker is served so by every worker right away, though each
      // had the repository row and the tag in memory (RepositoryCache, relayed through the primary).
      const headAll = async () =>
        Promise.all(Array.from({ length: 12 }, async () => (await registry.fetch('/v2/library/app0/manifests/v1', { method: 'HEAD' })).headers.get('docker-content-digest')));
      expect(await headAll()).toEqual(Array(12).fill(images[0]!.digest));
      const moved = await registry.pushImage('library/app0', 'v1');
      expect(await headAll()).toEqual(Array(12).fill(moved.digest));

      // A user deleted through one worker is refused by every worker right away.
      const { id } = await admin.createUser('leaving', 'Leaving-Passw0rd');
      for (let i = 0; i < 6; i++) expect((await fetch(`${berth.url}/v2/`, { headers: { Authorization: basic('leaving', 'Leaving-Passw0rd') } })).status).toBe(200);
      await admin.ok('DELETE', `/users/${id}`);
      const after = await Promise.all(Array.from({ length: 9 }, () => fetch(`${berth.url}/v2/`, { headers: { Authorization: basic('leaving', 'Leaving-Passw0rd') } })));
      expect(after.map((r) => r.status)).toEqual(Array(9).fill(401));

      berth.proc.kill('SIGTERM');
      expect(await berth.exited).toEqual({ code: 0, signal: null });
    });
  }

  it('replaces a worker that dies and keeps serving', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-cluster-'));
    const berth = await spawnBerth(['--port', '0', '--data-dir', dataDir, '--workers', '2']);
    running.push(berth);
    const registry = new RegistryClient(berth.url);
    for (let i = 0; i < 6; i++) await registry.fetch('/v2/');
    const [victim] = [...servingPids(berth)];
    process.kill(victim!, 'SIGKILL');
    // Every request keeps succeeding while the primary forks a replacement.
    const statuses: number[] = [];
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !berth.output.join('').includes('worker died; starting a new one')) await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 20; i++) statuses.push((await registry.fetch('/v2/')).status);
    expect(statuses).toEqual(Array(20).fill(200));
    expect(berth.output.join('')).toContain('worker died; starting a new one');
  });

  it('chooses the worker count itself by default, and runs even one worker under the primary', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-cluster-'));
    const berth = await spawnBerth(['--port', '0', '--data-dir', dataDir, '--workers', '0']);
    running.push(berth);
    const { defaultWorkers } = await import('../../src/cli/worker-count.js');
    const expected = defaultWorkers();
    const listening = JSON.parse(berth.output.join('').split('\n').find((l) => l.includes('"message":"berth is listening"'))!) as { workers: number; 'process.pid': number };
    expect(listening.workers).toBe(expected);
    // The primary announces; the workers it forked are its children and serve the requests.
    expect(listening['process.pid']).toBe(berth.proc.pid);
    const registry = new RegistryClient(berth.url);
    for (let i = 0; i < 4 * expected; i++) expect((await registry.fetch('/v2/')).status).toBe(200);
    const serving = [...servingPids(berth)];
    expect(serving.length).toBeGreaterThan(0);
    expect(serving.length).toBeLessThanOrEqual(expected);
    expect(serving).not.toContain(berth.proc.pid);
    for (const pid of serving) expect(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]).toBe(String(berth.proc.pid));
  });

  it('keeps the primary a supervisor: the database driver is loaded in the workers and not in it', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-cluster-'));
    const berth = await spawnBerth(['--port', '0', '--data-dir', dataDir, '--workers', '2']);
    running.push(berth);
    const registry = new RegistryClient(berth.url);
    for (let i = 0; i < 6; i++) await registry.fetch('/v2/');
    const mapped = (pid: number) => readFileSync(`/proc/${pid}/maps`, 'utf8');
    const workers = [...servingPids(berth)];
    expect(workers.length).toBeGreaterThan(0);
    // The native SQLite addon is mapped where the database is opened, and only there: better-sqlite3
    // 12's build/Release/better_sqlite3.node on Node 20 and 21, 13's prebuilt Node-API addon after
    // (src/adapters/db/sqlite-driver.ts).
    const sqliteAddon = /better_sqlite3\.node|better-sqlite3-napi\/prebuilds\/[^/\n]+\.node/;
    for (const worker of workers) expect(sqliteAddon.test(mapped(worker)), `worker ${worker} maps the SQLite addon`).toBe(true);
    expect(sqliteAddon.test(mapped(berth.proc.pid!)), 'the primary maps the SQLite addon').toBe(false);
  });

  it('stops at once with the first worker\'s own error when the database cannot be reached, instead of restarting workers', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-cluster-'));
    const started = Date.now();
    const proc = spawn(process.execPath, [cliPath, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--workers', '2', '--database-url', 'postgres://berth@127.0.0.1:1/nowhere', '--set', 'database.connectRetryMs=0'], {
      env: { ...process.env, BERTH_BANNER: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    proc.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    proc.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
    expect(code).toBe(1);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(output).toContain('ECONNREFUSED');
    expect(output).toContain('the first worker stopped before it listened; not starting');
    expect(output).not.toContain('worker died; starting a new one');
  });

  it('leaves the configuration to the first worker: its error and exit status for an invalid one', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-cluster-'));
    const proc = spawn(process.execPath, [cliPath, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--workers', '2', '--set', 'server.keepAliveTimeoutMs=-5'], {
      env: { ...process.env, BERTH_BANNER: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
    // As `--workers 1` reports it: usage (2), the key, where it came from, what is allowed.
    expect(code).toBe(2);
    expect(stderr).toContain('berth: invalid configuration:\n  server.keepAliveTimeoutMs [from command line]:');
    expect(stdout).toContain('the first worker stopped before it listened; not starting');
  });

  it('forks as many workers as the configuration file or the environment says', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-cluster-'));
    const file = join(dataDir, 'berth.yaml');
    writeFileSync(file, `dataDir: ${dataDir}\nserver:\n  workers: 2\n  publicUrl: https://registry.example.test\n`);
    const children = (pid: number) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    type ListeningLine = { workers: number; url: { full: string }; dataDir: string; database: string };
    const listeningLine = (berth: BerthProcess) => JSON.parse(berth.output.join('').split('\n').find((line) => line.includes('berth is listening'))!) as ListeningLine;

    // The command line first.
    const flagged = await spawnBerth(['--port', '0', '--config', file, '--workers', '3']);
    running.push(flagged);
    expect(listeningLine(flagged).workers).toBe(3);
    expect(children(flagged.pid)).toHaveLength(3);
    flagged.proc.kill('SIGTERM');
    expect((await flagged.exited).code).toBe(0);

    // Without --workers (spawnBerth would add `--workers 1`): the primary as a user starts it.
    const serve = async (env: Record<string, string>) => {
      const proc = spawn(process.execPath, [cliPath, 'serve', '--host', '127.0.0.1', '--port', '0', '--config', file], {
        env: { ...process.env, BERTH_BANNER: '0', BERTH_ADMIN_PASSWORD: 'Admin-Passw0rd', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      spawned.push(proc);
      let output = '';
      proc.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
      await expect.poll(() => output.includes('berth is listening'), { timeout: 30_000 }).toBe(true);
      const line = JSON.parse(output.split('\n').find((l) => l.includes('berth is listening'))!) as ListeningLine;
      const stop = async () => {
        proc.kill('SIGTERM');
        return exited;
      };
      return { line, workers: children(proc.pid!).length, stop };
    };

    // The file's 2, and what the primary announces comes from the worker's configuration.
    const fromFile = await serve({});
    expect(fromFile.line).toMatchObject({ workers: 2, url: { full: 'https://registry.example.test' }, dataDir, database: 'sqlite' });
    expect(fromFile.workers).toBe(2);
    expect(await fromFile.stop()).toBe(0);

    // A value the primary does not read itself ("3.0" from the environment) still counts, once the whole configuration is loaded.
    const fromEnv = await serve({ BERTH_SERVER_WORKERS: '3.0' });
    expect(fromEnv.workers).toBe(3);
    expect(await fromEnv.stop()).toBe(0);
  });
});
