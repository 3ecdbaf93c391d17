import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { renderPayload } from '../../../src/services/webhooks/payload.js';
import { indexFormat } from '../../../src/services/insights/image-indexer.js';
import { connect, type Database } from '../../../src/adapters/db/connect.js';
import { engineMatrix, startTestBerth, type TestBerth } from '../../helpers/berth.js';
import { ApiClient } from '../../helpers/api.js';
import { imageIndex, imageManifest, jsonBlob, sha256, RegistryClient, type Blob } from '../../helpers/oci.js';
import { gzipTarOf, tarOf, type TarItem } from '../../helpers/layer-tar.js';
import { until } from '../../helpers/wait.js';

const blob = (data: Buffer): Blob => ({ data, digest: sha256(data) });
const dpkg = (name: string, version: string) => `Package: ${name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: ${version}\n`;

/** A Debian base with a setuid binary; an application layer deleting it (a whiteout), making /opt opaque and leaving a .env. */
const baseItems: TarItem[] = [
  { path: 'etc', type: 'directory' },
  { path: 'etc/os-release', content: 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n' },
  { path: 'var/lib/dpkg/status', content: [dpkg('bash', '5.2.15-2+b2'), dpkg('libc6', '2.36-9')].join('\n') },
  { path: 'usr/bin/su', content: 'ELF!', mode: 0o4755 },
  { path: 'opt/old/readme', content: 'old' },
  { path: 'usr/bin/sh', type: 'symlink', target: 'bash' },
];
const appItems: TarItem[] = [
  { path: 'usr/bin/.wh.su', content: '' },
  { path: 'opt/.wh..wh..opq', content: '' },
  { path: 'opt/app', type: 'directory' },
  { path: 'opt/app/main.js', content: 'console.log(1)\n' },
  { path: 'app/.env', content: 'TOKEN=abc\n' },
];

describe.each(await engineMatrix())('the image indexer ($engine)', ({ engine, skip }) => {
  let berth: TestBerth;
  let admin: ApiClient;
  let registry: RegistryClient;
  let db: Database;

  beforeAll(async () => {
    if (skip) return;
    berth = await startTestBerth({ engine, settings: { 'insights.index.maxEntriesPerLayer': 5 } });
    admin = new ApiClient(berth.url);
    registry = new RegistryClient(berth.url);
    await admin.createProject('idx');
    await admin.createProject('idx2');
    db = connect({ url: berth.config.database.url, poolSize: 2, connectRetryMs: 0 });
  });
  afterAll(async () => {
    await db?.db.destroy();
    await berth?.stop();
  });

  async function push(name: string, layers: Buffer[], options: { tag?: string; config?: Record<string, unknown>; annotations?: Record<string, string>; architecture?: string } = {}): Promise<{ digest: string; manifest: Buffer; layers: Blob[]; config: Blob }> {
    const config = jsonBlob({ architecture: options.architecture ?? 'amd64', os: 'linux', created: '2024-05-01T10:00:00Z', config: options.config ?? {}, rootfs: { type: 'layers', diff_ids: [] }, history: [] });
    const blobs = layers.map(blob);
    for (const b of [config, ...new Map(blobs.map((x) => [x.digest, x])).values()]) expect((await registry.pushBlob(name, b)).status).toBe(201);
    const manifest = imageManifest(config, blobs, options.annotations ? { annotations: options.annotations } : {});
    expect((await registry.pushManifest(name, options.tag ?? 'v1', manifest)).status).toBe(201);
    return { digest: sha256(manifest), manifest, layers: blobs, config };
  }

  type OpenQuietly = TestBerth['registry']['blobs']['openQuietly'];
  /** Runs `body` with the registry's blob reads going through what `through` makes of the real one, which is put back after. */
  async function withBlobReads(through: (original: OpenQuietly) => OpenQuietly, body: () => Promise<void>): Promise<void> {
    const original = berth.registry.blobs.openQuietly.bind(berth.registry.blobs);
    berth.registry.blobs.openQuietly = through(original);
    try {
      await body();
    } finally {
      berth.registry.blobs.openQuietly = original;
    }
  }
  /** Runs `body` with the digest of every blob the registry opens added to `opened`. */
  const recordingOpens = (opened: string[], body: () => Promise<void>) =>
    withBlobReads(
      (original) => async (repository, digest) => {
        opened.push(digest);
        return original(repository, digest);
      },
      body,
    );
  const indexed = async (digest: string) => {
    await until(async () => (await berth.api.insights.index.getImage(digest)) !== undefined, 30_000, `the index record of ${digest}`);
    return (await berth.api.insights.index.getImage(digest))!;
  };
  const lintEvents = async (digest: string) =>
    (await sql<{ repository: string; payload: string }>`select repository, payload from event_outbox where type = 'lint' order by id`.execute(db.db)).rows
      .map((r) => ({ repository: r.repository, ...(JSON.parse(r.payload) as { digest: string; details: Record<string, unknown> }) }))
      .filter((e) => e.digest === digest);

  it.skipIf(!!skip)('indexes a pushed image: its layers with their entries, whiteouts and opaque directories, its record and stored lint, and a lint event', async () => {
    const base = gzipTarOf(baseItems);
    const app = gzipTarOf(appItems);
    const image = await push('idx/app', [base, app], { config: { Labels: { team: 'shop' }, User: '1000' }, annotations: { 'org.opencontainers.image.source': 'https://example.com/app' } });
    const record = await indexed(image.digest);
    expect(record).toMatchObject({
      digest: image.digest,
      status: 'indexed',
      configDigest: image.config.digest,
      platform: 'linux/amd64',
      layers: image.layers.map((l) => l.digest),
      compressedBytes: base.length + app.length,
      uncompressedBytes: tarOf(baseItems).length + tarOf(appItems).length,
      os: { id: 'debian', versionId: '12' },
      labels: { team: 'shop' },
      annotations: { 'org.opencontainers.image.source': 'https://example.com/app' },
      createdAt: Date.parse('2024-05-01T10:00:00Z'),
    });
    expect(record.packages.map((p) => `${p.type}:${p.name}@${p.version}`)).toEqual(['deb:bash@5.2.15-2+b2', 'deb:libc6@2.36-9']);
    // Stored with no rule disabled and no tags: the secret and the missing healthcheck, not the setuid binary a later layer deleted.
    const rules = record.lint!.findings.map((f) => f.rule);
    expect(rules).toContain('BERTH-L003-secret-file');
    expect(rules).toContain('BERTH-L002-no-healthcheck');
    expect(rules).not.toContain('BERTH-L012-setuid-binary');
    expect(rules).not.toContain('BERTH-L001-root-user');
    expect(rules).not.toContain('BERTH-L008-latest-only-tag');
    // The lint API answers from the stored result (its tag v1 fires no tag rule): the same report,
    // field for field, as linting the layers gives when the image has no record.
    const lintUrl = '/projects/idx/repositories/app/artifacts/v1/lint';
    const report = await admin.ok<{ findings: Array<{ rule: string; message: string }> }>('GET', lintUrl);
    expect(record.lint!.findings.map((f) => [f.rule, f.message])).toEqual(report.findings.map((f) => [f.rule, f.message]));
    await sql`delete from image_index where digest = ${image.digest}`.execute(db.db);
    const live = await admin.ok<Record<string, unknown>>('GET', lintUrl);
    expect(live).toMatchObject({ layers: 2, os: { id: 'debian', versionId: '12' }, packages: 2, tags: ['v1'] });
    expect(report).toEqual(live);
    await berth.api.insights.index.putImage(record);

    // The base layer: 6 entries, 5 stored (insights.index.maxEntriesPerLayer), 4 files.
    const baseLayer = await berth.api.insights.index.getLayer(image.layers[0]!.digest);
    expect(baseLayer).toMatchObject({ status: 'indexed', entries: 6, files: 4, truncated: true, uncompressedBytes: tarOf(baseItems).length });
    expect(baseLayer!.fileBytes).toBe(baseItems.reduce((n, i) => n + ('content' in i ? Buffer.byteLength(i.content) : 0), 0));
    const appLayer = await berth.api.insights.index.getLayer(image.layers[1]!.digest);
    // An opaque marker, a whiteout, a directory and two files.
    expect(appLayer).toMatchObject({ status: 'indexed', entries: 5, files: 2, truncated: false });
    // The merged filesystem: su deleted (and sh, the base layer's 6th entry, past the 5 stored), /opt's old contents hidden by the opaque directory.
    const layers = image.layers.map((l) => l.digest);
    const usrBin = await berth.api.insights.index.listDirectory(layers, 'usr/bin', { limit: 100 });
    expect(usrBin.entries.map((e) => e.name)).toEqual([]);
    const opt = await berth.api.insights.index.listDirectory(layers, 'opt', { limit: 100 });
    expect(opt.entries.map((e) => e.name)).toEqual(['app']);
    // The base layer alone still lists su.
    expect((await berth.api.insights.index.listDirectory(layers, 'usr/bin', { layer: 0, limit: 100 })).entries.map((e) => e.name)).toEqual(['su']);
    // Directories the tars imply without listing them (var, var/lib, var/lib/dpkg, usr, usr/bin,
    // opt/old in the base; app in the application layer) are browsable down to the stored files,
    // as the runtime creates them; etc keeps its own entry.
    const root = await berth.api.insights.index.listDirectory(layers, '', { limit: 100 });
    expect(root.entries.map((e) => [e.name, e.type])).toEqual([['app', 'directory'], ['etc', 'directory'], ['opt', 'directory'], ['usr', 'directory'], ['var', 'directory']]);
    expect(root.entries.find((e) => e.name === 'var')).toMatchObject({ mode: 0o755, uid: 0, gid: 0, size: 0 });
    expect((await berth.api.insights.index.listDirectory(layers, 'var/lib/dpkg', { limit: 100 })).entries.map((e) => e.name)).toEqual(['status']);
    expect((await berth.api.insights.index.listDirectory(layers, 'app', { limit: 100 })).entries.map((e) => e.name)).toEqual(['.env']);
    // The application layer's own root: the directories it implies (its tar lists only opt/app).
    expect((await berth.api.insights.index.listDirectory(layers, '', { layer: 1, limit: 100 })).entries.map((e) => e.name)).toEqual(['app', 'opt', 'usr']);

    // Background events are written in batches, 50 ms after the first of a batch.
    await until(async () => (await lintEvents(image.digest)).length > 0, 10_000, 'the lint event');
    const events = await lintEvents(image.digest);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ repository: 'idx/app', details: { status: 'succeeded', summary: record.lint!.summary, findings: record.lint!.findings.length } });
    // As webhooks send it.
    const stored = { id: 1, type: 'lint' as const, project: 'idx', repository: 'idx/app', createdAt: Date.now(), data: { operator: 'indexer', repository: 'idx/app', digest: image.digest, details: events[0]!.details } };
    expect(JSON.parse(renderPayload('harbor', stored, { registryHost: 'r.example', projectPublic: false }).body)).toMatchObject({ type: 'LINT_COMPLETED', event_data: { resources: [{ digest: image.digest }] } });
    expect(JSON.parse(renderPayload('cloudevents', stored, { registryHost: 'r.example', projectPublic: false }).body)).toMatchObject({ type: 'dev.berth.artifact.lint-completed', data: { digest: image.digest, details: { status: 'succeeded' } } });
  });

  it.skipIf(!!skip)('indexes each platform image of an index but not its attestations; a signature gets a record without layers', async () => {
    const amd = await push('idx/multi', [gzipTarOf([{ path: 'bin/amd', content: 'a' }])], { tag: 'amd64' });
    const arm = await push('idx/multi', [gzipTarOf([{ path: 'bin/arm', content: 'b' }])], { tag: 'arm64', architecture: 'arm64' });
    const attestation = await push('idx/multi', [gzipTarOf([{ path: 'attestation', content: '{}' }])], { tag: 'att' });
    const index = JSON.parse(imageIndex([{ image: amd, architecture: 'amd64' }, { image: arm, architecture: 'arm64' }]).toString('utf8')) as { manifests: Array<Record<string, unknown>> };
    index.manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: attestation.digest, size: attestation.manifest.length, platform: { os: 'unknown', architecture: 'unknown' } });
    const body = Buffer.from(JSON.stringify(index));
    expect((await registry.pushManifest('idx/multi', 'latest', body, 'application/vnd.oci.image.index.v1+json')).status).toBe(201);
    const outcome = await berth.api.insights.indexer!.index('idx/multi', sha256(body));
    expect(outcome).toMatchObject({ kind: 'index', images: [{ digest: amd.digest }, { digest: arm.digest }] });
    expect((await indexed(arm.digest)).platform).toBe('linux/arm64');

    // A cosign-style signature: an image manifest whose config is not an image's and whose layer is not a tar.
    const sigConfig = jsonBlob({ critical: {} });
    const payload = blob(Buffer.from('{"critical":{}}'));
    for (const b of [sigConfig, payload]) expect((await registry.pushBlob('idx/multi', b)).status).toBe(201);
    const sig = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: sigConfig.digest, size: sigConfig.data.length },
        layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: payload.digest, size: payload.data.length }],
        annotations: { 'dev.cosignproject.cosign/signature': 'MEUC' },
      }),
    );
    expect((await registry.pushManifest('idx/multi', `${amd.digest.replace(':', '-')}.sig`, sig)).status).toBe(201);
    expect(await berth.api.insights.indexer!.index('idx/multi', sha256(sig))).toMatchObject({ kind: 'skipped' });
    expect(await indexed(sha256(sig))).toMatchObject({ status: 'indexed', layers: [], packages: [], annotations: { 'dev.cosignproject.cosign/signature': 'MEUC' } });
    expect(await berth.api.insights.index.getLayer(payload.digest)).toBeUndefined();
  });

  it.skipIf(!!skip)('reads no layer for an image pushed again to another repository, and records a lint event there too', async () => {
    const image = await push('idx/again', [gzipTarOf([{ path: 'srv/a', content: 'again' }])]);
    await indexed(image.digest);
    await until(async () => (await lintEvents(image.digest)).length === 1, 30_000, 'the first lint event');
    const opened: string[] = [];
    const scanJobs = async () => (await sql<{ n: number | string }>`select count(*) as n from job where type = 'scan.artifact' and payload like ${`%${image.digest}%`}`.execute(db.db)).rows[0]!.n;
    expect(Number(await scanJobs())).toBe(1);
    await recordingOpens(opened, async () => {
      // Pushed again under another tag of the same repository: the artifact is there already, so
      // no job (no index lookup, no scan, no lint event); the next repository's push queues one,
      // and its lint event shows the fan-out has read past the first.
      expect((await registry.pushManifest('idx/again', 'v2', image.manifest)).status).toBe(201);
      await push('idx2/again', image.layers.map((l) => l.data));
      await until(async () => (await lintEvents(image.digest)).length === 2, 30_000, 'the second lint event');
      expect(opened.filter((d) => d === image.layers[0]!.digest)).toEqual([]);
      expect((await lintEvents(image.digest)).map((e) => e.repository)).toEqual(['idx/again', 'idx2/again']);
      expect(Number(await scanJobs())).toBe(2);
    });
    const pushes = (await sql<{ payload: string }>`select payload from event_outbox where type = 'push' and repository = 'idx/again' order by id`.execute(db.db)).rows.map((r) => JSON.parse(r.payload) as { tag: string; created: boolean });
    expect(pushes.map((p) => [p.tag, p.created])).toEqual([['v1', true], ['v2', false]]);
  });

  it.skipIf(!!skip)('reads back neither the repository nor the manifest a push just stored: its job indexes and scans the content the push handed over', async () => {
    const reads = vi.spyOn(berth.registry.manifests, 'get');
    try {
      const image = await push('idx/handed', [gzipTarOf([{ path: 'srv/handed', content: 'handed' }])], { tag: 'v1' });
      await indexed(image.digest);
      await until(async () => (await berth.api.security.scans.report(image.digest)) !== undefined, 30_000, 'the scan report');
      expect((await berth.api.security.scans.report(image.digest))!.status).toBe('succeeded');
      expect(reads.mock.calls.filter(([, reference]) => reference === image.digest)).toEqual([]);
      // Taken once: a later job of the same digest (a retry, a rescan) reads it as before.
      expect(berth.registry.manifests.takePushed('idx/handed', image.digest)).toBeUndefined();
    } finally {
      reads.mockRestore();
    }
  });

  it.skipIf(!!skip)('opens each layer blob once for indexing, scanning, linting and the insights of one pushed image', async () => {
    const opened: string[] = [];
    await recordingOpens(opened, async () => {
      const image = await push('idx/once', [gzipTarOf(baseItems.map((i) => ({ ...i, path: `once/${i.path}` }))), gzipTarOf([{ path: 'once/app', content: 'x' }]), gzipTarOf([{ path: 'once/more', content: 'y' }])], { tag: 'latest' });
      // The push's job indexes, then scans (scan on push is the default policy).
      await indexed(image.digest);
      await until(async () => (await berth.api.security.scans.report(image.digest)) !== undefined, 30_000, 'the scan report');
      expect((await berth.api.security.scans.report(image.digest))!.status).toBe('succeeded');
      await admin.ok('GET', '/projects/idx/repositories/once/artifacts/latest/lint');
      await admin.ok('GET', '/projects/idx/repositories/once/artifacts/latest/insights');
      await admin.ok('GET', '/projects/idx/repositories/once/artifacts/latest/packages');
      await admin.ok('POST', '/projects/idx/repositories/once/artifacts/latest/scan');
      const layerOpens = opened.filter((d) => image.layers.some((l) => l.digest === d)).sort();
      expect(layerOpens).toEqual(image.layers.map((l) => l.digest).sort());
    });
  });

  it.skipIf(!!skip)('reads the image’s record once per push: its scan takes the inventory the index just built', async () => {
    const reads = vi.spyOn(berth.api.insights.index, 'getImage');
    try {
      const image = await push('idx/handoff', [gzipTarOf(baseItems.map((i) => ({ ...i, path: `handoff/${i.path}` })))]);
      await until(async () => (await berth.api.security.scans.report(image.digest)) !== undefined, 30_000, 'the scan report');
      const record = (await berth.api.insights.index.getImage(image.digest))!;
      const report = (await berth.api.security.scans.report(image.digest))!;
      expect(report.status).toBe('succeeded');
      expect(report.packages).toBe(record.packages.length);
      // The indexer's own look for a known record, then the line above: none by the scan.
      expect(reads.mock.calls.filter(([digest]) => digest === image.digest)).toHaveLength(2);
    } finally {
      reads.mockRestore();
    }
  });

  it.skipIf(!!skip)('records no failure for a layer whose storage read broke midway: the push is indexed on the job’s next try', async () => {
    const layer = gzipTarOf([{ path: 'srv/flaky', content: randomBytes(64 * 1024) }]);
    let broken = 0;
    const breakingOnce = (original: OpenQuietly): OpenQuietly => async (repository, digest) => {
      const content = await original(repository, digest);
      if (digest !== sha256(layer) || broken > 0) return content;
      broken++;
      // Half the bytes, then the storage fails.
      const half = Readable.from((async function* () {
        yield layer.subarray(0, layer.length >> 1);
        throw new Error('connection reset by the object store');
      })());
      content.stream.destroy();
      return { ...content, stream: half };
    };
    await withBlobReads(breakingOnce, async () => {
      const image = await push('idx/flaky', [layer]);
      // The job's first attempt failed on the storage error (no record); its retry, 5 s later, reads the layer.
      const record = await indexed(image.digest);
      expect(broken).toBe(1);
      expect(record.status).toBe('indexed');
      expect(await berth.api.insights.index.getLayer(image.layers[0]!.digest)).toMatchObject({ status: 'indexed', files: 1 });
    });
  });

  it.skipIf(!!skip)('counts a project’s lint summary from the stored results, with the tag rule and disabled rules applied when read', async () => {
    const project = await admin.createProject('idxsum');
    expect(project.name).toBe('idxsum');
    const image = await push('idxsum/app', [gzipTarOf(appItems.filter((i) => !i.path.includes('.wh.')))], { tag: 'latest' });
    const record = await indexed(image.digest);
    // A stored result the live lint would not give: proof the summary reads what is stored.
    await berth.api.insights.index.putImage({ ...record, lint: { ...record.lint!, findings: [...record.lint!.findings, { rule: 'BERTH-L009-too-many-layers', severity: 'warning', title: 't', message: 'm', fix: 'f' }] } });
    await admin.ok('PUT', '/projects/idxsum/lint-policy', { disabledRules: ['BERTH-L002-no-healthcheck'] });
    const summary = await admin.ok<{ images: number; failed: unknown[]; skipped: number; rules: Array<{ id: string; images: number; findings: number }> }>('GET', '/projects/idxsum/lint-summary');
    const count = (id: string) => summary.rules.find((r) => r.id === id);
    expect(summary).toMatchObject({ images: 1, failed: [], skipped: 0 });
    expect(count('BERTH-L009-too-many-layers')).toEqual({ id: 'BERTH-L009-too-many-layers', severity: 'warning', title: expect.any(String), images: 1, findings: 1 });
    expect(count('BERTH-L008-latest-only-tag')).toMatchObject({ images: 1, findings: 1 });
    expect(count('BERTH-L003-secret-file')).toMatchObject({ images: 1, findings: 1 });
    expect(count('BERTH-L002-no-healthcheck')).toBeUndefined();
    // The image's lint report reads the same stored result, with the same policy and tag rule.
    const report = await admin.ok<{ findings: Array<{ rule: string }>; summary: Record<string, number> }>('GET', '/projects/idxsum/repositories/app/artifacts/latest/lint');
    const rules = report.findings.map((f) => f.rule);
    expect(rules).toEqual(expect.arrayContaining(['BERTH-L009-too-many-layers', 'BERTH-L008-latest-only-tag', 'BERTH-L003-secret-file']));
    expect(rules).not.toContain('BERTH-L002-no-healthcheck');
    expect(Object.values(report.summary).reduce((a, b) => a + b, 0)).toBe(report.findings.length);
  });

  it.skipIf(!!skip)('backfills images pushed while indexing was off, and prunes records of deleted images', async () => {
    const image = await push('idx/backfill', [gzipTarOf([{ path: 'srv/backfill', content: 'b' }])]);
    await indexed(image.digest);
    // As a registry upgraded from a version without the index: the record is not there.
    await sql`delete from image_index where digest = ${image.digest}`.execute(db.db);
    expect(await berth.api.insights.index.getImage(image.digest)).toBeUndefined();
    expect((await berth.api.insights.index.unindexed(1000)).map((u) => u.digest)).toContain(image.digest);
    await berth.jobs.runner.enqueue({ type: 'index.backfill', payload: {} });
    berth.jobs.runner.notify();
    expect((await indexed(image.digest)).status).toBe('indexed');
    expect(await berth.api.insights.index.unindexed(1000)).toEqual([]);

    // A record an older indexer format made (as a newer Berth finds it) is indexed again by the
    // backfill, and the scanner does not take its inventory meanwhile.
    expect((await berth.api.insights.index.getImage(image.digest))?.format).toBe(indexFormat);
    await sql`update image_index set format = ${indexFormat - 1}, indexed_at = 1 where digest = ${image.digest}`.execute(db.db);
    expect(await berth.api.insights.storedInventory(image.digest)).toBeUndefined();
    expect((await berth.api.insights.index.unindexed(1000, indexFormat)).map((u) => u.digest)).toEqual([image.digest]);
    await berth.jobs.runner.enqueue({ type: 'index.backfill', payload: {} });
    berth.jobs.runner.notify();
    for (const deadline = Date.now() + 20_000; (await berth.api.insights.index.getImage(image.digest))?.format !== indexFormat; ) {
      if (Date.now() > deadline) throw new Error('the backfill did not index the older record again');
      await new Promise((r) => setTimeout(r, 100));
    }
    const again = (await berth.api.insights.index.getImage(image.digest))!;
    expect(again.indexedAt).toBeGreaterThan(1);
    expect(await berth.api.insights.storedInventory(image.digest)).toEqual({ packages: [] });
    expect(await berth.api.insights.index.unindexed(1000, indexFormat)).toEqual([]);

    expect((await registry.fetch(`/v2/idx/backfill/manifests/${image.digest}`, { method: 'DELETE' })).status).toBe(202);
    await berth.jobs.runner.enqueue({ type: 'index.prune', payload: {} });
    berth.jobs.runner.notify();
    await until(async () => (await berth.api.insights.index.getImage(image.digest)) === undefined, 30_000, 'the pruned record');
  });
});
