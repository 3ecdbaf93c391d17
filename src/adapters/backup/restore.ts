import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../../domain/digest.js';
import { FsBlobStore } from '../storage/fs-blob-store.js';
import { walkTar } from '../transfer/tar.js';
import { BackupError } from './backup-error.js';
import { blobEntryName, databaseName, digestOfEntry, manifestName, parseManifest, secretsName, type BackupFileRecord, type BackupManifest } from './backup-manifest.js';
import { exists, readBackupManifest } from './backup.js';
import { SqliteCopy, sqliteInUse } from './sqlite-copy.js';

export interface RestoreOptions {
  /** A backup directory or .tar file. */
  source: string;
  /** Where the database goes (database.url sqlite:<path>). */
  databasePath: string;
  /** The filesystem storage root blobs go to (storage.filesystem.root). */
  storageRoot: string;
  /** dataDir/secrets.key. */
  secretsPath: string;
  /** Replace a target that holds a database or blobs (moved aside, not deleted). */
  force: boolean;
  /** Migration names this Berth knows: a backup with others came from a newer Berth. */
  knownMigrations: string[];
  now?: () => number;
  onProgress?: (progress: { blobs: number; bytes: number }) => void;
}

export interface RestoreResult {
  manifest: BackupManifest;
  blobs: { count: number; bytes: number };
  /** What was in the target before, moved aside: `<path>.before-restore-<time>`. */
  movedAside: string[];
}

