import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { access, constants, statfs } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import { sql } from 'kysely';
import type { ResolvedConfig } from '../config/load.js';
import { connect, schemaStatus, type Database } from '../adapters/db/connect.js';
import { KyselyIdentityStore } from '../adapters/db/kysely-identity-store.js';
import { createBlobStore } from '../adapters/storage/index.js';
import { configFrom, withConfigFlags, type ConfigFlags } from './admin-context.js';
import { exitCodes } from './exit-codes.js';
import { columns, printResult } from './output.js';
import { formatBytes } from './progress.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
  /** What to do about a warning or failure. */
  fix?: string;
}

const GiB = 2 ** 30;
/** Below this much free space a push can fail any moment. */
const minFreeBytes = GiB;
/** Below this share free, the disk fills soon. */
const lowFreeShare = 0.1;
/** Clock differences between instances beyond these break short-lived tokens and GC's grace periods. */
const skewWarnMs = 1000;
const skewFailMs = 30_000;
/** Each check answers within this, so doctor never hangs on an unreachable server. */
const checkTimeoutMs = 10_000;

/**
 * `berth doctor`: checks what Berth needs to run here — Node.js, configuration, data
 * directory, database and schema, storage (a real write, read back and delete), free space,
 * clock, the port, an administrator — and prints what to fix. Reads and probes only: it
 * creates nothing that `berth serve` would not. Exit 0 when nothing failed (warnings allowed),
 * 4 when a check failed.
 */
export function registerDoctor(program: Command): void {
  withConfigFlags(program.command('doctor').description('check configuration, Node.js, database, storage, free space, clock and port, and say what to fix'), 'print the checks as JSON').action(
    async (opts: ConfigFlags) => {
      const checks = await runChecks(opts);
      const failed = checks.some((c) => c.status === 'fail');
      printResult(opts.json, { ok: !failed, checks }, () => report(checks, failed));
      process.exitCode = failed ? exitCodes.problems : exitCodes.ok;
    },
  );
}

async function runChecks(flags: ConfigFlags): Promise<Check[]> {
  const checks: Check[] = [nodeCheck(process.versions.node)];
  let config: ResolvedConfig;
  try {
    config = configFrom(flags);
  } catch (err) {
    checks.push({ name: 'config', status: 'fail', detail: (err as Error).message, fix: 'correct the setting named above (berth config docs lists every setting)' });
    return checks;
  }
  const file = flags.config ?? process.env.BERTH_CONFIG;
  checks.push({ name: 'config', status: 'ok', detail: `${file ? `file ${file}` : 'no file: defaults'}, environment and flags are valid` });
  checks.push(...(await bounded('data directory', dataDirCheck(config.dataDir).then((c) => [c]))));
  checks.push(...(await bounded('database', databaseChecks(config))));
  checks.push(...(await bounded('storage', storageChecks(config))));
  checks.push(...(await bounded('port', portCheck(config.server.host, config.server.port).then((c) => [c]))));
  return checks;
}

/** Node.js 20 is past its end of life; Berth supports 20 to 26 (README, "Supported Node.js versions"). */
export function nodeCheck(version: string): Check {
  const major = Number(version.split('.')[0]);
  if (major < 20) return { name: 'node', status: 'fail', detail: `Node.js ${version} is older than Berth supports`, fix: 'install Node.js 24 LTS (or 22)' };
  if (major === 20 || major === 21 || major === 23) {
    return { name: 'node', status: 'warn', detail: `Node.js ${version} no longer gets security fixes`, fix: 'move to Node.js 24 LTS (or 22); Berth runs on both' };
  }
  return { name: 'node', status: 'ok', detail: `Node.js ${version}` };
}

async function dataDirCheck(dataDir: string): Promise<Check> {
  const dir = resolve(dataDir);
  if (!existsSync(dir)) {
    const parent = nearestExisting(dir);
    const writable = await canWrite(parent);
    return writable
      ? { name: 'data directory', status: 'ok', detail: `${dir} does not exist yet; the first start creates it (${parent} is writable)` }
      : { name: 'data directory', status: 'fail', detail: `${dir} does not exist and ${parent} is not writable by this user`, fix: `create ${dir} and give it to the user Berth runs as` };
  }
  if (!(await canWrite(dir))) {
    return { name: 'data directory', status: 'fail', detail: `${dir} is not writable by this user (uid ${process.getuid?.() ?? '?'})`, fix: `chown -R the user Berth runs as: ${dir}` };
  }
  return freeSpace('data directory', dir);
}

