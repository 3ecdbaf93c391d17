import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBlobStore } from '../../src/adapters/storage/index.js';
import { loadConfig } from '../../src/config/load.js';
import type { BlobStore } from '../../src/ports/blob-store.js';
import { ApiClient } from '../helpers/api.js';
import { checkConsistency } from '../helpers/consistency.js';
import { RegistryClient, randomBlob, randomImage, type Blob, type Image } from '../helpers/oci.js';
import { runBerthCommand, spawnBerth, type BerthProcess } from '../helpers/process.js';

/** `berth gc` against the test's configuration, collecting everything unused now. */
const berthGc = (config: string, onLine?: (line: string, kill: () => void) => void) => runBerthCommand(['gc', '--config', config, '--grace-hours', '0'], onLine);

describe('garbage collection killed mid-sweep', () => {
  let dir: string;
  let configFile: string;
  let berth: BerthProcess;
  let store: BlobStore;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-gc-crash-'));
    configFile = join(dir, 'berth.yaml');
    // Small batches and a short lease, so a sweep has many steps and a dead run is taken over quickly.
    await writeFile(configFile, `dataDir: ${dir}\nlifecycle:\n  gc:\n    schedule: ""\n    graceHours: 0\n    batchSize: 20\n    leaseSeconds: 6\n`);
    berth = await spawnBerth(['--port', '0', '--config', configFile]);
    store = await createBlobStore(loadConfig({ file: configFile, env: {} }).storage);
  }, 60_000);
  afterAll(async () => {
    await store?.close?.();
    berth?.proc.kill('SIGTERM');
    await berth?.exited;
    await rm(dir, { recursive: true, force: true });
  });

  it('resumes after kill -9 (the run is taken over by the next), deletes all the garbage and nothing a tag needs', async () => {
    const client = new RegistryClient(berth.url);
    const kept: Image[] = [];
    for (let i = 0; i < 3; i++) kept.push(await client.pushImage('crash/app', `v${i}`, randomImage(2, 4096)));
    const garbage: Blob[] = [];
    for (let i = 0; i < 400; i++) {
      const blob = randomBlob(512);
      expect((await client.pushBlob('crash/junk', blob)).status).toBe(201);
      garbage.push(blob);
    }
    const remaining = async () => (await Promise.all(garbage.map(async (g) => (await store.stat(g.digest as never)) !== undefined))).filter(Boolean).length;

    // Killed once it has deleted some blobs (each batch of 20 is a line), while the server serves on.
    const first = await berthGc(configFile, (line, kill) => {
      const deleted = /: blobs: .* (\d+) blobs/.exec(line);
      if (deleted && Number(deleted[1]) >= 100) kill();
    });
    expect(first.signal).toBe('SIGKILL');
    const left = await remaining();
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(garbage.length);

    const admin = new ApiClient(berth.url);
    const runs = async () => (await admin.ok<{ items: Array<{ id: number; status: string; blobsDeleted: number }> }>('GET', '/system/gc')).items;
    expect((await runs())[0]!.status).toBe('running');
    // While its lease holds, nobody else starts.
    const blocked = await berthGc(configFile);
    expect(blocked.code).toBe(3);
    expect(blocked.stderr).toMatch(/^berth gc: garbage collection run \d+ is already running; one run at a time$/m);

    await new Promise((r) => setTimeout(r, 6500));
    const second = await berthGc(configFile);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/^gc run \d+: succeeded$/m);
    expect(await remaining()).toBe(0);
    // The killed run is marked interrupted; the new one carried on where the database said it was.
    expect((await runs()).map((r) => r.status)).toEqual(['succeeded', 'interrupted']);

    for (const image of kept) {
      for (const blob of [image.config, ...image.layers]) {
        const res = await client.fetch(`/v2/crash/app/blobs/${blob.digest}`);
        expect(Buffer.from(await res.arrayBuffer()).equals(blob.data)).toBe(true);
      }
    }
    expect(await checkConsistency({ config: loadConfig({ file: configFile, env: {} }) })).toEqual({ problems: [] });
  }, 120_000);
});
