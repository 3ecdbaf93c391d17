import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';

const exec = promisify(execFile);

export interface LayoutImage {
  architecture: string;
  files: Record<string, string | Buffer>;
}

export interface WrittenLayout {
  dir: string;
  indexDigest: string;
  index: Buffer;
  images: Array<{ architecture: string; manifestDigest: string; configDigest: string; layerDigest: string; diffId: string }>;
}

function sha256(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * Writes an OCI image layout (image-spec "Image Layout") holding a multi-arch index, built
 * from real tar.gz layers made by the system `tar`, for clients to copy from.
 */
export async function writeOciLayout(dir: string, tag: string, images: LayoutImage[]): Promise<WrittenLayout> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = async (data: Buffer) => {
    const digest = sha256(data);
    await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), data);
    return digest;
  };
  const written: WrittenLayout['images'] = [];
  const descriptors = [];
  for (const image of images) {
    const root = await mkdtemp(join(tmpdir(), 'berth-layer-'));
    for (const [name, content] of Object.entries(image.files)) {
      await mkdir(dirname(join(root, name)), { recursive: true });
      await writeFile(join(root, name), content);
    }
    const tarball = join(root, '..', `${root.split('/').pop()}.tar.gz`);
    await exec('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', root, '-czf', tarball, '.']);
    const layer = await readFile(tarball);
    await rm(root, { recursive: true, force: true });
    await rm(tarball, { force: true });
    const diffId = sha256(gunzipSync(layer));
    const layerDigest = await put(layer);
    const config = Buffer.from(
      JSON.stringify({
        architecture: image.architecture,
        os: 'linux',
        config: { Cmd: ['/bin/true'], Labels: { 'org.example.arch': image.architecture } },
        rootfs: { type: 'layers', diff_ids: [diffId] },
        history: [{ created_by: 'berth interop test' }],
      }),
    );
    const configDigest = await put(config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
      }),
    );
    const manifestDigest = await put(manifest);
    descriptors.push({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: manifestDigest,
      size: manifest.length,
      platform: { architecture: image.architecture, os: 'linux' },
    });
    written.push({ architecture: image.architecture, manifestDigest, configDigest, layerDigest, diffId });
  }
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: descriptors }));
  const indexDigest = await put(index);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: indexDigest, size: index.length, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }),
  );
  return { dir, indexDigest, index, images: written };
}
