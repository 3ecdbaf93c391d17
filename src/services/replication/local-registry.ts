import type { Readable } from 'node:stream';
import { BerthError } from '../../domain/errors.js';
import { storedManifestTypes } from '../../domain/media-types.js';
import type { UpstreamDescriptor, UpstreamManifest, UpstreamRegistry } from '../../ports/upstream-registry.js';
import type { Registry } from '../registry/index.js';

/** Codes that mean "not here" when asked for a manifest, blob or repository. */
const absent = new Set(['NAME_UNKNOWN', 'MANIFEST_UNKNOWN', 'BLOB_UNKNOWN']);

function isAbsent(err: unknown): boolean {
  return err instanceof BerthError && absent.has(err.code);
}

/**
 * This Berth seen as a registry to copy from or to (replication's source or destination),
 * through the registry services: pushes honour quotas and immutable tags, write events and
 * pin blobs against garbage collection as any push does. `actor` names who pushes in events.
 */
export class LocalRegistry implements UpstreamRegistry {
  constructor(
    private readonly registry: Registry,
    private readonly actor: string,
  ) {}

  async ping(): Promise<void> {}

  async headManifest(repository: string, reference: string): Promise<UpstreamDescriptor | undefined> {
    const manifest = await this.getManifest(repository, reference);
    return manifest && { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.body.length };
  }

  async getManifest(repository: string, reference: string): Promise<UpstreamManifest | undefined> {
    try {
      const content = await this.registry.manifests.get(repository, reference, [...storedManifestTypes]);
      return { digest: content.digest, mediaType: content.mediaType, body: content.body };
    } catch (err) {
      if (isAbsent(err)) return undefined;
      throw err;
    }
  }

  async hasBlob(repository: string, digest: string): Promise<boolean> {
    try {
      await this.registry.blobs.stat(repository, digest);
      return true;
    } catch (err) {
      if (isAbsent(err)) return false;
      throw err;
    }
  }

  async getBlob(repository: string, digest: string): Promise<{ size: number; body: Readable } | undefined> {
    try {
      const blob = await this.registry.blobs.open(repository, digest);
      return { size: blob.size, body: blob.stream };
    } catch (err) {
      if (isAbsent(err)) return undefined;
      throw err;
    }
  }

  async listRepositories(): Promise<string[]> {
    const names: string[] = [];
    let last: string | undefined;
    for (;;) {
      const page = await this.registry.catalog.repositories({ n: 1000, last });
      names.push(...page.items);
      if (!page.next) return names;
      last = page.next.last;
    }
  }

  async listTags(repository: string): Promise<string[]> {
    const tags: string[] = [];
    let last: string | undefined;
    try {
      for (;;) {
        const page = await this.registry.catalog.tags(repository, { n: 1000, last });
        tags.push(...page.items);
        if (!page.next) return tags;
        last = page.next.last;
      }
    } catch (err) {
      if (isAbsent(err)) return tags;
      throw err;
    }
  }

  async referrers(repository: string, digest: string): Promise<UpstreamDescriptor[]> {
    const index = JSON.parse((await this.registry.manifests.referrers(repository, digest)).toString('utf8')) as { manifests: UpstreamDescriptor[] };
    return index.manifests.map((m) => ({ digest: m.digest, mediaType: m.mediaType, size: m.size }));
  }

  async mountBlob(repository: string, digest: string, from: string): Promise<boolean> {
    return this.registry.uploads.mount(repository, digest, from);
  }

  async putBlob(repository: string, digest: string, size: number, body: Readable): Promise<void> {
    await this.registry.uploads.pushMonolithic(repository, digest, body, size);
  }

  async putManifest(repository: string, reference: string, manifest: { mediaType: string; body: Buffer }): Promise<{ subjectIndexed: boolean }> {
    await this.registry.manifests.put(repository, reference, manifest.body, manifest.mediaType, this.actor);
    return { subjectIndexed: true };
  }

  async deleteManifest(repository: string, reference: string): Promise<void> {
    try {
      await this.registry.manifests.delete(repository, reference, this.actor);
    } catch (err) {
      if (!isAbsent(err)) throw err;
    }
  }
}
