import { describe, expect, it } from 'vitest';
import { cosignTagsFor, parseCosignTag, referrerKind } from '../../src/domain/artifact-kind.js';
import type { Digest } from '../../src/domain/digest.js';

describe('referrer kinds', () => {
  it('classifies signatures, SBOMs and attestations by artifactType', () => {
    const cases: Array<[string | null, string]> = [
      ['application/vnd.cncf.notary.signature', 'signature'],
      ['application/vnd.dev.cosign.artifact.sig.v1+json', 'signature'],
      ['application/vnd.dev.cosign.simplesigning.v1+json', 'signature'],
      ['application/vnd.dev.sigstore.bundle.v0.3+json', 'signature'],
      ['application/spdx+json', 'sbom'],
      ['application/vnd.cyclonedx+json', 'sbom'],
      ['application/vnd.syft+json', 'sbom'],
      ['application/vnd.in-toto+json', 'attestation'],
      ['application/vnd.dsse.envelope.v1+json', 'attestation'],
      ['application/vnd.example.note', 'other'],
      [null, 'other'],
    ];
    expect(cases.map(([type]) => referrerKind(type))).toEqual(cases.map(([, kind]) => kind));
  });

  it("reads cosign's sha256-<hex>.sig/.att/.sbom tags, and nothing like them", () => {
    const hex = 'a'.repeat(64);
    expect(parseCosignTag(`sha256-${hex}.sig`)).toEqual({ subject: `sha256:${hex}`, kind: 'signature' });
    expect(parseCosignTag(`sha256-${hex}.att`)).toEqual({ subject: `sha256:${hex}`, kind: 'attestation' });
    expect(parseCosignTag(`sha256-${hex}.sbom`)).toEqual({ subject: `sha256:${hex}`, kind: 'sbom' });
    expect(parseCosignTag(`sha256-${hex}.sig2`)).toBeUndefined();
    expect(parseCosignTag(`sha256-${hex.slice(1)}.sig`)).toBeUndefined();
    expect(parseCosignTag('v1.sig')).toBeUndefined();
    expect(cosignTagsFor(`sha256:${hex}` as Digest)).toEqual([`sha256-${hex}.sig`, `sha256-${hex}.att`, `sha256-${hex}.sbom`]);
    expect(cosignTagsFor(`sha512:${hex}${hex}` as Digest)).toEqual([]);
  });
});
