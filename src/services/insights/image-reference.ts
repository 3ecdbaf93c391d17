import { isDigest } from '../../domain/digest.js';
import { BerthError } from '../../domain/errors.js';
import { parseManifest, type Descriptor, type ParsedManifest } from '../../domain/manifest.js';
import { isValidRepositoryName, isValidTag } from '../../domain/names.js';
import type { Registry } from '../registry/index.js';
import { isImage } from './image-insights-service.js';

/** `os/arch[/variant]` of an index entry (attestation entries are `unknown/unknown`). */
export function platformName(descriptor: Descriptor): string | undefined {
  const p = descriptor.platform;
  return p ? [p.os, p.architecture, ...(p.variant ? [p.variant] : [])].join('/') : undefined;
}

/** The images an index lists, by platform (attestations and other artifacts left out). */
export function platformsOf(index: ParsedManifest): Array<{ platform: string; digest: string }> {
  return index.manifests.flatMap((m) => {
    const name = platformName(m);
    return name && m.platform!.os !== 'unknown' && m.platform!.architecture !== 'unknown' ? [{ platform: name, digest: m.digest }] : [];
  });
}

/** `repository:tag`, `repository@digest` or `repository:tag@digest` (the digest wins, as docker takes it), split; BAD_REQUEST otherwise. */
export function parseImageReference(text: string, what: string): { repository: string; reference: string } {
  const at = text.indexOf('@');
  let repository: string;
  let reference: string;
  if (at >= 0) {
    reference = text.slice(at + 1);
    const named = text.slice(0, at);
    const colon = named.lastIndexOf(':');
    repository = colon > named.lastIndexOf('/') ? named.slice(0, colon) : named;
    if (colon > named.lastIndexOf('/') && !isValidTag(named.slice(colon + 1))) throw invalid(text, what, 'the tag is not valid');
    if (!isDigest(reference)) throw invalid(text, what, 'the digest is not valid');
  } else {
    const colon = text.lastIndexOf(':');
    if (colon <= text.lastIndexOf('/')) throw invalid(text, what, 'name a tag or a digest: REPOSITORY:TAG or REPOSITORY@DIGEST');
    repository = text.slice(0, colon);
    reference = text.slice(colon + 1);
    if (!isValidTag(reference)) throw invalid(text, what, 'the tag is not valid');
  }
  if (!isValidRepositoryName(repository)) throw invalid(text, what, 'the repository name is not valid');
  return { repository, reference };
}

function invalid(text: string, what: string, why: string): BerthError {
  return new BerthError('BAD_REQUEST', { message: `${what} ${JSON.stringify(text.slice(0, 300))}: ${why}` });
}

/** An image manifest of the registry, with the index it was picked from. */
export interface ResolvedImage {
  digest: string;
  parsed: ParsedManifest;
  index?: { digest: string; platform: string };
}

/**
 * The image `reference` names in `repository`, read as a pull reads it (NAME_UNKNOWN,
 * MANIFEST_UNKNOWN) but without counting as one. An index needs `platform`: without it, or
 * without that platform, BAD_REQUEST lists the platforms it has.
 */
export async function resolveImage(registry: Registry, repository: string, reference: string, platform: string | undefined, what: string): Promise<ResolvedImage> {
  const named = await registry.manifests.get(repository, reference);
  const parsed = parseManifest(named.body, named.mediaType);
  if (parsed.manifests.length === 0) {
    if (!isImage(parsed)) throw new BerthError('NOT_SCANNABLE', { message: `${named.digest} is not a container image: ${what}` });
    return { digest: named.digest, parsed };
  }
  const platforms = platformsOf(parsed);
  const chosen = platform === undefined ? undefined : platforms.find((p) => p.platform === platform);
  if (!chosen) {
    const list = platforms.map((p) => p.platform).join(', ') || 'none';
    throw new BerthError('BAD_REQUEST', {
      message: platform === undefined ? `${repository}@${named.digest} is an index: name one of its platforms (${list})` : `the index ${repository}@${named.digest} has no platform ${platform} (it has ${list})`,
      detail: { platforms },
    });
  }
  const child = await registry.manifests.get(repository, chosen.digest);
  const image = parseManifest(child.body, child.mediaType);
  if (!isImage(image)) throw new BerthError('NOT_SCANNABLE', { message: `${child.digest} is not a container image: ${what}` });
  return { digest: child.digest, parsed: image, index: { digest: named.digest, platform: chosen.platform } };
}
