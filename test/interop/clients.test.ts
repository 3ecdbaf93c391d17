import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { adminCredentials, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { writeOciLayout, type WrittenLayout } from '../helpers/oci-layout.js';
import { RegistryClient, sha256 } from '../helpers/oci.js';

const exec = promisify(execFile);

async function has(tool: string): Promise<boolean> {
  try {
    await exec('sh', ['-c', `command -v ${tool}`]);
    return true;
  } catch {
    return false;
  }
}

const missing = (await Promise.all(['skopeo', 'podman', 'buildah', 'tar'].map(async (t) => ((await has(t)) ? undefined : t)))).filter(Boolean);
if (missing.length > 0) {
  console.warn(`SKIPPING interop tests: ${missing.join(', ')} not installed (Debian: apt-get install -y skopeo podman buildah)`);
}

/** Credentials file every client reads (containers-auth.json), written by `skopeo login` in beforeAll. */
const clientEnv: Record<string, string> = {};

async function run(tool: string, args: string[], timeout = 120_000): Promise<string> {
  try {
    const { stdout } = await exec(tool, args, { timeout, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ...clientEnv } });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${tool} ${args.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}${e.stdout ?? ''}`);
  }
}

describe.skipIf(missing.length > 0)(`real clients against Berth${missing.length ? ` (skipped: ${missing.join(', ')} missing)` : ''}`, () => {
  let berth: TestBerth;
  let work: string;
  let host: string;
  let layout: WrittenLayout;
  let storageArgs: string[];

  beforeAll(async () => {
    berth = await startTestBerth();
    host = `127.0.0.1:${berth.port}`;
    work = await mkdtemp(join(tmpdir(), 'berth-interop-'));
    // podman and buildah keep their own image store; give them a private one (vfs: no overlay as root in CI).
    storageArgs = ['--root', join(work, 'storage'), '--runroot', join(work, 'run'), '--storage-driver', 'vfs'];
    clientEnv.REGISTRY_AUTH_FILE = join(work, 'auth.json');
    await run('skopeo', ['login', '--tls-verify=false', '--username', adminCredentials.username, '--password', adminCredentials.password, host]);
    layout = await writeOciLayout(join(work, 'layout'), 'v1', [
      { architecture: 'amd64', files: { 'hello.txt': 'hello from amd64\n' } },
      { architecture: 'arm64', files: { 'hello.txt': 'hello from arm64\n' } },
    ]);
  });
  afterAll(async () => {
    await berth?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function manifestDigest(name: string, reference: string, accept = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json'): Promise<string | null> {
    const res = await new RegistryClient(berth.url).fetch(`/v2/${name}/manifests/${reference}`, { method: 'HEAD', headers: { Accept: accept } });
    return res.status === 200 ? res.headers.get('docker-content-digest') : null;
  }

  describe('skopeo', () => {
    it('copies a multi-arch index with --all, keeping every digest', async () => {
      await run('skopeo', ['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, `docker://${host}/interop/multi:v1`]);
      expect(await manifestDigest('interop/multi', 'v1')).toBe(layout.indexDigest);
      for (const image of layout.images) {
        expect(await manifestDigest('interop/multi', image.manifestDigest)).toBe(image.manifestDigest);
        const blob = await new RegistryClient(berth.url).fetch(`/v2/interop/multi/blobs/${image.layerDigest}`);
        expect(sha256(Buffer.from(await blob.arrayBuffer()))).toBe(image.layerDigest);
      }
      const raw = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${host}/interop/multi:v1`]);
      expect(Buffer.from(raw).equals(layout.index)).toBe(true);
    });

    it('inspects one platform and lists tags', async () => {
      await run('skopeo', ['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, `docker://${host}/interop/multi:v2`]);
      const info = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', '--override-arch', 'arm64', `docker://${host}/interop/multi:v1`])) as {
        Digest: string;
        Architecture: string;
        Layers: string[];
      };
      const arm = layout.images.find((i) => i.architecture === 'arm64')!;
      // skopeo reports the digest of what the tag names (the index) and the chosen platform's layers.
      expect(info).toMatchObject({ Digest: layout.indexDigest, Architecture: 'arm64', Layers: [arm.layerDigest] });
      const tags = JSON.parse(await run('skopeo', ['list-tags', '--tls-verify=false', `docker://${host}/interop/multi`])) as { Tags: string[] };
      expect(tags.Tags).toEqual(['v1', 'v2']);
    });

    it('copies back out of Berth into an OCI layout with identical digests', async () => {
      const out = join(work, 'out-layout');
      await run('skopeo', ['copy', '--all', '--preserve-digests', '--src-tls-verify=false', `docker://${host}/interop/multi:v1`, `oci:${out}:copy`]);
      const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
      expect(index.manifests.map((m) => m.digest)).toEqual([layout.indexDigest]);
      for (const image of layout.images) {
        const layer = await readFile(join(out, 'blobs', 'sha256', image.layerDigest.slice(7)));
        expect(sha256(layer)).toBe(image.layerDigest);
      }
    });

    it('round-trips through a docker-archive: same config and layer content', async () => {
      const archive = join(work, 'image.tar');
      const amd = layout.images.find((i) => i.architecture === 'amd64')!;
      await run('skopeo', ['copy', '--src-tls-verify=false', '--override-arch', 'amd64', `docker://${host}/interop/multi:v1`, `docker-archive:${archive}:interop/archived:v1`]);
      await run('skopeo', ['copy', '--dest-tls-verify=false', `docker-archive:${archive}`, `docker://${host}/interop/roundtrip:v1`]);
      const config = JSON.parse(await run('skopeo', ['inspect', '--config', '--raw', '--tls-verify=false', `docker://${host}/interop/roundtrip:v1`])) as {
        architecture: string;
        rootfs: { diff_ids: string[] };
      };
      expect(config.architecture).toBe('amd64');
      expect(config.rootfs.diff_ids).toEqual([amd.diffId]);
      const inspected = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', `docker://${host}/interop/roundtrip:v1`])) as { Digest: string };
      expect(inspected.Digest).toBe(await manifestDigest('interop/roundtrip', 'v1'));
    });

    it('deletes an image by tag', async () => {
      await run('skopeo', ['copy', '--dest-tls-verify=false', '--override-arch', 'amd64', `oci:${layout.dir}:v1`, `docker://${host}/interop/delete-me:v1`]);
      const digest = await manifestDigest('interop/delete-me', 'v1');
      expect(digest).toMatch(/^sha256:/);
      await run('skopeo', ['delete', '--tls-verify=false', `docker://${host}/interop/delete-me:v1`]);
      expect(await manifestDigest('interop/delete-me', 'v1')).toBeNull();
      expect(await manifestDigest('interop/delete-me', digest!)).toBeNull();
      await expect(run('skopeo', ['inspect', '--tls-verify=false', `docker://${host}/interop/delete-me:v1`])).rejects.toThrow(/manifest unknown|not found/i);
    });
  });

  describe('podman', () => {
    it('pulls an image, pushes it under a new name, and the digests agree', async () => {
      const source = `${host}/interop/multi:v1`;
      await run('podman', [...storageArgs, 'pull', '--tls-verify=false', '--arch', 'amd64', source]);
      const amd = layout.images.find((i) => i.architecture === 'amd64')!;
      const inspect = JSON.parse(await run('podman', [...storageArgs, 'image', 'inspect', source])) as Array<{ Digest: string; RepoDigests: string[]; Architecture: string }>;
      expect(inspect[0]!.Architecture).toBe('amd64');
      expect(inspect[0]!.RepoDigests).toContain(`${host}/interop/multi@${amd.manifestDigest}`);

      const target = `${host}/interop/podman:v1`;
      const digestFile = join(work, 'podman.digest');
      await run('podman', [...storageArgs, 'tag', source, target]);
      await run('podman', [...storageArgs, 'push', '--tls-verify=false', '--digestfile', digestFile, target]);
      const pushed = (await readFile(digestFile, 'utf8')).trim();
      expect(await manifestDigest('interop/podman', 'v1')).toBe(pushed);

      // And podman can pull what it pushed, from a clean store.
      await run('podman', [...storageArgs, 'rmi', '--all', '--force']);
      await run('podman', [...storageArgs, 'pull', '--tls-verify=false', target]);
      const again = JSON.parse(await run('podman', [...storageArgs, 'image', 'inspect', target])) as Array<{ RepoDigests: string[] }>;
      expect(again[0]!.RepoDigests).toContain(`${host}/interop/podman@${pushed}`);
    });

    it('lists the tags of a repository with podman search --list-tags', async () => {
      const tags = (await run('podman', [...storageArgs, 'search', '--list-tags', '--tls-verify=false', `${host}/interop/multi`])).trim().split('\n').slice(1);
      expect(tags.map((line) => line.trim().split(/\s+/).pop())).toEqual(['v1', 'v2']);
    });
  });

  describe('buildah', () => {
    it('builds an image from scratch, pushes it, and pulls it back with the same digest', async () => {
      const file = join(work, 'built.txt');
      await writeFile(file, 'built by buildah\n');
      const container = (await run('buildah', [...storageArgs, 'from', 'scratch'])).trim();
      await run('buildah', [...storageArgs, 'copy', container, file, '/built.txt']);
      await run('buildah', [...storageArgs, 'config', '--label', 'org.example.built=yes', '--arch', 'amd64', '--os', 'linux', container]);
      await run('buildah', [...storageArgs, 'commit', '--format', 'oci', container, 'localhost/built:v1']);
      const digestFile = join(work, 'buildah.digest');
      await run('buildah', [...storageArgs, 'push', '--tls-verify=false', '--digestfile', digestFile, 'localhost/built:v1', `docker://${host}/interop/built:v1`]);
      const pushed = (await readFile(digestFile, 'utf8')).trim();
      expect(await manifestDigest('interop/built', 'v1')).toBe(pushed);

      const config = JSON.parse(await run('skopeo', ['inspect', '--config', '--raw', '--tls-verify=false', `docker://${host}/interop/built:v1`])) as {
        config: { Labels: Record<string, string> };
      };
      expect(config.config.Labels['org.example.built']).toBe('yes');

      await run('buildah', [...storageArgs, 'rm', '--all']);
      await run('buildah', [...storageArgs, 'rmi', '--all', '--force']);
      await run('buildah', [...storageArgs, 'pull', '--tls-verify=false', `${host}/interop/built:v1`]);
      const images = JSON.parse(await run('buildah', [...storageArgs, 'images', '--json'])) as Array<{ names: string[]; digest: string }>;
      const pulled = images.find((i) => i.names?.includes(`${host}/interop/built:v1`));
      expect(pulled?.digest).toBe(pushed);
    });
  });
});
