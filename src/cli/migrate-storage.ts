import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/load.js';
import { FsBlobStore, createBlobStore } from '../adapters/storage/index.js';
import { StorageMigration, type MigrationResult } from '../services/storage-migration/storage-migration.js';
import { ProgressReporter, formatBytes, formatDuration, rateOf } from './progress.js';
import { exitCodes } from './exit-codes.js';
import { printResult } from './output.js';
import { settingFlags } from './set-flags.js';

interface MigrateOptions {
  from?: string;
  config?: string;
  dataDir?: string;
  set?: string[];
  dryRun?: boolean;
  concurrency: string;
  every: string;
  json?: boolean;
}

/**
 * `berth migrate-storage`: copies a filesystem deployment's blobs into the configured storage
 * (S3), verifying every digest, skipping what is already there. Exits 0 when every blob is in
 * the destination, 1 when some failed (a re-run retries just those).
 */
export function registerMigrateStorage(program: Command): void {
  program
    .command('migrate-storage')
    .description('copy every blob of a filesystem storage root into the configured storage (e.g. S3); resumable')
    .option('--from <dir>', 'filesystem storage root to copy from (default: storage.filesystem.root, i.e. <dataDir>/storage)')
    .option('-c, --config <file>', 'YAML config naming the destination storage (also BERTH_CONFIG)')
    .option('--data-dir <dir>', 'data directory (dataDir), for the default --from')
    .option('--set <key=value...>', 'any setting by its dotted key, e.g. --set storage.driver=s3')
    .option('--dry-run', 'count what would be copied; write nothing')
    .option('--concurrency <n>', 'blobs copied at once', '4')
    .option('--every <n>', 'without a terminal: print a progress line every n blobs', '100')
    .option('--json', 'print the result as JSON')
    .action(async (opts: MigrateOptions) => {
      const config = loadConfig({ file: opts.config, flags: { dataDir: opts.dataDir, ...settingFlags(opts.set) } });
      const from = resolve(opts.from ?? config.storage.filesystem.root);
      const concurrency = positiveInteger(opts.concurrency, '--concurrency');
      const every = positiveInteger(opts.every, '--every');
      if (!existsSync(join(from, 'blobs'))) throw new ConfigError(`${from} has no blobs/ directory: is it a Berth filesystem storage root? (give it with --from)`);
      if (config.storage.driver === 'filesystem' && resolve(config.storage.filesystem.root) === from) {
        throw new ConfigError(`the destination is the source (${from}): configure the destination storage, e.g. --set storage.driver=s3 --set storage.s3.bucket=…`);
      }
      // Not init(): that clears the root's staging area, which a Berth still running there may be using.
      const source = new FsBlobStore(from);
      const target = await createBlobStore(config.storage);
      const destination = config.storage.driver === 's3' ? `s3://${config.storage.s3.bucket}/${config.storage.s3.prefix}` : config.storage.filesystem.root;
      try {
        await target.ping();
      } catch (err) {
        await target.close?.();
        throw new ConfigError(`the destination storage ${destination} cannot be used: ${(err as Error).message}`);
      }
      process.stderr.write(`migrate-storage: ${opts.dryRun ? 'dry run, ' : ''}from ${from} to ${destination}\n`);
      const reporter = new ProgressReporter(process.stderr, every);
      let result: MigrationResult;
      try {
        result = await new StorageMigration(source, target, { concurrency, dryRun: opts.dryRun, onProgress: (p) => reporter.update(p) }).run();
      } finally {
        reporter.finish();
        await target.close?.();
      }
      printResult(opts.json, result, () => summary(result));
      process.exitCode = result.failedBlobs > 0 ? exitCodes.failed : exitCodes.ok;
    });
}

/** What happened, for people and for scripts (one fact a line). */
export function summary(r: MigrationResult): string {
  const lines: string[] = [];
  const seconds = r.elapsedMs / 1000;
  if (r.dryRun) {
    lines.push(`migrate-storage: dry run: ${r.totalBlobs} blobs (${formatBytes(r.totalBytes)}) in the source; nothing was written`);
    lines.push(`  would copy: ${r.copiedBlobs} blobs, ${formatBytes(r.copiedBytes)}`);
  } else {
    lines.push(`migrate-storage: ${r.aborted ? 'stopped after too many failures' : 'done'} in ${formatDuration(seconds)} (${seconds.toFixed(1)} s)`);
    lines.push(`  copied:  ${r.copiedBlobs} blobs, ${formatBytes(r.copiedBytes)}, ${formatBytes(rateOf(r.copiedBytes, r.elapsedMs))}/s`);
  }
  lines.push(`  skipped: ${r.skippedBlobs} blobs, ${formatBytes(r.skippedBytes)} (already in the destination)`);
  lines.push(`  failed:  ${r.failedBlobs} blobs`);
  for (const failure of r.failures.slice(0, 50)) lines.push(`    ${failure.digest}: ${failure.reason}`);
  if (r.failures.length > 50) lines.push(`    … and ${r.failures.length - 50} more`);
  if (r.failedBlobs > 0 || r.aborted) lines.push('  Run the same command again to retry: blobs already copied are skipped.');
  return `${lines.join('\n')}\n`;
}

function positiveInteger(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new ConfigError(`${flag} expects a whole number from 1 to 1000, got "${value}"`);
  return n;
}
