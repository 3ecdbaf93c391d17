import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/load.js';
import { connect, migrate } from '../adapters/db/connect.js';
import { createBlobStore } from '../adapters/storage/index.js';
import { BerthError } from '../domain/errors.js';
import type { ScrubProblem, ScrubRunRow } from '../ports/scrub-store.js';
import { createScrubber } from '../wiring/lifecycle.js';
import { exitCodes } from './exit-codes.js';
import { formatBytes } from './progress.js';
import { settingFlags } from './set-flags.js';

interface ScrubCommandOptions {
  config?: string;
  dataDir?: string;
  set?: string[];
  rate?: string;
  json?: boolean;
}

/**
 * `berth scrub`: one scrub run in this process, against the configured database and storage,
 * while Berth keeps serving (docs/lifecycle.md). A run interrupted earlier is continued. Exit
 * codes: 0 nothing wrong found, 1 the run failed, 2 bad configuration or options, 3 another run
 * is in progress, 4 corrupt or missing objects found (quarantined).
 */
export function registerScrub(program: Command): void {
  program
    .command('scrub')
    .description('read back and verify every stored blob and manifest; quarantine what is corrupt or missing (online; one run at a time)')
    .option('-c, --config <file>', 'YAML config (also BERTH_CONFIG)')
    .option('--data-dir <dir>', 'data directory (dataDir)')
    .option('--set <key=value...>', 'any setting by its dotted key')
    .option('--rate <MiB/s>', 'read at most this fast (default: lifecycle.scrub.bytesPerSecond; 0: unthrottled)')
    .option('--json', 'print the run and its problems as JSON')
    .action(async (opts: ScrubCommandOptions) => {
      const config = loadConfig({ file: opts.config, flags: { dataDir: opts.dataDir, ...settingFlags(opts.set) } });
      const rate = opts.rate === undefined ? undefined : Number(opts.rate);
      if (rate !== undefined && (!Number.isFinite(rate) || rate < 0)) throw new ConfigError(`--rate expects MiB per second (0: unthrottled), got "${opts.rate}"`);
      const database = connect({ url: config.database.url, poolSize: 4, connectRetryMs: config.database.connectRetryMs, preparedStatements: config.database.preparedStatements });
      const store = await createBlobStore(config.storage);
      try {
        await migrate(database);
        let lastReport = 0;
        const scrub = createScrubber(
          database,
          config,
          store,
          {
            onProgress: (run, counts) => {
              if (opts.json || Date.now() - lastReport < 2000) return;
              lastReport = Date.now();
              process.stderr.write(`scrub run ${run.id}: ${counts.objectsChecked} objects (${formatBytes(counts.bytesChecked)}) checked, ${counts.corrupt} corrupt, ${counts.missing} missing\n`);
            },
          },
          rate === undefined ? undefined : Math.round(rate * 1024 * 1024),
        );
        let run: ScrubRunRow;
        try {
          run = await scrub.request(`cli (${process.env.USER ?? 'unknown'})`);
        } catch (err) {
          if (err instanceof BerthError && err.key === 'CONFLICT') {
            process.stderr.write(`berth scrub: ${err.message}\n`);
            process.exitCode = exitCodes.conflict;
            return;
          }
          throw err;
        }
        if (run.resumedFrom !== null && !opts.json) process.stderr.write(`scrub run ${run.id}: continuing run ${run.resumedFrom} after ${run.cursor}\n`);
        let finished: ScrubRunRow;
        try {
          finished = (await scrub.execute(run.id)) ?? (await scrub.run(run.id))!;
        } catch {
          finished = (await scrub.run(run.id))!;
        }
        const problems = (await scrub.report(run.id)) ?? [];
        process.stdout.write(opts.json ? `${JSON.stringify({ ...finished, problems })}\n` : summary(finished, problems));
        process.exitCode = finished.status !== 'succeeded' ? exitCodes.failed : finished.corrupt + finished.missing > 0 ? exitCodes.problems : exitCodes.ok;
      } finally {
        await store.close?.();
        await database.db.destroy();
      }
    });
}

function summary(run: ScrubRunRow, problems: ScrubProblem[]): string {
  const lines = [
    `scrub run ${run.id}: ${run.status}${run.resumedFrom !== null ? ` (continued run ${run.resumedFrom})` : ''}`,
    `  checked: ${run.objectsChecked} objects (${formatBytes(run.bytesChecked)}); corrupt: ${run.corrupt}; missing: ${run.missing}; released: ${run.released}`,
  ];
  for (const p of problems) {
    lines.push(`  ${p.kind} ${p.digest} (${formatBytes(p.size)})`);
    for (const d of p.dependents) lines.push(`    needed by ${d.repository}@${d.digest}${d.tags.length > 0 ? ` (${d.tags.join(', ')})` : ''}`);
  }
  if (run.error) lines.push(`  error: ${run.error}`);
  return `${lines.join('\n')}\n`;
}
