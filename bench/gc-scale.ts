import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type BetterSqlite from 'better-sqlite3';
import { Command } from 'commander';
import { percentile } from './load.js';
import { createDatabase, pssOf, startBerth, startS3rver, type RunningSystem } from './systems.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const program = new Command()
  .name('bench:gc')
  .description(
    'Garbage collection at scale: a registry with many blob rows and manifests made directly in the database and storage; times finding the candidates (a dry run) and the sweep, with pull latency and memory while it runs',
  )
  .option('--blobs <n>', 'blob rows in all', '1000000')
  .option('--manifests <n>', 'manifests (each: its body, a config and 7 layers from a shared pool)', '100000')
  .option('--garbage <n>', 'blobs nothing references (with bytes in storage): what the sweep deletes', '100000')
  .option('--postgres [url]', 'PostgreSQL: a fresh database on this server (default postgres://postgres@127.0.0.1:5432/test)')
  .option('--s3', 'S3 storage (s3rver on a loopback port)')
  .option('--out <file>', 'where to write the JSON results', '')
  .option('--populate-only', 'make the rows and bytes, keep the data directory (printed) and stop: for looking at the queries by hand')
  .parse();
const opts = program.opts<{ blobs: string; manifests: string; garbage: string; postgres?: string | true; s3?: boolean; out: string; populateOnly?: boolean }>();

const manifests = Number(opts.manifests);
const garbage = Number(opts.garbage);
const layersPerManifest = 7;
const totalBlobs = Number(opts.blobs);
const poolSize = totalBlobs - garbage - 2 * manifests; // layers shared by the manifests
if (poolSize < layersPerManifest) throw new Error('--blobs must exceed --garbage + 2 × --manifests by a pool of layers');
const repositories = Math.max(1, Math.floor(manifests / 100));

const digestOf = (kind: string, i: number) => `sha256:${createHash('sha256').update(`${kind}-${i}`).digest('hex')}`;

interface Populator {
  rows(table: string, columns: string[], values: unknown[][]): Promise<void>;
  /** The ids of the repositories whose names start with `prefix`, in name order. */
  repositoryIds(prefix: string): Promise<number[]>;
  analyze(): Promise<void>;
  close(): Promise<void>;
}

async function populator(url: string): Promise<Populator> {
  if (url.startsWith('sqlite:')) {
    // Berth's own choice of better-sqlite3 release for this Node.js (compiled by npm run build).
    const driver = '../dist/modules/adapters/db/sqlite-driver.js';
    const { Sqlite } = (await import(driver)) as { Sqlite: typeof BetterSqlite };
    const db = new Sqlite(url.slice('sqlite:'.length));
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 30000');
    return {
      async rows(table, columns, values) {
        const statement = db.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
        db.transaction((all: unknown[][]) => {
          for (const row of all) statement.run(...row);
        })(values);
      },
      async repositoryIds(prefix) {
        return (db.prepare('SELECT id FROM repository WHERE name LIKE ? ORDER BY id').all(`${prefix}%`) as Array<{ id: number }>).map((r) => r.id);
      },
      async analyze() {
        db.exec('ANALYZE');
      },
      async close() {
        db.close();
      },
    };
  }
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const types = new Map<string, Map<string, string>>();
  const typesOf = async (table: string) => {
    let known = types.get(table);
    if (!known) {
      const { rows } = await client.query<{ column_name: string; udt_name: string }>('SELECT column_name, udt_name FROM information_schema.columns WHERE table_name = $1 AND table_schema = current_schema()', [table]);
      known = new Map(rows.map((r) => [r.column_name, r.udt_name]));
      types.set(table, known);
    }
    return known;
  };
  return {
    async rows(table, columns, values) {
      // One array per column and INSERT … SELECT FROM unnest(…): a slice is one statement with as
      // many parameters as columns, where VALUES lists would need one per cell.
      const known = await typesOf(table);
      const casts = columns.map((c, i) => `$${i + 1}::${known.get(c) ?? 'text'}[]`);
      await client.query(
        `INSERT INTO ${table} (${columns.join(', ')}) SELECT * FROM unnest(${casts.join(', ')})`,
        columns.map((_c, i) => values.map((row) => row[i])),
      );
    },
    async repositoryIds(prefix) {
      return (await client.query<{ id: string }>('SELECT id FROM repository WHERE name LIKE $1 ORDER BY id', [`${prefix}%`])).rows.map((r) => Number(r.id));
    },
    async analyze() {
      await client.query('ANALYZE');
    },
    close: () => client.end(),
  };
}

