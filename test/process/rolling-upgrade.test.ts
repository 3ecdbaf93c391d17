import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readlink, rm, symlink } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, knownMigrations, schemaStatus } from '../../src/adapters/db/connect.js';
import { freePort } from '../helpers/ports.js';
import { OCI_MANIFEST, randomImage, sha256, type Image } from '../helpers/oci.js';
import { createTempDatabase, pgUnavailableReason, type TempDatabase } from '../helpers/pg.js';
import { spawnBerth, type BerthProcess } from '../helpers/process.js';
import { until } from '../helpers/wait.js';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const authorization = `Basic ${Buffer.from('admin:Admin-Passw0rd').toString('base64')}`;

/**
 * The Berth just before the newest migration: the parent of the commit that added it, built
 * from git into a temporary directory (cached there by commit). Undefined with the reason
 * when the history is not at hand (a shallow clone, no git).
 */
async function olderBerth(): Promise<{ cli: string; commit: string; newest: string } | { reason: string }> {
  const newest = (await knownMigrations('postgres')).at(-1)!;
  try {
    const { stdout } = await run('git', ['log', '--format=%H', `-S'${newest}'`, '--', 'src/adapters/db/migrations.ts'], { cwd: root });
    const adding = stdout.trim().split('\n').filter(Boolean).at(-1);
    if (!adding) return { reason: `git history does not show where ${newest} was added` };
    const commit = (await run('git', ['rev-parse', `${adding}^`], { cwd: root })).stdout.trim();
    const dir = join(tmpdir(), `berth-before-${commit.slice(0, 12)}`);
    const cli = join(dir, 'dist', 'cli', 'main.js');
    if (!existsSync(cli)) {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      // Since the bundling step, tsc emits modules and rolldown makes dist/cli/main.js from them.
      const bundling = (await run('git', ['ls-tree', '--name-only', commit, 'rolldown.config.mjs', 'scripts/bundle.mjs'], { cwd: root })).stdout.split('\n').filter(Boolean);
      await run('sh', ['-c', `git archive ${commit} src package.json tsconfig.json tsconfig.build.json ${bundling.join(' ')} | tar -x -C '${dir}'`], { cwd: root });
      await symlink(join(root, 'node_modules'), join(dir, 'node_modules'));
      await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: dir });
      if (bundling.includes('scripts/bundle.mjs')) await run(process.execPath, ['scripts/bundle.mjs'], { cwd: dir });
    }
    // A build kept from an earlier run links the node_modules of the checkout that made it, which
    // may be gone since (a removed worktree or CI clone): it uses this checkout's.
    const modules = join(dir, 'node_modules');
    if ((await readlink(modules).catch(() => undefined)) !== join(root, 'node_modules')) {
      await rm(modules, { force: true });
      await symlink(join(root, 'node_modules'), modules);
    }
    return { cli, commit, newest };
  } catch (err) {
    return { reason: `the older Berth could not be built from git: ${(err as Error).message.split('\n')[0]}` };
  }
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * What a load balancer does in a rolling upgrade: spreads requests over the instances in
 * rotation (every request on its own, so one push's requests land on different instances),
 * drains an instance before it stops, and opens fresh connections to its successor.
 */
class Balancer {
  private readonly inRotation = new Set<number>();
  private readonly agents = new Map<number, Agent>();
  readonly inFlight = new Map<number, number>();
  readonly served = new Map<number, number>();
  private turn = 0;

  constructor(private readonly ports: number[]) {}

  add(i: number): void {
    this.agents.set(i, new Agent({ keepAlive: true }));
    this.inRotation.add(i);
  }

  async drain(i: number): Promise<void> {
    this.inRotation.delete(i);
    await until(() => (this.inFlight.get(i) ?? 0) === 0, 30_000, `requests to instance ${i} to finish`);
    this.agents.get(i)?.destroy();
  }

  send(method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<Answer> {
    const up = [...this.inRotation].sort();
    const i = up[this.turn++ % up.length]!;
    this.inFlight.set(i, (this.inFlight.get(i) ?? 0) + 1);
    return new Promise<Answer>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: this.ports[i], method, path, agent: this.agents.get(i), headers: { authorization, ...(body ? { 'content-length': String(body.length) } : {}), ...headers } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    }).finally(() => {
      this.inFlight.set(i, this.inFlight.get(i)! - 1);
      this.served.set(i, (this.served.get(i) ?? 0) + 1);
    });
  }
}

const pgReason = await pgUnavailableReason();
if (pgReason) console.warn(`SKIPPING the rolling upgrade test: ${pgReason}`);

