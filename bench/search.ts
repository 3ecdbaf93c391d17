import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import { sql } from 'kysely';
import { percentile } from './load.js';
import { createDatabase } from './systems.js';

/**
 * Search over the image index (issue 17, must-show 4): fills --images indexed images on SQLite and
 * on PostgreSQL through the store itself, then times each kind of search as the API runs it
 * (first page of 50, `matched`, tags and indexes filled), half as a system admin and half with
 * the scope of a user who sees the public projects and three private ones.
 */
const opts = new Command()
  .name('bench:search')
  .description('Search latency over the image index: p50/p99 per query kind and engine')
  .option('--images <n>', 'indexed application images', '10000')
  .option('--queries <n>', 'queries per kind (each kind also stops after --seconds)', '200')
  .option('--seconds <n>', 'time limit per kind', '60')
  .option('--engines <list>', 'sqlite,postgres', 'sqlite,postgres')
  .option('--keep', 'keep the filled databases (their location is printed) to look at query plans')
  .option('--reuse <url>', 'time the searches on a database an earlier --keep run filled (one engine: the URL\'s)')
  .option('--kinds <list>', 'the kinds of search to time', 'package,path,fileName,base,label,vulnerability,digest')
  .option('--postgres <url>', 'PostgreSQL server (a fresh database is made and dropped)', 'postgres://postgres@127.0.0.1:5432/test')
  .parse()
  .opts<{ images: string; queries: string; seconds: string; engines: string; postgres: string; keep?: boolean; reuse?: string; kinds: string }>();

// Built modules, as the other benchmarks load them (tsconfig.bench.json compiles bench/ alone).
const modules = '../dist/modules';
type Db = { db: { destroy(): Promise<void>; insertInto(table: string): { values(rows: unknown[]): { execute(): Promise<unknown> } } }; engine: 'sqlite' | 'postgres' };
const { connect, migrate } = (await import(`${modules}/adapters/db/connect.js`)) as { connect(o: { url: string }): Db; migrate(d: Db): Promise<unknown> };
const { KyselyImageIndexStore } = (await import(`${modules}/adapters/db/kysely-image-index-store.js`)) as { KyselyImageIndexStore: new (d: Db) => Store };
const { KyselyScanStore } = (await import(`${modules}/adapters/db/kysely-scan-store.js`)) as { KyselyScanStore: new (d: Db) => { put(r: unknown): Promise<void> } };

interface Entry { parent: string; name: string; type: string; size: number; mode: number; uid: number; gid: number }
interface Store {
  putLayer(record: unknown, entries: Iterable<Entry>): Promise<void>;
  putImage(record: unknown): Promise<void>;
  search(query: Record<string, unknown>, scope: 'all' | { projects: string[] }, page: { limit: number }): Promise<{ hits: unknown[] }>;
}

const images = Number(opts.images);
const perKind = Number(opts.queries);
const seconds = Number(opts.seconds);