/** Writes rows in slices, so a million of them never sit in memory at once. */
async function populate(db: Populator, storeGarbage: (digests: string[]) => Promise<void>): Promise<void> {
  const old = Date.now() - 7 * 86_400_000;
  const slice = 20_000;
  await db.rows(
    'repository',
    ['name', 'created_at'],
    Array.from({ length: repositories }, (_v, r) => [`scale/r${r}`, old]),
  );
  const repoIds = await db.repositoryIds('scale/');
  for (let start = 0; start < poolSize; start += slice) {
    const n = Math.min(slice, poolSize - start);
    await db.rows('blob', ['digest', 'size', 'created_at', 'touched_at'], Array.from({ length: n }, (_v, i) => [digestOf('layer', start + i), 4096, old, old]));
  }
  for (let start = 0; start < manifests; start += slice / 10) {
    const n = Math.min(slice / 10, manifests - start);
    const blobs: unknown[][] = [];
    const rows: unknown[][] = [];
    const refs: unknown[][] = [];
    const links: unknown[][] = [];
    const tags: unknown[][] = [];
    for (let i = start; i < start + n; i++) {
      const repo = repoIds[i % repositories]!;
      const manifest = digestOf('manifest', i);
      const config = digestOf('config', i);
      blobs.push([manifest, 1000, old, old], [config, 500, old, old]);
      rows.push([repo, manifest, 'application/vnd.oci.image.manifest.v1+json', 1000, old, old]);
      const children = new Set([config]);
      for (let l = 0; l < layersPerManifest; l++) children.add(digestOf('layer', (i * layersPerManifest + l) % poolSize));
      for (const child of children) {
        refs.push([repo, manifest, child, 'blob']);
        links.push([repo, child, old]);
      }
      if (i % 2 === 0) tags.push([repo, `t${i}`, manifest, old]);
    }
    await db.rows('blob', ['digest', 'size', 'created_at', 'touched_at'], blobs);
    await db.rows('manifest', ['repository_id', 'digest', 'media_type', 'size', 'created_at', 'touched_at'], rows);
    await db.rows('manifest_reference', ['repository_id', 'parent_digest', 'child_digest', 'kind'], refs);
    // A layer shared by two manifests of one repository is linked once.
    const unique = new Map(links.map((l) => [`${String(l[0])} ${String(l[1])}`, l]));
    await insertIgnoringDuplicates(db, 'repository_blob', ['repository_id', 'digest', 'created_at'], [...unique.values()]);
    await db.rows('tag', ['repository_id', 'name', 'manifest_digest', 'updated_at'], tags);
    if (start % 20_000 === 0) process.stderr.write(`  manifests: ${start + n} of ${manifests}\n`);
  }
  for (let start = 0; start < garbage; start += slice) {
    const n = Math.min(slice, garbage - start);
    const digests = Array.from({ length: n }, (_v, i) => digestOf('garbage', start + i));
    await db.rows(
      'blob',
      ['digest', 'size', 'created_at', 'touched_at'],
      digests.map((d) => [d, 16, old, old]),
    );
    await storeGarbage(digests);
    process.stderr.write(`  garbage: ${start + n} of ${garbage}\n`);
  }
}

