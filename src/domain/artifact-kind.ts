import type { Digest } from './digest.js';

/** What a referrer is to its subject, as the console groups them. */
export type ReferrerKind = 'signature' | 'sbom' | 'attestation' | 'other';

/**
 * A referrer's kind from its artifactType (or, for cosign's tag scheme, the config media type):
 * Notary Project, cosign and sigstore signatures; SPDX, CycloneDX and syft SBOMs; in-toto and
 * DSSE attestations. Anything else is 'other'.
 */
export function referrerKind(artifactType: string | null | undefined): ReferrerKind {
  const type = (artifactType ?? '').toLowerCase();
  if (/in-toto|dsse/.test(type)) return 'attestation';
  if (/spdx|cyclonedx|syft|sbom/.test(type)) return 'sbom';
  if (/notary\.signature|cosign|sigstore/.test(type)) return 'signature';
  return 'other';
}

const cosignKinds = { sig: 'signature', att: 'attestation', sbom: 'sbom' } as const satisfies Record<string, ReferrerKind>;

/**
 * cosign's tag scheme before the referrers API: `sha256-<hex>.sig` (or `.att`, `.sbom`) holds the
 * signature, attestation or SBOM of the manifest `sha256:<hex>` in the same repository.
 */
export function parseCosignTag(tag: string): { subject: Digest; kind: ReferrerKind } | undefined {
  const match = /^sha256-([0-9a-f]{64})\.(sig|att|sbom)$/.exec(tag);
  return match ? { subject: `sha256:${match[1]}` as Digest, kind: cosignKinds[match[2] as keyof typeof cosignKinds] } : undefined;
}

/** The cosign tags that would name `subject` (a sha256 digest), one per kind. */
export function cosignTagsFor(subject: Digest): string[] {
  if (!subject.startsWith('sha256:')) return [];
  const base = `sha256-${subject.slice('sha256:'.length)}`;
  return Object.keys(cosignKinds).map((suffix) => `${base}.${suffix}`);
}
