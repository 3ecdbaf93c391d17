import { buffer } from 'node:stream/consumers';
import type { Digest } from '../../domain/digest.js';
import { BerthError } from '../../domain/errors.js';
import { parseManifest, type Descriptor, type ParsedManifest } from '../../domain/manifest.js';
import type { Registry } from '../registry/index.js';
import { isImage } from './image-insights-service.js';

/** A config larger than this is read as empty (real ones are a few KiB). */
const maxConfigBytes = 4 * 2 ** 20;

/** An image of the registry as insights and lint read it: its manifest, config and repository. */
export interface StoredImage {
  repositoryId: number;
  digest: Digest;
  parsed: ParsedManifest & { config: Descriptor };
  /** The config JSON (empty when too large or not JSON: what it says is then simply unknown). */
  config: Record<string, unknown>;
}

/**
 * The image `reference` names in `repository`. An index is refused (400), naming its manifests
 * to ask for instead; anything but a container image is NOT_SCANNABLE; `what` ends that message
 * (`insights read images`).
 */
export async function storedImage(registry: Registry, repository: string, reference: string, what: string): Promise<StoredImage> {
  const repo = await registry.findRepository(repository);
  if (!repo) throw new BerthError('NOT_FOUND', { message: `repository ${repository} not found` });
  const manifest = await registry.manifests.get(repository, reference);
  const parsed = parseManifest(manifest.body, manifest.mediaType);
  if (parsed.manifests.length > 0) {
    throw new BerthError('BAD_REQUEST', {
      message: 'an index has no layers of its own: ask for one of its manifests by digest',
      detail: { manifests: parsed.manifests.map((m) => ({ digest: m.digest, platform: m.platform ?? null })) },
    });
  }
  if (!isImage(parsed) || !parsed.config) throw new BerthError('NOT_SCANNABLE', { message: `${manifest.digest} is not a container image: ${what}` });
  const image = { ...parsed, config: parsed.config };
  return { repositoryId: repo.id, digest: manifest.digest, parsed: image, config: await configOf(registry, repository, image.config) };
}

async function configOf(registry: Registry, repository: string, config: Descriptor): Promise<Record<string, unknown>> {
  if (config.size > maxConfigBytes) return {};
  try {
    const blob = await registry.blobs.open(repository, config.digest);
    const parsed: unknown = JSON.parse((await buffer(blob.stream)).toString('utf8'));
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
