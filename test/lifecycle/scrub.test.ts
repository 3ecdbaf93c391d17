import { mkdir, mkdtemp, readdir, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/adapters/db/connect.js';
import { engineMatrix, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient } from '../helpers/api.js';
import { OCI_INDEX, OCI_MANIFEST, RegistryClient, imageManifest, jsonBlob, randomBlob, randomImage, sha256, type Blob, type Image } from '../helpers/oci.js';
import { runBerthCommand } from '../helpers/process.js';

const engines = await engineMatrix();

interface Dependent {
  repository: string;
  digest: string;
  tags: string[];
}
interface Problem {
  digest: string;
  size: number;
  kind: 'corrupt' | 'missing';
  dependents: Dependent[];
}
interface Run {
  id: number;
  status: string;
  resumedFrom: number | null;
  objectsChecked: number;
  bytesChecked: number;
  corrupt: number;
  missing: number;
  released: number;
  problems: Problem[] | null;
}

/** Where the filesystem driver keeps an object: found by its name under the data directory. */
async function objectFile(root: string, digest: string): Promise<string> {
  const hex = digest.split(':')[1]!;
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const found = entries.find((e) => e.isFile() && e.name === hex && !e.parentPath.includes('uploads'));
  if (!found) throw new Error(`no stored object for ${digest} under ${root}`);
  return join(found.parentPath, found.name);
}

function image(layers: Blob[]): Image {
  const config = jsonBlob({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: Math.random() });
  const manifest = imageManifest(config, layers);
  return { config, layers, manifest, digest: sha256(manifest) };
}

for (const { engine, skip } of engines) {
  describe.skipIf(skip !== undefined)(`scrub on ${engine}`, () => {
    let berth: TestBerth;
    let admin: ApiClient;
    let registry: RegistryClient;

    beforeAll(async () => {
      // No manifest cache: every manifest read goes to storage (a copy in memory was checked when it was cached).
      berth = await startTestBerth({
        engine,
        settings: { 'jobs.pollIntervalMs': 50, 'lifecycle.gc.schedule': '', 'lifecycle.scrub.schedule': '', 'lifecycle.scrub.bytesPerSecond': 0, 'registry.manifestCacheBytes': 0 },
      });
      admin = new ApiClient(berth.url);
      registry = new RegistryClient(berth.url);
    });
    afterAll(async () => {
      await berth?.stop();
    });

    const scrub = async (): Promise<Run> => {
      const started = await admin.ok<{ id: number }>('POST', '/system/scrub', {});
      const deadline = Date.now() + 60_000;
      for (;;) {
        const run = await admin.ok<Run>('GET', `/system/scrub/${started.id}`);
        if (run.status === 'succeeded' || run.status === 'failed') return run;
        if (Date.now() > deadline) throw new Error(`scrub run ${started.id} still ${run.status}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const storedObjects = async () => {
      const database = connect({ url: berth.config.database.url, poolSize: 1 });
      try {
        return (await database.db.selectFrom('blob').select(['digest', 'size']).execute()).map((r) => ({ digest: r.digest, size: Number(r.size) }));
      } finally {
        await database.db.destroy();
      }
    };

    /**
     * Waits until the pushes' background work is done: no job queued or running, and every outbox
     * consumer past the pushes' last event, twice 300 ms apart (events of background work are written
     * 50 ms after they happen). A job or consumer that read an object after the test damaged it
     * would quarantine it before the scrub finds it (seen once under a loaded CI run: 2 corrupt
     * found instead of 3).
     */
    const backgroundSettled = async () => {
      const database = connect({ url: berth.config.database.url, poolSize: 1 });
      const quiet = async () => {
        const busy = await database.db.selectFrom('job').select('id').where('status', 'in', ['queued', 'running']).execute();
        // The scrub's own events are not the pushes' work, and the rebuild hints' consumer, woken
        // only by pushes, may never read past them.
        const last = await database.db.selectFrom('event_outbox').select((eb) => eb.fn.max('id').as('id')).where('type', '!=', 'scrub').executeTakeFirst();
        const cursors = await database.db.selectFrom('event_cursor').select('last_id').execute();
        return busy.length === 0 && cursors.every((c) => Number(c.last_id) >= Number(last?.id ?? 0));
      };
      try {
        const deadline = Date.now() + 30_000;
        for (let calm = 0; calm < 2; ) {
          if (Date.now() > deadline) throw new Error('background work did not settle within 30 s');
          calm = (await quiet()) ? calm + 1 : 0;
          await new Promise((r) => setTimeout(r, 300));
        }
      } finally {
        await database.db.destroy();
      }
    };

    it('finds every object corrupted or deleted behind its back and nothing else, quarantines them, and a push repairs them', async () => {
      const shared = randomBlob(3000);
      const a1 = randomBlob(5000);
      const b1 = randomBlob(7000);
      const c1 = randomBlob(2000);
      const a = await registry.pushImage('sc/app', 'v1', image([shared, a1]));
      const b = await registry.pushImage('sc/app', 'v2', image([shared, b1]));
      const c = await registry.pushImage('sc/other', 'latest', image([c1]));
      const tool = await registry.pushImage('sc/tool', 'v1', randomImage(1, 1500));
      const control = await registry.pushImage('sc/web', 'v1', randomImage(2, 4000));
      const index = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: [a, b].map((i, n) => ({ mediaType: OCI_MANIFEST, digest: i.digest, size: i.manifest.length, platform: { architecture: n === 0 ? 'amd64' : 'arm64', os: 'linux' } })),
        }),
      );
      expect((await registry.pushManifest('sc/app', 'multi', index, OCI_INDEX)).status).toBe(201);

      // A clean registry: everything verifies.
      const objects = await storedObjects();
      const clean = await scrub();
      expect(clean).toMatchObject({ status: 'succeeded', objectsChecked: objects.length, bytesChecked: objects.reduce((s, o) => s + o.size, 0), corrupt: 0, missing: 0, released: 0, problems: [] });

      // Behind Berth's back, once nothing of Berth's reads them any more: a flipped byte, a truncated file, a deleted file, a corrupt manifest.
      await backgroundSettled();
      const flipped = await objectFile(berth.dataDir, a1.digest);
      const bytes = await readFile(flipped);
      bytes[100] = bytes[100]! ^ 0xff;
      await writeFile(flipped, bytes);
      await truncate(await objectFile(berth.dataDir, b1.digest), 6000);
      await unlink(await objectFile(berth.dataDir, c1.digest));
      const toolManifest = await objectFile(berth.dataDir, tool.digest);
      await writeFile(toolManifest, (await readFile(toolManifest, 'utf8')).replace('"schemaVersion":2', '"schemaVersion":3'));

      const found = await scrub();
      expect(found).toMatchObject({ status: 'succeeded', objectsChecked: objects.length, corrupt: 3, missing: 1, released: 0 });
      const indexDigest = sha256(index);
      expect(found.problems).toEqual(
        [
          {
            digest: a1.digest,
            size: 5000,
            kind: 'corrupt',
            dependents: [
              { repository: 'sc/app', digest: a.digest, tags: ['v1'] },
              { repository: 'sc/app', digest: indexDigest, tags: ['multi'] },
            ].sort((x, y) => x.digest.localeCompare(y.digest)),
          },
          {
            digest: b1.digest,
            size: 7000,
            kind: 'corrupt',
            dependents: [
              { repository: 'sc/app', digest: b.digest, tags: ['v2'] },
              { repository: 'sc/app', digest: indexDigest, tags: ['multi'] },
            ].sort((x, y) => x.digest.localeCompare(y.digest)),
          },
          { digest: c1.digest, size: 2000, kind: 'missing', dependents: [{ repository: 'sc/other', digest: c.digest, tags: ['latest'] }] },
          { digest: tool.digest, size: tool.manifest.length, kind: 'corrupt', dependents: [{ repository: 'sc/tool', digest: tool.digest, tags: ['v1'] }] },
        ].sort((x, y) => x.digest.localeCompare(y.digest)),
      );
      const quarantine = await admin.ok<{ items: Array<{ digest: string; kind: string }>; total: number }>('GET', '/system/quarantine');
      expect(quarantine.total).toBe(4);
      expect(quarantine.items.map((q) => `${q.kind} ${q.digest}`).sort()).toEqual(found.problems!.map((p) => `${p.kind} ${p.digest}`).sort());

      // Never served: not the blob, not the manifest; a client is told why.
      const get = await registry.fetch(`/v2/sc/app/blobs/${a1.digest}`);
      expect(get.status).toBe(404);
      expect(await get.json()).toEqual({
        errors: [
          {
            code: 'BLOB_UNKNOWN',
            message: `blob ${a1.digest} is quarantined: its stored bytes do not match its digest; pushing it again repairs it`,
            detail: { digest: a1.digest, quarantine: 'corrupt' },
          },
        ],
      });
      expect((await registry.fetch(`/v2/sc/app/blobs/${b1.digest}`, { method: 'HEAD' })).status).toBe(404);
      expect((await registry.fetch(`/v2/sc/other/blobs/${c1.digest}`, { method: 'HEAD' })).status).toBe(404);
      const manifest = await registry.fetch('/v2/sc/tool/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
      expect(manifest.status).toBe(404);
      expect(((await manifest.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toBe(
        `manifest ${tool.digest} is quarantined: its stored bytes do not match its digest; pushing it again repairs it`,
      );
      // A mount of a quarantined blob is refused: the client uploads it instead.
      expect((await registry.fetch(`/v2/sc/copy/blobs/uploads/?mount=${a1.digest}&from=sc/app`, { method: 'POST' })).status).toBe(202);
      // Everything else is served as before.
      for (const blob of [shared, ...control.layers, control.config]) expect((await registry.fetch(`/v2/${blob === shared ? 'sc/app' : 'sc/web'}/blobs/${blob.digest}`)).status).toBe(200);
      expect((await registry.fetch('/v2/sc/web/manifests/v1', { headers: { Accept: OCI_MANIFEST } })).status).toBe(200);

      // The run is an event, and the metrics say what is quarantined.
      const database = connect({ url: berth.config.database.url, poolSize: 1 });
      try {
        const events = await database.db.selectFrom('event_outbox').select(['type', 'payload']).where('type', '=', 'scrub').orderBy('id').execute();
        expect(events).toHaveLength(2);
        expect(JSON.parse(events[1]!.payload).details).toMatchObject({ run: found.id, status: 'succeeded', corrupt: 3, missing: 1 });
      } finally {
        await database.db.destroy();
      }
      const metrics = await (await fetch(`${berth.url}/metrics`)).text();
      expect(metrics).toMatch(/^berth_quarantined_objects 4$/m);
      expect(metrics).toMatch(/^berth_scrub_problems_total\{kind="corrupt"\} 3$/m);

      // Pushing the content again repairs it: the client is told it is missing, uploads it, and it is served again.
      await registry.pushImage('sc/app', 'v1', a);
      await registry.pushImage('sc/tool', 'v1', tool);
      const repaired = await registry.fetch(`/v2/sc/app/blobs/${a1.digest}`);
      expect(repaired.status).toBe(200);
      expect(sha256(Buffer.from(await repaired.arrayBuffer()))).toBe(a1.digest);
      const toolAgain = await registry.fetch('/v2/sc/tool/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
      expect(Buffer.from(await toolAgain.arrayBuffer()).equals(tool.manifest)).toBe(true);
      // Restored behind its back: the next run finds it intact and releases it.
      const b1File = await objectFile(berth.dataDir, b1.digest);
      const c1Hex = c1.digest.split(':')[1]!;
      const c1Dir = join(b1File.slice(0, b1File.lastIndexOf('/sha256/')), 'sha256', c1Hex.slice(0, 2));
      await mkdir(c1Dir, { recursive: true });
      await writeFile(join(c1Dir, c1Hex), c1.data);
      const after = await scrub();
      expect(after).toMatchObject({ status: 'succeeded', corrupt: 1, missing: 0, released: 1 });
      expect(after.problems!.map((p) => `${p.kind} ${p.digest}`)).toEqual([`corrupt ${b1.digest}`]);
      expect((await registry.fetch(`/v2/sc/other/blobs/${c1.digest}`)).status).toBe(200);
      expect((await admin.ok<{ total: number }>('GET', '/system/quarantine')).total).toBe(1);
    });

    it('runs one scrub at a time, for administrators only', async () => {
      const first = await admin.call('POST', '/system/scrub', {});
      const second = await admin.call('POST', '/system/scrub', {});
      expect(first.status).toBe(201);
      // The first may have finished already (a small registry); otherwise the second waits its turn.
      if (second.status !== 201) {
        expect(second.status).toBe(409);
        expect(((await second.json()) as { code: string }).code).toBe('CONFLICT');
      }
      await admin.ok('POST', '/users', { username: 'scrubber', password: 'Scrub-Passw0rd-1', email: 'scrubber@example.test' });
      const user = new ApiClient(berth.url, { username: 'scrubber', password: 'Scrub-Passw0rd-1' });
      expect((await user.call('POST', '/system/scrub', {})).status).toBe(403);
      expect((await user.call('GET', '/system/quarantine')).status).toBe(403);
    });
  });
}

const berthScrub = (args: string[], onLine?: (line: string, kill: () => void) => void) => runBerthCommand(['scrub', ...args], onLine);

describe('berth scrub', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-scrub-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('continues a run killed with kill -9 after the last digest it recorded, and exits 4 naming what it found', async () => {
    const berth = await startTestBerth({ dataDir: dir, settings: { 'lifecycle.gc.schedule': '', 'lifecycle.scrub.schedule': '' } });
    const layers = Array.from({ length: 120 }, () => randomBlob(16 * 1024));
    const pushed = await new RegistryClient(berth.url).pushImage('cli/app', 'v1', image(layers));
    const databaseUrl = berth.config.database.url;
    await berth.stop();
    const digests = [...layers.map((l) => l.digest), pushed.config.digest, pushed.digest].sort();
    // The last digest in order: after any cursor the first run can have reached.
    const last = digests[digests.length - 1]!;
    await unlink(await objectFile(dir, last));
    const common = ['--data-dir', dir, '--set', 'lifecycle.scrub.leaseSeconds=1'];

    // 256 KiB/s over ~1.9 MiB: killed once a progress line says more than 32 objects are checked (a batch recorded).
    const first = await berthScrub([...common, '--rate', '0.25'], (line, kill) => {
      const checked = /: (\d+) objects/.exec(line);
      if (checked && Number(checked[1]) > 32) kill();
    });
    expect(first.signal).toBe('SIGKILL');
    await new Promise((r) => setTimeout(r, 1200));

    const second = await berthScrub([...common, '--rate', '0', '--json']);
    expect(second.code).toBe(4);
    const run = JSON.parse(second.stdout) as Run & { cursor: string };
    expect(run).toMatchObject({ status: 'succeeded', resumedFrom: 1, missing: 1, corrupt: 0 });
    // It checked what came after the first run's cursor, and only that.
    const database = connect({ url: databaseUrl, poolSize: 1 });
    const cursor = (await database.db.selectFrom('scrub_run').select('cursor').where('id', '=', 1).executeTakeFirstOrThrow()).cursor;
    await database.db.destroy();
    expect(cursor).not.toBeNull();
    expect(digests.indexOf(cursor!)).toBeGreaterThanOrEqual(31);
    expect(run.objectsChecked).toBe(digests.filter((d) => d > cursor!).length);
    expect(run.problems!.map((p) => `${p.kind} ${p.digest}`)).toEqual([`missing ${last}`]);
    // A layer, the config or the manifest itself: the one image needs it either way.
    expect(run.problems![0]!.dependents).toEqual([{ repository: 'cli/app', digest: pushed.digest, tags: ['v1'] }]);

    // A full run next (nothing to continue), in words.
    const third = await berthScrub(['--data-dir', dir, '--rate', '0']);
    expect(third.code).toBe(4);
    expect(third.stdout).toContain(`scrub run 3: succeeded\n  checked: ${digests.length} objects`);
    expect(third.stdout).toContain(`  missing ${last}`);
    expect(third.stdout).toContain(`    needed by cli/app@${pushed.digest} (v1)`);
  }, 120_000);
});
