import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/load.js';
import { connect, migrate } from '../adapters/db/connect.js';
import { KyselyMetadataStore } from '../adapters/db/kysely-metadata-store.js';
import { createBlobStore } from '../adapters/storage/index.js';
import { BerthError } from '../domain/errors.js';
import type { GcRunRow } from '../ports/gc-store.js';
import { UploadService } from '../services/registry/upload-service.js';
import { createGarbageCollector, touchIntervalMs } from '../wiring/lifecycle.js';
import { exitCodes } from './exit-codes.js';
import { formatBytes } from './progress.js';
import { settingFlags } from './set-flags.js';

interface GcCommandOptions {
  config?: string;
  dataDir?: string;
  set?: string[];
  dryRun?: boolean;
  deleteUntagged?: boolean;
  graceHours?: string;
  json?: boolean;
}

/**
 * `berth gc`: one garbage collection run in this process, against the configured database and
 * storage, while Berth keeps serving (online; docs/lifecycle.md). Exit codes: 0 done, 1 the run
 * failed, 2 bad configuration or options, 3 another run is in progress.
 */
export function registerGc(program: Command): void {
  program
    .command('gc')
    .description('collect garbage now: what no tag needs and nothing touched for the grace period (online; one run at a time)')
    .option('-c, --config <file>', 'YAML config (also BERTH_CONFIG)')
    .option('--data-dir <dir>', 'data directory (dataDir)')
    .option('--set <key=value...>', 'any setting by its dotted key')
    .option('--dry-run', 'report what would be deleted; delete nothing')
    .option('--delete-untagged', 'also delete manifests no tag and no index references (default: lifecycle.gc.deleteUntagged)')
    .option('--grace-hours <hours>', 'only what is untouched this long goes (default: lifecycle.gc.graceHours)')
    .option('--json', 'print the run as JSON')
    .action(async (opts: GcCommandOptions) => {
      const config = loadConfig({ file: opts.config, flags: { dataDir: opts.dataDir, ...settingFlags(opts.set) } });
      const graceHours = opts.graceHours === undefined ? config.lifecycle.gc.graceHours : Number(opts.graceHours);
      if (!Number.isFinite(graceHours) || graceHours < 0) throw new ConfigError(`--grace-hours expects a number of hours, got "${opts.graceHours}"`);
      const database = connect({ url: config.database.url, poolSize: 4, connectRetryMs: config.database.connectRetryMs, preparedStatements: config.database.preparedStatements });
      const store = await createBlobStore(config.storage);
      try {
        await migrate(database);
        const meta = new KyselyMetadataStore(database, { touchIntervalMs: touchIntervalMs(config) });
        const uploads = new UploadService(meta, store);
        const gc = createGarbageCollector(database, config, store, (before) => uploads.purgeStale(before, 100_000), {
          onProgress: (run, phase, counts) => {
            if (!opts.json) process.stderr.write(`gc run ${run.id}: ${phase}: ${counts.manifestsDeleted} manifests, ${counts.linksDeleted} links, ${counts.blobsDeleted} blobs (${formatBytes(counts.bytesFreed)})\n`);
          },
        });
        let run: GcRunRow;
        try {
          run = await gc.request(
            { dryRun: opts.dryRun === true, deleteUntagged: opts.deleteUntagged ?? config.lifecycle.gc.deleteUntagged, graceMs: graceHours * 3_600_000 },
            `cli (${process.env.USER ?? 'unknown'})`,
          );
        } catch (err) {
          if (err instanceof BerthError && err.key === 'CONFLICT') {
            process.stderr.write(`berth gc: ${err.message}\n`);
            process.exitCode = exitCodes.conflict;
            return;
          }
          if (err instanceof BerthError && err.key === 'BAD_REQUEST') throw new ConfigError(err.message);
          throw err;
        }
        const result = await gc.execute(run.id);
        const finished = result?.run ?? (await gc.run(run.id))!;
        process.stdout.write(opts.json ? `${JSON.stringify({ ...finished, preview: result?.preview?.manifestList ?? finished.preview })}\n` : summary(finished));
        process.exitCode = finished.status === 'succeeded' ? exitCodes.ok : exitCodes.failed;
      } finally {
        await store.close?.();
        await database.db.destroy();
      }
    });
}

function summary(run: GcRunRow): string {
  const verb = run.dryRun ? 'would delete' : 'deleted';
  return [
    `gc run ${run.id}: ${run.status}${run.dryRun ? ' (dry run: nothing was deleted)' : ''}`,
    `  ${verb}: ${run.manifestsDeleted} manifests, ${run.linksDeleted} repository links, ${run.blobsDeleted} blobs (${formatBytes(run.bytesFreed)})`,
    `  expired upload sessions: ${run.uploadsExpired}`,
    ...(run.error ? [`  error: ${run.error}`] : []),
    '',
  ].join('\n');
}
