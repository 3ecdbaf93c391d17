import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { parseManifest, requiredReferences, type ParsedManifest } from '../../domain/manifest.js';
import { MediaType } from '../../domain/media-types.js';
import type { UpstreamDescriptor, UpstreamManifest, UpstreamRegistry } from '../../ports/upstream-registry.js';
import { LayoutContentError, type LayoutStorage } from './layout-storage.js';

/** The image-spec's annotation naming a tagged entry of index.json. */
export const refNameAnnotation = 'org.opencontainers.image.ref.name';
/** Berth's annotation: the repository an entry came from, so one layout can carry a whole project. */
export const repositoryAnnotation = 'io.berth.repository';

export interface IndexEntry {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: unknown;
}

export interface OciLayoutOptions {
  /** Largest manifest or index.json read into memory. */
  maxManifestBytes: number;
}

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

const isDigest = (reference: string) => /^[a-z0-9]+:[a-f0-9]{32,}$/.test(reference);

export function blobPath(digest: string): string {
  const [algorithm, hex] = digest.split(':');
  if (!algorithm || !hex || !/^[a-z0-9]+$/.test(algorithm) || !/^[a-f0-9]+$/.test(hex)) throw new LayoutContentError(`"${digest}" is not a digest`);
  return `blobs/${algorithm}/${hex}`;
}

/**
 * The name a tagged entry carries: the tag alone for a layout holding one image (as skopeo
 * writes `oci:dir:tag`), `repository:tag` when the layout carries several repositories.
 */
export function refName(repository: string, tag: string): string {
  return repository === '' ? tag : `${repository}:${tag}`;
}

/**
 * An OCI image layout (image-spec "Image Layout": `oci-layout`, `index.json`, `blobs/`) seen as
 * a registry, so the one copier moves images between it and any registry. Tagged images are
 * entries of index.json named by `org.opencontainers.image.ref.name`; referrers (signatures,
 * SBOMs) are untagged entries, found again by their `subject`. Blobs are written once each and
 * checked against their digest as they stream in. `finish()` writes index.json.
 */
export class OciLayout implements UpstreamRegistry {
  private entries: IndexEntry[] = [];
  private readonly subjects = new Map<string, string | undefined>();
  /** Extra files written by finish() after index.json (a contents list, docker's manifest.json). */
  private readonly extras: Array<{ name: string; data: Buffer }> = [];

  private constructor(
    readonly storage: LayoutStorage,
    private readonly options: OciLayoutOptions,
  ) {}

