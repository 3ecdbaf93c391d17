/**
 * The kinds of registry an endpoint can be, with what each needs. All speak the OCI
 * distribution API; a kind fills in the address people know and how names map.
 */
export const registryKinds = {
  'docker-hub': { label: 'Docker Hub', url: 'https://registry-1.docker.io', shortNamesInLibrary: true },
  ghcr: { label: 'GitHub Container Registry', url: 'https://ghcr.io' },
  quay: { label: 'Quay', url: 'https://quay.io' },
  gcr: { label: 'Google Container Registry', url: 'https://gcr.io' },
  'artifact-registry': { label: 'Google Artifact Registry', url: undefined },
  ecr: { label: 'Amazon ECR', url: undefined },
  acr: { label: 'Azure Container Registry', url: undefined },
  harbor: { label: 'Harbor', url: undefined },
  berth: { label: 'Berth', url: undefined },
  oci: { label: 'Any OCI distribution registry', url: undefined },
} as const satisfies Record<string, { label: string; url: string | undefined; shortNamesInLibrary?: boolean }>;

export type RegistryKind = keyof typeof registryKinds;
export const registryKindNames = Object.keys(registryKinds) as [RegistryKind, ...RegistryKind[]];

/**
 * The repository name to ask the upstream for: Docker Hub keeps official images under
 * `library/`, so `alpine` there is `library/alpine` (as docker and podman resolve it).
 */
export function upstreamRepository(kind: string, repository: string): string {
  const spec = registryKinds[kind as RegistryKind] as { shortNamesInLibrary?: boolean } | undefined;
  return spec?.shortNamesInLibrary && !repository.includes('/') ? `library/${repository}` : repository;
}
