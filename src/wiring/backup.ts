import { join } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError, type ResolvedConfig } from '../config/load.js';
import { rotateBackup } from '../adapters/backup/rotation.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { AuditLog } from '../services/audit/audit-log.js';
import type { JobRunner } from '../services/jobs/job-runner.js';
import type { Scheduler } from '../services/jobs/scheduler.js';

export interface BackupDependencies {
  runner: JobRunner;
  scheduler: Scheduler;
  store: BlobStore;
  audit: AuditLog;
  logger: Logger;
  berthVersion: string;
}

/**
 * Scheduled backups (docs/backup.md): when `backup.schedule` is set, a `backup.scheduled` job
 * takes an incremental directory backup into `backup.directory` and keeps the newest
 * `backup.keep`. Nothing is loaded when no schedule is set.
 */
export async function wireBackup(config: ResolvedConfig, deps: BackupDependencies): Promise<void> {
  const settings = config.backup;
  if (settings.schedule === '' || settings.directory === null) return;
  if (!config.database.url.startsWith('sqlite:') || config.database.url === 'sqlite::memory:') {
    throw new ConfigError('backup.schedule backs up the embedded SQLite database; with PostgreSQL use its own backups (pg_dump, continuous archiving) as docs/backup.md describes, and leave backup.schedule empty');
  }
  if (settings.blobs && config.storage.driver !== 'filesystem') {
    throw new ConfigError(`backup.schedule copies blobs from filesystem storage; with ${config.storage.driver} set backup.blobs to false and use the bucket's versioning (docs/backup.md)`);
  }
  const directory = settings.directory;
  deps.runner.register('backup.scheduled', {
    maxAttempts: 1,
    backoff: () => 0,
    run: async () => {
      const started = Date.now();
      try {
        const { target, manifest, removed } = await rotateBackup(directory, settings.keep, {
          databasePath: config.database.url.slice('sqlite:'.length),
          store: deps.store,
          secretsPath: join(config.dataDir, 'secrets.key'),
          blobs: settings.blobs,
          berthVersion: deps.berthVersion,
        });
        const { count, bytes, copied, reused, quarantined } = manifest.blobs;
        deps.logger.info({ backup: { target, id: manifest.id, blobs: count, bytes, copied, reused, quarantined: quarantined.length, removed, ms: Date.now() - started } }, 'scheduled backup done');
        deps.audit.record({ actor: 'schedule', actorType: 'system', action: 'system.backup', resourceType: 'system', resource: target, project: null, sourceIp: null, result: 'success', detail: { id: manifest.id, blobs: count, bytes, removed: removed.length }, requestId: null });
      } catch (err) {
        deps.logger.error({ err, backup: { directory } }, 'scheduled backup failed');
        deps.audit.record({ actor: 'schedule', actorType: 'system', action: 'system.backup', resourceType: 'system', resource: directory, project: null, sourceIp: null, result: 'failure', detail: { error: (err as Error).message }, requestId: null });
        throw err;
      }
    },
  });
  await deps.scheduler.define({ name: 'backup', cron: settings.schedule, jobType: 'backup.scheduled', maxAttempts: 1 });
}
