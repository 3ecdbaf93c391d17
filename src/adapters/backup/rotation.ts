import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackupManifest } from './backup-manifest.js';
import { readBackupManifest, takeBackup, type BackupOptions } from './backup.js';

const namePattern = /^berth-\d{8}T\d{6}Z$/;

/** berth-20261203T020000Z: sorts by time. */
function backupName(time: number): string {
  return `berth-${new Date(time).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
}

async function isComplete(dir: string): Promise<boolean> {
  return readBackupManifest(dir).then(
    () => true,
    () => false,
  );
}

export interface RotationResult {
  target: string;
  manifest: BackupManifest;
  /** Backups deleted by retention. */
  removed: string[];
}

/**
 * A scheduled backup: a new directory in `directory`, incremental against the newest complete
 * one there (its blobs are linked, not read again), then retention: the newest `keep` complete
 * backups stay; older ones, and unfinished ones older than the new backup, are deleted.
 */
export async function rotateBackup(directory: string, keep: number, options: Omit<BackupOptions, 'target' | 'since'>): Promise<RotationResult> {
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const now = options.now ?? Date.now;
  const existing = (await readdir(directory)).filter((name) => namePattern.test(name)).sort();
  let since: string | undefined;
  for (const name of [...existing].reverse()) {
    if (await isComplete(join(directory, name))) {
      since = join(directory, name);
      break;
    }
  }
  const name = backupName(now());
  const target = join(directory, name);
  const manifest = await takeBackup({ ...options, target, since: since === target ? undefined : since });

  const removed: string[] = [];
  let kept = 0;
  for (const other of [...new Set([...existing, name])].sort().reverse()) {
    const path = join(directory, other);
    if ((await isComplete(path)) && kept < keep) {
      kept++;
      continue;
    }
    if (other > name) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  return { target, manifest, removed };
}
