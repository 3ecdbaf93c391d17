import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { RegistryHttp } from './http.js';
import { percentile } from './load.js';
import { markdownTable, textTable, type Row, type SystemFigures } from './report.js';
import { MemorySampler, cpuSecondsOf, settle, createDatabase, postgresCpu, postgresCpuSince, rssOf, startBerth, startDistribution, startS3rver, type BerthSettings, type RunningSystem } from './systems.js';
import { TransactionCounter } from './transactions.js';
import { warmUp, workloads, type SystemContext, type Workload } from './workloads.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const program = new Command()
  .name('bench')
  .description('Berth and CNCF distribution side by side: the same workloads against both, interleaved, in one run')
  .option('-c, --concurrency <n>', 'requests in flight', '10')
  .option('--scale <factor>', 'multiplies every operation count', '1')
  .option('--quick', 'a smoke run: counts × 0.05')
  .option('--only <pattern>', 'run only workloads whose name matches this regular expression (and what they need)')
  .option('--workers <n>', 'Berth --workers (default: Berth’s own default, one per core)')
  .option('--postgres [url]', 'run Berth on PostgreSQL: a fresh database on the server at this URL (default postgres://postgres@127.0.0.1:5432/test), dropped afterwards')
  .option('--s3', 'run Berth on S3 storage: s3rver, a real S3 API server, on a loopback port')
  .option('--set <key=value...>', 'extra Berth settings')
  .option('--out <file>', 'where to write the JSON results', '')
  .parse();

const opts = program.opts<{ concurrency: string; scale: string; quick?: boolean; only?: string; workers?: string; postgres?: string | true; s3?: boolean; set?: string[]; out: string }>();
const runOptions = { concurrency: Number(opts.concurrency), scale: opts.quick ? 0.05 : Number(opts.scale) };

async function main(): Promise<void> {
  const settings: BerthSettings = { workers: opts.workers === undefined ? undefined : Number(opts.workers), set: [...(opts.set ?? [])] };
  const cleanups: Array<() => Promise<void>> = [];
  let transactions: TransactionCounter | undefined;
  if (opts.postgres) {
    const adminUrl = opts.postgres === true ? 'postgres://postgres@127.0.0.1:5432/test' : opts.postgres;
    const database = await createDatabase(adminUrl);
    cleanups.push(() => database.drop());
    settings.set!.push(`database.url=${database.url}`);
    transactions = await TransactionCounter.open(adminUrl, database.url);
    cleanups.push(() => transactions!.close());
  }
  if (opts.s3) {
    const s3 = await startS3rver(root);
    cleanups.push(() => s3.stop());
    settings.set!.push(...s3.settings);
  }
  settings.variant = `${opts.postgres ? 'PostgreSQL' : 'SQLite'} + ${opts.s3 ? 'S3 (s3rver)' : 'filesystem'}`;
  const started = new Date();
  const systems: RunningSystem[] = [await startDistribution(), await startBerth(root, settings)];
  const contexts = new Map<RunningSystem, SystemContext>(
    systems.map((system) => [system, { system, http: new RegistryHttp(system.url, system.credentials, runOptions.concurrency), repositories: new Set(), pushed: new Map(), ran: new Set(), checkedPages: new Map() }]),
  );
  const only = opts.only ? new RegExp(opts.only, 'i') : undefined;
  const rows: Row[] = [];
  try {
    const list = workloads(runOptions);
    const byName = new Map(list.map((w) => [w.name, w]));
    /** Runs what `workload` needs (unmeasured) and then the workload itself on one system. */
    const runOn = async (workload: Workload, context: SystemContext) => {
      const needed = workload.needs ? byName.get(workload.needs) : undefined;
      if (needed && !context.ran.has(needed.name)) await runOn(needed, context);
      context.ran.add(workload.name);
      return workload.run(context, runOptions);
    };
    const selected = list.filter((w) => !only || only.test(w.name));
    for (const context of contexts.values()) await warmUp(context, runOptions);
    let lastTransactions: number | undefined;
    for (const [index, workload] of selected.entries()) {
      // Interleaved: the systems take turns going first, so neither always runs on a warmer machine.
      const order = index % 2 === 0 ? systems : [...systems].reverse();
      const figures: Partial<Record<RunningSystem['name'], SystemFigures>> = {};
      for (const system of order) {
        const counted = system.name === 'berth' ? transactions : undefined;
        // The previous reading still holds: only Berth's idle work (about 1 transaction a second) ran since.
        const transactionsBefore = counted ? (lastTransactions ?? (await counted.settled())) : undefined;
        const sampler = new MemorySampler(system);
        sampler.start();
        const cpuBefore = cpuSecondsOf(system.pids());
        const databaseCpuBefore = counted ? postgresCpu() : undefined;
        const result = await runOn(workload, contexts.get(system)!);
        // Work the requests left behind (Berth indexes and scans pushed images in the background,
        // later still while requests keep it saturated) is part of what they cost.
        const settleSeconds = await settle(system);
        const cpu = cpuSecondsOf(system.pids()) - cpuBefore;
        const databaseCpu = databaseCpuBefore ? postgresCpuSince(databaseCpuBefore) : 0;
        const memory = sampler.stop();
        const transactionsAfter = await counted?.settled();
        if (transactionsAfter !== undefined) lastTransactions = transactionsAfter;
        figures[system.name] = {
          ops: result.ops,
          seconds: result.seconds,
          reqPerSec: result.ops / result.seconds,
          mbPerSec: result.bytes / 1e6 / result.seconds,
          p50Ms: percentile(result.latencies, 50),
          p99Ms: percentile(result.latencies, 99),
          cpuMsPerOp: (cpu * 1000) / result.ops,
          settleSeconds,
          ...memory,
          ...(transactionsAfter === undefined ? {} : { dbTransactionsPerOp: (transactionsAfter - transactionsBefore!) / result.ops, dbCpuMsPerOp: (databaseCpu * 1000) / result.ops }),
        };
      }
      const row: Row = { workload: workload.name, unit: workload.unit, distribution: figures.distribution!, berth: figures.berth! };
      rows.push(row);
      process.stderr.write(`${textTable([row], false)}\n`);
    }
  } finally {
    const peaks = Object.fromEntries(systems.map((s) => [s.name, Math.max(0, ...s.pids().map((pid) => rssOf(pid, 'VmHWM')))]));
    for (const context of contexts.values()) context.http.close();
    for (const system of systems) await system.stop();
    for (const cleanup of cleanups.reverse()) await cleanup();
    if (rows.length > 0) report(rows, systems, started, peaks);
  }
}

function report(rows: Row[], systems: RunningSystem[], started: Date, peaks: Record<string, number>): void {
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node.js ${process.version}`;
  const result = {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    machine,
    options: { ...runOptions, only: opts.only, workers: opts.workers, postgres: opts.postgres ? true : undefined, s3: opts.s3, set: opts.set },
    systems: Object.fromEntries(systems.map((s) => [s.name, { label: s.label, peakRssBytes: peaks[s.name] }])),
    rows,
  };
  const out = opts.out || join(root, 'bench/results', `${started.toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\n${systems.map((s) => `${s.name}: ${s.label}; peak RSS of any one process ${(peaks[s.name]! / 2 ** 20).toFixed(0)} MiB`).join('\n')}\n${machine}\n\n`);
  process.stdout.write(`${textTable(rows, true)}\n\n${markdownTable(rows)}\n\nresults: ${out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
