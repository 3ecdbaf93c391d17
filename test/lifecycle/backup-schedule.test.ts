import { mkdtemp, readdir, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { readBackupManifest, restoreBackup, takeBackup } from '../../src/adapters/backup/index.js';
import { rotateBackup } from '../../src/adapters/backup/rotation.js';
import { connect, knownMigrations } from '../../src/adapters/db/connect.js';
import { createBlobStore } from '../../src/adapters/storage/index.js';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { wireBackup, type BackupDependencies } from '../../src/wiring/backup.js';
import { startTestBerth } from '../helpers/berth.js';
import { RegistryClient, errorCode, randomImage } from '../helpers/oci.js';
import { until } from '../helpers/wait.js';

describe('scheduled backups', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('runs on its schedule inside the server, into backup.directory, and is audited', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'berth-backups-'));
    const dataDir = await mkdtemp(join(tmpdir(), 'berth-scheduled-'));
    const settings = { 'backup.schedule': '0 3 * * *', 'backup.directory': directory, 'backup.keep': 1 };
    const first = await startTestBerth({ dataDir, settings });
    await new RegistryClient(first.url).pushImage('library/nightly', 'v1', randomImage(2, 8192));
    await first.stop();
    // Make the schedule due now instead of at 03:00, with the server stopped (a synchronous
    // SQLite write in the server's own process could wait on a transaction of the server while
    // blocking the event loop that would end it). A restart keeps a pending run whose cron is unchanged.
    const database = connect({ url: first.config.database.url });
    await sql`UPDATE schedule SET next_run_at = 0 WHERE name = 'backup'`.execute(database.db);
    const berth = await startTestBerth({ dataDir, settings });
    cleanups.push(async () => {
      await database.db.destroy();
      await berth.stop();
      await rm(directory, { recursive: true, force: true });
      await rm(dataDir, { recursive: true, force: true });
    });
    // The scheduler looks every 15 s.
    await until(async () => (await readdir(directory)).length > 0 && (await readBackupManifest(join(directory, (await readdir(directory))[0]!)).then(() => true, () => false)), 40_000, 'the scheduled backup', 250);
    const [name] = await readdir(directory);
    expect(name).toMatch(/^berth-\d{8}T\d{6}Z$/);
    const manifest = await readBackupManifest(join(directory, name!));
    // The image's config, two layers and manifest.
    expect(manifest.blobs).toMatchObject({ included: true, count: 4, copied: 4, reused: 0, since: null });
    expect(manifest.counts).toEqual({ repositories: 1, manifests: 1, tags: 1 });
    // Reads do not wait on the server's writes (WAL).
    await until(async () => (await sql<{ n: number }>`SELECT COUNT(*) AS n FROM audit_log WHERE action = 'system.backup' AND actor = 'schedule' AND result = 'success'`.execute(database.db)).rows[0]!.n === 1, 10_000, 'the audit entry');
  }, 60_000);

  it('links each backup to the one before and keeps only backup.keep complete ones', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'berth-rotation-'));
    const directory = join(dataDir, 'backups');
    const berth = await startTestBerth({ dataDir });
    cleanups.push(async () => {
      await berth.stop();
      await rm(dataDir, { recursive: true, force: true });
    });
    const client = new RegistryClient(berth.url);
    const store = await createBlobStore(berth.config.storage);
    const options = { databasePath: berth.config.database.url.slice('sqlite:'.length), store, secretsPath: join(dataDir, 'secrets.key'), blobs: true, berthVersion: 'test' };
    const results = [];
    for (let day = 1; day <= 3; day++) {
      await client.pushImage('library/daily', `d${day}`, randomImage(1, 4096));
      results.push(await rotateBackup(directory, 2, { ...options, now: () => Date.UTC(2026, 11, day, 3) }));
    }
    await store.close?.();
    expect(results.map((r) => r.target.slice(directory.length + 1))).toEqual(['berth-20261201T030000Z', 'berth-20261202T030000Z', 'berth-20261203T030000Z']);
    // Each day adds one image (config, layer, manifest): read from storage; the rest linked from the day before.
    expect(results.map((r) => [r.manifest.blobs.copied, r.manifest.blobs.reused])).toEqual([[3, 0], [3, 3], [3, 6]]);
    expect(results[2]!.removed).toEqual([join(directory, 'berth-20261201T030000Z')]);
    expect((await readdir(directory)).sort()).toEqual(['berth-20261202T030000Z', 'berth-20261203T030000Z']);
    const blob = (await readdir(join(directory, 'berth-20261202T030000Z', 'blobs', 'sha256'), { recursive: true, withFileTypes: true })).find((e) => e.isFile())!;
    const path = join(blob.parentPath, blob.name);
    expect((await stat(path)).nlink).toBe(2);
  }, 60_000);

  it('quarantines, in the backup, a blob whose bytes are gone from storage; the restored registry answers BLOB_UNKNOWN for it', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'berth-gone-'));
    const berth = await startTestBerth({ dataDir });
    const restoredDir = join(dataDir, 'restored');
    cleanups.push(async () => {
      await berth.stop();
      await rm(dataDir, { recursive: true, force: true });
    });
    const client = new RegistryClient(berth.url);
    const image = await client.pushImage('library/gone', 'v1', randomImage(2, 4096));
    const lost = image.layers[1]!.digest;
    // As if garbage collection had deleted the bytes after the database copy was taken.
    await unlink(join(dataDir, 'storage', 'blobs', 'sha256', lost.slice(7, 9), lost.slice(7)));
    const store = await createBlobStore(berth.config.storage);
    const manifest = await takeBackup({
      databasePath: berth.config.database.url.slice('sqlite:'.length),
      store,
      secretsPath: join(dataDir, 'secrets.key'),
      target: join(dataDir, 'backup.tar'),
      blobs: true,
      berthVersion: 'test',
    });
    await store.close?.();
    expect(manifest.blobs.quarantined).toEqual([{ digest: lost, kind: 'missing' }]);
    expect(manifest.blobs.count).toBe(3);

    const restored = await restoreBackup({
      source: join(dataDir, 'backup.tar'),
      databasePath: join(restoredDir, 'berth.db'),
      storageRoot: join(restoredDir, 'storage'),
      secretsPath: join(restoredDir, 'secrets.key'),
      force: false,
      knownMigrations: await knownMigrations('sqlite'),
    });
    expect(restored.blobs).toEqual({ count: 3, bytes: manifest.blobs.bytes });
    expect(restored.movedAside).toEqual([]);
    const second = await startTestBerth({ dataDir: restoredDir });
    cleanups.push(() => second.stop());
    const other = new RegistryClient(second.url);
    const res = await other.fetch(`/v2/library/gone/blobs/${lost}`);
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('BLOB_UNKNOWN');
    const kept = await other.fetch(`/v2/library/gone/blobs/${image.layers[0]!.digest}`);
    expect(Buffer.from(await kept.arrayBuffer()).equals(image.layers[0]!.data)).toBe(true);
  }, 60_000);

  it('refuses to restore a backup whose database a newer Berth migrated, naming both schemas', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'berth-newer-backup-'));
    const berth = await startTestBerth({ dataDir });
    await berth.stop();
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    // A database a newer Berth made: one more migration than this one knows. (Written with the
    // server stopped: a synchronous SQLite write in the server's own process would wait on the
    // server's transaction while blocking the event loop that would finish it.)
    const database = connect({ url: berth.config.database.url });
    await sql`INSERT INTO kysely_migration (name, timestamp) VALUES ('0099_from_a_newer_berth', ${new Date().toISOString()})`.execute(database.db);
    await database.db.destroy();
    const store = await createBlobStore(berth.config.storage);
    const target = join(dataDir, 'newer');
    const manifest = await takeBackup({ databasePath: berth.config.database.url.slice('sqlite:'.length), store, secretsPath: join(dataDir, 'secrets.key'), target, blobs: true, berthVersion: '9.9.9' });
    await store.close?.();
    expect(manifest.schema.latest).toBe('0099_from_a_newer_berth');
    const known = await knownMigrations('sqlite');
    const refused = await restoreBackup({
      source: target,
      databasePath: join(dataDir, 'elsewhere', 'berth.db'),
      storageRoot: join(dataDir, 'elsewhere', 'storage'),
      secretsPath: join(dataDir, 'elsewhere', 'secrets.key'),
      force: false,
      knownMigrations: known,
    }).catch((err: unknown) => err as Error & { code: string });
    expect(refused).toMatchObject({
      code: 'UNSUPPORTED',
      message: `the backup's database has schema 0099_from_a_newer_berth, newer than this Berth (schema ${known.at(-1)}); restore it with the Berth that made it (9.9.9) or a newer one`,
    });
    expect(await readdir(join(dataDir, 'elsewhere')).catch(() => [])).toEqual([]);
  }, 60_000);

  it('refuses a schedule on PostgreSQL, and one that has no directory', async () => {
    const config = loadConfig({ env: {}, flags: { 'database.url': 'postgres://nobody@127.0.0.1:1/none', 'backup.schedule': '0 3 * * *', 'backup.directory': '/backups' } });
    await expect(wireBackup(config, {} as BackupDependencies)).rejects.toThrow(ConfigError);
    await expect(wireBackup(config, {} as BackupDependencies)).rejects.toThrow('backup.schedule backs up the embedded SQLite database; with PostgreSQL use its own backups');
    expect(() => loadConfig({ env: {}, flags: { 'backup.schedule': '0 3 * * *' } })).toThrow('backup.schedule needs backup.directory');
  });
});