  /** A layout to read: index.json must be there. */
  static async read(storage: LayoutStorage, options: OciLayoutOptions): Promise<OciLayout> {
    const layout = new OciLayout(storage, options);
    if (storage.size('index.json') === undefined) throw new LayoutContentError('there is no index.json: this is not an OCI image layout, or it is incomplete');
    let index: { manifests?: unknown };
    try {
      index = JSON.parse((await storage.readSmall('index.json', options.maxManifestBytes)).toString('utf8')) as { manifests?: unknown };
    } catch (err) {
      if (err instanceof LayoutContentError) throw err;
      throw new LayoutContentError(`index.json is not valid JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(index.manifests)) throw new LayoutContentError('index.json has no "manifests" list');
    layout.entries = (index.manifests as IndexEntry[]).filter((m) => typeof m?.digest === 'string' && typeof m.mediaType === 'string');
    return layout;
  }

  /** A layout to write into; an existing index.json (a directory written before) is kept and added to. */
  static async write(storage: LayoutStorage, options: OciLayoutOptions): Promise<OciLayout> {
    return storage.size('index.json') === undefined ? new OciLayout(storage, options) : OciLayout.read(storage, options);
  }

  /** Entries of index.json, tagged ones and referrers. */
  get index(): readonly IndexEntry[] {
    return this.entries;
  }

  /** Tagged entries as repository and tag (repository '' for a layout of one unnamed image). */
  tagged(): Array<{ repository: string; tag: string; entry: IndexEntry }> {
    return this.entries.flatMap((entry) => {
      const name = entry.annotations?.[refNameAnnotation];
      if (name === undefined) return [];
      const repository = entry.annotations?.[repositoryAnnotation] ?? '';
      const tag = repository !== '' && name.startsWith(`${repository}:`) ? name.slice(repository.length + 1) : name;
      return [{ repository, tag, entry }];
    });
  }

  /** Adds a file written after index.json by finish(). */
  addFile(name: string, data: Buffer): void {
    this.extras.push({ name, data });
  }

  async finish(): Promise<void> {
    const small = async (name: string, data: Buffer) => this.storage.write(name, data.length, Readable.from([data]));
    await small('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
    await small('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: this.entries })));
    for (const extra of this.extras) await small(extra.name, extra.data);
    await this.storage.close();
  }

  async ping(): Promise<void> {}

  private find(repository: string, reference: string): IndexEntry | undefined {
    const name = refName(repository, reference);
    return this.entries.find((e) => e.annotations?.[refNameAnnotation] === name);
  }

  async headManifest(repository: string, reference: string): Promise<UpstreamDescriptor | undefined> {
    if (!isDigest(reference)) {
      const entry = this.find(repository, reference);
      return entry && { digest: entry.digest, mediaType: entry.mediaType, size: entry.size };
    }
    const manifest = await this.getManifest(repository, reference);
    return manifest && { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.body.length };
  }

  async getManifest(repository: string, reference: string): Promise<UpstreamManifest | undefined> {
    const entry = isDigest(reference) ? undefined : this.find(repository, reference);
    const digest = entry?.digest ?? (isDigest(reference) ? reference : undefined);
    if (!digest || this.storage.size(blobPath(digest)) === undefined) return undefined;
    const body = await this.storage.readSmall(blobPath(digest), this.options.maxManifestBytes);
    if (sha256(body) !== digest) throw new LayoutContentError(`the manifest ${digest} in the layout does not match its digest`);
    return { digest, mediaType: entry?.mediaType ?? this.parse(body, digest).mediaType, body };
  }

  private parse(body: Buffer, digest: string): ParsedManifest {
    try {
      return parseManifest(body, undefined);
    } catch (err) {
      throw new LayoutContentError(`${digest} in the layout is not a manifest: ${(err as Error).message}`);
    }
  }

  async hasBlob(_repository: string, digest: string): Promise<boolean> {
    return this.storage.size(blobPath(digest)) !== undefined;
  }

  async getBlob(_repository: string, digest: string): Promise<{ size: number; body: Readable } | undefined> {
    const size = this.storage.size(blobPath(digest));
    return size === undefined ? undefined : { size, body: this.storage.read(blobPath(digest)) };
  }

  async listRepositories(): Promise<string[]> {
    return [...new Set(this.tagged().map((t) => t.repository))].sort();
  }

  async listTags(repository: string): Promise<string[]> {
    return this.tagged()
      .filter((t) => t.repository === repository)
      .map((t) => t.tag);
  }

  async referrers(repository: string, digest: string): Promise<UpstreamDescriptor[]> {
    const found: UpstreamDescriptor[] = [];
    for (const entry of this.entries) {
      if (entry.annotations?.[refNameAnnotation] !== undefined) continue;
      if (repository !== '' && (entry.annotations?.[repositoryAnnotation] ?? repository) !== repository) continue;
      if ((await this.subjectOf(entry)) === digest) found.push({ digest: entry.digest, mediaType: entry.mediaType, size: entry.size });
    }
    return found;
  }

  private async subjectOf(entry: IndexEntry): Promise<string | undefined> {
    if (!this.subjects.has(entry.digest)) {
      const manifest = await this.getManifest('', entry.digest);
      this.subjects.set(entry.digest, manifest && this.parse(manifest.body, entry.digest).subject?.digest);
    }
    return this.subjects.get(entry.digest);
  }

  async mountBlob(): Promise<boolean> {
    return false;
  }

  async putBlob(_repository: string, digest: string, size: number, body: Readable): Promise<void> {
    if (this.storage.size(blobPath(digest)) !== undefined) {
      body.destroy();
      return;
    }
    await this.storage.write(blobPath(digest), size, body, digest);
  }

  async putManifest(repository: string, reference: string, manifest: { mediaType: string; body: Buffer }): Promise<{ subjectIndexed: boolean }> {
    const digest = sha256(manifest.body);
    await this.putBlob(repository, digest, manifest.body.length, Readable.from([manifest.body]));
    const parsed = this.parse(manifest.body, digest);
    const annotations: Record<string, string> = repository === '' ? {} : { [repositoryAnnotation]: repository };
    const entry: IndexEntry = { mediaType: parsed.mediaType, digest, size: manifest.body.length, ...(parsed.artifactType ? { artifactType: parsed.artifactType } : {}) };
    if (reference !== digest) {
      const name = refName(repository, reference);
      this.entries = this.entries.filter((e) => e.annotations?.[refNameAnnotation] !== name);
      this.entries.push({ ...entry, annotations: { ...annotations, [refNameAnnotation]: name } });
    } else if (parsed.subject) {
      this.subjects.set(digest, parsed.subject.digest);
      const known = this.entries.some((e) => e.digest === digest && e.annotations?.[refNameAnnotation] === undefined && (e.annotations?.[repositoryAnnotation] ?? '') === repository);
      if (!known) this.entries.push({ ...entry, ...(repository === '' ? {} : { annotations }) });
    }
    return { subjectIndexed: true };
  }

  async deleteManifest(repository: string, reference: string): Promise<void> {
    const name = refName(repository, reference);
    this.entries = this.entries.filter((e) => e.annotations?.[refNameAnnotation] !== name && e.digest !== reference);
  }

  /**
   * Checks that everything the entries need is present and whole: each manifest parses and
   * matches its digest, each blob a manifest references has the size it promised; with
   * `hashBlobs`, every blob's bytes are hashed too. Resolves the problems found (none: usable).
   */
  async verify(hashBlobs: boolean, onBytes?: (bytes: number) => void): Promise<{ problems: string[]; blobs: number; bytes: number; blobBytes: number }> {
    const problems: string[] = [];
    const blobs = new Map<string, number>();
    const manifests = new Set<string>();
    const seen = new Set<string>();
    const visit = async (digest: string, depth: number): Promise<void> => {
      if (seen.has(digest) || depth > 8) return;
      seen.add(digest);
      let manifest: UpstreamManifest | undefined;
      try {
        manifest = await this.getManifest('', digest);
      } catch (err) {
        problems.push((err as Error).message);
        return;
      }
      if (!manifest) {
        problems.push(`manifest ${digest} is missing`);
        return;
      }
      blobs.set(digest, manifest.body.length);
      manifests.add(digest);
      let parsed: ParsedManifest;
      try {
        parsed = this.parse(manifest.body, digest);
      } catch (err) {
        problems.push((err as Error).message);
        return;
      }
      const references = requiredReferences(parsed);
      const sizes = new Map([parsed.config, ...parsed.layers].filter((d) => d !== undefined).map((d) => [d.digest as string, d.size]));
      for (const blob of references.blobs) {
        const size = this.storage.size(blobPath(blob));
        if (size === undefined) problems.push(`blob ${blob} (of manifest ${digest}) is missing`);
        else if (size !== sizes.get(blob)) problems.push(`blob ${blob} is ${size} bytes; manifest ${digest} says ${sizes.get(blob)}`);
        else blobs.set(blob, size);
      }
      for (const child of references.manifests) await visit(child, depth + 1);
    };
    for (const entry of this.entries) await visit(entry.digest, 0);
    if (hashBlobs) {
      for (const [digest, size] of blobs) {
        if (size === undefined || problems.length > 20) continue;
        const hash = createHash('sha256');
        for await (const chunk of this.storage.read(blobPath(digest))) {
          hash.update(chunk as Buffer);
          onBytes?.((chunk as Buffer).length);
        }
        const actual = `sha256:${hash.digest('hex')}`;
        if (actual !== digest) problems.push(`blob ${digest} is damaged: its bytes hash to ${actual}`);
      }
    }
    const sum = (entries: Array<[string, number]>) => entries.reduce((total, [, size]) => total + size, 0);
    return { problems, blobs: blobs.size, bytes: sum([...blobs]), blobBytes: sum([...blobs].filter(([digest]) => !manifests.has(digest))) };
  }
}
