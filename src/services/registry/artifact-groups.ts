import type { Digest } from '../../domain/digest.js';
import { parseManifest } from '../../domain/manifest.js';
import { indexManifestTypes } from '../../domain/media-types.js';
import { referrerKind, parseCosignTag, type ReferrerKind } from '../../domain/artifact-kind.js';
import type { ManifestRow, MetadataStore } from '../../ports/metadata-store.js';
import type { ManifestService } from './manifest-service.js';

export interface ArtifactPlatform {
  digest: Digest;
  os: string;
  architecture: string;
  variant?: string;
  /** The platform manifest with its config and layers. */
  size: number;
}

export interface ArtifactReferrer {
  digest: Digest;
  artifactType: string | null;
  mediaType: string;
  /** The referrer's manifest, in bytes. */
  size: number;
  kind: ReferrerKind;
}

/** What belongs to an artifact besides its own manifest: platforms, referrers, the bytes of all. */
export interface ArtifactGroup {
  platforms: ArtifactPlatform[];
  /** Every distinct blob of the artifact: its manifest, platform manifests, configs and layers. */
  totalSize: number;
  referrers: ArtifactReferrer[];
}

// BuildKit stores provenance and SBOM attestations as index entries with this annotation.
const dockerReferenceType = 'vnd.docker.reference.type';

/**
 * The platforms, total size and referrers of `artifacts` (top-level manifests of one repository),
 * read in a few queries for the whole page; index bodies are read for their platforms.
 */
export async function groupArtifacts(
  meta: MetadataStore,
  manifests: Pick<ManifestService, 'get'>,
  repository: { id: number; name: string },
  artifacts: ManifestRow[],
): Promise<Map<Digest, ArtifactGroup>> {
  const digests = artifacts.map((a) => a.digest);
  const [references, referrers] = await Promise.all([meta.referencesOf(repository.id, digests), meta.groupedReferrers(repository.id, digests)]);
  const children = references.filter((r) => r.kind === 'manifest');
  const grandchildren = children.length ? await meta.referencesOf(repository.id, children.map((c) => c.digest)) : [];
  const refsOf = new Map<Digest, typeof references>();
  for (const r of [...references, ...grandchildren]) {
    const list = refsOf.get(r.parent);
    if (list) list.push(r);
    else refsOf.set(r.parent, [r]);
  }
  /** Distinct digests under `digest` (itself included) with their sizes. */
  const blobsUnder = (digest: Digest, size: number, into = new Map<Digest, number>(), depth = 0): Map<Digest, number> => {
    into.set(digest, size);
    for (const r of refsOf.get(digest) ?? []) {
      if (into.has(r.digest)) continue;
      if (r.kind === 'manifest' && depth < 1) blobsUnder(r.digest, r.size ?? 0, into, depth + 1);
      else into.set(r.digest, r.size ?? 0);
    }
    return into;
  };
  const sum = (blobs: Map<Digest, number>) => [...blobs.values()].reduce((a, b) => a + b, 0);

  const groups = new Map<Digest, ArtifactGroup>();
  for (const artifact of artifacts) {
    const platforms: ArtifactPlatform[] = [];
    const attached: ArtifactReferrer[] = [];
    if (indexManifestTypes.has(artifact.mediaType)) {
      const body = await manifests.get(repository.name, artifact.digest).catch(() => undefined); // deleted since the listing
      const index = body ? parseManifest(body.body, body.mediaType) : undefined;
      for (const entry of index?.manifests ?? []) {
        if (entry.annotations?.[dockerReferenceType] === 'attestation-manifest') {
          attached.push({ digest: entry.digest, artifactType: entry.artifactType ?? null, mediaType: entry.mediaType, size: entry.size, kind: 'attestation' });
          continue;
        }
        if (!entry.platform) continue;
        const ref = refsOf.get(artifact.digest)?.find((r) => r.digest === entry.digest);
        platforms.push({
          digest: entry.digest,
          os: entry.platform.os,
          architecture: entry.platform.architecture,
          ...(entry.platform.variant ? { variant: entry.platform.variant } : {}),
          size: sum(blobsUnder(entry.digest, ref?.size ?? entry.size, new Map(), 1)),
        });
      }
    }
    const grouped = referrers
      .filter((r) => r.subject === artifact.digest)
      .map((r) => ({
        digest: r.manifest.digest,
        artifactType: r.manifest.artifactType,
        mediaType: r.manifest.mediaType,
        size: r.manifest.size,
        kind: r.cosignTag ? parseCosignTag(r.cosignTag)!.kind : referrerKind(r.manifest.artifactType),
      }));
    groups.set(artifact.digest, { platforms, totalSize: sum(blobsUnder(artifact.digest, artifact.size)), referrers: [...grouped, ...attached] });
  }
  return groups;
}
