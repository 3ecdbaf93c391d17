import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, knownMigrations, migrate, schemaStatus, SchemaTooNewError } from '../../src/adapters/db/connect.js';
import { FsBlobStore } from '../../src/adapters/storage/fs-blob-store.js';
import type { Digest } from '../../src/domain/digest.js';
import { engineMatrix, startTestBerth } from '../helpers/berth.js';
import { RegistryClient, randomImage, sha256, OCI_MANIFEST, type Image } from '../helpers/oci.js';
import { createTempDatabase, type TempDatabase } from '../helpers/pg.js';
import { spawnBerth } from '../helpers/process.js';

const engines = await engineMatrix();

/** A fresh database for one engine: a file in `dir`, or a temporary PostgreSQL database. */
async function freshDatabase(engine: 'sqlite' | 'postgres', dir: string): Promise<{ url: string; drop: () => Promise<void> }> {
  if (engine === 'sqlite') return { url: `sqlite:${join(dir, 'berth.db')}`, drop: async () => undefined };
  const db: TempDatabase = await createTempDatabase();
  return db;
}

/**
 * The rows a push made under the first schema (0001_core): a repository, the image's blobs,
 * their links, the manifest with its references, and a tag, written as that schema's columns.
 */
async function pushUnderFirstSchema(url: string, dataDir: string, repository: string, tag: string, image: Image): Promise<void> {
  const store = await new FsBlobStore(join(dataDir, 'storage')).init();
  for (const blob of [image.config, ...image.layers]) await store.put(blob.digest as Digest, blob.data);
  await store.put(image.digest as Digest, image.manifest);
  const database = connect({ url });
  try {
    const db = database.db;
    const now = Date.now();
    await sql`INSERT INTO repository (name, created_at) VALUES (${repository}, ${now})`.execute(db);
    const { id } = (await sql<{ id: number }>`SELECT id FROM repository WHERE name = ${repository}`.execute(db)).rows[0]!;
    for (const blob of [image.config, ...image.layers, { digest: image.digest, data: image.manifest }]) {
      await sql`INSERT INTO blob (digest, size, created_at) VALUES (${blob.digest}, ${blob.data.length}, ${now})`.execute(db);
      await sql`INSERT INTO repository_blob (repository_id, digest, created_at) VALUES (${id}, ${blob.digest}, ${now})`.execute(db);
    }
    await sql`INSERT INTO manifest (repository_id, digest, media_type, config_digest, size, created_at)
              VALUES (${id}, ${image.digest}, ${OCI_MANIFEST}, ${image.config.digest}, ${image.manifest.length}, ${now})`.execute(db);
    for (const blob of [image.config, ...image.layers]) {
      await sql`INSERT INTO manifest_reference (repository_id, parent_digest, child_digest, kind) VALUES (${id}, ${image.digest}, ${blob.digest}, 'blob')`.execute(db);
    }
    await sql`INSERT INTO tag (repository_id, name, manifest_digest, updated_at) VALUES (${id}, ${tag}, ${image.digest}, ${now})`.execute(db);
  } finally {
    await database.db.destroy();
  }
}

describe('schema upgrades', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('knows its migrations in order, oldest first, each named NNNN_', async () => {
    const known = await knownMigrations('sqlite');
    expect(known[0]).toBe('0001_core');
    expect(known).toEqual([...known].sort());
    expect(known.every((name, i) => name.startsWith(String(i + 1).padStart(4, '0')))).toBe(true);
    expect(await knownMigrations('postgres')).toEqual(known);
  });

  for (const { engine, skip } of engines) {
    it.skipIf(skip)(`${engine}: a database made with the first schema, holding an image, is migrated by today's code and serves the image`, async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'berth-upgrade-'));
      const database = await freshDatabase(engine, dataDir);
      cleanups.push(async () => {
        await database.drop();
        await rm(dataDir, { recursive: true, force: true });
      });
      // The fixture: today's migrator stopped after the first migration.
      const first = connect({ url: database.url });
      expect(await migrate(first, { upTo: '0001_core' })).toEqual(['0001_core']);
      const atFirst = await schemaStatus(first);
      await first.db.destroy();
      expect(atFirst.applied).toEqual(['0001_core']);
      expect(atFirst.pending).toEqual((await knownMigrations(engine)).slice(1));
      const image = randomImage(2, 4096);
      await pushUnderFirstSchema(database.url, dataDir, 'library/old', 'v1', image);

      const berth = await startTestBerth({ engine, dataDir, databaseUrl: database.url });
      cleanups.push(() => berth.stop());
      const migrated = berth.logs.map((line) => JSON.parse(line) as { message: string; migrations?: string[] }).find((l) => l.message === 'database migrated');
      expect(migrated?.migrations).toEqual(atFirst.pending);

      const client = new RegistryClient(berth.url);
      const manifest = await client.fetch('/v2/library/old/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
      expect(manifest.status).toBe(200);
      expect(sha256(Buffer.from(await manifest.arrayBuffer()))).toBe(image.digest);
      for (const blob of [image.config, ...image.layers]) {
        const res = await client.fetch(`/v2/library/old/blobs/${blob.digest}`);
        expect(res.status).toBe(200);
        expect(Buffer.from(await res.arrayBuffer()).equals(blob.data)).toBe(true);
      }
      const tags = await client.fetch('/v2/library/old/tags/list');
      expect(await tags.json()).toEqual({ name: 'library/old', tags: ['v1'] });
      // The usage backfill of a later migration counted the old image.
      const usage = await client.fetch('/api/v1/projects/library/quota');
      expect(usage.status).toBe(200);
      expect(((await usage.json()) as { usage: { storageBytes: number; artifacts: number } }).usage).toEqual({ storageBytes: image.manifest.length + image.config.data.length + 2 * 4096, artifacts: 1 });
      // And it takes new pushes.
      await client.pushImage('library/old', 'v2', randomImage(1, 1024));
    }, 60_000);

    it.skipIf(skip)(`${engine}: a database a newer Berth migrated is refused at start, naming both schemas`, async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'berth-newer-'));
      const database = await freshDatabase(engine, dataDir);
      cleanups.push(async () => {
        await database.drop();
        await rm(dataDir, { recursive: true, force: true });
      });
      const handle = connect({ url: database.url });
      await migrate(handle);
      await sql`INSERT INTO kysely_migration (name, timestamp) VALUES ('0099_from_a_newer_berth', ${new Date().toISOString()})`.execute(handle.db);
      const latest = (await knownMigrations(engine)).at(-1)!;
      const refused = await migrate(handle).catch((err: unknown) => err);
      await handle.db.destroy();
      expect(refused).toBeInstanceOf(SchemaTooNewError);
      expect((refused as SchemaTooNewError).unknown).toEqual(['0099_from_a_newer_berth']);
      expect((refused as SchemaTooNewError).known).toBe(latest);

      // The real command: exits 1 with the message, before listening.
      const started = await spawnBerth(['--port', '0', '--data-dir', dataDir, '--database-url', database.url]).then(
        () => 'listening',
        (err: Error) => err.message,
      );
      expect(started).toContain(`berth exited with 1 before listening`);
      expect(started).toContain(
        `berth: the database schema is newer than this Berth: it has migration 0099_from_a_newer_berth, which this version (schema ${latest}) does not know. A newer Berth has upgraded this database. Run that version or a newer one; to go back to this version, restore a backup taken before the upgrade (docs/upgrades.md). Berth never downgrades a schema.`,
      );
    }, 60_000);
  }
});
