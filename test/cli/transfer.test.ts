import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, mkdtemp, open, readFile, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminCredentials, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ContainerTools, missingTools } from '../helpers/clients.js';
import { imageManifest, jsonBlob, randomImage, RegistryClient, sha256, OCI_MANIFEST, OCI_INDEX } from '../helpers/oci.js';
import { writeOciLayout, type WrittenLayout } from '../helpers/oci-layout.js';
import { runBerthCommand } from '../helpers/process.js';
import { scanTar } from '../../src/adapters/transfer/tar.js';

// Offline transfer (docs/offline-transfer.md): berth copy / export / import, run as the built
// CLI against the data directory of a Berth that keeps serving, checked by skopeo and podman.
const missing = await missingTools(['skopeo', 'podman', 'tar']);

const creds = `${adminCredentials.username}:${adminCredentials.password}`;

describe('berth copy, export and import', () => {
  let work: string;
  let source: TestBerth;
  let client: RegistryClient;
  let layout: WrittenLayout;
  let host: string;
  const digests = new Map<string, string>();
  let signature: string;
  let sbom: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-transfer-'));
    source = await startTestBerth();
    client = new RegistryClient(source.url);
    host = new URL(source.url).host;
    // A real two-platform image, built with tar, copied in by `berth copy` from an OCI layout.
    layout = await writeOciLayout(join(work, 'layout'), 'v1', [
      { architecture: 'amd64', files: { 'hello.txt': 'hello from amd64\n' } },
      { architecture: 'arm64', files: { 'hello.txt': 'hello from arm64\n' } },
    ]);
    const copied = await runBerthCommand(['copy', `oci:${layout.dir}:v1`, `docker://${host}/team/app:v1`, '--dest-tls-verify=false', '--dest-creds', creds]);
    expect(copied.code).toBe(0);
    // Without a terminal, progress is plain lines; the last says all of it.
    let total = 0;
    for (const image of layout.images) for (const blob of [image.configDigest, image.layerDigest]) total += (await stat(join(layout.dir, 'blobs', 'sha256', blob.slice(7)))).size;
    expect(copied.stderr.trim().split('\n').at(-1)).toMatch(new RegExp(`^copy: ${total} B of ${total} B \\(100%\\), `));
    expect(copied.stdout).toMatch(new RegExp(`^copied ${layout.indexDigest}: 4 blobs copied`));
    digests.set('team/app:v1', layout.indexDigest);
    // A signature and an SBOM that refer to the index.
    const subject = { mediaType: OCI_INDEX, digest: layout.indexDigest, size: layout.index.length };
    const empty = jsonBlob({});
    const sig = jsonBlob({ critical: { image: { 'docker-manifest-digest': layout.indexDigest } } });
    await client.pushBlob('team/app', empty);
    await client.pushBlob('team/app', sig);
    const sigManifest = imageManifest(empty, [sig], { artifactType: 'application/vnd.dev.cosign.simplesigning.v1+json', subject });
    expect((await client.pushManifest('team/app', sha256(sigManifest), sigManifest)).status).toBe(201);
    signature = sha256(sigManifest);
    const spdx = jsonBlob({ spdxVersion: 'SPDX-2.3', name: 'team/app' });
    await client.pushBlob('team/app', spdx);
    const sbomManifest = imageManifest(empty, [spdx], { artifactType: 'application/spdx+json', subject });
    expect((await client.pushManifest('team/app', sha256(sbomManifest), sbomManifest)).status).toBe(201);
    sbom = sha256(sbomManifest);
    const v2 = await client.pushImage('team/app', 'v2', randomImage(2, 300_000));
    digests.set('team/app:v2', v2.digest);
    const tool = await client.pushImage('team/tools/cli', '1.0', randomImage(1, 100_000));
    digests.set('team/tools/cli:1.0', tool.digest);
    await client.pushImage('other/thing', 'x', randomImage(1, 1000));
  }, 120_000);

  afterAll(async () => {
    await source?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const exportFile = () => join(work, 'team.tar');

  it('exports a project into an archive that skopeo reads as an OCI layout', async () => {
    const run = await runBerthCommand(['export', 'team', exportFile(), '--data-dir', source.dataDir]);
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^exported 3 images of team to /);
    const names = (await scanTar(exportFile())).entries.map((e) => e.name);
    expect(names).toContain('index.json');
    expect(names).toContain('berth-export.json');
    const index = JSON.parse(await tarFile(exportFile(), 'index.json')) as { manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
    const tagged = Object.fromEntries(index.manifests.filter((m) => m.annotations?.['org.opencontainers.image.ref.name']).map((m) => [m.annotations!['org.opencontainers.image.ref.name'], m.digest]));
    expect(tagged).toEqual(Object.fromEntries(digests));
    // Referrers travel as untagged entries.
    expect(index.manifests.filter((m) => !m.annotations?.['org.opencontainers.image.ref.name']).map((m) => m.digest).sort()).toEqual([signature, sbom].sort());
    const contents = JSON.parse(await tarFile(exportFile(), 'berth-export.json')) as { images: Array<{ repository: string; tag: string; digest: string }> };
    expect(contents.images.map((i) => `${i.repository}:${i.tag}=${i.digest}`).sort()).toEqual([...digests].map(([k, v]) => `${k}=${v}`).sort());
    if (missing.includes('skopeo')) return;
    const tools = new ContainerTools(work);
    const raw = await tools.skopeo(['inspect', '--raw', `oci-archive:${exportFile()}:team/app:v2`]);
    expect(sha256(Buffer.from(raw))).toBe(digests.get('team/app:v2'));
  }, 120_000);

  it('imports the archive into a fresh data directory with every digest, referrers included', async () => {
    const fresh = await mkdtemp(join(work, 'fresh-'));
    const run = await runBerthCommand(['import', exportFile(), '--data-dir', fresh]);
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n').filter((l) => /^team\//.test(l)).sort()).toEqual([...digests].map(([k, v]) => `${k} ${v}`).sort());
    const restored = await startTestBerth({ dataDir: fresh });
    try {
      const there = new RegistryClient(restored.url);
      for (const [name, digest] of digests) {
        const [repository, tag] = name.split(':');
        const res = await there.fetch(`/v2/${repository}/manifests/${tag}`, { headers: { accept: `${OCI_INDEX}, ${OCI_MANIFEST}` } });
        expect(res.status).toBe(200);
        expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(digest);
      }
      for (const image of layout.images) {
        for (const blob of [image.configDigest, image.layerDigest]) {
          const res = await there.fetch(`/v2/team/app/blobs/${blob}`);
          expect(res.status).toBe(200);
          expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(blob);
        }
      }
      const referrers = (await (await there.fetch(`/v2/team/app/referrers/${layout.indexDigest}`)).json()) as { manifests: Array<{ digest: string }> };
      expect(referrers.manifests.map((m) => m.digest).sort()).toEqual([signature, sbom].sort());
      const catalog = (await (await there.fetch('/v2/_catalog')).json()) as { repositories: string[] };
      expect(catalog.repositories).toEqual(['team/app', 'team/tools/cli']);
      // A second import finds everything there and copies nothing.
      const again = await runBerthCommand(['import', exportFile(), '--data-dir', fresh]);
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/imported 3 images from .*: 0 blobs copied \(0 B/);
    } finally {
      await restored.stop();
    }
  }, 120_000);

  it('refuses a truncated archive with a clear error and imports nothing', async () => {
    const cut = join(work, 'cut.tar');
    await copyFile(exportFile(), cut);
    await truncate(cut, Math.floor((await stat(cut)).size * 0.6));
    const fresh = await mkdtemp(join(work, 'fresh-cut-'));
    const run = await runBerthCommand(['import', cut, '--data-dir', fresh]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/berth import: .*cut\.tar cannot be imported: .*cut\.tar is incomplete or damaged: ".*" needs \d+ bytes at byte \d+ but the file ends at \d+; nothing was imported/);
    const restored = await startTestBerth({ dataDir: fresh });
    try {
      const catalog = (await (await new RegistryClient(restored.url).fetch('/v2/_catalog')).json()) as { repositories: string[] };
      expect(catalog.repositories).toEqual([]);
    } finally {
      await restored.stop();
    }
  }, 60_000);

  it('refuses an archive whose blob was altered, naming the blob', async () => {
    const bad = join(work, 'bad.tar');
    await copyFile(exportFile(), bad);
    const entry = (await scanTar(bad)).entries.find((e) => e.name === `blobs/sha256/${digests.get('team/app:v2')!.slice(7)}`);
    expect(entry).toBeDefined();
    const v2 = JSON.parse(await tarFile(bad, entry!.name)) as { layers: Array<{ digest: string }> };
    const layer = (await scanTar(bad)).entries.find((e) => e.name === `blobs/sha256/${v2.layers[0]!.digest.slice(7)}`)!;
    // Flip every bit of one byte: writing a fixed byte would change nothing where the layer already held it.
    const file = await open(bad, 'r+');
    const byte = Buffer.alloc(1);
    await file.read(byte, 0, 1, layer.offset + 10);
    byte[0] = byte[0]! ^ 0xff;
    await file.write(byte, 0, 1, layer.offset + 10);
    await file.close();
    const run = await runBerthCommand(['import', bad, '--data-dir', await mkdtemp(join(work, 'fresh-bad-'))]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`blob ${v2.layers[0]!.digest} is damaged: its bytes hash to sha256:`);
    expect(run.stderr).toContain('nothing was imported');
  }, 60_000);

  it('resumes an interrupted export, keeping the whole blobs already written', async () => {
    const partial = join(work, 'partial.tar');
    await copyFile(exportFile(), partial);
    const entries = (await scanTar(partial)).entries;
    // Cut in the middle of the fourth blob: three whole ones stay.
    await truncate(partial, entries[3]!.offset + Math.floor(entries[3]!.size / 2));
    const run = await runBerthCommand(['export', 'team', partial, '--data-dir', source.dataDir]);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`export: resuming ${partial}: 3 blobs already in it are kept`);
    const fresh = await mkdtemp(join(work, 'fresh-resumed-'));
    const imported = await runBerthCommand(['import', partial, '--data-dir', fresh]);
    expect(imported.code).toBe(0);
    expect(imported.stdout).toMatch(/^imported 3 images from /m);
    // A finished archive is not appended to.
    const again = await runBerthCommand(['export', 'team', partial, '--data-dir', source.dataDir]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('is a finished archive: remove it, or give --fresh');
  }, 120_000);

  it('prints each outcome as one JSON document with --json, a refused archive included', async () => {
    const file = join(work, 'tools.tar');
    const exported = await runBerthCommand(['export', 'team/tools/cli:1.0', file, '--data-dir', source.dataDir, '--json']);
    expect(exported.code).toBe(0);
    const out = JSON.parse(exported.stdout) as { selection: string; file: string; images: unknown[]; counts: { manifestsCopied: number }; seconds: number };
    expect(out).toMatchObject({ selection: 'team/tools/cli:1.0', file, images: [{ repository: 'team/tools/cli', tag: '1.0', digest: digests.get('team/tools/cli:1.0') }] });
    expect(out.counts.manifestsCopied).toBe(1);
    expect(out.seconds).toBeGreaterThan(0);

    const fresh = await mkdtemp(join(work, 'fresh-json-'));
    const listed = await runBerthCommand(['import', file, '--data-dir', fresh, '--dry-run', '--json']);
    expect(JSON.parse(listed.stdout)).toEqual({ file, dryRun: true, images: [{ repository: 'team/tools/cli', tag: '1.0', digest: digests.get('team/tools/cli:1.0') }] });
    const imported = await runBerthCommand(['import', file, '--data-dir', fresh, '--json']);
    expect(imported.code).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ file, images: [{ repository: 'team/tools/cli', tag: '1.0', digest: digests.get('team/tools/cli:1.0') }] });

    const copied = await runBerthCommand(['copy', `oci:${layout.dir}:v1`, `docker://${host}/team/json:v1`, '--dest-tls-verify=false', '--dest-creds', creds, '--json']);
    expect(copied.code).toBe(0);
    const copy = JSON.parse(copied.stdout) as { counts: { blobsCopied: number; blobsMounted: number; blobsSkipped: number } };
    expect(copy).toMatchObject({ source: `oci:${layout.dir}:v1`, destination: `docker://${host}/team/json:v1`, digest: layout.indexDigest });
    // Two platforms, each a config and a layer.
    expect(copy.counts.blobsCopied + copy.counts.blobsMounted + copy.counts.blobsSkipped).toBe(4);

    const cut = join(work, 'cut-json.tar');
    await copyFile(file, cut);
    await truncate(cut, Math.floor((await stat(cut)).size / 2));
    const refused = await runBerthCommand(['import', cut, '--data-dir', fresh, '--json']);
    expect(refused.code).toBe(1);
    const { error } = JSON.parse(refused.stdout) as { error: { code: string; message: string } };
    expect(error.code).toBe('FAILED');
    expect(error.message).toMatch(/^import: .*cut-json\.tar cannot be imported: .*; nothing was imported$/);
  }, 120_000);

  it.skipIf(missing.length > 0)('writes a docker-archive that podman load loads, one platform of the index', async () => {
    const archive = join(work, 'app.tar');
    const run = await runBerthCommand(['copy', `docker://${host}/team/app:v1`, `docker-archive:${archive}:team/app:v1`, '--src-tls-verify=false', '--src-creds', creds, '--platform', 'linux/arm64']);
    expect(run.stderr).not.toContain('berth');
    expect(run.code).toBe(0);
    const arm = layout.images.find((i) => i.architecture === 'arm64')!;
    expect(run.stdout).toMatch(new RegExp(`^copied ${arm.manifestDigest}: `));
    const tools = new ContainerTools(join(work, 'podman'));
    const loaded = await tools.podman(['load', '-i', archive]);
    expect(loaded).toContain('team/app:v1');
    const inspect = JSON.parse(await tools.podman(['image', 'inspect', 'team/app:v1'])) as Array<{ Id: string; Architecture: string; RootFS: { Layers: string[] } }>;
    expect(`sha256:${inspect[0]!.Id}`).toBe(arm.configDigest);
    expect(inspect[0]!.Architecture).toBe('arm64');
    expect(inspect[0]!.RootFS.Layers).toEqual([arm.diffId]);
    // And back: skopeo reads the docker-archive Berth wrote; berth copy reads it into a registry.
    const back = await runBerthCommand(['copy', `docker-archive:${archive}`, `docker://${host}/team/from-archive:arm`, '--dest-tls-verify=false', '--dest-creds', creds]);
    expect(back.code).toBe(0);
    const config = await client.fetch(`/v2/team/from-archive/blobs/${arm.configDigest}`);
    expect(config.status).toBe(200);
  }, 180_000);
});

/** A small file of a tar archive. */
async function tarFile(path: string, name: string): Promise<string> {
  const entry = (await scanTar(path)).entries.find((e) => e.name === name);
  if (!entry) throw new Error(`${name} is not in ${path}`);
  return (await readFile(path)).subarray(entry.offset, entry.offset + entry.size).toString('utf8');
}
