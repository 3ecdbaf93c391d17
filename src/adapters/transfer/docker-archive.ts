import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { parseManifest, type Platform } from '../../domain/manifest.js';
import { MediaType } from '../../domain/media-types.js';
import type { UpstreamDescriptor, UpstreamManifest, UpstreamRegistry } from '../../ports/upstream-registry.js';
import { LayoutContentError, type ArchiveStorage } from './layout-storage.js';
import { blobPath, type OciLayout } from './oci-layout.js';

/** One image of `docker save`'s manifest.json. */
interface SavedImage {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** The platform a docker-archive holds of a multi-platform image, as `os/arch[/variant]`. */
export function hostPlatform(): string {
  const arch = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[process.arch] ?? process.arch;
  return `linux/${arch}`;
}

/** The entry of an index for `os/arch[/variant]`, undefined when it has none. */
export function platformChild(index: Buffer, platform: string): string | undefined {
  const [os, architecture, variant] = platform.split('/');
  const parsed = parseManifest(index, undefined);
  const matches = (p: Platform | undefined) => p !== undefined && p.os === os && p.architecture === architecture && (variant === undefined || p.variant === variant);
  return parsed.manifests.find((m) => matches(m.platform))?.digest;
}

/**
 * Completes a layout written into an archive as a docker-archive: the manifest.json that
 * `docker load` and `podman load` read, beside the OCI index (the format `docker save` writes
 * since Docker 25). Each tagged entry must be one image (not an index); its layers stay as they
 * are (compressed), which both loaders accept.
 */
export async function addDockerManifest(layout: OciLayout): Promise<void> {
  const images: SavedImage[] = [];
  for (const { repository, tag, entry } of layout.tagged()) {
    const manifest = await layout.getManifest(repository, tag);
    if (!manifest) throw new LayoutContentError(`${repository}:${tag} is missing from the archive`);
    const parsed = parseManifest(manifest.body, manifest.mediaType);
    if (parsed.kind !== 'image' || !parsed.config) throw new LayoutContentError(`${entry.digest} is not an image manifest: a docker-archive holds one platform's image (choose one with --platform)`);
    images.push({ Config: blobPath(parsed.config.digest), RepoTags: [repository === '' ? tag : `${repository}:${tag}`], Layers: parsed.layers.map((l) => blobPath(l.digest)) });
  }
  layout.addFile('manifest.json', Buffer.from(JSON.stringify(images)));
}

const gzipMagic = Buffer.from([0x1f, 0x8b]);

/**
 * A docker-archive (`docker save`, `podman save`) read as a registry of the images its
 * manifest.json lists. Each becomes a Docker image manifest made on opening: the config file
 * and each layer file by their digests (layers as they are in the archive: a tar, or gzip when
 * compressed), as skopeo presents such an archive. Tags are the archive's RepoTags.
 */
export class DockerArchiveSource implements UpstreamRegistry {
  private readonly files = new Map<string, string>();
  private readonly manifests = new Map<string, UpstreamManifest>();
  private readonly tags = new Map<string, string>();

  private constructor(private readonly archive: ArchiveStorage) {}

  static async open(archive: ArchiveStorage, maxManifestBytes: number): Promise<DockerArchiveSource> {
    const source = new DockerArchiveSource(archive);
    if (archive.size('manifest.json') === undefined) throw new LayoutContentError('there is no manifest.json: this is not a docker-archive (docker save), or it is incomplete');
    const saved = JSON.parse((await archive.readSmall('manifest.json', maxManifestBytes)).toString('utf8')) as SavedImage[];
    if (!Array.isArray(saved) || saved.length === 0) throw new LayoutContentError('manifest.json lists no image');
    for (const image of saved) {
      const config = await source.file(image.Config);
      const layers: UpstreamDescriptor[] = [];
      for (const name of image.Layers ?? []) {
        const layer = await source.file(name);
        layers.push({ ...layer, mediaType: (await source.startsWith(name, gzipMagic)) ? MediaType.dockerLayerGzip : MediaType.dockerLayer });
      }
      const body = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.dockerManifest,
          config: { mediaType: MediaType.dockerConfig, digest: config.digest, size: config.size },
          layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
        }),
      );
      const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      source.manifests.set(digest, { digest, mediaType: MediaType.dockerManifest, body });
      for (const tag of image.RepoTags ?? []) source.tags.set(tag, digest);
      if (!image.RepoTags?.length) source.tags.set(`@${source.tags.size}`, digest);
    }
    return source;
  }

  /** A file of the archive by its digest (hashed once, here). */
  private async file(name: string): Promise<{ digest: string; size: number }> {
    const size = this.archive.size(name);
    if (size === undefined) throw new LayoutContentError(`manifest.json names ${name}, which is not in the archive`);
    const hash = createHash('sha256');
    for await (const chunk of this.archive.read(name)) hash.update(chunk as Buffer);
    const digest = `sha256:${hash.digest('hex')}`;
    this.files.set(digest, name);
    return { digest, size };
  }

  private async startsWith(name: string, magic: Buffer): Promise<boolean> {
    for await (const chunk of this.archive.read(name)) return (chunk as Buffer).subarray(0, magic.length).equals(magic);
    return false;
  }

  /** Names of the images: their RepoTags. */
  names(): string[] {
    return [...this.tags.keys()];
  }

  async ping(): Promise<void> {}

  async headManifest(repository: string, reference: string): Promise<UpstreamDescriptor | undefined> {
    const manifest = await this.getManifest(repository, reference);
    return manifest && { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.body.length };
  }

  async getManifest(_repository: string, reference: string): Promise<UpstreamManifest | undefined> {
    return this.manifests.get(this.tags.get(reference) ?? reference);
  }

  async hasBlob(_repository: string, digest: string): Promise<boolean> {
    return this.files.has(digest);
  }

  async getBlob(_repository: string, digest: string): Promise<{ size: number; body: Readable } | undefined> {
    const name = this.files.get(digest);
    return name === undefined ? undefined : { size: this.archive.size(name)!, body: this.archive.read(name) };
  }

  async listRepositories(): Promise<string[]> {
    return [''];
  }

  async listTags(): Promise<string[]> {
    return this.names();
  }

  async referrers(): Promise<UpstreamDescriptor[]> {
    return [];
  }

  async mountBlob(): Promise<boolean> {
    return false;
  }

  async putBlob(): Promise<void> {
    throw new LayoutContentError('a docker-archive is read here; write one as a copy destination');
  }

  async putManifest(): Promise<{ subjectIndexed: boolean }> {
    throw new LayoutContentError('a docker-archive is read here; write one as a copy destination');
  }

  async deleteManifest(): Promise<void> {
    throw new LayoutContentError('a docker-archive is read here');
  }
}
