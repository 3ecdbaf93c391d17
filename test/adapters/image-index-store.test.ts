import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { connect, migrate, type Database } from '../../src/adapters/db/connect.js';
import { KyselyImageIndexStore } from '../../src/adapters/db/kysely-image-index-store.js';
import { KyselyMetadataStore } from '../../src/adapters/db/kysely-metadata-store.js';
import { KyselyScanStore } from '../../src/adapters/db/kysely-scan-store.js';
import type { Digest } from '../../src/domain/digest.js';
import { chainIds } from '../../src/domain/layer-chain.js';
import { MediaType } from '../../src/domain/media-types.js';
import type { Package } from '../../src/domain/packages/package.js';
import type { Finding } from '../../src/domain/vulns/match.js';
import type { ImageIndexRecord, ImageSearchHit, ImageSearchQuery, IndexedEntry, LayerIndexRecord, SearchScope } from '../../src/ports/image-index-store.js';
import { isBerthError } from '../../src/domain/errors.js';
import { engineMatrix } from '../helpers/berth.js';
import { createTempDatabase, type TempDatabase } from '../helpers/pg.js';

const engines = await engineMatrix();

const d = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}` as Digest;

function entry(path: string, type: IndexedEntry['type'] = 'file', size = 0, linkTarget?: string): IndexedEntry {
  const slash = path.lastIndexOf('/');
  const e: IndexedEntry = { parent: slash === -1 ? '' : path.slice(0, slash), name: path.slice(slash + 1), type, size, mode: type === 'directory' ? 0o755 : 0o644, uid: 0, gid: 0 };
  if (linkTarget !== undefined) e.linkTarget = linkTarget;
  return e;
}
const file = (path: string, size = 1) => entry(path, 'file', size);
const dir = (path: string) => entry(path, 'directory');
const whiteout = (path: string) => entry(path, 'whiteout');
/** The opaque marker of `directory`: parent = the directory, name ''. */
const opaque = (directory: string): IndexedEntry => ({ parent: directory, name: '', type: 'opaque', size: 0, mode: 0, uid: 0, gid: 0 });

function layerRecord(digest: string, entries: number, over: Partial<LayerIndexRecord> = {}): LayerIndexRecord {
  return { digest, status: 'indexed', entries, files: entries, fileBytes: entries * 10, uncompressedBytes: entries * 512, truncated: false, indexedAt: 1_000, ...over };
}

function pkg(name: string, version: string, over: Partial<Package> = {}): Package {
  return { name, version, type: 'deb', purl: `pkg:deb/debian/${name}@${version}`, foundIn: 'var/lib/dpkg/status', ...over };
}

function imageRecord(digest: string, layers: string[], over: Partial<ImageIndexRecord> = {}): ImageIndexRecord {
  return {
    digest,
    status: 'indexed',
    configDigest: d(`config-${digest}`),
    platform: 'linux/amd64',
    layers,
    compressedBytes: 100 * layers.length,
    uncompressedBytes: 300 * layers.length,
    packages: [],
    labels: {},
    annotations: {},
    createdAt: 1_700_000_000_000,
    indexedAt: 2_000,
    format: 1,
    ...over,
  };
}

function finding(id: string, pkgName: string, over: Partial<Finding> = {}): Finding {
  return {
    id,
    advisories: [],
    aliases: [],
    severity: 'HIGH',
    summary: id,
    package: { name: pkgName, version: '1', type: 'deb', purl: `pkg:deb/debian/${pkgName}@1` },
    ecosystem: 'Debian:12',
    ...over,
  };
}

describe.each(engines)('image index store on $engine', ({ engine, skip }) => {
  let dir_: string;
  let temp: TempDatabase | undefined;
  let database: Database;
  let store: KyselyImageIndexStore;
  let meta: KyselyMetadataStore;
  let scans: KyselyScanStore;
  let clock = 1_000_000;

  /** Pushes an image manifest (its layers and config linked first) through the real metadata store. */
  async function pushImage(repository: string, digest: string, layers: string[], options: { tag?: string; artifactType?: string; at?: number } = {}): Promise<void> {
    const repo = await meta.ensureRepository(repository);
    const config = d(`config-${digest}`);
    for (const blob of [...layers, config]) await meta.linkBlob(repo.id, { digest: blob as Digest, size: 10 });
    await meta.putManifest(
      {
        repositoryId: repo.id,
        digest: digest as Digest,
        mediaType: MediaType.ociManifest,
        artifactType: options.artifactType ?? null,
        subjectDigest: null,
        configDigest: config,
        size: 500,
        annotations: null,
        references: [...new Set([...layers, config])].map((l) => ({ digest: l as Digest, kind: 'blob' as const })),
      },
      options.tag,
      options.at ?? ++clock,
    );
  }

  async function pushIndex(repository: string, digest: string, children: string[], tag?: string): Promise<void> {
    const repo = await meta.ensureRepository(repository);
    await meta.putManifest(
      {
        repositoryId: repo.id,
        digest: digest as Digest,
        mediaType: MediaType.ociIndex,
        artifactType: null,
        subjectDigest: null,
        configDigest: null,
        size: 300,
        annotations: null,
        references: children.map((c) => ({ digest: c as Digest, kind: 'manifest' as const })),
      },
      tag,
      ++clock,
    );
  }

  async function all(query: ImageSearchQuery, scope: SearchScope = 'all', from: KyselyImageIndexStore = store): Promise<ImageSearchHit[]> {
    const hits: ImageSearchHit[] = [];
    let after: string | undefined;
    for (let i = 0; i < 100; i++) {
      const page = await from.search(query, scope, { limit: 50, after });
      hits.push(...page.hits);
      if (!page.next) return hits;
      after = page.next;
    }
    throw new Error('more than 100 pages');
  }
  const names = (hits: ImageSearchHit[]) => hits.map((h) => `${h.repository}@${h.digest}`).sort();

  beforeAll(async () => {
    if (skip) return;
    dir_ = await mkdtemp(join(tmpdir(), 'berth-imgidx-'));
    if (engine === 'postgres') temp = await createTempDatabase();
    database = connect({ url: temp?.url ?? `sqlite:${join(dir_, 'meta.db')}` });
    await migrate(database);
    store = new KyselyImageIndexStore(database);
    meta = new KyselyMetadataStore(database);
    scans = new KyselyScanStore(database);
  });
  afterAll(async () => {
    await database?.db.destroy();
    await temp?.drop();
    if (dir_) await rm(dir_, { recursive: true, force: true });
  });

  it.skipIf(Boolean(skip))('stores layer records and entries, and knows which layers it has', async () => {
    const l = d('rt-layer');
    const failed = d('rt-failed');
    expect(await store.getLayer(l)).toBeUndefined();
    await store.putLayer(layerRecord(l, 3, { truncated: true }), [dir('etc'), file('etc/hosts', 12), entry('bin/sh', 'symlink', 0, '/bin/dash')]);
    await store.putLayer(layerRecord(failed, 0, { status: 'failed', error: 'path traversal in ../x' }), []);
    expect(await store.getLayer(l)).toEqual({ digest: l, status: 'indexed', entries: 3, files: 3, fileBytes: 30, uncompressedBytes: 1536, truncated: true, indexedAt: 1_000 });
    expect(await store.getLayer(failed)).toEqual({ digest: failed, status: 'failed', entries: 0, files: 0, fileBytes: 0, uncompressedBytes: 0, truncated: false, error: 'path traversal in ../x', indexedAt: 1_000 });
    const both = await store.getLayers([l, d('rt-none'), failed, l]);
    expect([...both.keys()].sort()).toEqual([l, failed].sort());
    expect(both.get(l)).toEqual(await store.getLayer(l));
    expect(both.get(failed)).toEqual(await store.getLayer(failed));
    expect(await store.getLayers([])).toEqual(new Map());
    expect(await store.listDirectory([l], '', { layer: 0, limit: 10 })).toEqual({ path: '', entries: [dir('etc')], truncated: false });
    expect((await store.listDirectory([l], 'bin', { layer: 0, limit: 10 })).entries).toEqual([entry('bin/sh', 'symlink', 0, '/bin/dash')]);
    expect((await store.listDirectory([l], '/etc/', { layer: 0, limit: 10 })).entries).toEqual([file('etc/hosts', 12)]);
  });

  it.skipIf(Boolean(skip))('keeps the later of a path listed twice, across write batches, and replaces a layer whole', async () => {
    const l = d('dup-layer');
    const many = Array.from({ length: 4500 }, (_, i) => file(`data/f${String(i).padStart(5, '0')}`, i));
    // data/f00001 again after two batches, and etc/x twice in one batch.
    await store.putLayer(layerRecord(l, 4503), [file('etc/x', 1), file('etc/x', 2), ...many, file('data/f00001', 999_999)]);
    const data = await store.listDirectory([l], 'data', { layer: 0, limit: 5000 });
    expect(data.entries).toHaveLength(4500);
    expect(data.entries[1]).toEqual(file('data/f00001', 999_999));
    expect(data.entries[4499]).toEqual(file('data/f04499', 4499));
    expect((await store.listDirectory([l], 'etc', { layer: 0, limit: 10 })).entries).toEqual([file('etc/x', 2)]);
    await store.putLayer(layerRecord(l, 1), [file('only/one', 5)]);
    expect((await store.listDirectory([l], 'data', { layer: 0, limit: 10 })).entries).toEqual([]);
    expect((await store.listDirectory([l], 'only', { layer: 0, limit: 10 })).entries).toEqual([file('only/one', 5)]);
    expect((await store.getLayer(l))?.entries).toBe(1);
  });

  it.skipIf(Boolean(skip))('stores image records with packages, labels, lint and layers, replacing earlier ones', async () => {
    const img = d('rt-image');
    const layers = [d('rt-l0'), d('rt-l1')];
    const record = imageRecord(img, layers, {
      os: { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
      packages: [pkg('openssl', '3.0.15-1', { source: 'openssl', sourceVersion: '3.0.15-1' }), pkg('requests', '2.31.0', { type: 'pypi', purl: 'pkg:pypi/requests@2.31.0' })],
      labels: { maintainer: 'team' },
      annotations: { 'org.opencontainers.image.source': 'https://example.test/repo' },
      createdAt: null,
    });
    expect(await store.getImage(img)).toBeUndefined();
    await store.putImage(record);
    expect(await store.getImage(img)).toEqual(record);
    const lint = { findings: [], omitted: { 'root-user': 2 }, summary: { info: 0, warning: 2, error: 0 } } as never;
    await store.putImage({ ...record, lint });
    expect(await store.getImage(img)).toEqual({ ...record, lint });
    // Fewer layers, another first layer, no packages or labels: nothing of the earlier record stays.
    const other = d('rt-l2');
    const replaced = imageRecord(img, [other], { status: 'failed', error: 'decompression bomb' });
    await store.putImage(replaced);
    expect(await store.getImage(img)).toEqual(replaced);
    const rows = await database.db.selectFrom('image_package').select('name').where('image_digest', '=', img).execute();
    expect(rows).toEqual([]);
    expect(await database.db.selectFrom('image_label').select('key').where('image_digest', '=', img).execute()).toEqual([]);
    const chain = await database.db.selectFrom('image_layer').select(['position', 'layer_digest', 'chain_id']).where('image_digest', '=', img).execute();
    expect(chain).toEqual([{ position: 0, layer_digest: other, chain_id: other }]);
    // And back: the record's rows as they were.
    await store.putImage(record);
    expect(await store.getImage(img)).toEqual(record);
    expect((await database.db.selectFrom('image_label').select(['origin', 'key', 'value']).where('image_digest', '=', img).orderBy('origin').execute())).toEqual([
      { origin: 'annotation', key: 'org.opencontainers.image.source', value: 'https://example.test/repo' },
      { origin: 'label', key: 'maintainer', value: 'team' },
    ]);
    expect((await database.db.selectFrom('image_package').select('name').where('image_digest', '=', img).orderBy('name').execute()).map((r) => r.name)).toEqual(['openssl', 'requests']);
  });

  it.skipIf(Boolean(skip))('keeps one copy of each row when the same record is put by several writers at once', async () => {
    const img = d('cc-image');
    const record = imageRecord(img, [d('cc-l0'), d('cc-l1')], {
      packages: [pkg('openssl', '3.0.15-1'), pkg('bash', '5.2'), pkg('zlib1g', '1.2.13')],
      labels: { maintainer: 'team', version: '1' },
    });
    // Two jobs indexing one image pushed to two repositories, a file-tree request indexing it at once.
    for (let round = 0; round < 5; round++) await Promise.all(Array.from({ length: 8 }, () => store.putImage(record)));
    expect(await store.getImage(img)).toEqual(record);
    const packages = await database.db.selectFrom('image_package').select('name').where('image_digest', '=', img).orderBy('name').execute();
    expect(packages.map((r) => r.name)).toEqual(['bash', 'openssl', 'zlib1g']);
    const labels = await database.db.selectFrom('image_label').select('key').where('image_digest', '=', img).orderBy('key').execute();
    expect(labels.map((r) => r.key)).toEqual(['maintainer', 'version']);
  });

  describe('merged filesystem', () => {
    // Layer 0: the base. Layer 1 deletes and replaces things. Layer 2 brings one path back.
    const L0 = d('merge-0');
    const L1 = d('merge-1');
    const L2 = d('merge-2');
    const layers = [L0, L1, L2];
    const base = d('merge-base-image');
    const image = d('merge-image');
    beforeAll(async () => {
      if (skip) return;
      await store.putLayer(layerRecord(L0, 0), [
        dir('bin'),
        file('bin/sh', 100),
        dir('etc'),
        file('etc/passwd', 10),
        file('etc/secret.key', 20),
        dir('usr/lib'),
        file('usr/lib/a.so', 30),
        file('usr/lib/b.so', 31),
        file('usr/lib/deep/c.so', 32),
        file('var/cache/apt/pkg.bin', 40),
        dir('opt/app'),
        file('opt/app/run.sh', 50),
        file('home/x/id_rsa', 60),
      ]);
      await store.putLayer(layerRecord(L1, 0), [
        file('bin/sh', 200), // replaced
        whiteout('etc/secret.key'), // whiteout of the path
        opaque('usr/lib'), // opaque directory
        file('usr/lib/new.so', 33),
        whiteout('var/cache'), // whiteout of an ancestor
        file('opt/app', 7), // an ancestor replaced by a file
        file('home/x/id_rsa', 61), // replaced, still present
      ]);
      await store.putLayer(layerRecord(L2, 0), [dir('var/cache/apt'), file('var/cache/apt/pkg.bin', 41)]);
      await store.putImage(imageRecord(base, [L0]));
      await store.putImage(imageRecord(image, layers));
      await pushImage('merge/base', base, [L0], { tag: 'v1' });
      await pushImage('merge/app', image, layers, { tag: 'v1' });
    });

    it.skipIf(Boolean(skip))('lists a directory merged: replaced entries from the higher layer, whiteouts, opaque directories and replaced ancestors applied', async () => {
      const list = async (path: string) => (await store.listDirectory(layers, path, { limit: 100 })).entries.map((e) => `${e.name}:${e.type}:${e.size}@${e.layer}`);
      // Directories a layer implies without listing them (usr, var, opt, home) are not made up.
      expect(await list('')).toEqual(['bin:directory:0@0', 'etc:directory:0@0']);
      expect(await list('bin')).toEqual(['sh:file:200@1']);
      expect(await list('etc')).toEqual(['passwd:file:10@0']);
      expect(await list('usr/lib')).toEqual(['new.so:file:33@1']);
      expect(await list('usr/lib/deep')).toEqual([]);
      expect(await list('var')).toEqual([]);
      expect(await list('var/cache')).toEqual(['apt:directory:0@2']);
      expect(await list('var/cache/apt')).toEqual(['pkg.bin:file:41@2']);
      expect(await list('opt')).toEqual(['app:file:7@1']);
      expect(await list('opt/app')).toEqual([]);
      expect(await list('home/x')).toEqual(['id_rsa:file:61@1']);
      // Only the base: everything of layer 0.
      expect((await store.listDirectory([L0], 'usr/lib', { limit: 100 })).entries.map((e) => e.name)).toEqual(['a.so', 'b.so']);
    });

    it.skipIf(Boolean(skip))('lists one layer as it is, whiteouts and opaque marker included', async () => {
      const one = await store.listDirectory(layers, 'usr/lib', { layer: 1, limit: 100 });
      expect(one.entries.map((e) => `${e.name}:${e.type}`)).toEqual([':opaque', 'new.so:file']);
      expect((await store.listDirectory(layers, 'etc', { layer: 1, limit: 100 })).entries.map((e) => `${e.name}:${e.type}`)).toEqual(['secret.key:whiteout']);
      expect(await store.listDirectory(layers, 'etc', { layer: 7, limit: 100 })).toEqual({ path: 'etc', entries: [], truncated: false });
    });

    it.skipIf(Boolean(skip))('finds files of the merged filesystem by name', async () => {
      expect(await store.findFiles(layers, '.so', 100)).toEqual([{ path: 'usr/lib/new.so', layer: 1, type: 'file', size: 33 }]);
      expect(await store.findFiles([L0], '.SO', 100)).toEqual([
        { path: 'usr/lib/a.so', layer: 0, type: 'file', size: 30 },
        { path: 'usr/lib/b.so', layer: 0, type: 'file', size: 31 },
        { path: 'usr/lib/deep/c.so', layer: 0, type: 'file', size: 32 },
      ]);
      expect(await store.findFiles(layers, 'secret', 100)).toEqual([]);
      expect(await store.findFiles(layers, 'pkg', 100)).toEqual([{ path: 'var/cache/apt/pkg.bin', layer: 2, type: 'file', size: 41 }]);
      expect(await store.findFiles(layers, 'run.sh', 100)).toEqual([]);
      expect(await store.findFiles(layers, 'id_rsa', 100)).toEqual([{ path: 'home/x/id_rsa', layer: 1, type: 'file', size: 61 }]);
      expect(await store.findFiles(layers, 'a', 2)).toEqual([
        { path: 'etc/passwd', layer: 0, type: 'file', size: 10 },
        { path: 'home/x/id_rsa', layer: 1, type: 'file', size: 61 },
      ]);
      expect((await store.findFiles(layers, 'a', 100)).map((f) => f.path)).toEqual(['etc/passwd', 'home/x/id_rsa', 'opt/app', 'var/cache/apt']);
      // LIKE wildcards are taken literally.
      expect(await store.findFiles(layers, '%', 100)).toEqual([]);
    });

    it.skipIf(Boolean(skip))('searches by path and file name in the merged filesystem only', async () => {
      const at = async (query: ImageSearchQuery) => (await all(query)).filter((h) => h.repository.startsWith('merge/')).map((h) => h.repository);
      expect(await at({ path: 'etc/secret.key' })).toEqual(['merge/base']);
      expect(await at({ path: '/usr/lib/a.so' })).toEqual(['merge/base']);
      expect(await at({ path: 'usr/lib/deep/c.so' })).toEqual(['merge/base']);
      expect(await at({ path: 'usr/lib/new.so' })).toEqual(['merge/app']);
      expect(await at({ path: 'opt/app/run.sh' })).toEqual(['merge/base']);
      expect(await at({ path: 'var/cache/apt/pkg.bin' })).toEqual(['merge/app', 'merge/base']);
      expect(await at({ path: 'bin/sh' })).toEqual(['merge/app', 'merge/base']);
      expect(await at({ path: 'etc/nothing' })).toEqual([]);
      expect(await at({ fileName: 'secret.key' })).toEqual(['merge/base']);
      expect(await at({ fileName: 'c.so' })).toEqual(['merge/base']);
      expect(await at({ fileName: 'id_rsa' })).toEqual(['merge/app', 'merge/base']);
      const [app] = (await all({ fileName: 'id_rsa' })).filter((h) => h.repository === 'merge/app');
      expect(app?.matched.files).toEqual([{ path: 'home/x/id_rsa', layer: 1, size: 61 }]);
      const [pkgApp] = (await all({ path: 'var/cache/apt/pkg.bin' })).filter((h) => h.repository === 'merge/app');
      expect(pkgApp?.matched.files).toEqual([{ path: 'var/cache/apt/pkg.bin', layer: 2, size: 41 }]);
      expect(pkgApp?.tags).toEqual(['v1']);

      // A path most images have is asked manifest by manifest in push order: the same answers.
      const walking = new KyselyImageIndexStore(database, { commonPathImages: 1 });
      const walked = async (query: ImageSearchQuery) => (await all(query, 'all', walking)).filter((h) => h.repository.startsWith('merge/')).map((h) => h.repository);
      for (const path of ['etc/secret.key', '/usr/lib/a.so', 'usr/lib/deep/c.so', 'usr/lib/new.so', 'opt/app/run.sh', 'var/cache/apt/pkg.bin', 'bin/sh', 'etc/nothing']) {
        expect(await walked({ path }), path).toEqual(await at({ path }));
      }
      const [walkedApp] = (await all({ path: 'var/cache/apt/pkg.bin' }, 'all', walking)).filter((h) => h.repository === 'merge/app');
      expect(walkedApp).toEqual(pkgApp);
      // A walk that looks at one candidate per call lists the path's images for the rest: still the same answers.
      const listing = new KyselyImageIndexStore(database, { commonPathImages: 1, examinedPerCall: 1 });
      for (const path of ['/usr/lib/a.so', 'var/cache/apt/pkg.bin', 'bin/sh']) {
        expect(await all({ path }, 'all', listing), path).toEqual(await all({ path }));
      }
    });
  });

  it.skipIf(Boolean(skip))('finds a file name whose only surviving copy comes after many hidden ones', async () => {
    const M0 = d('many-0');
    const M1 = d('many-1');
    const M2 = d('many-2');
    const dirs = Array.from({ length: 150 }, (_, i) => `many/d${String(i).padStart(3, '0')}`);
    await store.putLayer(layerRecord(M0, 150), dirs.map((x) => file(`${x}/target`, 5)));
    // Layer 1 deletes all but the last; layer 2 deletes that one too.
    await store.putLayer(layerRecord(M1, 149), dirs.slice(0, 149).map((x) => whiteout(`${x}/target`)));
    await store.putLayer(layerRecord(M2, 1), [whiteout(`${dirs[149]!}/target`)]);
    const [one, base, none] = [d('many-one'), d('many-base'), d('many-none')];
    await store.putImage(imageRecord(one, [M0, M1]));
    await store.putImage(imageRecord(base, [M0]));
    await store.putImage(imageRecord(none, [M0, M1, M2]));
    await pushImage('many/one', one, [M0, M1]);
    await pushImage('many/base', base, [M0]);
    await pushImage('many/none', none, [M0, M1, M2]);
    const hits = await all({ fileName: 'target' });
    expect(hits.map((h) => h.repository)).toEqual(['many/base', 'many/one']);
    expect(hits[1]!.matched.files).toEqual([{ path: 'many/d149/target', layer: 0, size: 5 }]);
    expect(hits[0]!.matched.files).toEqual(dirs.slice(0, 10).map((x) => ({ path: `${x}/target`, layer: 0, size: 5 })));
    // The same answers when the copies are too many to read at once and images are checked one by one.
    const oneByOne = new KyselyImageIndexStore(database, { batchCandidates: 10 });
    const slow = (await oneByOne.search({ fileName: 'target' }, 'all', { limit: 50 })).hits;
    expect(slow.map((h) => ({ repository: h.repository, files: h.matched.files }))).toEqual(hits.map((h) => ({ repository: h.repository, files: h.matched.files })));
    expect(await all({ path: 'many/d149/target' })).toHaveLength(2);
    expect(await all({ path: 'many/d000/target' })).toHaveLength(1);
    expect(await all({ fileName: 'many/d000/target' })).toEqual([]);
  });

  describe('search', () => {
    // Two base images (debian: 2 layers, alpine: 1) and apps on them, in projects public and secret.
    const deb = [d('s-deb-0'), d('s-deb-1')];
    const alp = [d('s-alp-0')];
    const debImage = d('s-debian');
    const alpImage = d('s-alpine');
    const apps = Array.from({ length: 6 }, (_, i) => d(`s-app-${i}`));
    const appLayer = (i: number) => d(`s-app-layer-${i}`);
    const appLayers = (i: number) => (i % 2 === 0 ? [...deb, appLayer(i)] : [...alp, appLayer(i)]);
    const platformIndex = d('s-index');
    beforeAll(async () => {
      if (skip) return;
      await store.putLayer(layerRecord(deb[0]!, 0), [dir('usr/bin'), file('usr/bin/bash', 1000), file('etc/debian_version', 5)]);
      await store.putLayer(layerRecord(deb[1]!, 0), [file('usr/bin/perl', 2000)]);
      await store.putLayer(layerRecord(alp[0]!, 0), [file('bin/busybox', 800), file('etc/alpine-release', 6)]);
      await store.putImage(imageRecord(debImage, deb, { packages: [pkg('libc6', '2.36-9', { source: 'glibc', sourceVersion: '2.36-9+deb12u1' }), pkg('bash', '5.2')], labels: { 'org.opencontainers.image.title': 'debian' } }));
      await store.putImage(imageRecord(alpImage, alp, { packages: [pkg('musl', '1.2.4', { type: 'apk', purl: 'pkg:apk/alpine/musl@1.2.4' })] }));
      await pushImage('library/debian', debImage, deb, { tag: '12' });
      await pushImage('library/alpine', alpImage, alp, { tag: '3.19' });
      for (let i = 0; i < apps.length; i++) {
        await store.putLayer(layerRecord(appLayer(i), 0), [dir('app'), file(`app/main-${i}.js`, 10 + i), ...(i === 3 ? [file('app/.env', 1)] : [])]);
        const base = i % 2 === 0 ? [pkg('libc6', '2.36-9', { source: 'glibc', sourceVersion: '2.36-9+deb12u1' })] : [pkg('musl', '1.2.4', { type: 'apk', purl: 'pkg:apk/alpine/musl@1.2.4' })];
        await store.putImage(
          imageRecord(apps[i]!, appLayers(i), {
            packages: [...base, pkg('express', i < 3 ? '4.18.2' : '4.19.0', { type: 'npm', purl: `pkg:npm/express@${i < 3 ? '4.18.2' : '4.19.0'}` })],
            labels: { team: i < 3 ? 'blue' : 'red' },
            annotations: { 'org.opencontainers.image.revision': `rev${i}` },
          }),
        );
        // Even apps in public/, odd ones in secret/ (a private project the scope leaves out).
        await pushImage(`${i % 2 === 0 ? 'public' : 'secret'}/app${i}`, apps[i]!, appLayers(i), { tag: 'v1' });
      }
      // App 0 also sits in a secret repository, and as a platform of an index in public/multi.
      await pushImage('secret/copy', apps[0]!, appLayers(0), { tag: 'copied' });
      await pushImage('public/multi', apps[0]!, appLayers(0));
      await pushIndex('public/multi', platformIndex, [apps[0]!], 'latest');
      await scans.put({
        digest: apps[0]!,
        status: 'succeeded',
        dbVersion: 1,
        scanner: 'berth',
        packages: 3,
        summary: { CRITICAL: 1 },
        findings: [finding('CVE-2024-1111', 'glibc', { advisories: ['DSA-5555-1'], aliases: ['GHSA-xxxx-yyyy-zzzz'], severity: 'CRITICAL' })],
        durationMs: 5,
        scannedAt: 1,
      });
    });
    const scoped: SearchScope = { projects: ['public', 'library'] };

    it.skipIf(Boolean(skip))('finds images by package name, source package, version and type', async () => {
      expect(names(await all({ package: { name: 'express' } }))).toEqual(
        names(await all({ package: { name: 'express', type: 'npm' } })),
      );
      expect((await all({ package: { name: 'express' } })).length).toBe(8);
      expect(names(await all({ package: { name: 'express', version: '4.19.0' } }))).toEqual([`public/app4@${apps[4]}`, `secret/app3@${apps[3]}`, `secret/app5@${apps[5]}`].sort());
      expect(await all({ package: { name: 'express', type: 'deb' } })).toEqual([]);
      // By source package and the source version; the binary's version does not match the source name.
      expect(names(await all({ package: { name: 'glibc', version: '2.36-9+deb12u1' } }))).toEqual(
        [`library/debian@${debImage}`, `public/app0@${apps[0]}`, `public/multi@${apps[0]}`, `secret/copy@${apps[0]}`, `public/app2@${apps[2]}`, `public/app4@${apps[4]}`].sort(),
      );
      expect(await all({ package: { name: 'glibc', version: '2.36-9' } })).toEqual([]);
      const [hit] = await all({ package: { name: 'libc6', version: '2.36-9' } }, { projects: ['library'] });
      expect(hit?.matched.packages).toEqual([{ name: 'libc6', version: '2.36-9', type: 'deb' }]);
    });

    it.skipIf(Boolean(skip))('never returns a repository of a project outside the scope', async () => {
      for (const query of [{ package: { name: 'express' } }, { path: 'app/.env' }, { fileName: '.env' }, { label: { key: 'team' } }, { baseLayers: alp }, { vulnerability: 'CVE-2024-1111' }, { digest: apps[3]!.slice(0, 12) }, { mediaType: MediaType.ociManifest }] satisfies ImageSearchQuery[]) {
        const hits = await all(query, scoped);
        expect(hits.filter((h) => !h.repository.startsWith('public/') && !h.repository.startsWith('library/'))).toEqual([]);
      }
      expect(await all({ path: 'app/.env' }, scoped)).toEqual([]);
      expect(names(await all({ path: 'app/.env' }))).toEqual([`secret/app3@${apps[3]}`]);
      expect(await all({ package: { name: 'express' } }, { projects: [] })).toEqual([]);
      // A project named like the start of another is not that project.
      expect(await all({ package: { name: 'express' } }, { projects: ['pub', 'secre'] })).toEqual([]);
      expect(names(await all({ vulnerability: 'CVE-2024-1111' }, scoped))).toEqual([`public/app0@${apps[0]}`, `public/multi@${apps[0]}`]);
    });

    it.skipIf(Boolean(skip))('finds images by vulnerability id, advisory or alias of the latest scan report', async () => {
      for (const id of ['CVE-2024-1111', 'DSA-5555-1', 'GHSA-xxxx-yyyy-zzzz']) {
        const hits = await all({ vulnerability: id });
        expect(names(hits)).toEqual([`public/app0@${apps[0]}`, `public/multi@${apps[0]}`, `secret/copy@${apps[0]}`].sort());
        expect(hits[0]?.matched.vulnerabilities).toEqual([{ id: 'CVE-2024-1111', severity: 'CRITICAL', package: 'glibc' }]);
      }
      expect(await all({ vulnerability: 'CVE-2024-9999' })).toEqual([]);
    });

    it.skipIf(Boolean(skip))('finds images built on a base by its layers, not the base itself', async () => {
      expect(names(await all({ baseLayers: deb }))).toEqual(
        [`public/app0@${apps[0]}`, `public/multi@${apps[0]}`, `secret/copy@${apps[0]}`, `public/app2@${apps[2]}`, `public/app4@${apps[4]}`].sort(),
      );
      expect(names(await all({ baseLayers: [deb[0]!] }))).toEqual(
        [`library/debian@${debImage}`, `public/app0@${apps[0]}`, `public/multi@${apps[0]}`, `secret/copy@${apps[0]}`, `public/app2@${apps[2]}`, `public/app4@${apps[4]}`].sort(),
      );
      // The right layers in the wrong order are another base.
      expect(await all({ baseLayers: [deb[1]!, deb[0]!] })).toEqual([]);
      expect(names(await all({ baseLayers: alp }, scoped))).toEqual([]);
      expect(names(await all({ baseLayers: alp }))).toEqual([`secret/app1@${apps[1]}`, `secret/app3@${apps[3]}`, `secret/app5@${apps[5]}`].sort());
    });

    it.skipIf(Boolean(skip))('finds images by label or annotation, by digest prefix and by media type', async () => {
      expect((await all({ label: { key: 'team', value: 'red' } })).map((h) => h.repository).sort()).toEqual(['public/app4', 'secret/app3', 'secret/app5']);
      const [rev] = await all({ label: { key: 'org.opencontainers.image.revision', value: 'rev2' } });
      expect(rev).toMatchObject({ repository: 'public/app2', matched: { labels: { 'org.opencontainers.image.revision': 'rev2' } } });
      expect((await all({ label: { key: 'team' } })).length).toBe(8);
      expect(await all({ label: { key: 'team', value: 'green' } })).toEqual([]);
      expect(names(await all({ digest: apps[2]! }))).toEqual([`public/app2@${apps[2]}`]);
      expect(names(await all({ digest: apps[2]!.slice(0, 11).toUpperCase() }))).toEqual([`public/app2@${apps[2]}`]);
      // The index (not indexed itself) is found by its digest too.
      expect(names(await all({ digest: platformIndex.slice(0, 14) }))).toEqual([`public/multi@${platformIndex}`]);
      const all7f = await all({ digest: 'sha256:ffff' });
      expect(all7f.every((h) => h.digest.startsWith('sha256:ffff'))).toBe(true);
      expect((await all({ mediaType: MediaType.ociIndex })).map((h) => h.repository)).toEqual(['public/multi']);
    });

    it.skipIf(Boolean(skip))('combines criteria with AND', async () => {
      expect(names(await all({ package: { name: 'express', version: '4.19.0' }, baseLayers: deb, label: { key: 'team', value: 'red' } }))).toEqual([`public/app4@${apps[4]}`]);
      expect(await all({ package: { name: 'musl' }, baseLayers: deb })).toEqual([]);
      expect(names(await all({ path: 'usr/bin/bash', fileName: 'main-2.js' }))).toEqual([`public/app2@${apps[2]}`]);
      const [hit] = await all({ path: 'usr/bin/bash', fileName: 'main-2.js' });
      expect(hit?.matched.files).toEqual([
        { path: 'app/main-2.js', layer: 2, size: 12 },
        { path: 'usr/bin/bash', layer: 0, size: 1000 },
      ]);
    });

    it.skipIf(Boolean(skip))('fills tags and the indexes listing a platform manifest', async () => {
      const hits = await all({ digest: apps[0]! });
      expect(hits.map((h) => ({ repository: h.repository, tags: h.tags, indexes: h.indexes }))).toEqual([
        { repository: 'public/multi', tags: [], indexes: [{ digest: platformIndex, tags: ['latest'] }] },
        { repository: 'secret/copy', tags: ['copied'], indexes: [] },
        { repository: 'public/app0', tags: ['v1'], indexes: [] },
      ]);
      expect(hits[0]).toMatchObject({ mediaType: MediaType.ociManifest, artifactType: null });
      expect(hits[0]!.pushedAt).toBeGreaterThan(hits[2]!.pushedAt);
    });

    it.skipIf(Boolean(skip))('pages through results newest push first without duplicates or gaps, and refuses a forged cursor', async () => {
      const whole = (await store.search({ label: { key: 'team' } }, 'all', { limit: 100 })).hits;
      expect(whole).toHaveLength(8);
      for (const limit of [1, 3, 7]) {
        const seen: ImageSearchHit[] = [];
        let after: string | undefined;
        for (let i = 0; i < 20; i++) {
          const page = await store.search({ label: { key: 'team' } }, 'all', { limit, after });
          expect(page.hits.length).toBeLessThanOrEqual(limit);
          seen.push(...page.hits);
          if (!page.next) break;
          after = page.next;
        }
        expect(seen.map((h) => `${h.repository}@${h.digest}`)).toEqual(whole.map((h) => `${h.repository}@${h.digest}`));
      }
      const times = whole.map((h) => h.pushedAt);
      expect(times).toEqual([...times].sort((a, b) => b - a));
      for (const after of ['garbage', Buffer.from('[1,2]').toString('base64url'), Buffer.from('{"a":1}').toString('base64url')]) {
        const err = await store.search({ label: { key: 'team' } }, 'all', { limit: 5, after }).catch((e: unknown) => e);
        expect(isBerthError(err) && err.key).toBe('BAD_REQUEST');
      }
    });

    it.skipIf(Boolean(skip))('answers derivedFrom and basesOf from the layer chains', async () => {
      expect((await store.derivedFrom(deb, 10)).map((x) => x.digest)).toEqual([apps[0], apps[2], apps[4]].sort());
      expect(await store.derivedFrom(deb, 1)).toHaveLength(1);
      expect((await store.derivedFrom([deb[0]!], 10)).map((x) => x.digest)).toEqual([debImage, apps[0], apps[2], apps[4]].sort());
      expect(await store.derivedFrom([], 10)).toEqual([]);
      const [one] = await store.derivedFrom(alp, 1);
      expect(one).toEqual({ digest: [apps[1], apps[3], apps[5]].sort()[0], layers: 2, createdAt: 1_700_000_000_000 });
      expect(await store.basesOf(appLayers(2), 10)).toEqual([{ digest: debImage, layers: 2, createdAt: 1_700_000_000_000 }]);
      expect(await store.basesOf(deb, 10)).toEqual([]);
      expect(await store.basesOf([...appLayers(2), d('s-more')], 10)).toEqual([
        { digest: apps[2], layers: 3, createdAt: 1_700_000_000_000 },
        { digest: debImage, layers: 2, createdAt: 1_700_000_000_000 },
      ]);
      expect(chainIds(deb)[0]).toBe(deb[0]);
    });
  });

  it.skipIf(Boolean(skip))('keeps scan_finding rows with the latest report only, and prunes them with it', async () => {
    const img = d('sf-image');
    await pushImage('sf/app', img, [d('sf-l0')]);
    const report = (findings: Finding[]) => ({ digest: img, status: 'succeeded' as const, dbVersion: 1, scanner: 'berth', packages: 1, summary: {}, findings, durationMs: 1, scannedAt: 1 });
    await scans.put(report([finding('CVE-2025-0001', 'zlib', { aliases: ['GHSA-aaaa'] }), finding('CVE-2025-0001', 'zlib-dev'), finding('CVE-2025-0002', 'zlib')]));
    const rows = async () => (await database.db.selectFrom('scan_finding').select(['vuln_id', 'package']).where('digest', '=', img).orderBy('vuln_id').orderBy('package').execute()).map((r) => `${r.vuln_id}/${r.package}`);
    expect(await rows()).toEqual(['CVE-2025-0001/zlib', 'CVE-2025-0001/zlib-dev', 'CVE-2025-0002/zlib', 'GHSA-aaaa/zlib']);
    expect((await all({ vulnerability: 'GHSA-aaaa' })).map((h) => h.repository)).toEqual(['sf/app']);
    await scans.put(report([finding('CVE-2025-0002', 'zlib')]));
    expect(await rows()).toEqual(['CVE-2025-0002/zlib']);
    // Scans of one image finishing at once (pushed to two repositories): one copy of its findings.
    for (let round = 0; round < 5; round++) await Promise.all(Array.from({ length: 8 }, () => scans.put(report([finding('CVE-2025-0002', 'zlib')]))));
    expect(await rows()).toEqual(['CVE-2025-0002/zlib']);
    expect(await all({ vulnerability: 'GHSA-aaaa' })).toEqual([]);
    const repo = await meta.getRepository('sf/app');
    await meta.deleteManifest(repo!.id, img);
    expect(await scans.prune()).toBe(1);
    expect(await rows()).toEqual([]);
  });

  it.skipIf(Boolean(skip))('lists unindexed image manifests oldest first and prunes records no repository holds', async () => {
    const before = await store.unindexed(1000);
    const a = d('pr-a');
    const b = d('pr-b');
    const layerA = d('pr-layer-a');
    const shared = d('pr-layer-shared');
    await pushImage('prune/one', a, [shared, layerA], { at: 10 });
    await pushImage('prune/two', b, [shared], { at: 11 });
    await pushImage('prune/three', b, [shared], { at: 12 });
    const listed = await store.unindexed(1000);
    expect(listed.filter((u) => !before.some((x) => x.digest === u.digest))).toEqual([
      { digest: a, repository: 'prune/one' },
      { digest: b, repository: 'prune/three' },
    ]);
    await store.putLayer(layerRecord(shared, 1), [file('s')]);
    await store.putLayer(layerRecord(layerA, 1), [file('a')]);
    await store.putLayer(layerRecord(d('pr-orphan-new'), 1, { indexedAt: Date.now() }), [file('n')]);
    await store.putImage(imageRecord(a, [shared, layerA]));
    await store.putImage(imageRecord(b, [shared]));
    expect((await store.unindexed(1000)).some((u) => u.digest === a || u.digest === b)).toBe(false);
    // A newer indexer format lists records an older one made (once per image, oldest first); the same or an older one does not.
    expect((await store.unindexed(1000, 1)).some((u) => u.digest === a || u.digest === b)).toBe(false);
    expect((await store.unindexed(1000, 2)).filter((u) => u.digest === a || u.digest === b)).toEqual([
      { digest: a, repository: 'prune/one' },
      { digest: b, repository: 'prune/three' },
    ]);
    await store.putImage(imageRecord(b, [shared], { format: 2 }));
    expect((await store.unindexed(1000, 2)).filter((u) => u.digest === a || u.digest === b)).toEqual([{ digest: a, repository: 'prune/one' }]);
    // Nothing to prune while every image is held (other tests' unheld records go too).
    await store.prune();
    expect(await store.prune()).toEqual({ images: 0, layers: 0 });
    await meta.deleteManifest((await meta.getRepository('prune/one'))!.id, a as Digest);
    await meta.deleteManifest((await meta.getRepository('prune/two'))!.id, b as Digest);
    // a is gone with its own layer; b is still held by prune/three; a fresh orphan layer waits for its image.
    expect(await store.prune()).toEqual({ images: 1, layers: 1 });
    expect(await store.getImage(a)).toBeUndefined();
    expect(await store.getImage(b)).toBeDefined();
    expect([...(await store.getLayers([shared, layerA, d('pr-orphan-new')])).keys()].sort()).toEqual([shared, d('pr-orphan-new')].sort());
    const entries = await database.db.selectFrom('layer_entry').select('name').where('layer_digest', '=', layerA).execute();
    expect(entries).toEqual([]);
    expect(await database.db.selectFrom('image_layer').select('position').where('image_digest', '=', a).execute()).toEqual([]);
  });

  it.skipIf(Boolean(skip))('marks each image\'s last layer row, and reports as built on a base only images with more layers, whatever the rows say', async () => {
    const [x, y, z] = [d('tp-x'), d('tp-y'), d('tp-z')];
    const copies = [0, 1, 2, 3, 4].map((i) => d(`tp-copy-${i}`));
    const derived = d('tp-derived');
    for (const [i, copy] of copies.entries()) {
      await pushImage(`tp/copy${i}`, copy, [x, y]);
      await store.putImage(imageRecord(copy, [x, y]));
    }
    await pushImage('tp/derived', derived, [x, y, z]);
    await store.putImage(imageRecord(derived, [x, y, z]));
    const tops = async (digest: string) =>
      (await database.db.selectFrom('image_layer').select(['position', 'top']).where('image_digest', '=', digest).orderBy('position').execute()).map((r) => Number(r.top));
    expect(await tops(derived)).toEqual([0, 0, 1]);
    expect(await tops(copies[0]!)).toEqual([0, 1]);
    // Put again with fewer layers: the new last row is marked.
    await store.putImage(imageRecord(derived, [x, y]));
    expect(await tops(derived)).toEqual([0, 1]);
    await store.putImage(imageRecord(derived, [x, y, z]));
    expect(await tops(derived)).toEqual([0, 0, 1]);
    // Images that end where the base ends are copies of it, not built on it.
    expect((await store.derivedFrom([x, y], 10)).map((i) => i.digest)).toEqual([derived]);
    expect((await store.derivedFrom([x], 10)).map((i) => i.digest)).toEqual([...copies, derived].sort());
    expect(names(await all({ baseLayers: [x, y] }))).toEqual([`tp/derived@${derived}`]);
    // Rows an older Berth wrote during an upgrade carry no mark: the answers stay the same.
    await database.db.updateTable('image_layer').set({ top: 0 }).where('image_digest', 'in', copies).execute();
    expect((await store.derivedFrom([x, y], 10)).map((i) => i.digest)).toEqual([derived]);
    expect(names(await all({ baseLayers: [x, y] }))).toEqual([`tp/derived@${derived}`]);
  });

  it.skipIf(Boolean(skip))('marks the last layer rows indexed before migration 0024', async () => {
    const t = engine === 'postgres' ? await createTempDatabase() : undefined;
    const old = connect({ url: t?.url ?? `sqlite:${join(dir_, 'old-top.db')}` });
    try {
      await migrate(old, { upTo: '0023_manifest_push_order' });
      const image = d('mt-image');
      await sql`INSERT INTO image_index (digest, status, config_digest, platform, layer_count, compressed_bytes, uncompressed_bytes, packages, labels, annotations, indexed_at) VALUES (${image}, 'indexed', ${d('mt-config')}, 'linux/amd64', 2, 0, 0, '[]', '{}', '{}', 1)`.execute(old.db);
      for (const position of [0, 1]) await sql`INSERT INTO image_layer (image_digest, position, layer_digest, chain_id) VALUES (${image}, ${position}, ${d(`mt-l${position}`)}, ${d(`mt-c${position}`)})`.execute(old.db);
      expect(await migrate(old, { upTo: '0024_image_layer_top' })).toEqual(['0024_image_layer_top']);
      const rows = await old.db.selectFrom('image_layer').select(['position', 'top']).where('image_digest', '=', image).orderBy('position').execute();
      expect(rows.map((r) => [r.position, Number(r.top)])).toEqual([
        [0, 0],
        [1, 1],
      ]);
    } finally {
      await old.db.destroy();
      await t?.drop();
    }
  });

  it.skipIf(Boolean(skip))('backfills scan_finding from the reports stored before migration 0019', async () => {
    const t = engine === 'postgres' ? await createTempDatabase() : undefined;
    const old = connect({ url: t?.url ?? `sqlite:${join(dir_, 'old.db')}` });
    try {
      await migrate(old, { upTo: '0018_pull_count' });
      const findings = [finding('CVE-2023-7', 'curl', { advisories: ['DSA-1'], aliases: ['CVE-2023-7'] })];
      await sql`INSERT INTO scan_report (digest, status, db_version, scanner, packages, summary, findings, error, duration_ms, scanned_at) VALUES (${d('bf')}, 'succeeded', 1, 'berth', 1, '{}', ${JSON.stringify(findings)}, NULL, 1, 1)`.execute(old.db);
      await migrate(old);
      const rows = await old.db.selectFrom('scan_finding').select(['digest', 'vuln_id', 'finding_id', 'severity', 'package']).orderBy('vuln_id').execute();
      expect(rows).toEqual([
        { digest: d('bf'), vuln_id: 'CVE-2023-7', finding_id: 'CVE-2023-7', severity: 'HIGH', package: 'curl' },
        { digest: d('bf'), vuln_id: 'DSA-1', finding_id: 'CVE-2023-7', severity: 'HIGH', package: 'curl' },
      ]);
    } finally {
      await old.db.destroy();
      await t?.drop();
    }
  });
});
