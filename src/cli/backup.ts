import { join } from 'node:path';
import type { Command } from 'commander';
import { ConfigError, loadConfig, type ResolvedConfig } from '../config/load.js';
import { BackupError, restoreBackup, takeBackup, type BackupManifest } from '../adapters/backup/index.js';
import { connect, knownMigrations } from '../adapters/db/connect.js';
import { KyselyAuditStore } from '../adapters/db/kysely-audit-store.js';
import { createBlobStore } from '../adapters/storage/index.js';
import type { AuditEntry } from '../ports/audit-store.js';
import { AuditLog } from '../services/audit/audit-log.js';
import { formatBytes } from './progress.js';
import { settingFlags } from './set-flags.js';
import { berthVersion } from '../version.js';

interface CommonOptions {
  config?: string;
  dataDir?: string;
  set?: string[];
  json?: boolean;
}

/**
 * `berth backup` and `berth restore` (docs/backup.md): the embedded database and filesystem
 * storage, online. Exit codes: 0 done, 1 refused or failed (the message says why), 2 bad
 * configuration or options.
 */
export function registerBackup(program: Command): void {
  program
    .command('backup')
    .description('copy the embedded database and the blobs it lists into a directory (incremental) or a .tar file, while Berth keeps serving')
    .argument('<target>', 'a directory, or a file name ending in .tar')
    .option('-c, --config <file>', 'YAML config (also BERTH_CONFIG)')
    .option('--data-dir <dir>', 'data directory (dataDir)')
    .option('--set <key=value...>', 'any setting by its dotted key')
    .option('--since <backup>', 'a previous directory backup: blobs it holds (digest checked) are linked, not read from storage again')
    .option('--no-blobs', 'the database and secrets key only (when the storage is backed up another way)')
    .option('--json', 'print the backup manifest as JSON')
    .action(async (target: string, opts: CommonOptions & { since?: string; blobs: boolean }) => {
      const config = loadConfig({ file: opts.config, flags: { dataDir: opts.dataDir, ...settingFlags(opts.set) } });
      await reportErrors('backup', opts.json, async () => {
        const databasePath = embeddedDatabase(config, 'backup');
        if (opts.blobs && config.storage.driver !== 'filesystem') throw unsupportedStorage(config, 'backup');
        const store = await createBlobStore(config.storage);
        let lastReport = 0;
        let manifest: BackupManifest;
        try {
          manifest = await takeBackup({
            databasePath,
            store,
            secretsPath: join(config.dataDir, 'secrets.key'),
            target,
            since: opts.since,
            blobs: opts.blobs,
            berthVersion: berthVersion(),
            onProgress: ({ blobs, bytes }) => {
              if (opts.json || Date.now() - lastReport < 2000) return;
              lastReport = Date.now();
              process.stderr.write(`backup: ${blobs} blobs (${formatBytes(bytes)})\n`);
            },
          });
        } finally {
          await store.close?.();
        }
        await audit(config, databasePath, { action: 'system.backup', resource: target, detail: { id: manifest.id, blobs: manifest.blobs.count, bytes: manifest.blobs.bytes, quarantined: manifest.blobs.quarantined.length } });
        process.stdout.write(opts.json ? `${JSON.stringify({ target, ...manifest })}\n` : backupSummary(target, manifest));
      });
    });

  program
    .command('restore')
    .description('put a backup in place of the data directory after checking every file and blob; refuses a live target without --force')
    .argument('<backup>', 'a backup directory or .tar file')
    .option('-c, --config <file>', 'YAML config (also BERTH_CONFIG)')
    .option('--data-dir <dir>', 'data directory (dataDir) to restore into')
    .option('--set <key=value...>', 'any setting by its dotted key')
    .option('--force', 'replace a database and blobs already there (they are moved aside, not deleted)')
    .option('--json', 'print the outcome as JSON')
    .action(async (source: string, opts: CommonOptions & { force?: boolean }) => {
      const config = loadConfig({ file: opts.config, flags: { dataDir: opts.dataDir, ...settingFlags(opts.set) } });
      await reportErrors('restore', opts.json, async () => {
        const databasePath = embeddedDatabase(config, 'restore');
        if (config.storage.driver !== 'filesystem') throw unsupportedStorage(config, 'restore');
        let lastReport = 0;
        const result = await restoreBackup({
          source,
          databasePath,
          storageRoot: config.storage.filesystem.root,
          secretsPath: join(config.dataDir, 'secrets.key'),
          force: opts.force === true,
          knownMigrations: await knownMigrations('sqlite'),
          onProgress: ({ blobs, bytes }) => {
            if (opts.json || Date.now() - lastReport < 2000) return;
            lastReport = Date.now();
            process.stderr.write(`restore: ${blobs} blobs (${formatBytes(bytes)}) checked\n`);
          },
        });
        const { manifest } = result;
        await audit(config, databasePath, { action: 'system.restore', resource: source, detail: { id: manifest.id, createdAt: manifest.createdAt, blobs: result.blobs.count, movedAside: result.movedAside } });
        process.stdout.write(
          opts.json
            ? `${JSON.stringify({ source, id: manifest.id, createdAt: manifest.createdAt, schema: manifest.schema, counts: manifest.counts, blobs: result.blobs, movedAside: result.movedAside })}\n`
            : [
                `restored backup ${manifest.id} taken ${manifest.createdAt} (schema ${manifest.schema.latest ?? 'empty'}, Berth ${manifest.berthVersion})`,
                `  ${manifest.counts.repositories} repositories, ${manifest.counts.manifests} manifests, ${manifest.counts.tags} tags`,
                manifest.blobs.included ? `  ${result.blobs.count} blobs (${formatBytes(result.blobs.bytes)}), every digest checked` : '  database only: restore the storage from its own backup',
                ...result.movedAside.map((path) => `  moved aside: ${path}`),
                '',
              ].join('\n'),
        );
      });
    });
}

