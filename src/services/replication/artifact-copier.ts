import { pipeline, Transform } from 'node:stream';
import { parseManifest, requiredReferences } from '../../domain/manifest.js';
import { MediaType } from '../../domain/media-types.js';
import { UpstreamError, type UpstreamRegistry } from '../../ports/upstream-registry.js';

/** One side of a copy: a registry and a repository in it. */
export interface CopyEnd {
  registry: UpstreamRegistry;
  repository: string;
}

export interface CopyCounts {
  manifestsCopied: number;
  manifestsSkipped: number;
  blobsCopied: number;
  blobsMounted: number;
  blobsSkipped: number;
  bytesCopied: number;
}

export interface CopyOptions {
  /** Also copy what refers to each copied manifest (signatures, SBOMs, attestations), and what refers to those. */
  referrers?: boolean;
  /** Repositories of the destination a missing blob may be mounted from (cross-repository mount). */
  mountFrom?: string[];
  /** Told of every piece of a blob copied, before it goes on (progress); the copy waits for it (a bandwidth limit). */
  onBytes?: (bytes: number) => void | Promise<void>;
  signal?: AbortSignal;
}

/** Manifests followed at most: an index of indexes of … ends somewhere. */
const maxDepth = 8;

export function emptyCounts(): CopyCounts {
  return { manifestsCopied: 0, manifestsSkipped: 0, blobsCopied: 0, blobsMounted: 0, blobsSkipped: 0, bytesCopied: 0 };
}

/**
 * Copies an artifact between registries as it is, digests unchanged: an index with every
 * platform's manifest, each image's config and layers (streamed, never whole in memory; the
 * destination verifies each digest), then the tag; and, when asked, every referrer of what was
 * copied. What the destination already has is skipped (a HEAD first), so a second copy
 * transfers nothing.
 */
export class ArtifactCopier {
  constructor(private readonly options: CopyOptions = {}) {}

  /** Copies `reference` (tag or digest) of `from` to `to`, under the same reference; resolves the manifest's digest. */
  async copy(from: CopyEnd, to: CopyEnd, reference: string, counts: CopyCounts = emptyCounts()): Promise<string> {
    const manifest = await from.registry.getManifest(from.repository, reference);
    if (!manifest) throw new UpstreamError('not-found', `${from.repository}:${reference} is not in the source`, 404);
    const tagged = !reference.includes(':');
    const existing = await to.registry.headManifest(to.repository, tagged ? reference : manifest.digest);
    if (existing?.digest === manifest.digest) {
      counts.manifestsSkipped++;
    } else {
      await this.copyContent(from, to, manifest.digest, manifest, counts, 0);
      if (tagged) await to.registry.putManifest(to.repository, reference, manifest);
    }
    if (this.options.referrers !== false) await this.copyReferrers(from, to, manifest.digest, counts, 0);
    return manifest.digest;
  }

  /** The manifest by digest, with everything it references first (the destination refuses a manifest whose references it lacks). */
  private async copyContent(from: CopyEnd, to: CopyEnd, digest: string, manifest: { mediaType: string; body: Buffer } | undefined, counts: CopyCounts, depth: number): Promise<void> {
    this.options.signal?.throwIfAborted();
    if (depth > maxDepth) throw new UpstreamError('protocol', `${from.repository}@${digest}: manifests nested more than ${maxDepth} deep`);
    if (!manifest && (await to.registry.headManifest(to.repository, digest))?.digest === digest) {
      counts.manifestsSkipped++;
      return;
    }
    const content = manifest ?? (await from.registry.getManifest(from.repository, digest));
    if (!content) throw new UpstreamError('not-found', `${from.repository}@${digest} is referenced but not in the source`, 404);
    const parsed = parseManifest(content.body, content.mediaType);
    const references = requiredReferences(parsed);
    for (const child of references.manifests) await this.copyContent(from, to, child, undefined, counts, depth + 1);
    for (const blob of references.blobs) await this.copyBlob(from, to, blob, counts);
    const pushed = await to.registry.putManifest(to.repository, digest, { mediaType: parsed.mediaType, body: content.body });
    counts.manifestsCopied++;
    if (parsed.subject && !pushed.subjectIndexed) {
      await this.indexReferrer(to, parsed.subject.digest, { mediaType: parsed.mediaType, digest, size: content.body.length, artifactType: parsed.artifactType, annotations: parsed.annotations });
    }
  }

  /**
   * A registry without the referrers API: the referrer joins the index tagged `sha256-<hex>`
   * of its subject (OCI dist-spec 1.1, "Pushing Manifests with Subject"), made if missing.
   */
  private async indexReferrer(to: CopyEnd, subject: string, descriptor: { mediaType: string; digest: string; size: number; artifactType?: string; annotations?: Record<string, string> }): Promise<void> {
    const tag = subject.replace(':', '-');
    const current = await to.registry.getManifest(to.repository, tag);
    const index = current ? (JSON.parse(current.body.toString('utf8')) as { manifests?: Array<{ digest: string }> }) : undefined;
    const manifests = Array.isArray(index?.manifests) ? index.manifests : [];
    if (manifests.some((m) => m.digest === descriptor.digest)) return;
    const entry = Object.fromEntries(Object.entries(descriptor).filter(([, v]) => v !== undefined));
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [...manifests, entry] }));
    await to.registry.putManifest(to.repository, tag, { mediaType: MediaType.ociIndex, body });
  }

  private async copyBlob(from: CopyEnd, to: CopyEnd, digest: string, counts: CopyCounts): Promise<void> {
    this.options.signal?.throwIfAborted();
    if (await to.registry.hasBlob(to.repository, digest)) {
      counts.blobsSkipped++;
      return;
    }
    for (const source of this.options.mountFrom ?? []) {
      if (source !== to.repository && (await to.registry.mountBlob(to.repository, digest, source))) {
        counts.blobsMounted++;
        return;
      }
    }
    const blob = await from.registry.getBlob(from.repository, digest);
    if (!blob) throw new UpstreamError('not-found', `blob ${digest} of ${from.repository} is not in the source`, 404);
    if (blob.size < 0) {
      blob.body.destroy();
      throw new UpstreamError('protocol', `the source sent blob ${digest} without its length`);
    }
    const onBytes = this.options.onBytes;
    const body = onBytes
      ? pipeline(
          blob.body,
          new Transform({
            transform(chunk: Buffer, _encoding, callback) {
              Promise.resolve(onBytes(chunk.length)).then(
                () => callback(null, chunk),
                (err: unknown) => callback(err as Error),
              );
            },
          }),
          () => undefined,
        )
      : blob.body;
    await to.registry.putBlob(to.repository, digest, blob.size, body);
    counts.blobsCopied++;
    counts.bytesCopied += blob.size;
  }

  private async copyReferrers(from: CopyEnd, to: CopyEnd, subject: string, counts: CopyCounts, depth: number): Promise<void> {
    if (depth > maxDepth) return;
    for (const referrer of await from.registry.referrers(from.repository, subject)) {
      await this.copyContent(from, to, referrer.digest, undefined, counts, 0);
      await this.copyReferrers(from, to, referrer.digest, counts, depth + 1);
    }
  }
}