/**
 * Puts a backup in place of an embedded Berth's database, blobs and secrets key. Everything is
 * first written to staging paths beside the targets and checked there: the database and the
 * key against the manifest's SHA-256, every blob against its digest, every blob the database
 * lists present, SQLite's quick_check. Only then are the targets swapped in by renames (what was
 * there moved aside). A truncated or altered backup is refused before the target is touched.
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const now = options.now ?? Date.now;
  const sourceStat = await stat(options.source).catch(() => undefined);
  if (!sourceStat) throw new BackupError('NOT_FOUND', `no backup at ${options.source}`);

  if (await exists(options.databasePath)) {
    if (sqliteInUse(options.databasePath)) {
      throw new BackupError('REFUSED', `a process has ${options.databasePath} open (a running Berth?): stop it before restoring; --force does not override this`);
    }
    if (!options.force) throw new BackupError('REFUSED', `${options.databasePath} already holds a database: restoring would replace it; pass --force to move it aside and restore`);
  }
  if ((await hasBlobs(options.storageRoot)) && !options.force) {
    throw new BackupError('REFUSED', `${options.storageRoot} already holds blobs: restoring would replace them; pass --force to move them aside and restore`);
  }
  const staged = { database: `${options.databasePath}.restoring`, storage: `${options.storageRoot}.restoring`, secrets: `${options.secretsPath}.restoring` };
  for (const path of Object.values(staged)) await rm(path, { recursive: true, force: true });
  await mkdir(dirname(options.databasePath), { recursive: true });

  try {
    const checked = sourceStat.isDirectory() ? await stageDirectory(options, staged) : await stageTar(options, staged);
    const { manifest } = checked;

    // Everything checked: swap in. What was there moves aside (a rename, on the same filesystem).
    const stamp = new Date(now()).toISOString().replace(/[:.]/g, '-');
    const movedAside: string[] = [];
    const replace = async (staging: string, target: string, extra: string[] = []) => {
      for (const path of [target, ...extra]) {
        if (!(await exists(path))) continue;
        const aside = `${path}.before-restore-${stamp}`;
        await rename(path, aside);
        movedAside.push(aside);
      }
      await mkdir(dirname(target), { recursive: true });
      await rename(staging, target);
    };
    // A stale -wal beside the new database would be replayed into it: it goes with the old one.
    await replace(staged.database, options.databasePath, [`${options.databasePath}-wal`, `${options.databasePath}-shm`]);
    if (manifest.blobs.included) await replace(staged.storage, options.storageRoot);
    if (manifest.secrets) await replace(staged.secrets, options.secretsPath);
    return { manifest, blobs: checked.blobs, movedAside };
  } finally {
    for (const path of Object.values(staged)) await rm(path, { recursive: true, force: true });
  }
}

interface Staged {
  database: string;
  storage: string;
  secrets: string;
}

interface Checked {
  manifest: BackupManifest;
  blobs: { count: number; bytes: number };
}

async function stageDirectory(options: RestoreOptions, staged: Staged): Promise<Checked> {
  const manifest = await readBackupManifest(options.source);
  checkSchema(manifest, options.knownMigrations);
  await stageFile(join(options.source, manifest.database.file), staged.database, manifest.database);
  if (manifest.secrets) await stageFile(join(options.source, manifest.secrets.file), staged.secrets, manifest.secrets);
  const database = openStagedDatabase(staged.database, options.knownMigrations);
  const store = await new FsBlobStore(staged.storage).init();
  const blobs = { count: 0, bytes: 0 };
  try {
    if (manifest.blobs.included) {
      for (let after = ''; ; ) {
        const page = database.blobsAfter(after, 500);
        if (page.length === 0) break;
        for (const { digest, size } of page) {
          const path = join(options.source, blobEntryName(digest));
          const found = await stat(path).catch(() => undefined);
          if (!found) throw new BackupError('INCOMPLETE', `the backup lacks blob ${digest}, which its database lists (${blobEntryName(digest)})`);
          await stageBlob(store, digest, size, createReadStream(path, { highWaterMark: 1024 * 1024 }), found.size);
          blobs.count++;
          blobs.bytes += size;
          options.onProgress?.({ blobs: blobs.count, bytes: blobs.bytes });
        }
        after = page[page.length - 1]!.digest;
      }
    }
  } finally {
    database.close();
  }
  checkCounts(manifest, blobs);
  return { manifest, blobs };
}

async function stageTar(options: RestoreOptions, staged: Staged): Promise<Checked> {
  const store = await new FsBlobStore(staged.storage).init();
  const blobs = { count: 0, bytes: 0 };
  const files = new Map<string, BackupFileRecord>();
  let manifest: BackupManifest | undefined;
  const walk = walkTar(options.source);
  const range = (offset: number, size: number) => createReadStream(options.source, { start: offset, end: offset + size - 1, highWaterMark: 1024 * 1024 });
  let step = await walk.next();
  for (; !step.done; step = await walk.next()) {
    const entry = step.value;
    if (manifest) throw new BackupError('CORRUPT', `the backup has "${entry.name}" after ${manifestName}, which comes last`);
    const digest = digestOfEntry(entry.name);
    if (digest !== undefined) {
      await stageBlob(store, digest, entry.size, range(entry.offset, entry.size), entry.size);
      blobs.count++;
      blobs.bytes += entry.size;
      options.onProgress?.({ blobs: blobs.count, bytes: blobs.bytes });
    } else if (entry.name === databaseName || entry.name === secretsName) {
      files.set(entry.name, await stageFile(undefined, entry.name === databaseName ? staged.database : staged.secrets, undefined, range(entry.offset, entry.size), entry.name));
    } else if (entry.name === manifestName) {
      if (entry.size > 16 * 1024 * 1024) throw new BackupError('CORRUPT', `${manifestName} is ${entry.size} bytes: not a backup manifest`);
      manifest = parseManifest(await readText(range(entry.offset, entry.size)));
    } else {
      throw new BackupError('CORRUPT', `the backup has an entry Berth never writes: "${entry.name}"`);
    }
  }
  const end = step.value;
  if (!end.complete) throw new BackupError('TRUNCATED', `the backup file is truncated or damaged: ${end.damage ?? 'it ends before the end-of-archive marker'}`);
  if (!manifest) throw new BackupError('INCOMPLETE', `the backup file has no ${manifestName}: the backup never finished`);
  checkSchema(manifest, options.knownMigrations);
  for (const record of [manifest.database, manifest.secrets]) {
    if (!record) continue;
    const got = files.get(record.file);
    if (!got) throw new BackupError('INCOMPLETE', `the backup lacks ${record.file}, which its manifest lists`);
    if (got.sha256 !== record.sha256 || got.bytes !== record.bytes) {
      throw new BackupError('CORRUPT', `${record.file} in the backup does not match its manifest: ${got.bytes} bytes with SHA-256 ${got.sha256}, expected ${record.bytes} bytes with ${record.sha256}`);
    }
  }
  const database = openStagedDatabase(staged.database, options.knownMigrations);
  try {
    if (manifest.blobs.included) {
      for (let after = ''; ; ) {
        const page = database.blobsAfter(after, 500);
        if (page.length === 0) break;
        for (const { digest } of page) {
          if (!(await store.stat(digest as Digest))) throw new BackupError('INCOMPLETE', `the backup lacks blob ${digest}, which its database lists`);
        }
        after = page[page.length - 1]!.digest;
      }
    }
  } finally {
    database.close();
  }
  checkCounts(manifest, blobs);
  return { manifest, blobs };
}

function checkSchema(manifest: BackupManifest, known: string[]): void {
  if (manifest.schema.latest !== null && !known.includes(manifest.schema.latest)) {
    throw new BackupError(
      'UNSUPPORTED',
      `the backup's database has schema ${manifest.schema.latest}, newer than this Berth (schema ${known[known.length - 1]}); restore it with the Berth that made it (${manifest.berthVersion}) or a newer one`,
    );
  }
}

function checkCounts(manifest: BackupManifest, blobs: { count: number; bytes: number }): void {
  if (!manifest.blobs.included) return;
  if (blobs.count !== manifest.blobs.count || blobs.bytes !== manifest.blobs.bytes) {
    throw new BackupError('INCOMPLETE', `the backup holds ${blobs.count} blobs (${blobs.bytes} bytes); its manifest lists ${manifest.blobs.count} (${manifest.blobs.bytes} bytes)`);
  }
}

function openStagedDatabase(path: string, known: string[]): SqliteCopy {
  let database: SqliteCopy;
  try {
    database = new SqliteCopy(path, { readonly: true });
    const check = database.quickCheck();
    if (check !== 'ok') throw new Error(check);
  } catch (err) {
    throw new BackupError('CORRUPT', `${databaseName} in the backup is not a sound SQLite database: ${(err as Error).message}`);
  }
  const unknown = database.migrations().filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    database.close();
    throw new BackupError('UNSUPPORTED', `the backup's database has migrations ${unknown.join(', ')}, which this Berth (schema ${known[known.length - 1]}) does not know; restore it with a newer Berth`);
  }
  return database;
}

/** Copies a file of the backup to its staging path, checking its SHA-256 against `record` when given. */
async function stageFile(source: string | undefined, target: string, record?: BackupFileRecord, stream?: Readable, name = record?.file ?? ''): Promise<BackupFileRecord> {
  const hash = createHash('sha256');
  let bytes = 0;
  const input = stream ?? createReadStream(source!, { highWaterMark: 1024 * 1024 });
  try {
    const output = createWriteStream(target, { mode: 0o600 });
    await pipeline(
      input,
      new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk);
          bytes += chunk.length;
          callback(null, chunk);
        },
      }),
      output,
    );
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') throw new BackupError('INCOMPLETE', `the backup lacks ${name}, which its manifest lists`);
    throw err;
  }
  const got: BackupFileRecord = { file: name, bytes, sha256: hash.digest('hex') };
  if (record && (got.sha256 !== record.sha256 || got.bytes !== record.bytes)) {
    throw new BackupError('CORRUPT', `${name} in the backup does not match its manifest: ${bytes} bytes with SHA-256 ${got.sha256}, expected ${record.bytes} bytes with ${record.sha256}`);
  }
  return got;
}