/** The SQLite file the command works on; PostgreSQL deployments use their engine's tools. */
function embeddedDatabase(config: ResolvedConfig, command: string): string {
  if (!config.database.url.startsWith('sqlite:') || config.database.url === 'sqlite::memory:') {
    throw new BackupError(
      'REFUSED',
      `berth ${command} covers the embedded SQLite database and filesystem storage; this Berth uses ${config.database.url.split(':', 1)[0]}. ` +
        'Back up PostgreSQL with pg_dump or continuous archiving and the bucket with object versioning, database first: see docs/backup.md',
    );
  }
  return config.database.url.slice('sqlite:'.length);
}

function unsupportedStorage(config: ResolvedConfig, command: string): BackupError {
  return new BackupError(
    'REFUSED',
    `berth ${command} copies blobs from filesystem storage; this Berth stores them in ${config.storage.driver}. ` +
      `Use the bucket's versioning or replication for the blobs (docs/backup.md)${command === 'backup' ? ', and --no-blobs for the database' : ''}`,
  );
}

/** Runs a command body; a refusal or failure prints its reason (and JSON when asked) and exits 1. */
async function reportErrors(command: string, json: boolean | undefined, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = err instanceof BackupError ? err.code : 'FAILED';
    const message = (err as Error).message;
    if (json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
    process.stderr.write(`berth ${command}: ${message}\n`);
    process.exitCode = 1;
  }
}

/** Records the backup or restore in the audit log of the database it concerns (best effort: an old schema may lack the table). */
async function audit(config: ResolvedConfig, databasePath: string, entry: Pick<AuditEntry, 'action' | 'resource' | 'detail'>): Promise<void> {
  const database = connect({ url: `sqlite:${databasePath}` });
  const log = new AuditLog(new KyselyAuditStore(database), { retentionDays: config.audit.retentionDays });
  try {
    log.record({ ...entry, actor: `cli (${process.env.USER ?? 'unknown'})`, actorType: 'system', resourceType: 'system', project: null, sourceIp: null, result: 'success', requestId: null });
    await log.flush();
  } catch (err) {
    process.stderr.write(`berth: the audit entry was not written: ${(err as Error).message}\n`);
  } finally {
    await database.db.destroy();
  }
}

function backupSummary(target: string, m: BackupManifest): string {
  const lines = [
    `backup ${m.id} written to ${target} (schema ${m.schema.latest ?? 'empty'})`,
    `  database: ${formatBytes(m.database.bytes)} (sha256 ${m.database.sha256}); ${m.counts.repositories} repositories, ${m.counts.manifests} manifests, ${m.counts.tags} tags`,
    m.blobs.included
      ? `  blobs: ${m.blobs.count} (${formatBytes(m.blobs.bytes)}): ${m.blobs.copied} read from storage, ${m.blobs.reused} already in the backup${m.blobs.since ? ` or ${m.blobs.since}` : ''}`
      : '  blobs: not included (--no-blobs)',
    ...(m.secrets ? ['  secrets key: included (keep the backup private)'] : []),
    ...m.blobs.quarantined.map((q) => `  ${q.kind}: ${q.digest} (quarantined in the backup's database; collected or damaged in storage)`),
    '',
  ];
  return lines.join('\n');
}

