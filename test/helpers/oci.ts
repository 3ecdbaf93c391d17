import { createHash, randomBytes } from 'node:crypto';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function sha512(data: Uint8Array | string): string {
  return `sha512:${createHash('sha512').update(data).digest('hex')}`;
}

export interface Blob {
  data: Buffer;
  digest: string;
}

export function randomBlob(size = 1024): Blob {
  const data = randomBytes(size);
  return { data, digest: sha256(data) };
}

export function jsonBlob(value: unknown): Blob {
  const data = Buffer.from(JSON.stringify(value));
  return { data, digest: sha256(data) };
}

export interface Image {
  config: Blob;
  layers: Blob[];
  manifest: Buffer;
  digest: string;
}

/** An OCI image index of images, each for `linux/<architecture>`. */
export function imageIndex(platforms: Array<{ image: { digest: string; manifest: Buffer }; architecture: string }>): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: platforms.map(({ image, architecture }) => ({ mediaType: OCI_MANIFEST, digest: image.digest, size: image.manifest.length, platform: { architecture, os: 'linux' } })),
    }),
  );
}

export function imageManifest(config: Blob, layers: Blob[], extra: Record<string, unknown> = {}, mediaType = OCI_MANIFEST): Buffer {
  const doc = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: mediaType === DOCKER_MANIFEST ? 'application/vnd.docker.container.image.v1+json' : OCI_CONFIG, digest: config.digest, size: config.data.length },
    layers: layers.map((l) => ({
      mediaType: mediaType === DOCKER_MANIFEST ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : OCI_LAYER,
      digest: l.digest,
      size: l.data.length,
    })),
    ...extra,
  };
  return Buffer.from(JSON.stringify(doc));
}

export function randomImage(layerCount = 2, layerSize = 2048, extra: Record<string, unknown> = {}): Image {
  const config = jsonBlob({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') });
  const layers = Array.from({ length: layerCount }, () => randomBlob(layerSize));
  const manifest = imageManifest(config, layers, extra);
  return { config, layers, manifest, digest: sha256(manifest) };
}

/** A small client for the distribution API, for tests that speak HTTP directly. */
export class RegistryClient {
  readonly authorization: string | undefined;

  /** Sends Basic credentials with every request unless `credentials` is null (anonymous). */
  constructor(
    readonly base: string,
    credentials: { username: string; password: string } | null = { username: 'admin', password: 'Admin-Passw0rd' },
  ) {
    this.authorization = credentials ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` : undefined;
  }

  fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.authorization && !headers.has('authorization')) headers.set('authorization', this.authorization);
    return fetch(new URL(path, this.base), { redirect: 'manual', ...init, headers });
  }

  async pushBlob(name: string, blob: Blob): Promise<Response> {
    return this.fetch(`/v2/${name}/blobs/uploads/?digest=${blob.digest}`, {
      method: 'POST',
      body: blob.data,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
  }

  async startUpload(name: string): Promise<string> {
    const res = await this.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
    if (res.status !== 202) throw new Error(`start upload: ${res.status} ${await res.text()}`);
    return res.headers.get('location')!;
  }

  async pushManifest(name: string, reference: string, body: Buffer, mediaType = OCI_MANIFEST): Promise<Response> {
    return this.fetch(`/v2/${name}/manifests/${reference}`, { method: 'PUT', body, headers: { 'Content-Type': mediaType } });
  }

  async pushImage(name: string, tag: string, image: Image = randomImage()): Promise<Image> {
    for (const blob of [image.config, ...image.layers]) {
      const res = await this.pushBlob(name, blob);
      if (res.status !== 201) throw new Error(`push blob: ${res.status} ${await res.text()}`);
    }
    const res = await this.pushManifest(name, tag, image.manifest);
    if (res.status !== 201) throw new Error(`push manifest: ${res.status} ${await res.text()}`);
    return image;
  }
}

/** The `errors[0].code` of an OCI error response. */
export async function errorCode(res: Response): Promise<string | undefined> {
  const body = (await res.json()) as { errors?: Array<{ code: string }> };
  return body.errors?.[0]?.code;
}
