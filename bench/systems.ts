import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

export type SystemName = 'distribution' | 'berth';

export interface RunningSystem {
  name: SystemName;
  /** Human-readable description: version and settings. */
  label: string;
  url: string;
  credentials?: { username: string; password: string };
  /** The pids serving requests (Berth's cluster primary and workers; distribution's one). */
  pids(): number[];
  /** Berth's data directory (database and filesystem storage). */
  dataDir?: string;
  stop(): Promise<void>;
}

const distributionBinary = '/usr/bin/docker-registry';

/** CNCF distribution from Debian's `docker-registry` package, installed on demand when root. */
export function ensureDistribution(): string {
  if (existsSync(distributionBinary)) return distributionBinary;
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
    throw new Error(`CNCF distribution is not installed (${distributionBinary}); install Debian's package: sudo apt-get install -y docker-registry`);
  }
  console.error('installing CNCF distribution: apt-get install -y docker-registry');
  // policy-rc.d keeps the package from starting its own service on port 5000.
  writeFileSync('/usr/sbin/policy-rc.d', '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    for (const args of [['update', '-qq'], ['install', '-y', '-qq', 'docker-registry']]) {
      const run = spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      if (run.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed with ${run.status}`);
    }
  } finally {
    spawnSync('rm', ['-f', '/usr/sbin/policy-rc.d']);
  }
  return distributionBinary;
}

export function distributionVersion(): string {
  const out = spawnSync(distributionBinary, ['--version'], { encoding: 'utf8' });
  return (out.stdout.trim().split(' ').pop() ?? 'unknown').replace(/\+ds\d*$/, '');
}

async function waitFor(url: string, ok: (status: number) => boolean, child: ChildProcess, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before it was ready`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (ok(res.status)) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not become ready within ${timeoutMs} ms`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** distribution with Debian's default settings (filesystem, in-memory blob descriptor cache), on loopback. */
export async function startDistribution(): Promise<RunningSystem> {
  const binary = ensureDistribution();
  const dir = await mkdtemp(join(tmpdir(), 'bench-distribution-'));
  const port = await freePort();
  const config = [
    'version: 0.1',
    'log:',
    '  fields:',
    '    service: registry',
    'storage:',
    '  cache:',
    '    blobdescriptor: inmemory',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'storage')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'config.yml'), config);
  const log = openSync(join(dir, 'registry.log'), 'a');
  const child = spawn(binary, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', log, log] });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/v2/`, (s) => s === 200, child, 'distribution');
  return {
    name: 'distribution',
    label: `CNCF distribution ${distributionVersion()} (Debian docker-registry; filesystem, inmemory blob descriptor cache)`,
    url,
    pids: () => (child.pid ? [child.pid] : []),
    async stop() {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface BerthSettings {
  /** `--workers`; undefined keeps Berth's default (one per core; one on 2 cores or fewer). */
  workers?: number;
  /** Extra `--set key=value` settings (e.g. PostgreSQL, S3). */
  set?: string[];
  /** Extra environment. */
  env?: Record<string, string>;
  /** Describes the storage/database in the report. */
  variant?: string;
  /** Run on this existing data directory (kept when stopped) instead of a fresh one. */
  dataDir?: string;
}

/** Berth as `npm start` runs it (embedded SQLite + filesystem unless settings say otherwise), on loopback. */
export async function startBerth(root: string, settings: BerthSettings = {}): Promise<RunningSystem> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-berth-'));
  const dataDir = settings.dataDir ?? join(dir, 'data');
  const port = await freePort();
  const password = settings.env?.BERTH_ADMIN_PASSWORD ?? `Bench-${Math.random().toString(36).slice(2)}-Aa1`;
  // BENCH_BERTH_NODE_ARGS: Node.js flags for Berth's process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` with `--workers 1`.
  const nodeArgs = (process.env.BENCH_BERTH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const args = [...nodeArgs, join(root, 'dist/cli/main.js'), 'serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir];
  if (settings.workers !== undefined) args.push('--workers', String(settings.workers));
  for (const s of settings.set ?? []) args.push('--set', s);
  const log = openSync(join(dir, 'berth.log'), 'a');
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', log, log],
    env: { ...process.env, BERTH_ADMIN_PASSWORD: password, BERTH_BANNER: '0', ...settings.env },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/readyz`, (s) => s === 200, child, 'berth');
  // The rule Berth applies to `--workers 0`, from the built modules as the other benchmarks load
  // them (tsconfig.bench.json compiles bench/ alone).
  const modules = '../dist/modules';
  const { defaultWorkers } = (await import(`${modules}/cli/worker-count.js`)) as { defaultWorkers(): number };
  const workers = settings.workers && settings.workers > 0 ? settings.workers : defaultWorkers();
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  return {
    name: 'berth',
    label: `Berth ${version} (${settings.variant ?? 'SQLite + filesystem'}; ${workers} worker${workers === 1 ? '' : 's'})`,
    url,
    credentials: { username: 'admin', password },
    dataDir,
    pids: () => (child.pid ? [child.pid, ...descendants(child.pid)] : []),
    async stop() {
      await stopChild(child);
      // BENCH_KEEP=1 keeps the data directory and berth.log to look at after a failure.
      if (process.env.BENCH_KEEP) process.stderr.write(`kept ${dir}\n`);
      else await rm(dir, { recursive: true, force: true });
    },
  };
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  const children = (p: number): number[] => {
    try {
      return readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .filter((d) => {
          try {
            return readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]?.split(' ')[1] === String(p);
          } catch {
            return false;
          }
        })
        .map(Number);
    }
  };
  const queue = [pid];
  while (queue.length > 0 && out.length < 1024) {
    for (const c of children(queue.shift()!)) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** Resident set size of a process in bytes (`field` VmRSS now, or VmHWM: the peak since it started). */
export function rssOf(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Samples a system's memory while a workload runs: the largest single-process RSS, and the
 * peak of PSS summed over every process (shared pages counted once: what the system costs).
 */
export class MemorySampler {
  private peakRss = 0;
  private peakPss = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly system: RunningSystem) {}

  start(intervalMs = 100): void {
    this.peakRss = 0;
    this.peakPss = 0;
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  stop(): { peakRssBytes: number; peakPssBytes: number } {
    clearInterval(this.timer);
    this.sample();
    return { peakRssBytes: this.peakRss, peakPssBytes: this.peakPss };
  }

  private sample(): void {
    const pids = this.system.pids();
    for (const pid of pids) this.peakRss = Math.max(this.peakRss, rssOf(pid));
    this.peakPss = Math.max(this.peakPss, pssOf(pids));
  }
}

/** CPU seconds (user + system) processes have used, from /proc (clock ticks of 100 Hz). */
export function cpuSecondsOf(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks / 100;
}

/**
 * Waits until the system's processes go quiet: less than 3% of a core over the last second
 * (idle pollers stay below that), at most `maxSeconds`. Returns the seconds it waited.
 */
export async function settle(system: RunningSystem, maxSeconds = 120): Promise<number> {
  const started = performance.now();
  const stepMs = 250;
  const readings = [cpuSecondsOf(system.pids())];
  for (;;) {
    const waited = (performance.now() - started) / 1000;
    // The quiet second itself is not counted as waiting.
    if (readings.length > 4 && readings.at(-1)! - readings.at(-5)! < 0.03) return Math.max(0, waited - 1);
    if (waited >= maxSeconds) return waited;
    await new Promise((resolve) => setTimeout(resolve, stepMs));
    readings.push(cpuSecondsOf(system.pids()));
  }
}

/**
 * CPU seconds of each process of the PostgreSQL server on this machine (postmaster, backends,
 * background workers): Berth's database work is part of its cost, as distribution's storage
 * work is part of its own.
 */
export function postgresCpu(): Map<number, number> {
  const cpu = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').startsWith('postgres')) cpu.set(Number(entry), cpuSecondsOf([Number(entry)]));
    } catch {
      // gone
    }
  }
  return cpu;
}

/** PostgreSQL's CPU seconds since `before` (postgresCpu): backends started since count whole (the pool opens them under load). */
export function postgresCpuSince(before: Map<number, number>): number {
  let seconds = 0;
  for (const [pid, now] of postgresCpu()) seconds += now - (before.get(pid) ?? 0);
  return seconds;
}

/** s3rver (the S3 API server the tests use) on a loopback port, in a child process, with one bucket. */
export async function startS3rver(root: string): Promise<{ settings: string[]; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-s3rver-'));
  const bucket = 'bench';
  // --openssl-legacy-provider: s3rver's listing tokens use DES (see test/helpers/s3rver-process.mjs).
  const child = spawn(process.execPath, ['--openssl-legacy-provider', join(root, 'test/helpers/s3rver-process.mjs'), dir, bucket], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('s3rver did not start within 15 s')), 15_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n', 2);
      if (line.length < 2) return;
      clearTimeout(timer);
      resolve((JSON.parse(line[0]!) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  return {
    settings: [
      'storage.driver=s3',
      `storage.s3.endpoint=http://127.0.0.1:${port}`,
      `storage.s3.bucket=${bucket}`,
      'storage.s3.forcePathStyle=true',
      'storage.s3.accessKeyId=S3RVER',
      'storage.s3.secretAccessKey=S3RVER',
    ],
    async stop() {
      child.stdin!.end();
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh database on a PostgreSQL server (trust auth on loopback, as in the tests), dropped afterwards. */
export async function createDatabase(adminUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const { default: pg } = await import('pg');
  const name = `berth_bench_${Date.now().toString(36)}`;
  const run = async (statement: string) => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await run(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** Summed proportional set size (shared pages counted once) of every process, in bytes. */
export function pssOf(pids: number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      sum += m ? Number(m[1]) * 1024 : 0;
    } catch {
      // gone
    }
  }
  return sum;
}
