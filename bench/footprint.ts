import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { freePort } from './free-port.js';
import { pssOf, startS3rver } from './systems.js';

// Start time and idle memory of Berth per configured feature (issue 19): how long `berth serve`
// takes from being run to its first answer on /v2/, and the PSS summed over its processes once
// it is idle, for each storage driver, with LDAP or OIDC on, and with 1 or 2 workers.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const program = new Command()
  .name('bench:footprint')
  .description('start time and idle memory of Berth per storage driver, identity provider and worker count')
  .option('--runs <n>', 'restarts measured per configuration (after a first start that creates the data)', '3')
  .option('--idle-seconds <s>', 'how long after its start a Berth is idle enough to measure', '12')
  .option('--out <file>', 'where to write the JSON results', '')
  .parse();
const opts = program.opts<{ runs: string; idleSeconds: string; out: string }>();

interface Variant {
  name: string;
  workers: number;
  set: string[];
}

interface Measured {
  variant: string;
  workers: number;
  /** Seconds from spawning `berth serve` to the first answer (401) on /v2/, one per run. */
  startSeconds: number[];
  /** PSS summed over the primary and workers, idle, one per run. */
  idlePssBytes: number[];
  /** Each process's PSS in the last run (primary first). */
  perProcessPssBytes: number[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Azurite's blob service in a child process (the tests' wrapper), with a fresh account and container. */
async function startAzurite(): Promise<{ settings: string[]; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-azurite-'));
  const accountName = `bench${randomBytes(4).toString('hex')}`;
  const accountKey = randomBytes(64).toString('base64');
  const child = spawn(
    process.execPath,
    [join(root, 'test/helpers/azurite-process.mjs'), '--blobHost', '127.0.0.1', '--blobPort', '0', '--location', dir, '--disableTelemetry', '--skipApiVersionCheck'],
    { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, AZURITE_ACCOUNTS: `${accountName}:${accountKey}` } },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('Azurite did not start within 20 s')), 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listens on http:\/\/[^:]+:(\d+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`Azurite exited with ${code}`)));
  });
  const endpoint = `http://127.0.0.1:${port}/${accountName}`;
  const { BlobServiceClient, StorageSharedKeyCredential } = await import('@azure/storage-blob');
  await new BlobServiceClient(endpoint, new StorageSharedKeyCredential(accountName, accountKey)).getContainerClient('bench').create();
  return {
    settings: ['storage.driver=azure', `storage.azure.endpoint=${endpoint}`, `storage.azure.accountName=${accountName}`, `storage.azure.accountKey=${accountKey}`, 'storage.azure.container=bench'],
    async stop() {
      child.stdin!.end();
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `berth serve` on `dataDir`; resolves once /v2/ answers, with the seconds that took. */
async function serve(dataDir: string, variant: Variant): Promise<{ child: ChildProcess; seconds: number }> {
  const port = await freePort();
  const args = [join(root, 'dist/cli/main.js'), 'serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir, '--workers', String(variant.workers)];
  for (const s of variant.set) args.push('--set', s);
  const started = performance.now();
  const child = spawn(process.execPath, args, { stdio: 'ignore', env: { ...process.env, BERTH_BANNER: '0', BERTH_ADMIN_PASSWORD: 'Bench-Passw0rd-1' } });
  const deadline = started + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`berth (${variant.name}) exited with ${child.exitCode} before answering`);
    const status = await fetch(`http://127.0.0.1:${port}/v2/`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 401) return { child, seconds: (performance.now() - started) / 1000 };
    if (performance.now() > deadline) throw new Error(`berth (${variant.name}) did not answer within 60 s`);
    await sleep(25);
  }
}

/** The pid and its descendants (Berth's primary and its workers). */
function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      out.push(...readFileSync(`/proc/${out[i]}/task/${out[i]}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {
      // gone
    }
  }
  return out;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}

async function measure(variant: Variant, runs: number, idleMs: number): Promise<Measured> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-footprint-'));
  const result: Measured = { variant: variant.name, workers: variant.workers, startSeconds: [], idlePssBytes: [], perProcessPssBytes: [] };
  try {
    // The first start creates the database, the first administrator and the storage layout.
    await stop((await serve(dir, variant)).child);
    for (let run = 0; run < runs; run++) {
      const { child, seconds } = await serve(dir, variant);
      result.startSeconds.push(seconds);
      await sleep(idleMs);
      const pids = processTree(child.pid!);
      result.idlePssBytes.push(pssOf(pids));
      result.perProcessPssBytes = pids.map((pid) => pssOf([pid]));
      await stop(child);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return result;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

async function main(): Promise<void> {
  const runs = Number(opts.runs);
  const idleMs = Number(opts.idleSeconds) * 1000;
  const s3 = await startS3rver(root);
  const azure = await startAzurite();
  const ldap = ['auth.ldap.enabled=true', 'auth.ldap.url=ldap://127.0.0.1:1', 'auth.ldap.baseDn=dc=example,dc=org'];
  const oidc = ['auth.oidc.enabled=true', 'auth.oidc.issuer=http://127.0.0.1:1/', 'auth.oidc.clientId=berth'];
  const variants: Variant[] = [
    { name: 'SQLite + filesystem', workers: 1, set: [] },
    { name: 'SQLite + filesystem', workers: 2, set: [] },
    { name: 'SQLite + S3 (s3rver)', workers: 2, set: s3.settings },
    { name: 'SQLite + Azure (Azurite)', workers: 2, set: azure.settings },
    { name: 'SQLite + filesystem, LDAP on', workers: 2, set: ldap },
    { name: 'SQLite + filesystem, OIDC on', workers: 2, set: oidc },
  ];
  const started = new Date();
  const results: Measured[] = [];
  try {
    for (const variant of variants) {
      const measured = await measure(variant, runs, idleMs);
      results.push(measured);
      process.stderr.write(
        `${variant.name}, ${variant.workers} worker(s): start ${measured.startSeconds.map((s) => s.toFixed(2)).join(' / ')} s; idle PSS ${measured.idlePssBytes.map(mib).join(' / ')} MiB (processes: ${measured.perProcessPssBytes.map(mib).join(', ')})\n`,
      );
    }
  } finally {
    await s3.stop();
    await azure.stop();
  }
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node.js ${process.version}`;
  const out = opts.out || join(root, 'bench/results', `footprint-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ started: started.toISOString(), machine, runs, idleSeconds: idleMs / 1000, results }, null, 2)}\n`);
  const rows = results.map(
    (r) =>
      `| ${r.variant} | ${r.workers} | ${median(r.startSeconds).toFixed(2)} (${Math.min(...r.startSeconds).toFixed(2)}–${Math.max(...r.startSeconds).toFixed(2)}) | ${mib(median(r.idlePssBytes))} | ${r.perProcessPssBytes.map(mib).join(', ')} |`,
  );
  process.stdout.write(
    `\n${machine}\n\n| configuration | workers | start to /v2/, s (median, range) | idle summed PSS, MiB (median) | per process, MiB (primary first) |\n| --- | ---: | ---: | ---: | --- |\n${rows.join('\n')}\n\nresults: ${out}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:footprint: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
