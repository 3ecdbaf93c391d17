import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { posix } from 'node:path';
import { engineMatrix, startTestBerth, type TestBerth } from '../../helpers/berth.js';
import { ApiClient } from '../../helpers/api.js';
import { imageManifest, jsonBlob, sha256, RegistryClient, type Blob } from '../../helpers/oci.js';
import { gzipTarOf, tarOf, type TarItem } from '../../helpers/layer-tar.js';
import { parseImageName } from '../../../src/services/insights/image-insights-service.js';

const blob = (data: Buffer): Blob => ({ data, digest: sha256(data) });
const bytes = (n: number, fill = 1) => Buffer.alloc(n, fill);

interface Insights {
  digest: string;
  layers: Array<{ index: number; digest: string; mediaType: string; compressedSize: number; uncompressedSize: number; files: number; createdBy: string | null; created: string | null; emptyLayer: boolean }>;
  history: Array<{ index: number; createdBy: string | null; created: string | null; emptyLayer: boolean; layer: number | null }>;
  historyMismatch: boolean;
  totalCompressed: number;
  totalUncompressed: number;
  wasted: { bytes: number; files: number; largest: Array<{ path: string; bytes: number; layer: number; replacedIn: number }> };
  efficiency: number;
  base?: { repository: string; tag?: string; digest: string; layers: number; matchedBy: string };
}

/**
 * Wasted space by brute force, straight from the tar items (no tar parsing, no hashes): the
 * layers are applied to a Map as the OCI image spec's "Applying Changesets" says, every regular
 * file keeping a count of its names (itself and the hardlinks of its own layer); a file whose
 * last name goes is wasted, in the layer where that happened.
 */
function recount(layers: TarItem[][]): { fileBytes: number; wasted: Array<{ path: string; bytes: number; layer: number; replacedIn: number }> } {
  const files: Array<{ path: string; bytes: number; layer: number; names: number; replacedIn?: number }> = [];
  const fs = new Map<string, number | undefined>();
  const drop = (path: string, layer: number) => {
    if (!fs.has(path)) return;
    const id = fs.get(path);
    fs.delete(path);
    if (id !== undefined && --files[id]!.names === 0) files[id]!.replacedIn = layer;
  };
  const dropBelow = (dir: string, layer: number) => {
    for (const path of [...fs.keys()]) if (dir === '' || path.startsWith(`${dir}/`)) drop(path, layer);
  };
  const isWhiteout = (item: TarItem) => posix.basename(item.path).startsWith('.wh.');
  layers.forEach((items, layer) => {
    for (const item of items.filter(isWhiteout)) {
      const dir = posix.dirname(item.path) === '.' ? '' : posix.dirname(item.path);
      const base = posix.basename(item.path);
      if (base === '.wh..wh..opq') dropBelow(dir, layer);
      else {
        const path = dir === '' ? base.slice(4) : `${dir}/${base.slice(4)}`;
        drop(path, layer);
        dropBelow(path, layer);
      }
    }
    for (const item of items.filter((i) => !isWhiteout(i))) {
      drop(item.path, layer);
      if (item.type !== 'directory') dropBelow(item.path, layer);
      if (item.type === 'hardlink') {
        const target = fs.get(item.target);
        const sameLayer = target !== undefined && files[target]!.layer === layer;
        if (sameLayer) files[target]!.names++;
        fs.set(item.path, sameLayer ? target : undefined);
      } else if (item.type === 'directory' || item.type === 'symlink' || !('content' in item)) fs.set(item.path, undefined);
      else {
        fs.set(item.path, files.length);
        files.push({ path: item.path, bytes: Buffer.byteLength(item.content), layer, names: 1 });
      }
    }
  });
  return {
    fileBytes: files.reduce((n, f) => n + f.bytes, 0),
    wasted: files.filter((f) => f.replacedIn !== undefined).map((f) => ({ path: `/${f.path}`, bytes: f.bytes, layer: f.layer, replacedIn: f.replacedIn! })),
  };
}