/** Links are per repository; layers recur across slices, so some already exist. */
async function insertIgnoringDuplicates(db: Populator, table: string, columns: string[], values: unknown[][]): Promise<void> {
  const seen = insertIgnoringDuplicates.seen;
  const fresh = values.filter((v) => {
    const key = `${String(v[0])} ${String(v[1])}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  await db.rows(table, columns, fresh);
}
insertIgnoringDuplicates.seen = new Set<string>();

async function main(): Promise<void> {
  const cleanups: Array<() => Promise<void>> = [];
  const set = ['lifecycle.gc.schedule=', 'lifecycle.gc.graceHours=0', 'jobs.pollIntervalMs=100'];
  let databaseUrl: string | undefined;
  if (opts.postgres) {
    const database = await createDatabase(opts.postgres === true ? 'postgres://postgres@127.0.0.1:5432/test' : opts.postgres);
    cleanups.push(() => database.drop());
    databaseUrl = database.url;
    set.push(`database.url=${database.url}`);
  }
  let s3: Awaited<ReturnType<typeof startS3rver>> | undefined;
  if (opts.s3) {
    s3 = await startS3rver(root);
    cleanups.push(() => s3!.stop());
    set.push(...s3.settings);
  }
  const variant = `${opts.postgres ? 'PostgreSQL' : 'SQLite'} + ${opts.s3 ? 'S3 (s3rver)' : 'filesystem'}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-gc-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const env = { BERTH_ADMIN_PASSWORD: `Bench-${randomBytes(6).toString('hex')}-Aa1` };
  // First start: migrations, the administrator, and the image pulled while GC runs; then the
  // rows are made while Berth is stopped (a writer holding SQLite for seconds would stall it).
  const first = await startBerth(root, { workers: 1, set, variant, dataDir, env });
  await pushMeasured(first);
  await first.stop();
  const databaseUrlFor = databaseUrl ?? `sqlite:${join(dataDir, 'berth.db')}`;
  process.stderr.write(`populating ${totalBlobs} blob rows, ${manifests} manifests in ${repositories} repositories, ${garbage} garbage blobs with bytes\n`);
  const populateStarted = Date.now();
  const db = await populator(databaseUrlFor);
  const storeGarbage = opts.s3 ? await s3Writer(s3!) : fsWriter(join(dataDir, 'storage', 'blobs'));
  await populate(db, storeGarbage);
  // A registry that grew over months has planner statistics (autovacuum analyses as rows come);
  // rows made in minutes would not have them yet.
  if (!databaseUrlFor.startsWith('sqlite:')) await db.analyze();
  await db.close();
  const populateSeconds = (Date.now() - populateStarted) / 1000;
  if (opts.populateOnly) {
    cleanups.length = 0;
    process.stderr.write(`populated in ${populateSeconds.toFixed(0)} s; kept: ${databaseUrlFor} with storage in ${dataDir}\n`);
    return;
  }
  const berth = await startBerth(root, { workers: 2, set, variant, dataDir, env });
  cleanups.push(() => berth.stop());
  try {
    const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${berth.url}/api/v1${path}`, { method, headers: { Authorization: auth, ...(body ? { 'Content-Type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    };
    const auth = `Basic ${Buffer.from(`${berth.credentials!.username}:${berth.credentials!.password}`).toString('base64')}`;
    /** Pulls the measured image (manifest and layer) in a loop until `until` resolves; latencies in ms. */
    const pullLoop = (until: Promise<unknown>, max = 100_000) => {
      const latencies: number[] = [];
      let done = false;
      void until.finally(() => (done = true));
      return (async () => {
        while (!done && latencies.length < max) {
          const started = performance.now();
          const res = await fetch(`${berth.url}/v2/library/measured/manifests/v1`, { headers: { Authorization: auth, Accept: 'application/vnd.oci.image.manifest.v1+json' } });
          await res.arrayBuffer();
          const blob = await fetch(`${berth.url}/v2/library/measured/blobs/${measuredLayer}`, { headers: { Authorization: auth } });
          await blob.arrayBuffer();
          latencies.push(performance.now() - started);
        }
        return latencies.sort((a, b) => a - b);
      })();
    };
    // What serving pulls alone costs in memory, so a peak during GC can be told apart from it.
    let peakPssPulling = 0;
    const sampler = setInterval(() => (peakPssPulling = Math.max(peakPssPulling, pssOf(berth.pids()))), 100);
    const idle = await pullLoop(new Promise((r) => setTimeout(r, 5000)), 3000);
    clearInterval(sampler);

    interface Run {
      id: number;
      status: string;
      phase: string | null;
      blobsDeleted: number;
      bytesFreed: number;
      manifestsDeleted: number;
      startedAt: string | null;
      finishedAt: string | null;
      error: string | null;
    }
    const runGc = async (dryRun: boolean) => {
      const started = await api<Run>('POST', '/system/gc', { dryRun, graceHours: 0 });
      const phases: Record<string, number> = {};
      let peakPss = 0;
      let peakPerProcess: number[] = [];
      let run: Run;
      for (;;) {
        run = await api<Run>('GET', `/system/gc/${started.id}`);
        const perProcess = berth.pids().map((pid) => pssOf([pid]));
        const sum = perProcess.reduce((a, b) => a + b, 0);
        if (sum > peakPss) [peakPss, peakPerProcess] = [sum, perProcess];
        if (run.phase && phases[run.phase] === undefined) phases[run.phase] = Date.now();
        if (run.status !== 'queued' && run.status !== 'running') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      if (run.status !== 'succeeded') throw new Error(`gc run ${run.id} ${run.status}: ${run.error}`);
      const seconds = (Date.parse(run.finishedAt!) - Date.parse(run.startedAt!)) / 1000;
      const blobPhaseSeconds = phases.blobs === undefined ? seconds : (Date.parse(run.finishedAt!) - phases.blobs) / 1000;
      return { run, seconds, blobPhaseSeconds, peakPss, peakPerProcess };
    };
    const pssBefore = pssOf(berth.pids());
    const dry = await runGc(true);
    let real: Awaited<ReturnType<typeof runGc>>;
    {
      let finish: () => void = () => undefined;
      const finished = new Promise<void>((r) => (finish = r));
      const loop = pullLoop(finished);
      real = await runGc(false);
      finish();
      const latencies = await loop;
      const result = {
        variant: berth.label,
        machine: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node.js ${process.version}`,
        rows: { blobs: totalBlobs, manifests, repositories, garbage },
        populateSeconds,
        candidates: { seconds: dry.seconds, blobs: dry.run.blobsDeleted },
        sweep: { seconds: real.seconds, blobPhaseSeconds: real.blobPhaseSeconds, blobsDeleted: real.run.blobsDeleted, blobsPerSecond: real.run.blobsDeleted / real.blobPhaseSeconds },
        pulls: {
          idle: { n: idle.length, p50Ms: percentile(idle, 50), p99Ms: percentile(idle, 99) },
          duringGc: { n: latencies.length, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) },
        },
        pssBytes: { before: pssBefore, peakWhilePulling: peakPssPulling, peakDuringDryRun: dry.peakPss, peakDuringGc: real.peakPss },
        /** Each process's PSS at the summed peak (primary first, then workers). */
        pssAtPeakBytes: { dryRun: dry.peakPerProcess, gc: real.peakPerProcess },
      };
      report(result, berth);
    }
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
/** The layer of the image pulled while GC runs (64 KiB). */
let measuredLayer = '';

/** Pushes the small image the pull loops fetch. */
async function pushMeasured(berth: RunningSystem): Promise<void> {
  const auth = `Basic ${Buffer.from(`${berth.credentials!.username}:${berth.credentials!.password}`).toString('base64')}`;
  const layer = randomBytes(64 * 1024);
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
  measuredLayer = sha(layer);
  for (const blob of [layer, config]) {
    const res = await fetch(`${berth.url}/v2/library/measured/blobs/uploads/?digest=${sha(blob)}`, { method: 'POST', body: blob, headers: { Authorization: auth } });
    if (res.status !== 201) throw new Error(`push: ${res.status}`);
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(layer), size: layer.length }],
    }),
  );
  const res = await fetch(`${berth.url}/v2/library/measured/manifests/v1`, { method: 'PUT', body: manifest, headers: { Authorization: auth, 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  if (res.status !== 201) throw new Error(`push manifest: ${res.status}`);
}

function fsWriter(blobsDir: string): (digests: string[]) => Promise<void> {
  return async (digests) => {
    for (let i = 0; i < digests.length; i += 64) {
      await Promise.all(
        digests.slice(i, i + 64).map(async (digest) => {
          const hex = digest.slice('sha256:'.length);
          const dir = join(blobsDir, 'sha256', hex.slice(0, 2));
          await mkdir(dir, { recursive: true });
          await writeFile(join(dir, hex), hex.slice(0, 16));
        }),
      );
    }
  };
}

async function s3Writer(s3: { settings: string[] }): Promise<(digests: string[]) => Promise<void>> {
  const setting = (key: string) => s3.settings.find((s) => s.startsWith(`${key}=`))!.slice(key.length + 1);
  const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({
    endpoint: setting('storage.s3.endpoint'),
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: setting('storage.s3.accessKeyId'), secretAccessKey: setting('storage.s3.secretAccessKey') },
  });
  const bucket = setting('storage.s3.bucket');
  return async (digests) => {
    for (let i = 0; i < digests.length; i += 32) {
      await Promise.all(
        digests.slice(i, i + 32).map((digest) => {
          const hex = digest.slice('sha256:'.length);
          return client.send(new PutObjectCommand({ Bucket: bucket, Key: `blobs/sha256/${hex.slice(0, 2)}/${hex}`, Body: hex.slice(0, 16) }));
        }),
      );
    }
  };
}

function report(result: Record<string, unknown> & { candidates: { seconds: number }; sweep: { blobsPerSecond: number; blobsDeleted: number; blobPhaseSeconds: number }; pulls: { idle: { p99Ms: number }; duringGc: { p99Ms: number } }; pssBytes: Record<string, number> }, berth: RunningSystem): void {
  const out = opts.out || join(root, 'bench/results', `gc-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  process.stdout.write(
    [
      `${berth.label}`,
      `finding the candidates (dry run over every phase): ${result.candidates.seconds.toFixed(2)} s`,
      `sweep: ${result.sweep.blobsDeleted} blobs in ${result.sweep.blobPhaseSeconds.toFixed(1)} s = ${result.sweep.blobsPerSecond.toFixed(0)} blobs/s`,
      `pull p99: idle ${result.pulls.idle.p99Ms.toFixed(1)} ms, during GC ${result.pulls.duringGc.p99Ms.toFixed(1)} ms (${(result.pulls.duringGc.p99Ms / result.pulls.idle.p99Ms).toFixed(2)}×)`,
      `summed PSS: before ${mib(result.pssBytes.before!)}, peak while pulling (no GC) ${mib(result.pssBytes.peakWhilePulling!)}, peak in dry run ${mib(result.pssBytes.peakDuringDryRun!)}, peak in GC ${mib(result.pssBytes.peakDuringGc!)}`,
      `PSS per process at the GC peak (primary first): ${(result.pssAtPeakBytes as { gc: number[] }).gc.map(mib).join(', ')}`,
      `results: ${out}`,
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:gc: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
