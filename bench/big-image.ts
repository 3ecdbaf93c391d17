import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startBerth, type RunningSystem } from './systems.js';

/**
 * What the benchmarks of one big image (bench/index.ts, bench/scan.ts) share: a Berth with one
 * worker on SQLite and the filesystem, layers made by tar from files written to disk (GiBs do not
 * fit in memory), pushed streamed from their files, and images of them.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);

export const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

/** A Debian 12 root's os-release and a dpkg database of 120 packages: what a scan or an index finds packages in. */
export const debianFiles = {
  'etc/os-release': 'ID=debian\nVERSION_ID="12"\n',
  'var/lib/dpkg/status': Array.from({ length: 120 }, (_, i) => `Package: pkg${i}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.${i}-1\n`).join('\n'),
};

export interface BigImageBench {
  berth: RunningSystem;
  /** The work directory (the Berth's data below it); removed by stop(). */
  work: string;
  /** The administrator's Authorization header. */
  auth: string;
  /** Pushes a blob from memory, or streamed from the file at a path. */
  pushBlob(name: string, body: Buffer | string): Promise<{ digest: string; size: number }>;
  /** Pushes an image manifest of `layers` (its config holds the tag, and `config` where given). */
  pushImage(name: string, tag: string, layers: Array<{ digest: string; size: number }>, config?: Record<string, unknown>): Promise<void>;
  /** Writes `files` (path → content) into the directory `label` of the work directory, makes of it a gzip layer file and removes it; resolves the file. */
  layer(label: string, files: Record<string, Buffer | string>): Promise<string>;
  /** Turns scanning on push off in the project library, so a push costs what the benchmark measures alone. */
  noScanOnPush(): Promise<void>;
  stop(): Promise<void>;
}

export async function startBigImageBench(prefix: string): Promise<BigImageBench> {
  const work = await mkdtemp(join(tmpdir(), prefix));
  const berth = await startBerth(root, { dataDir: join(work, 'data'), workers: 1 });
  const auth = `Basic ${Buffer.from(`${berth.credentials!.username}:${berth.credentials!.password}`).toString('base64')}`;
  const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

  async function fileDigest(path: string): Promise<string> {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
    return `sha256:${hash.digest('hex')}`;
  }

  async function pushBlob(name: string, body: Buffer | string): Promise<{ digest: string; size: number }> {
    const digest = typeof body === 'string' ? await fileDigest(body) : sha256(body);
    const size = typeof body === 'string' ? (await stat(body)).size : body.length;
    const res = await fetch(`${berth.url}/v2/${name}/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      body: typeof body === 'string' ? (createReadStream(body) as unknown as ReadableStream) : body,
      headers: { authorization: auth, 'content-type': 'application/octet-stream', 'content-length': String(size) },
      duplex: 'half',
    } as RequestInit);
    if (res.status !== 201) throw new Error(`push ${digest}: ${res.status} ${await res.text()}`);
    return { digest, size };
  }

  async function pushImage(name: string, tag: string, layers: Array<{ digest: string; size: number }>, config?: Record<string, unknown>): Promise<void> {
    const configBlob = await pushBlob(name, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', ...(config ? { config } : {}), rootfs: { type: 'layers', diff_ids: [] }, tag })));
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...configBlob },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })),
    });
    const res = await fetch(`${berth.url}/v2/${name}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { authorization: auth, 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
    if (res.status !== 201) throw new Error(`manifest ${name}:${tag}: ${res.status}`);
  }

  async function layer(label: string, files: Record<string, Buffer | string>): Promise<string> {
    const dir = join(work, label);
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), content);
    }
    const out = join(work, `${label}.tar.gz`);
    await run('tar', ['--sort=name', '--mtime=@0', '-I', 'gzip -1', '-C', dir, '-cf', out, '.']);
    await rm(dir, { recursive: true, force: true });
    return out;
  }

  async function noScanOnPush(): Promise<void> {
    const policy = await fetch(`${berth.url}/api/v1/projects/library/security-policy`, { method: 'PUT', body: JSON.stringify({ scanOnPush: false }), headers: { authorization: auth, 'content-type': 'application/json' } });
    if (policy.status !== 200) throw new Error(`security policy: ${policy.status}`);
  }

  async function stop(): Promise<void> {
    await berth.stop();
    await rm(work, { recursive: true, force: true });
  }

  return { berth, work, auth, pushBlob, pushImage, layer, noScanOnPush, stop };
}