/** A file overwritten twice, one whited out, an opaque directory, hardlinks that keep (or do not keep) a deleted file's bytes, a path listed twice, a directory replaced by a file. */
const wastefulLayers: TarItem[][] = [
  [
    { path: 'etc', type: 'directory' },
    { path: 'etc/config', content: bytes(100) },
    { path: 'bin/tool', content: bytes(500) },
    { path: 'data', type: 'directory' },
    { path: 'data/one', content: bytes(300) },
    { path: 'data/two', content: bytes(200) },
    { path: 'lib/big', content: bytes(1000) },
    { path: 'lib/alias', type: 'hardlink', target: 'lib/big' },
    { path: 'lib/solo', content: bytes(700) },
    { path: 'lib/solo-link', type: 'hardlink', target: 'lib/solo' },
    { path: 'keep/me', content: bytes(50) },
    { path: 'tmp/dup', content: bytes(40) },
    { path: 'tmp/dup', content: bytes(60) },
    { path: 'link', type: 'symlink', target: 'etc/config' },
  ],
  [
    { path: 'etc/config', content: bytes(120, 2) },
    { path: 'bin/.wh.tool', content: '' },
    { path: 'data/.wh..wh..opq', content: '' },
    { path: 'data/three', content: bytes(10) },
    { path: 'lib/.wh.big', content: '' },
    { path: 'lib/.wh.solo', content: '' },
    { path: 'lib/.wh.solo-link', content: '' },
  ],
  [
    { path: 'etc/config', content: bytes(130, 3) },
    { path: 'app/run', content: 'run!\n' },
    { path: 'keep', content: 'now' },
  ],
];

const history = [
  { created: '2026-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:rootfs in /' },
  { created: '2026-01-01T00:00:01Z', created_by: '/bin/sh -c #(nop)  ENV A=1', empty_layer: true },
  { created: '2026-01-01T00:00:02Z', created_by: '/bin/sh -c rm -rf /bin/tool /data/* && echo > /etc/config' },
  { created: '2026-01-01T00:00:03Z', created_by: '/bin/sh -c #(nop)  LABEL a=b', empty_layer: true },
  { created: '2026-01-01T00:00:04Z', created_by: 'COPY app /app', comment: 'buildkit.dockerfile.v0' },
  { created: '2026-01-01T00:00:05Z', created_by: '/bin/sh -c #(nop)  CMD ["/app/run"]', empty_layer: true },
];