/** Deterministic: every engine gets the same registry and the same queries. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const digest = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const file = (path: string, size: number, type = 'file'): Entry => {
  const slash = path.lastIndexOf('/');
  return { parent: slash === -1 ? '' : path.slice(0, slash), name: path.slice(slash + 1), type, size, mode: 0o644, uid: 0, gid: 0 };
};

// The registry's shape: 20 bases of 3-5 layers of ~3,000 entries in 5 distribution families;
// applications of 1-3 layers of ~50 entries on them; 100 projects (even ones private) of 10
// repositories; 20-200 packages per image; labels; 0-10 findings per image from 300 CVEs.
const families = ['debian', 'ubuntu', 'alpine', 'fedora', 'distroless'];
const bases = Array.from({ length: 20 }, (_, b) => {
  const r = prng(1000 + b);
  const family = families[b % families.length]!;
  const layers = Array.from({ length: 3 + (b % 3) }, (_, j) => digest(`base-${b}-layer-${j}`));
  const packages = Array.from({ length: 15 + Math.floor(r() * 65) }, (_, k) => ({ name: `${family}-lib${k}`, version: `1.${k}.${b % 4}`, type: family === 'alpine' ? 'apk' : family === 'fedora' ? 'rpm' : 'deb', source: `${family}-src${Math.floor(k / 3)}` }));
  return { b, family, layers, packages, digest: digest(`base-${b}`) };
});
function baseLayerEntries(b: number, j: number): Entry[] {
  const entries: Entry[] = [];
  const dirs = ['usr/bin', 'usr/lib/x86_64-linux-gnu', 'usr/share/locale', 'etc', 'var/lib/dpkg/info'];
  for (const d of dirs) entries.push(file(d, 0, 'directory'));
  for (let k = 0; k < 2950; k++) {
    const kind = k % 5;
    if (kind === 0) entries.push(file(`usr/share/doc/b${b}l${j}p${k}/copyright`, 1500));
    else if (kind === 1) entries.push(file(`usr/lib/x86_64-linux-gnu/lib${b}_${j}_${k}.so.1`, 50_000 + k));
    else if (kind === 2) entries.push(file(`usr/bin/tool${b}_${j}_${k}`, 20_000));
    else if (kind === 3) entries.push(file(`usr/share/locale/l${k % 40}/LC_MESSAGES/m${b}_${j}_${k}.mo`, 3000));
    else entries.push(file(`var/lib/dpkg/info/p${b}_${j}_${k}.list`, 400));
  }
  if (j === 0) entries.push(file('usr/bin/bash', 1_200_000), file('etc/os-release', 300), file('usr/bin/sh', 0, 'symlink'));
  if (j > 0) {
    // Upper base layers delete some of what lower ones brought, and make one directory opaque.
    for (let k = 0; k < 20; k++) entries.push(file(`usr/bin/tool${b}_${j - 1}_${k * 5 + 2}`, 0, 'whiteout'));
    entries.push({ ...file('var/lib/dpkg/info', 0, 'opaque'), parent: 'var/lib/dpkg/info', name: '' });
  }
  return entries;
}
function appLayerEntries(i: number, j: number, r: () => number): Entry[] {
  const entries: Entry[] = [file('app', 0, 'directory')];
  for (let k = 0; k < 48; k++) entries.push(k % 2 === 0 ? file(`app/src/m${i}_${j}_${k}.js`, 2000) : file(`app/node_modules/pkg${Math.floor(r() * 2000)}/index.js`, 5000));
  if (i % 97 === 0 && j === 0) entries.push(file('app/.env', 120));
  if (i % 211 === 0 && j === 0) entries.push(file('root/.ssh/id_rsa', 1700));
  return entries;
}

interface App { i: number; digest: string; base: number; layers: string[]; project: string; repository: string; packages: Array<{ name: string; version: string; type: string; source?: string }>; labels: Record<string, string> }
function apps(): App[] {
  const r = prng(7);
  return Array.from({ length: images }, (_, i) => {
    const base = bases[i % bases.length]!;
    const own = Array.from({ length: 1 + (i % 3) }, (_, j) => digest(`app-${i}-layer-${j}`));
    const project = `p${String(i % 100).padStart(3, '0')}`;
    const appPackages = Array.from({ length: 5 + Math.floor(r() * 120) }, () => {
      const n = Math.floor(r() * 2000);
      return { name: `npm-${n}`, version: `${n % 7}.${n % 5}.0`, type: 'npm' };
    });
    const packages = [...base.packages, ...new Map(appPackages.map((p) => [p.name, p])).values()];
    return {
      i,
      digest: digest(`app-${i}`),
      base: base.b,
      layers: [...base.layers, ...own],
      project,
      repository: `${project}/svc${Math.floor(i / 100) % 10}`,
      packages,
      labels: { team: `team${i % 20}`, 'org.opencontainers.image.revision': `rev-${i}`, 'org.opencontainers.image.source': `https://git.example/${project}` },
    };
  });
}

async function fill(database: Db, store: Store, all: App[]): Promise<void> {
  const scans = new KyselyScanStore(database);
  const started = performance.now();
  let now = 1_700_000_000_000;
  const repositories = new Map<string, number>();
  const repoOf = async (name: string) => {
    let id = repositories.get(name);
    if (id === undefined) {
      id = repositories.size + 1;
      repositories.set(name, id);
      await database.db.insertInto('repository').values([{ id, name, created_at: now }]).execute();
    }
    return id;
  };
  const manifest = async (repository: string, digest_: string, layers: string[], tag: string) => {
    const id = await repoOf(repository);
    const at = (now += 1000);
    await database.db.insertInto('blob').values([{ digest: digest_, size: 900, created_at: at, touched_at: at }]).execute().catch(() => undefined);
    await database.db.insertInto('manifest').values([{ repository_id: id, digest: digest_, media_type: 'application/vnd.oci.image.manifest.v1+json', artifact_type: null, subject_digest: null, config_digest: digest(`config-${digest_}`), size: 900, annotations: null, created_at: at, touched_at: at }]).execute();
    await database.db.insertInto('manifest_reference').values(layers.map((l) => ({ repository_id: id, parent_digest: digest_, child_digest: l, kind: 'blob' }))).execute();
    await database.db.insertInto('tag').values([{ repository_id: id, name: tag, manifest_digest: digest_, updated_at: at }]).execute();
  };
  const record = (d: string, layers: string[], packages: App['packages'], labels: Record<string, string>) => ({
    digest: d,
    status: 'indexed',
    configDigest: digest(`config-${d}`),
    platform: 'linux/amd64',
    layers,
    compressedBytes: layers.length * 10_000_000,
    uncompressedBytes: layers.length * 30_000_000,
    packages: packages.map((p) => ({ ...p, purl: `pkg:${p.type}/${p.name}@${p.version}`, foundIn: 'x' })),
    labels,
    annotations: {},
    createdAt: now,
    indexedAt: now,
  });
  const layerRecord = (d: string, entries: number) => ({ digest: d, status: 'indexed', entries, files: entries, fileBytes: entries * 1000, uncompressedBytes: entries * 1500, truncated: false, indexedAt: now });
  for (const base of bases) {
    for (let j = 0; j < base.layers.length; j++) {
      const entries = baseLayerEntries(base.b, j);
      await store.putLayer(layerRecord(base.layers[j]!, entries.length), entries);
    }
    await store.putImage(record(base.digest, base.layers, base.packages, { 'org.opencontainers.image.title': base.family }));
    await manifest(`library/${base.family}`, base.digest, base.layers, `b${base.b}`);
  }
  const r = prng(99);
  // Every random draw is made first, in order, so both engines store the same rows however the writes interleave.
  const plans = all.map((app) => ({
    app,
    layers: Array.from({ length: app.layers.length - bases[app.base]!.layers.length }, (_, j) => appLayerEntries(app.i, j, r)),
    findings: Array.from({ length: Math.floor(r() * 11) }, () => {
      const n = Math.floor(r() * 300);
      return { id: `CVE-2024-${1000 + n}`, advisories: [`DSA-${5000 + n}-1`], aliases: [`GHSA-${n}`], severity: 'HIGH', summary: '', package: { name: app.packages[n % app.packages.length]!.name, version: '1', type: 'deb', purl: '' }, ecosystem: 'Debian:12' };
    }),
  }));
  for (const app of all) await repoOf(app.repository);
  const writeOne = async ({ app, layers, findings }: (typeof plans)[number]) => {
    const own = bases[app.base]!.layers.length;
    for (let j = 0; j < layers.length; j++) await store.putLayer(layerRecord(app.layers[own + j]!, layers[j]!.length), layers[j]!);
    await store.putImage(record(app.digest, app.layers, app.packages, app.labels));
    await manifest(app.repository, app.digest, app.layers, `v${app.i}`);
    await scans.put({ digest: app.digest, status: 'succeeded', dbVersion: 1, scanner: 'berth', packages: app.packages.length, summary: {}, findings, durationMs: 1, scannedAt: now });
  };
  // PostgreSQL takes the writes of four images at once (as several pushes would); SQLite has one writer.
  const parallel = database.engine === 'postgres' ? 4 : 1;
  for (let i = 0; i < plans.length; i += parallel) {
    await Promise.all(plans.slice(i, i + parallel).map(writeOne));
    if (Math.floor((i + parallel) / 1000) > Math.floor(i / 1000)) process.stderr.write(`  ${Math.min(i + parallel, plans.length)} images (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
  }
}

type Kind = 'package' | 'path' | 'fileName' | 'base' | 'label' | 'vulnerability' | 'digest';
const kinds = opts.kinds.split(',') as Kind[];
function queryOf(kind: Kind, r: () => number, all: App[]): Record<string, unknown> {
  const app = all[Math.floor(r() * all.length)]!;
  const base = bases[app.base]!;
  switch (kind) {
    case 'package': {
      const p = r() < 0.5 ? base.packages[Math.floor(r() * base.packages.length)]! : app.packages[base.packages.length + Math.floor(r() * (app.packages.length - base.packages.length))] ?? app.packages[0]!;
      return { package: r() < 0.5 ? { name: p.name } : { name: p.name, version: p.version } };
    }
    case 'path': {
      const j = Math.floor(r() * base.layers.length);
      const pick = r();
      if (pick < 0.3) return { path: 'usr/bin/bash' };
      if (pick < 0.65) return { path: `usr/lib/x86_64-linux-gnu/lib${base.b}_${j}_${5 * Math.floor(r() * 590) + 1}.so.1` };
      return { path: `app/src/m${app.i}_0_${2 * Math.floor(r() * 24)}.js` };
    }
    case 'fileName': {
      const pick = r();
      if (pick < 0.2) return { fileName: 'copyright' };
      if (pick < 0.4) return { fileName: ['.env', 'id_rsa', 'bash', 'os-release'][Math.floor(r() * 4)] };
      if (pick < 0.7) return { fileName: `tool${base.b}_0_${5 * Math.floor(r() * 590) + 2}` };
      return { fileName: `m${app.i}_0_${2 * Math.floor(r() * 24)}.js` };
    }
    case 'base':
      return { baseLayers: r() < 0.5 ? base.layers : base.layers.slice(0, 2) };
    case 'label':
      return { label: r() < 0.5 ? { key: 'team', value: `team${Math.floor(r() * 20)}` } : { key: 'org.opencontainers.image.revision', value: `rev-${app.i}` } };
    case 'vulnerability': {
      const n = Math.floor(r() * 300);
      return { vulnerability: [`CVE-2024-${1000 + n}`, `GHSA-${n}`][Math.floor(r() * 2)] };
    }
    case 'digest':
      return { digest: app.digest.slice(0, 7 + 4 + Math.floor(r() * 8)) };
  }
}

const userScope = { projects: ['library', ...Array.from({ length: 100 }, (_, i) => `p${String(i).padStart(3, '0')}`).filter((_, i) => i % 2 === 1), 'p000', 'p002', 'p004'] };

const all = apps();
const results: Array<{ engine: string; kind: Kind; queries: number; p50: number; p99: number; max: number; hitsPerQuery: number }> = [];
const engines = opts.reuse ? [opts.reuse.startsWith('postgres') ? 'postgres' : 'sqlite'] : opts.engines.split(',');
for (const engine of engines) {
  const dir = await mkdtemp(join(tmpdir(), 'bench-search-'));
  const pgDb = engine === 'postgres' && !opts.reuse ? await createDatabase(opts.postgres) : undefined;
  const database = connect({ url: opts.reuse ?? pgDb?.url ?? `sqlite:${join(dir, 'search.db')}` });
  try {
    await migrate(database);
    const store = new KyselyImageIndexStore(database);
    if (!opts.reuse) {
      process.stderr.write(`${engine}: filling ${images} images\n`);
      const t0 = performance.now();
      await fill(database, store, all);
      process.stderr.write(`${engine}: filled in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
      // What autovacuum does after a bulk load (SQLite keeps no statistics unless asked, and Berth does not ask).
      if (engine === 'postgres') await sql`ANALYZE`.execute(database.db as never);
    }
    const r = prng(2024);
    for (const kind of kinds) {
      // Warm-up: the first queries of a kind prepare statements and fault pages in.
      for (let w = 0; w < 5; w++) await store.search(queryOf(kind, r, all), 'all', { limit: 50 });
      const times: number[] = [];
      let hits = 0;
      const deadline = performance.now() + seconds * 1000;
      for (let q = 0; q < perKind && performance.now() < deadline; q++) {
        const query = queryOf(kind, r, all);
        const start = performance.now();
        const page = await store.search(query, q % 2 === 0 ? 'all' : userScope, { limit: 50 });
        times.push(performance.now() - start);
        if (times[times.length - 1]! > 100) process.stderr.write(`  slow: ${JSON.stringify(query)} ${(times[times.length - 1]!).toFixed(0)} ms\n`);
        hits += page.hits.length;
      }
      times.sort((a, b) => a - b);
      const row = { engine, kind, queries: times.length, p50: percentile(times, 50), p99: percentile(times, 99), max: times[times.length - 1]!, hitsPerQuery: hits / times.length };
      results.push(row);
      process.stderr.write(`${engine} ${kind}: p50 ${row.p50.toFixed(1)} ms, p99 ${row.p99.toFixed(1)} ms, max ${row.max.toFixed(1)} ms (${row.queries} queries, ${row.hitsPerQuery.toFixed(1)} hits each)\n`);
    }
  } finally {
    await database.db.destroy();
    if (opts.reuse) await rm(dir, { recursive: true, force: true });
    else if (opts.keep) process.stderr.write(`${engine}: kept ${pgDb?.url ?? join(dir, 'search.db')}\n`);
    else {
      await pgDb?.drop();
      await rm(dir, { recursive: true, force: true });
    }
  }
}

console.log(`\nSearch over ${images} indexed images (+${bases.length} bases), first page of 50, half as admin and half with a ${userScope.projects.length}-project scope\n`);
console.log('| engine | kind | queries | p50 ms | p99 ms | max ms | hits/query |');
console.log('|---|---|---:|---:|---:|---:|---:|');
for (const r of results) console.log(`| ${r.engine} | ${r.kind} | ${r.queries} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} | ${r.hitsPerQuery.toFixed(1)} |`);
