import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

const chunkSize = 1024 * 1024;
const zeros = Buffer.alloc(chunkSize);

/**
 * Random-looking content of any size without holding it in memory: the AES-128-CTR keystream
 * of a per-blob random key. The same seed gives the same bytes again, so a blob's digest is
 * computed once up front and the bytes are regenerated for every push (about 2 GB/s).
 */
export interface BlobSpec {
  seed: Buffer;
  size: number;
  digest: string;
}

export function randomBlobSpec(size: number): BlobSpec {
  const seed = randomBytes(16);
  const hash = createHash('sha256');
  for (const chunk of keystream(seed, size)) hash.update(chunk);
  return { seed, size, digest: `sha256:${hash.digest('hex')}` };
}

function* keystream(seed: Buffer, size: number): Generator<Buffer> {
  const cipher = createCipheriv('aes-128-ctr', seed, Buffer.alloc(16));
  for (let done = 0; done < size; done += chunkSize) {
    yield cipher.update(zeros.subarray(0, Math.min(chunkSize, size - done)));
  }
}

/** The blob's bytes from `start` to `end` (exclusive), as a stream. */
export function blobStream(spec: BlobSpec, start = 0, end = spec.size): Readable {
  function* slice(): Generator<Buffer> {
    let offset = 0;
    for (const chunk of keystream(spec.seed, end)) {
      const next = offset + chunk.length;
      if (next > start) yield offset >= start ? chunk : chunk.subarray(start - offset);
      offset = next;
    }
  }
  return Readable.from(slice(), { objectMode: false });
}

export function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export interface Image {
  config: Buffer;
  configDigest: string;
  layer: BlobSpec;
  manifest: Buffer;
  manifestDigest: string;
}

export const ociManifest = 'application/vnd.oci.image.manifest.v1+json';

/** A small OCI image: a config and one layer, with a label making the manifest unique. */
export function smallImage(label: string, layerSize: number): Image {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { bench: label } }, rootfs: { type: 'layers', diff_ids: [] } }));
  const layer = randomBlobSpec(layerSize);
  return { config, configDigest: sha256(config), layer, ...manifestFor(config, layer, label) };
}

/** A manifest over existing blobs, unique by `label` (many tags, many repositories). */
export function manifestFor(config: Buffer, layer: BlobSpec, label: string): { manifest: Buffer; manifestDigest: string } {
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: ociManifest,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer.digest, size: layer.size }],
      annotations: { 'org.example.bench': label },
    }),
  );
  return { manifest, manifestDigest: sha256(manifest) };
}
