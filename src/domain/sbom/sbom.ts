import type { OperatingSystem, Package } from '../packages/package.js';

/** The image an SBOM describes. */
export interface SbomSubject {
  /** Repository, e.g. `library/debian`. */
  repository: string;
  digest: string;
  /** Registry host as clients name it, e.g. `registry.example.com:5000`. */
  host: string;
}

/** Who made the document, and when (so documents of one image differ only where they must). */
export interface SbomMaking {
  toolVersion: string;
  /** An ISO 8601 time. */
  created: string;
  /** A random UUID: CycloneDX's serial number, part of SPDX's document namespace. */
  uuid: string;
}

export interface SbomContent {
  os?: OperatingSystem;
  packages: Package[];
}

/** The media types each format is served and stored as. */
export const sbomMediaTypes = { spdx: 'application/spdx+json', cyclonedx: 'application/vnd.cyclonedx+json' } as const;
export type SbomFormat = keyof typeof sbomMediaTypes;

/** The image's own package URL (purl type `oci`: the digest is the version). */
export function imagePurl(subject: SbomSubject): string {
  const name = subject.repository.split('/').pop()!;
  return `pkg:oci/${encodeURIComponent(name)}@${encodeURIComponent(subject.digest)}?repository_url=${encodeURIComponent(`${subject.host}/${subject.repository}`)}`;
}
