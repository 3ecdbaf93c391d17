import { BerthError } from '../../domain/errors.js';
import { parseManifest } from '../../domain/manifest.js';
import type { ImageIndexStore } from '../../ports/image-index-store.js';
import type { Registry } from '../registry/index.js';
import { isImage } from './image-insights-service.js';

/** An image a manifest stands for: itself, or one platform of an index. */
export interface ImageLayers {
  digest: string;
  /** `os/architecture[/variant]`, when the index record or the index's descriptor says. */
  platform?: string;
  layers: string[];
}

/** Platforms of an index looked at (real indexes list a handful, plus attestations). */
const maxPlatforms = 32;

/**
 * The images `digest` in `repository` stands for, with their layers (lowest first): one for an
 * image, one per platform for an index (attestation manifests are not images and are left out).
 * Read from the image index when it has them, else from the stored manifests; nothing when the
 * manifest is gone.
 */
export async function imagesOf(registry: Registry, index: ImageIndexStore, repository: string, digest: string): Promise<ImageLayers[]> {
  const indexed = await index.getImage(digest);
  if (indexed?.status === 'indexed') return [{ digest, platform: indexed.platform, layers: indexed.layers }];
  const parsed = await manifest(registry, repository, digest);
  if (!parsed) return [];
  if (parsed.kind === 'image') return isImage(parsed) ? [{ digest, layers: parsed.layers.map((l) => l.digest) }] : [];
  const images: ImageLayers[] = [];
  for (const child of parsed.manifests.slice(0, maxPlatforms)) {
    const platform = child.platform ? [child.platform.os, child.platform.architecture, child.platform.variant].filter(Boolean).join('/') : undefined;
    if (platform === 'unknown/unknown') continue;
    const record = await index.getImage(child.digest);
    if (record?.status === 'indexed') {
      images.push({ digest: child.digest, platform: record.platform, layers: record.layers });
      continue;
    }
    const inner = await manifest(registry, repository, child.digest);
    if (inner && inner.kind === 'image' && isImage(inner)) images.push({ digest: child.digest, ...(platform ? { platform } : {}), layers: inner.layers.map((l) => l.digest) });
  }
  return images;
}

async function manifest(registry: Registry, repository: string, digest: string) {
  try {
    const stored = await registry.manifests.get(repository, digest);
    return parseManifest(stored.body, stored.mediaType);
  } catch (err) {
    if (err instanceof BerthError) return undefined;
    throw err;
  }
}
