import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, open, readdir, readFile, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { knownMigrations } from '../../src/adapters/db/connect.js';
import { Sqlite } from '../../src/adapters/db/sqlite-driver.js';
import { scanTar } from '../../src/adapters/transfer/tar.js';
import { RegistryClient, randomImage, sha256, type Image } from '../helpers/oci.js';
import { runBerthCommand, spawnBerth, type BerthProcess } from '../helpers/process.js';

const manifestTypes = 'application/vnd.oci.image.manifest.v1+json';

interface Listed {
  repository: string;
  tag: string;
  digest: string;
}

/** Every tag a database lists, with its manifest digest. */
function tagsOf(databasePath: string): Listed[] {
  const db = new Sqlite(databasePath, { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare('SELECT r.name AS repository, t.name AS tag, t.manifest_digest AS digest FROM tag t JOIN repository r ON r.id = t.repository_id ORDER BY r.name, t.name')
      .all() as Listed[];
  } finally {
    db.close();
  }
}

/** Name → SHA-256 of every file under a directory: what "left untouched" is compared by. */
async function fingerprint(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out[path.slice(dir.length + 1)] = createHash('sha256').update(await readFile(path)).digest('hex');
  }
  return out;
}

async function flipByte(path: string, at: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, at);
  } finally {
    await handle.close();
  }
}

function parsed(stdout: string): { error?: { code: string; message: string } } & Record<string, unknown> {
  return JSON.parse(stdout.trim().split('\n').pop()!) as { error?: { code: string; message: string } } & Record<string, unknown>;
}