describe.skipIf(pgReason !== undefined)('rolling upgrade of two instances on PostgreSQL', () => {
  let database: TempDatabase | undefined;
  let work: string | undefined;
  const instances: BerthProcess[] = [];

  afterAll(async () => {
    for (const instance of instances) {
      if (instance.proc.exitCode === null && instance.proc.signalCode === null) instance.proc.kill('SIGKILL');
      await instance.exited;
    }
    await database?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('upgrades the instances one at a time while a client pushes and pulls, without one failed request', async () => {
    const older = await olderBerth();
    if ('reason' in older) {
      console.warn(`SKIPPING the rolling upgrade test: ${older.reason}`);
      return;
    }
    database = await createTempDatabase();
    work = await mkdtemp(join(tmpdir(), 'berth-rolling-'));
    const ports = [await freePort(), await freePort()];
    const args = (i: number) => ['--port', String(ports[i]), '--data-dir', join(work!, `instance-${i}`), '--database-url', database!.url, '--set', `storage.filesystem.root=${join(work!, 'storage')}`];

    // Before: both instances run the older Berth, one schema behind today's.
    for (const i of [0, 1]) instances[i] = await spawnBerth(args(i), {}, older.cli);
    const probe = connect({ url: database.url });
    const before = await schemaStatus(probe);
    expect(before.pending).toEqual([older.newest]);

    const balancer = new Balancer(ports);
    balancer.add(0);
    balancer.add(1);
    const errors: string[] = [];
    const images: Image[] = [];
    let ops = 0;
    let upgrading = true;
    const deadline = Date.now() + 120_000;

    const expectStatus = (what: string, answer: Answer, status: number) => {
      if (answer.status !== status) errors.push(`${what}: ${answer.status} ${answer.body.toString().slice(0, 200)}`);
      return answer.status === status;
    };
    const push = async (n: number) => {
      const image = randomImage(2, 16 * 1024);
      const name = `library/rolling-${n % 5}`;
      // The config in one request; the first layer as a chunked upload (start, chunk, close), whose requests land on different instances.
      expectStatus('blob', await balancer.send('POST', `/v2/${name}/blobs/uploads/?digest=${image.config.digest}`, { 'content-type': 'application/octet-stream' }, image.config.data), 201);
      const started = await balancer.send('POST', `/v2/${name}/blobs/uploads/`);
      if (expectStatus('upload start', started, 202)) {
        const location = String(started.headers.location);
        const layer = image.layers[0]!;
        const chunk = await balancer.send('PATCH', location, { 'content-type': 'application/octet-stream', 'content-range': `0-${layer.data.length - 1}` }, layer.data);
        if (expectStatus('chunk', chunk, 202)) {
          const next = String(chunk.headers.location);
          expectStatus('upload close', await balancer.send('PUT', `${next}${next.includes('?') ? '&' : '?'}digest=${layer.digest}`), 201);
        }
      }
      expectStatus('blob', await balancer.send('POST', `/v2/${name}/blobs/uploads/?digest=${image.layers[1]!.digest}`, { 'content-type': 'application/octet-stream' }, image.layers[1]!.data), 201);
      if (expectStatus('manifest', await balancer.send('PUT', `/v2/${name}/manifests/t${n}`, { 'content-type': OCI_MANIFEST }, image.manifest), 201)) images.push(image);
    };
    const pull = async (name: string, tag: string, image: Image) => {
      const manifest = await balancer.send('GET', `/v2/${name}/manifests/${tag}`, { accept: OCI_MANIFEST });
      if (expectStatus(`pull ${name}:${tag}`, manifest, 200) && sha256(manifest.body) !== image.digest) errors.push(`pull ${name}:${tag}: another manifest`);
      for (const blob of [image.config, ...image.layers]) {
        const got = await balancer.send('GET', `/v2/${name}/blobs/${blob.digest}`);
        if (expectStatus(`pull ${blob.digest}`, got, 200) && !got.body.equals(blob.data)) errors.push(`pull ${blob.digest}: other bytes`);
      }
    };

    // The client: push, then pull a random earlier image, until the upgrade is done (bounded: 2,000 rounds, 120 s).
    const client = (async () => {
      while ((upgrading || ops < 20) && ops < 2000 && Date.now() < deadline) {
        try {
          await push(ops);
          const k = Math.floor(Math.random() * images.length);
          if (images[k]) await pull(`library/rolling-${k % 5}`, `t${k}`, images[k]);
        } catch (err) {
          errors.push(`request failed: ${(err as Error).message}`);
        }
        ops++;
      }
    })();

    // The rolling upgrade: drain, stop (SIGTERM), start today's Berth in its place, put it back.
    const servedAlone: number[] = [];
    for (const i of [0, 1]) {
      await until(() => ops >= 5 * (i + 1), 60_000, 'the client to make progress');
      await balancer.drain(i);
      instances[i]!.proc.kill('SIGTERM');
      expect((await instances[i]!.exited).code).toBe(0);
      const other = 1 - i;
      const servedBefore = balancer.served.get(other) ?? 0;
      instances[i] = await spawnBerth(args(i));
      servedAlone.push((balancer.served.get(other) ?? 0) - servedBefore);
      balancer.add(i);
      const servedByNew = balancer.served.get(i) ?? 0;
      await until(() => (balancer.served.get(i) ?? 0) >= servedByNew + 10, 60_000, `the upgraded instance ${i} to serve`);
    }
    upgrading = false;
    await client;
    console.info(`rolling upgrade from ${older.commit.slice(0, 12)} (before ${older.newest}): ${ops} push-and-pull rounds, ${[...balancer.served.values()].reduce((a, b) => a + b, 0)} requests`);

    const after = await schemaStatus(probe);
    await probe.db.destroy();
    expect(after.pending).toEqual([]);
    expect(after.unknown).toEqual([]);
    expect(errors).toEqual([]);
    // The other instance carried the load alone while each one was replaced.
    expect(servedAlone.every((n) => n > 0)).toBe(true);
    expect(images.length).toBe(ops);
    // Every image pushed during the upgrade is there, byte for byte, on each instance.
    for (let k = 0; k < images.length; k++) await pull(`library/rolling-${k % 5}`, `t${k}`, images[k]!);
    expect(errors).toEqual([]);
  }, 300_000);
});
