import type { ParsedManifest } from './manifest.js';
import { MediaType } from './media-types.js';

/** Config media types of container images (OCI and Docker); other configs make artifacts. */
const imageConfigTypes: ReadonlySet<string> = new Set([MediaType.ociConfig, MediaType.dockerConfig]);

/**
 * What a replication rule's artifact-type filter compares: 'index' for an index, 'image' for
 * a container image, else the artifact's type (its `artifactType`, or its config's media type:
 * `application/vnd.cncf.helm.config.v1+json` for a Helm chart).
 */
export function artifactTypeOf(manifest: ParsedManifest): string {
  if (manifest.kind === 'index') return manifest.artifactType ?? 'index';
  const type = manifest.artifactType ?? manifest.config?.mediaType;
  return type === undefined || imageConfigTypes.has(type) ? 'image' : type;
}

/** A filter entry `key` or `key=value`, as a rule stores it. */
export function isLabelFilter(entry: string): boolean {
  return /^[^=\s]+(=.*)?$/.test(entry);
}

/** The first of `required` (`key` or `key=value`) that `labels` lacks; undefined when all are there. */
export function missingLabel(required: readonly string[], labels: Readonly<Record<string, string>>): string | undefined {
  return required.find((entry) => {
    const eq = entry.indexOf('=');
    const key = eq < 0 ? entry : entry.slice(0, eq);
    if (!Object.hasOwn(labels, key)) return true;
    return eq >= 0 && labels[key] !== entry.slice(eq + 1);
  });
}