describe('berth backup and berth restore (SQLite + filesystem)', () => {
  let work: string;
  let dataDir: string;
  let server: BerthProcess | undefined;
  /** Bytes of everything pushed, by digest: what a pull must give back exactly. */
  const pushed = new Map<string, Buffer>();
  let listedInBackup: Listed[] = [];
  let pushedBeforeBackup = 0;
  let pushedDuringBackup = 0;

  async function stopServer(): Promise<void> {
    if (!server) return;
    server.proc.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    server = undefined;
  }

  function remember(image: Image): void {
    for (const blob of [image.config, ...image.layers]) pushed.set(blob.digest, blob.data);
    pushed.set(image.digest, image.manifest);
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-backup-'));
    dataDir = join(work, 'data');
    server = await spawnBerth(['--port', '0', '--data-dir', dataDir]);
    const client = new RegistryClient(server.url);
    // Enough bytes that the backup takes a while: 40 images, 2 layers of 256 KiB each.
    for (let i = 0; i < 40; i++) remember(await client.pushImage(`library/base-${i % 4}`, `v${i}`, randomImage(2, 256 * 1024)));
    pushedBeforeBackup = 40;

    // Pushes go on while both backups run (bounded: at most 300 images or 60 s).
    let backingUp = true;
    const deadline = Date.now() + 60_000;
    const loop = (async () => {
      let i = 0;
      const errors: string[] = [];
      while (backingUp && i < 300 && Date.now() < deadline) {
        try {
          remember(await client.pushImage(`library/live-${i % 3}`, `t${i}`, randomImage(2, 64 * 1024)));
          pushedDuringBackup++;
        } catch (err) {
          errors.push((err as Error).message);
        }
        i++;
      }
      return errors;
    })();
    const tar = await runBerthCommand(['backup', join(work, 'backup.tar'), '--data-dir', dataDir, '--json']);
    const dir = await runBerthCommand(['backup', join(work, 'backup-dir'), '--data-dir', dataDir, '--json']);
    backingUp = false;
    const loopErrors = await loop;
    if (loopErrors.length > 0) console.log(server!.output.join('').split('\n').filter((l) => /"log.level":"(error|warn|fatal)"/.test(l)).slice(0, 5).join('\n'));
    expect(loopErrors).toEqual([]);
    expect(tar.stderr).toBe('');
    expect(tar.code).toBe(0);
    expect(dir.code).toBe(0);
  }, 180_000);

  afterAll(async () => {
    if (server && server.proc.exitCode === null) server.proc.kill('SIGKILL');
    await server?.exited;
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('keeps pushing while backups run, and the manifest describes what the tar holds', async () => {
    expect(pushedDuringBackup).toBeGreaterThan(0);
    const entries = (await scanTar(join(work, 'backup.tar'))).entries;
    const manifestEntry = entries[entries.length - 1]!;
    expect(manifestEntry.name).toBe('berth-backup.json');
    const manifest = JSON.parse((await readFile(join(work, 'backup.tar'))).subarray(manifestEntry.offset, manifestEntry.offset + manifestEntry.size).toString()) as {
      blobs: { count: number; bytes: number; quarantined: unknown[] };
      database: { sha256: string; bytes: number };
      schema: { latest: string };
    };
    const blobEntries = entries.filter((e) => e.name.startsWith('blobs/'));
    expect(manifest.blobs.count).toBe(blobEntries.length);
    expect(manifest.blobs.bytes).toBe(blobEntries.reduce((sum, e) => sum + e.size, 0));
    expect(manifest.blobs.quarantined).toEqual([]);
    expect(manifest.schema.latest).toBe((await knownMigrations('sqlite')).at(-1));
    const db = entries.find((e) => e.name === 'berth.db')!;
    const dbBytes = (await readFile(join(work, 'backup.tar'))).subarray(db.offset, db.offset + db.size);
    expect(createHash('sha256').update(dbBytes).digest('hex')).toBe(manifest.database.sha256);
    // Every image pushed before the backup began, plus at least the layers, configs and manifests of those.
    expect(manifest.blobs.count).toBeGreaterThanOrEqual(pushedBeforeBackup * 4);
  });

  it('refuses to restore over a running server even with --force, and over a stopped one without --force', async () => {
    const running = await runBerthCommand(['restore', join(work, 'backup.tar'), '--data-dir', dataDir, '--force', '--json']);
    expect(running.code).toBe(1);
    expect(parsed(running.stdout).error).toEqual({ code: 'REFUSED', message: expect.stringContaining('a running Berth?') as string });
    await stopServer();
    const before = await fingerprint(dataDir);
    const stopped = await runBerthCommand(['restore', join(work, 'backup.tar'), '--data-dir', dataDir, '--json']);
    expect(stopped.code).toBe(1);
    expect(parsed(stopped.stdout).error).toEqual({ code: 'REFUSED', message: `${join(dataDir, 'berth.db')} already holds a database: restoring would replace it; pass --force to move it aside and restore` });
    expect(await fingerprint(dataDir)).toEqual(before);
  }, 60_000);

  it('refuses a truncated backup file and a tampered blob or database, naming what is wrong, and leaves the target untouched', async () => {
    const target = join(work, 'untouched');
    await runBerthCommand(['backup', join(work, 'seed'), '--data-dir', dataDir]);
    // The target: a stopped Berth's data directory made by restoring another backup.
    const seeded = await runBerthCommand(['restore', join(work, 'seed'), '--data-dir', target]);
    expect(seeded.code).toBe(0);
    const original = await fingerprint(target);

    const entries = (await scanTar(join(work, 'backup.tar'))).entries;
    const blob = entries.find((e) => e.name.startsWith('blobs/') && e.size > 1000)!;
    const db = entries.find((e) => e.name === 'berth.db')!;
    const size = (await stat(join(work, 'backup.tar'))).size;
    const cases: Array<{ name: string; damage: (path: string) => Promise<void>; code: string; says: string }> = [
      { name: 'truncated', damage: (path) => truncate(path, Math.floor(size / 2)), code: 'TRUNCATED', says: 'truncated' },
      { name: 'cut before the manifest', damage: (path) => truncate(path, db.offset + db.size + 512 + 1024), code: 'TRUNCATED', says: 'truncated' },
      { name: 'blob byte', damage: (path) => flipByte(path, blob.offset + 100), code: 'CORRUPT', says: `blob ${blob.name.split('/')[1]}:${blob.name.split('/')[3]} in the backup is corrupt` },
      { name: 'database byte', damage: (path) => flipByte(path, db.offset + 5000), code: 'CORRUPT', says: 'berth.db in the backup does not match its manifest' },
    ];
    for (const c of cases) {
      const damaged = join(work, `damaged-${c.name.replace(/ /g, '-')}.tar`);
      await copyFile(join(work, 'backup.tar'), damaged);
      await c.damage(damaged);
      const result = await runBerthCommand(['restore', damaged, '--data-dir', target, '--force', '--json']);
      expect({ case: c.name, code: result.code, error: parsed(result.stdout).error?.code }).toEqual({ case: c.name, code: 1, error: c.code });
      expect(parsed(result.stdout).error!.message).toContain(c.says);
      expect(result.stderr).toContain(c.says);
      expect(await fingerprint(target)).toEqual(original);
    }

    // A directory backup: a blob file altered, then the manifest gone.
    const dirBackup = join(work, 'backup-dir');
    const blobFile = join(dirBackup, blob.name);
    const saved = await readFile(blobFile);
    await flipByte(blobFile, 10);
    const altered = await runBerthCommand(['restore', dirBackup, '--data-dir', target, '--force', '--json']);
    expect(parsed(altered.stdout).error).toEqual({ code: 'CORRUPT', message: expect.stringContaining('is corrupt: its bytes hash to sha256:') as string });
    await copyFile(join(dirBackup, 'berth-backup.json'), join(work, 'manifest.json'));
    await rm(join(dirBackup, 'berth-backup.json'));
    const unfinished = await runBerthCommand(['restore', dirBackup, '--data-dir', target, '--force', '--json']);
    expect(parsed(unfinished.stdout).error!.code).toBe('INCOMPLETE');
    expect(await fingerprint(target)).toEqual(original);
    // Put the directory backup back as it was for the next test.
    await open(blobFile, 'w').then(async (h) => {
      await h.writeFile(saved);
      await h.close();
    });
    await copyFile(join(work, 'manifest.json'), join(dirBackup, 'berth-backup.json'));
  }, 120_000);

  it('after wiping the data directory, restores the tar and serves every image its database lists byte for byte', async () => {
    await stopServer();
    await rm(dataDir, { recursive: true, force: true });
    const restored = await runBerthCommand(['restore', join(work, 'backup.tar'), '--data-dir', dataDir, '--json']);
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);
    listedInBackup = tagsOf(join(dataDir, 'berth.db'));
    expect(listedInBackup.length).toBeGreaterThanOrEqual(pushedBeforeBackup);

    server = await spawnBerth(['--port', '0', '--data-dir', dataDir]);
    const client = new RegistryClient(server.url);
    let blobs = 0;
    for (const { repository, tag, digest } of listedInBackup) {
      const res = await client.fetch(`/v2/${repository}/manifests/${tag}`, { headers: { Accept: manifestTypes } });
      expect(res.status).toBe(200);
      const body = Buffer.from(await res.arrayBuffer());
      expect(sha256(body)).toBe(digest);
      expect(body.equals(pushed.get(digest)!)).toBe(true);
      const manifest = JSON.parse(body.toString()) as { config: { digest: string }; layers: Array<{ digest: string }> };
      for (const { digest: blobDigest } of [manifest.config, ...manifest.layers]) {
        const blob = await client.fetch(`/v2/${repository}/blobs/${blobDigest}`);
        expect(blob.status).toBe(200);
        expect(Buffer.from(await blob.arrayBuffer()).equals(pushed.get(blobDigest)!)).toBe(true);
        blobs++;
      }
    }
    expect(blobs).toBe(listedInBackup.length * 3);
    // The restored registry takes pushes again.
    remember(await client.pushImage('library/after-restore', 'v1', randomImage(1, 1024)));
  }, 120_000);

  it('an incremental directory backup links the blobs of the previous one instead of reading them again', async () => {
    const next = join(work, 'backup-dir-2');
    const result = await runBerthCommand(['backup', next, '--data-dir', dataDir, '--since', join(work, 'backup-dir'), '--json']);
    expect(result.code).toBe(0);
    const manifest = parsed(result.stdout) as unknown as { blobs: { count: number; copied: number; reused: number } };
    // Only the image pushed after the restore is new: its config, layer and manifest.
    expect(manifest.blobs.copied).toBe(3);
    expect(manifest.blobs.reused).toBe(manifest.blobs.count - 3);
    const someLayer = listedInBackup[0]!;
    const body = pushed.get(someLayer.digest)!;
    const hex = sha256(body).split(':')[1]!;
    const [a, b] = await Promise.all([stat(join(work, 'backup-dir', 'blobs', 'sha256', hex.slice(0, 2), hex)), stat(join(next, 'blobs', 'sha256', hex.slice(0, 2), hex))]);
    expect(b.ino).toBe(a.ino);
  }, 60_000);

  it('refuses PostgreSQL deployments with a pointer to the documented procedure', async () => {
    const result = await runBerthCommand(['backup', join(work, 'pg'), '--data-dir', dataDir, '--set', 'database.url=postgres://nobody@127.0.0.1:1/none', '--json']);
    expect(result.code).toBe(1);
    expect(parsed(result.stdout).error!.code).toBe('REFUSED');
    expect(parsed(result.stdout).error!.message).toContain('docs/backup.md');
  });
});
