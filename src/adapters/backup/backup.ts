import { randomUUID } from 'node:crypto';
import { access, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../../domain/digest.js';
import type { BlobStore } from '../../ports/blob-store.js';
import { BackupError } from './backup-error.js';
import { backupFormat, backupFormatVersion, databaseName, manifestName, parseManifest, secretsName, type BackupManifest } from './backup-manifest.js';
import { DirectoryBackupWriter, TarBackupWriter, type BackupWriter } from './backup-writer.js';
import { snapshotSqlite, SqliteCopy } from './sqlite-copy.js';

export interface BackupOptions {
  /** The embedded database file (database.url sqlite:<path>). */
  databasePath: string;
  /** The storage blobs are read from. */
  store: BlobStore;
  /** dataDir/secrets.key; backed up when it exists. */
  secretsPath: string;
  /** A directory, or a file ending in .tar. */
  target: string;
  /** A previous directory backup whose blobs may be linked instead of read from storage again. */
  since?: string;
  /** false: the database (and secrets key) only. */
  blobs: boolean;
  berthVersion: string;
  now?: () => number;
  onProgress?: (progress: { blobs: number; bytes: number }) => void;
}

/** A target ending in .tar is one archive file; anything else is a directory. */
export function isTarTarget(target: string): boolean {
  return target.endsWith('.tar');
}

/**
 * Takes a consistent online backup of an embedded Berth: a copy of the database at one moment
 * (VACUUM INTO) while pushes go on, then the bytes of exactly the blobs that copy has rows
 * for, each checked against its digest as it streams. A blob the copy lists whose bytes are
 * gone from storage (garbage collection deleted it after the copy was taken) or wrong is
 * quarantined in the copy, as a scrub would, and named in the manifest. Uploads in flight are
 * left out. The manifest, with the database's SHA-256, is written last.
 */
export async function takeBackup(options: BackupOptions): Promise<BackupManifest> {
  const now = options.now ?? Date.now;
  const tar = isTarTarget(options.target);
  if (tar && options.since !== undefined) throw new BackupError('REFUSED', '--since needs a directory backup: a .tar backup is always self-contained');
  if (options.since !== undefined) await readBackupManifest(options.since);
  await access(options.databasePath).catch(() => {
    throw new BackupError('NOT_FOUND', `no database at ${options.databasePath}: nothing to back up`);
  });

  const writer: BackupWriter = tar ? await TarBackupWriter.open(options.target) : await DirectoryBackupWriter.open(options.target, options.since);
  try {
    const scratch = writer.scratchPath(databaseName);
    const createdAt = new Date(now()).toISOString();
    await snapshotSqlite(options.databasePath, scratch);

    const copy = new SqliteCopy(scratch);
    let migrations: string[];
    let counts: BackupManifest['counts'];
    const blobs: BackupManifest['blobs'] = { included: options.blobs, count: 0, bytes: 0, copied: 0, reused: 0, quarantined: [], since: options.since ?? null };
    try {
      copy.dropInFlight();
      migrations = copy.migrations();
      counts = copy.counts();
      if (options.blobs) {
        for (let after = ''; ; ) {
          const page = copy.blobsAfter(after, 500);
          if (page.length === 0) break;
          for (const { digest, size } of page) {
            const outcome = await writer.blob(digest, size, () => options.store.read(digest as Digest));
            if (outcome.kind === 'missing' || outcome.kind === 'corrupt') {
              copy.quarantine(digest, outcome.kind, now());
              blobs.quarantined.push({ digest, kind: outcome.kind });
              continue;
            }
            blobs.count++;
            blobs.bytes += size;
            blobs[outcome.kind]++;
            options.onProgress?.({ blobs: blobs.count, bytes: blobs.bytes });
          }
          after = page[page.length - 1]!.digest;
        }
      }
    } finally {
      copy.close();
    }

    const database = await writer.file(databaseName, scratch);
    const secrets = (await exists(options.secretsPath)) ? await writer.file(secretsName, options.secretsPath) : null;
    const manifest: BackupManifest = {
      format: backupFormat,
      version: backupFormatVersion,
      id: randomUUID(),
      createdAt,
      berthVersion: options.berthVersion,
      schema: { latest: migrations[migrations.length - 1] ?? null, migrations: migrations.length },
      database,
      secrets,
      blobs,
      counts,
    };
    if (writer.kind === 'directory') {
      const held = new SqliteCopy(join(options.target, databaseName), { readonly: true });
      try {
        await writer.finish(manifest, (digest) => options.blobs && held.holdsBlob(digest));
      } finally {
        held.close();
      }
    } else {
      await writer.finish(manifest, () => true);
    }
    return manifest;
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/** The manifest of a finished directory backup. */
export async function readBackupManifest(dir: string): Promise<BackupManifest> {
  let text: string;
  try {
    if (!(await stat(dir)).isDirectory()) throw new BackupError('REFUSED', `${dir} is not a backup directory`);
    text = await readFile(join(dir, manifestName), 'utf8');
  } catch (err) {
    if (err instanceof BackupError) throw err;
    if ((err as { code?: string }).code === 'ENOENT') {
      throw new BackupError('INCOMPLETE', `${dir} has no ${manifestName}: it is not a backup, or the backup never finished`);
    }
    throw err;
  }
  return parseManifest(text);
}

/** Whether `path` exists (restore asks too). */
export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