/** Free space where `dir` lives: a failure below 1 GiB, a warning below 10 %. */
async function freeSpace(name: string, dir: string): Promise<Check> {
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  const total = fs.blocks * fs.bsize;
  const detail = `${dir}: ${formatBytes(free)} free of ${formatBytes(total)}`;
  if (free < minFreeBytes) return { name, status: 'fail', detail, fix: 'free space or grow the volume: pushes fail when it is full (berth gc frees what no tag needs)' };
  if (free < total * lowFreeShare) return { name, status: 'warn', detail, fix: 'less than 10 % is free: plan more space, set quotas, or run berth gc' };
  return { name, status: 'ok', detail };
}

async function databaseChecks(config: ResolvedConfig): Promise<Check[]> {
  const url = config.database.url;
  const shown = url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
  if (url.startsWith('sqlite:') && url !== 'sqlite::memory:' && !existsSync(resolve(url.slice('sqlite:'.length)))) {
    return [{ name: 'database', status: 'ok', detail: `${shown} does not exist yet; the first start creates it and the first administrator` }];
  }
  let database: Database;
  try {
    database = connect({ url, poolSize: 1, connectRetryMs: 0 });
  } catch (err) {
    return [{ name: 'database', status: 'fail', detail: `${shown}: ${(err as Error).message}`, fix: 'check database.url' }];
  }
  try {
    const started = Date.now();
    try {
      await sql`select 1`.execute(database.db);
    } catch (err) {
      return [{ name: 'database', status: 'fail', detail: `${shown} cannot be reached: ${(err as Error).message}`, fix: 'start the database, or correct database.url (host, port, user, password, database name)' }];
    }
    const checks: Check[] = [{ name: 'database', status: 'ok', detail: `${database.engine} at ${shown} answers (${Date.now() - started} ms)` }];
    const schema = await schemaStatus(database);
    if (schema.unknown.length > 0) {
      checks.push({
        name: 'schema',
        status: 'fail',
        detail: `a newer Berth migrated this database (${schema.unknown.join(', ')}); this version knows up to ${schema.latest}`,
        fix: 'run that newer Berth, or restore a backup taken before the upgrade (docs/upgrades.md)',
      });
      return checks;
    }
    checks.push(
      schema.pending.length === 0
        ? { name: 'schema', status: 'ok', detail: `up to date (${schema.latest})` }
        : { name: 'schema', status: 'ok', detail: `${schema.pending.length} migration${schema.pending.length === 1 ? '' : 's'} to apply at the next start (${schema.pending[0]} …)` },
    );
    if (schema.applied.length > 0) {
      const admins = await new KyselyIdentityStore(database).countAdmins();
      checks.push(
        admins > 0
          ? { name: 'administrator', status: 'ok', detail: `${admins} enabled system administrator${admins === 1 ? '' : 's'}` }
          : { name: 'administrator', status: 'warn', detail: 'no enabled system administrator', fix: 'berth user create <name> --admin, or berth user enable <name>' },
      );
    }
    if (database.engine === 'postgres') checks.push(await clockCheck(database));
    else checks.push({ name: 'clock', status: 'skip', detail: 'one machine (SQLite): no other clock to compare with' });
    return checks;
  } finally {
    await database.db.destroy();
  }
}

/** This machine's clock against the database server's, which every instance shares. */
async function clockCheck(database: Database): Promise<Check> {
  const before = Date.now();
  const row = (await sql<{ ms: string | number }>`select (extract(epoch from clock_timestamp()) * 1000)::float8 as ms`.execute(database.db)).rows[0]!;
  const after = Date.now();
  const skew = Math.round((before + after) / 2 - Number(row.ms));
  const detail = `this machine is ${Math.abs(skew)} ms ${skew >= 0 ? 'ahead of' : 'behind'} the database server (round trip ${after - before} ms)`;
  if (Math.abs(skew) > skewFailMs) return { name: 'clock', status: 'fail', detail, fix: 'synchronise clocks (NTP, e.g. systemd-timesyncd or chrony): tokens and GC grace periods rely on them' };
  if (Math.abs(skew) > skewWarnMs + (after - before)) return { name: 'clock', status: 'warn', detail, fix: 'synchronise clocks (NTP) on every Berth machine and the database server' };
  return { name: 'clock', status: 'ok', detail };
}

