/** Media types Berth understands (OCI image-spec v1.1 and Docker image manifest v2). */
export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

export const imageManifestTypes: ReadonlySet<string> = new Set([MediaType.ociManifest, MediaType.dockerManifest]);
export const indexManifestTypes: ReadonlySet<string> = new Set([MediaType.ociIndex, MediaType.dockerManifestList]);
export const manifestTypes: ReadonlySet<string> = new Set([...imageManifestTypes, ...indexManifestTypes]);

/** Layers that live outside the registry (foreign/non-distributable): never required to exist. */
export function isNonDistributable(mediaType: string): boolean {
  return (
    mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.') ||
    mediaType === 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'
  );
}

// RFC 6838 media type grammar, as the image-spec requires for descriptor mediaType.
const mediaTypeGrammar = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

export function isValidMediaType(value: string): boolean {
  return mediaTypeGrammar.test(value);
}

/** The media type from a Content-Type header value, without parameters, lower-cased. */
export function baseMediaType(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const base = header.split(';', 1)[0]!.trim().toLowerCase();
  return base === '' ? undefined : base;
}

/** Every manifest kind Berth stores, as an Accept list: another registry then answers with what it has instead of converting. */
export const storedManifestTypes: readonly string[] = [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.dockerManifest];