for (const { engine, skip } of await engineMatrix()) {
  describe.skipIf(skip)(`image insights through the API (${engine})`, () => {
    let berth: TestBerth;
    let admin: ApiClient;
    let dev: ApiClient;
    let registry: RegistryClient;

    beforeAll(async () => {
      berth = await startTestBerth({ engine });
      admin = new ApiClient(berth.url);
      registry = new RegistryClient(berth.url);
      await admin.createProject('insp');
      await admin.createProject('secretp');
      await admin.createUser('insights-dev', 'Dev-Passw0rd-1');
      await admin.addMember('insp', 'insights-dev', 'developer');
      dev = new ApiClient(berth.url, { username: 'insights-dev', password: 'Dev-Passw0rd-1' });
    });
    afterAll(async () => {
      await berth?.stop();
    });

    /** Pushes an image of `layers` as `name` under `tags` (by digest when none); resolves its manifest digest. */
    async function push(name: string, layers: Buffer[], options: { tags?: string[]; history?: unknown[]; annotations?: Record<string, string>; labels?: Record<string, string>; salt?: string } = {}): Promise<string> {
      const config = jsonBlob({ architecture: 'amd64', os: 'linux', config: { Labels: options.labels ?? {}, Env: options.salt ? [`SALT=${options.salt}`] : [] }, rootfs: { type: 'layers', diff_ids: [] }, history: options.history ?? [] });
      const blobs = layers.map(blob);
      for (const b of [config, ...new Map(blobs.map((x) => [x.digest, x])).values()]) expect((await registry.pushBlob(name, b)).status).toBe(201);
      const manifest = imageManifest(config, blobs, options.annotations ? { annotations: options.annotations } : {});
      const digest = sha256(manifest);
      for (const tag of options.tags ?? [digest]) expect((await registry.pushManifest(name, tag, manifest)).status).toBe(201);
      return digest;
    }
    const insights = (client: ApiClient, project: string, repository: string, reference: string) =>
      client.ok<Insights>('GET', `/projects/${project}/repositories/${repository}/artifacts/${reference}/insights`);

    it('counts wasted space as a brute-force recount of the layers does, with sizes equal to the blobs and tars', async () => {
      const tars = wastefulLayers.map((items) => tarOf(items));
      const gzipped = wastefulLayers.map(gzipTarOf);
      const digest = await push('insp/wasteful', gzipped, { tags: ['1'], history });
      const report = await insights(admin, 'insp', 'wasteful', '1');
      expect(report.digest).toBe(digest);

      const expected = recount(wastefulLayers);
      const sorted = [...expected.wasted].sort((a, b) => b.bytes - a.bytes || a.layer - b.layer || a.path.localeCompare(b.path));
      expect(report.wasted).toEqual({ bytes: expected.wasted.reduce((n, f) => n + f.bytes, 0), files: expected.wasted.length, largest: sorted });
      // The recount itself, pinned: config ×2, the whited-out tool, the opaque data/, solo and its link, the first tmp/dup, keep/ replaced by a file.
      expect(report.wasted.bytes).toBe(100 + 120 + 500 + 300 + 200 + 700 + 40 + 50);
      expect(report.wasted.largest.map((w) => [w.path, w.bytes, w.layer, w.replacedIn])).toEqual([
        ['/lib/solo', 700, 0, 1],
        ['/bin/tool', 500, 0, 1],
        ['/data/one', 300, 0, 1],
        ['/data/two', 200, 0, 1],
        ['/etc/config', 120, 1, 2],
        ['/etc/config', 100, 0, 1],
        ['/keep/me', 50, 0, 2],
        ['/tmp/dup', 40, 0, 0],
      ]);
      expect(report.wasted.largest.map((w) => w.path)).not.toContain('/lib/big'); // its hardlink /lib/alias still shows it
      expect(report.efficiency).toBeCloseTo(1 - report.wasted.bytes / expected.fileBytes, 12);
      expect(expected.fileBytes).toBe(2950 + 130 + 138);

      expect(report.layers.map((l) => [l.index, l.digest, l.compressedSize, l.uncompressedSize, l.files])).toEqual(
        gzipped.map((g, i) => [i, sha256(g), g.length, tars[i]!.length, wastefulLayers[i]!.filter((it) => !it.type && !posix.basename(it.path).startsWith('.wh.')).length]),
      );
      expect(report.totalCompressed).toBe(gzipped.reduce((n, g) => n + g.length, 0));
      expect(report.totalUncompressed).toBe(tars.reduce((n, t) => n + t.length, 0));
    });

    it('matches history steps to layers, empty ones to none, and says when the counts differ', async () => {
      const report = await insights(admin, 'insp', 'wasteful', '1');
      expect(report.historyMismatch).toBe(false);
      expect(report.history.map((h) => [h.index, h.emptyLayer, h.layer])).toEqual([
        [0, false, 0],
        [1, true, null],
        [2, false, 1],
        [3, true, null],
        [4, false, 2],
        [5, true, null],
      ]);
      expect(report.layers.map((l) => [l.createdBy, l.created, l.emptyLayer])).toEqual([
        [history[0]!.created_by, history[0]!.created, false],
        [history[2]!.created_by, history[2]!.created, false],
        [history[4]!.created_by, history[4]!.created, false],
      ]);

      await push('insp/mismatch', wastefulLayers.map(gzipTarOf), { tags: ['1'], history: history.slice(0, 3) });
      const mismatched = await insights(admin, 'insp', 'mismatch', '1');
      expect(mismatched.historyMismatch).toBe(true);
      expect(mismatched.history.map((h) => h.layer)).toEqual([null, null, null]);
      expect(mismatched.layers.map((l) => l.createdBy)).toEqual([null, null, null]);
    });

    const layer = (name: string) => gzipTarOf([{ path: `layers/${name}`, content: `${name}\n` }]);

    it('finds the base an image was built from: the longest tagged prefix of its layers', async () => {
      const [l0, l1, l2, l3] = ['l0', 'l1', 'l2', 'l3'].map(layer) as [Buffer, Buffer, Buffer, Buffer];
      const root = await push('insp/root', [l0], { tags: ['1'] });
      const base = await push('insp/base', [l0, l1], { tags: ['1.0'] });
      // The same layers, untagged, elsewhere: the tagged one is preferred.
      await push('insp/base-copy', [l0, l1], { salt: 'copy' });
      const app = await push('insp/app', [l0, l1, l2], { tags: ['2'] });
      expect((await insights(admin, 'insp', 'app', '2')).base).toEqual({ repository: 'insp/base', tag: '1.0', digest: base, layers: 2, matchedBy: 'layers' });
      // An image built on app: app, not base.
      expect((await insights(admin, 'insp', 'app', app)).base?.repository).toBe('insp/base');
      await push('insp/on-app', [l0, l1, l2, l3], { tags: ['3'] });
      expect((await insights(admin, 'insp', 'on-app', '3')).base).toEqual({ repository: 'insp/app', tag: '2', digest: app, layers: 3, matchedBy: 'layers' });
      // Nothing is its own base, and a base is never the whole image.
      expect((await insights(admin, 'insp', 'root', '1')).base).toBeUndefined();
      expect((await insights(admin, 'insp', 'base', '1.0')).base).toEqual({ repository: 'insp/root', tag: '1', digest: root, layers: 1, matchedBy: 'layers' });
      // Unrelated layers, and the same layers in another order: no base.
      await push('insp/unrelated', [layer('x0'), layer('x1'), layer('x2')], { tags: ['1'] });
      expect((await insights(admin, 'insp', 'unrelated', '1')).base).toBeUndefined();
      await push('insp/reordered', [l1, l0, l2], { tags: ['1'] });
      expect((await insights(admin, 'insp', 'reordered', '1')).base).toBeUndefined();
    });

    it('lets the base annotations win when they name an image here, and ignores them otherwise', async () => {
      const [l0, l1, l4] = ['l0', 'l1', 'l4'].map(layer) as [Buffer, Buffer, Buffer];
      const root = (await insights(admin, 'insp', 'root', '1')).digest;
      await push('insp/annotated', [l0, l1, l4], { tags: ['1'], annotations: { 'org.opencontainers.image.base.name': 'berth.example.com:5000/insp/root:1', 'org.opencontainers.image.base.digest': root } });
      expect((await insights(admin, 'insp', 'annotated', '1')).base).toEqual({ repository: 'insp/root', tag: '1', digest: root, layers: 1, matchedBy: 'annotation' });
      await push('insp/labelled', [l0, l1, l4], { tags: ['1'], labels: { 'org.opencontainers.image.base.name': 'insp/root:1' } });
      expect((await insights(admin, 'insp', 'labelled', '1')).base).toMatchObject({ repository: 'insp/root', digest: root, matchedBy: 'annotation' });
      // An annotation naming an image that is not here: the layers decide.
      await push('insp/elsewhere', [l0, l1, l4], { tags: ['1'], annotations: { 'org.opencontainers.image.base.name': 'docker.io/library/debian:12' } });
      expect((await insights(admin, 'insp', 'elsewhere', '1')).base).toMatchObject({ repository: 'insp/base', tag: '1.0', matchedBy: 'layers' });
    });

    it('never names a base the caller may not pull', async () => {
      const [m0, m1, m2] = ['m0', 'm1', 'm2'].map(layer) as [Buffer, Buffer, Buffer];
      const secret = await push('secretp/base', [m0, m1], { tags: ['1'] });
      await push('insp/on-secret', [m0, m1, m2], { tags: ['1'] });
      await push('insp/names-secret', [m0, m1, m2], { tags: ['1'], annotations: { 'org.opencontainers.image.base.name': 'secretp/base:1', 'org.opencontainers.image.base.digest': secret } });
      expect((await insights(admin, 'insp', 'on-secret', '1')).base).toEqual({ repository: 'secretp/base', tag: '1', digest: secret, layers: 2, matchedBy: 'layers' });
      expect((await insights(admin, 'insp', 'names-secret', '1')).base).toMatchObject({ repository: 'secretp/base', matchedBy: 'annotation' });
      const forDev = await insights(dev, 'insp', 'on-secret', '1');
      expect(forDev.base).toBeUndefined();
      expect((await insights(dev, 'insp', 'names-secret', '1')).base).toBeUndefined();
      expect(JSON.stringify(forDev)).not.toContain('secretp');
      // Reading the report needs read access to the image's own project.
      await admin.createUser('insights-outsider', 'Out-Passw0rd-1');
      const outsider = new ApiClient(berth.url, { username: 'insights-outsider', password: 'Out-Passw0rd-1' });
      expect((await outsider.call('GET', '/projects/insp/repositories/on-secret/artifacts/1/insights')).status).toBe(403);
      expect((await new ApiClient(berth.url, null).call('GET', '/projects/insp/repositories/on-secret/artifacts/1/insights')).status).toBe(401);
    });

    it('reads base names as registries write them', () => {
      expect(parseImageName('localhost:5000/insp/root:1')).toEqual({ repository: 'insp/root', tag: '1' });
      expect(parseImageName('insp/root@sha256:abc')).toEqual({ repository: 'insp/root', digest: 'sha256:abc' });
      expect(parseImageName('berth.example.com/library/alpine:3.20@sha256:abc')).toEqual({ repository: 'library/alpine', tag: '3.20', digest: 'sha256:abc' });
      expect(parseImageName('library/alpine')).toEqual({ repository: 'library/alpine' });
    });
  });
}