async function storageChecks(config: ResolvedConfig): Promise<Check[]> {
  const { driver } = config.storage;
  const root = driver === 'filesystem' ? resolve(config.storage.filesystem.root) : undefined;
  if (root !== undefined && !existsSync(root)) {
    const parent = nearestExisting(root);
    return (await canWrite(parent))
      ? [{ name: 'storage', status: 'ok', detail: `filesystem ${root} does not exist yet; the first start creates it` }]
      : [{ name: 'storage', status: 'fail', detail: `filesystem ${root} does not exist and ${parent} is not writable`, fix: `create ${root} and give it to the user Berth runs as` }];
  }
  const where = driver === 'filesystem' ? `filesystem ${root}` : driver === 's3' ? `s3 bucket ${config.storage.s3.bucket}` : `azure container ${config.storage.azure.container}`;
  let store;
  try {
    store = await createBlobStore(config.storage);
  } catch (err) {
    return [{ name: 'storage', status: 'fail', detail: `${where}: ${(err as Error).message}`, fix: 'check the storage settings (berth config show)' }];
  }
  try {
    // A real write, read back and delete, in the upload area (committed objects are never touched).
    const id = `doctor-${randomUUID()}`;
    const probe = Buffer.from(`berth doctor probe ${new Date().toISOString()}\n`);
    try {
      await store.ping();
      await store.createUpload(id);
      await store.append(id, 0, Readable.from([probe]));
      const size = await store.uploadSize(id);
      if (size !== probe.length) throw new Error(`wrote ${probe.length} bytes, read back a size of ${size}`);
    } catch (err) {
      return [{ name: 'storage', status: 'fail', detail: `${where}: ${(err as Error).message}`, fix: 'check permissions, credentials, the bucket or container name and that the server is reachable' }];
    } finally {
      await store.deleteUpload(id).catch(() => undefined);
    }
    const checks: Check[] = [{ name: 'storage', status: 'ok', detail: `${where}: a test upload was written, read back and deleted` }];
    if (root !== undefined) checks.push(await freeSpace('free space', root));
    return checks;
  } finally {
    await store.close?.();
  }
}

/** Whether `berth serve` could listen on host:port, or a Berth already does. */
async function portCheck(host: string, port: number): Promise<Check> {
  if (port === 0) return { name: 'port', status: 'ok', detail: 'server.port 0: any free port' };
  const failure = await new Promise<NodeJS.ErrnoException | undefined>((done) => {
    const server = createServer();
    server.once('error', (err) => done(err));
    server.listen({ host, port, exclusive: true }, () => server.close(() => done(undefined)));
  });
  const at = `${host}:${port}`;
  if (!failure) return { name: 'port', status: 'ok', detail: `${at} is free for berth serve` };
  if (failure.code === 'EACCES') return { name: 'port', status: 'fail', detail: `${at}: this user may not listen on ports below 1024`, fix: 'use a port of 1024 or more behind a proxy, or grant CAP_NET_BIND_SERVICE' };
  if (failure.code === 'EADDRNOTAVAIL') return { name: 'port', status: 'fail', detail: `${at}: no interface of this machine has that address`, fix: 'set server.host to an address of this machine, or 0.0.0.0' };
  if (failure.code !== 'EADDRINUSE') return { name: 'port', status: 'fail', detail: `${at}: ${failure.message}`, fix: 'check server.host and server.port' };
  const probeHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const berth = await fetch(`http://${probeHost}:${port}/healthz`, { signal: AbortSignal.timeout(3000) })
    .then(async (r) => r.ok && ((await r.json()) as { status?: string }).status === 'ok')
    .catch(() => false);
  return berth
    ? { name: 'port', status: 'ok', detail: `${at}: a Berth is running there (GET /healthz answers)` }
    : { name: 'port', status: 'fail', detail: `${at} is taken by another program`, fix: `stop it (ss -ltnp 'sport = :${port}' names it) or set server.port` };
}

/** A check that does not answer in time fails rather than hanging doctor. */
async function bounded(name: string, work: Promise<Check[]>): Promise<Check[]> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Check[]>((done) => {
    timer = setTimeout(() => done([{ name, status: 'fail', detail: `no answer within ${checkTimeoutMs / 1000} s`, fix: 'check that the server named in the configuration is reachable from here' }]), checkTimeoutMs);
  });
  try {
    return await Promise.race([work.catch((err: unknown): Check[] => [{ name, status: 'fail', detail: (err as Error).message }]), late]);
  } finally {
    clearTimeout(timer);
  }
}

function nearestExisting(path: string): string {
  let dir = path;
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

async function canWrite(dir: string): Promise<boolean> {
  return access(dir, constants.W_OK | constants.X_OK).then(
    () => true,
    () => false,
  );
}

function report(checks: Check[], failed: boolean): string {
  const rows = checks.flatMap((c) => [[c.status, c.name, c.detail], ...(c.fix && c.status !== 'ok' ? [['', '', `fix: ${c.fix}`]] : [])]);
  const warnings = checks.filter((c) => c.status === 'warn').length;
  const verdict = failed
    ? `${checks.filter((c) => c.status === 'fail').length} check(s) failed: Berth will not run properly until they are fixed`
    : warnings > 0
      ? `ready to run, with ${warnings} warning(s)`
      : 'ready to run';
  return `${columns(['STATUS', 'CHECK', 'DETAIL'], rows)}\n${verdict}\n`;
}