/** Streams a blob of the backup into the staging storage, committing it only when its bytes hash to its digest. */
async function stageBlob(store: FsBlobStore, digest: string, size: number, input: Readable, found: number): Promise<void> {
  if (found !== size) throw new BackupError('CORRUPT', `blob ${digest} in the backup is ${found} bytes; its database says ${size}`);
  const id = `restore-${createHash('sha256').update(digest).digest('hex').slice(0, 32)}`;
  await store.createUpload(id);
  const hash = createHash(digest.slice(0, digest.indexOf(':')));
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  input.once('error', (err) => hashing.destroy(err));
  await store.append(id, 0, input.pipe(hashing));
  const actual = `${digest.slice(0, digest.indexOf(':'))}:${hash.digest('hex')}`;
  if (actual !== digest) {
    await store.deleteUpload(id);
    throw new BackupError('CORRUPT', `blob ${digest} in the backup is corrupt: its bytes hash to ${actual}`);
  }
  await store.commitUpload(id, digest as Digest);
}

async function readText(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function hasBlobs(root: string): Promise<boolean> {
  const algorithms = await readdir(join(root, 'blobs')).catch(() => [] as string[]);
  for (const algorithm of algorithms) if ((await readdir(join(root, 'blobs', algorithm))).length > 0) return true;
  return false;
}
