import type { Artifact, ArtifactPlatform, ReferrerKind } from '../api';
import { useI18n } from '../i18n';

/** `linux/arm64/v8`, as `podman --platform` takes it. */
export function platformName(platform: Pick<ArtifactPlatform, 'os' | 'architecture' | 'variant'>): string {
  return `${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}`;
}

/** An index's platforms, one chip each. */
export function PlatformChips({ platforms }: { platforms: ArtifactPlatform[] }) {
  return (
    <span className="platform-chips">
      {platforms.map((p) => (
        <span key={p.digest} className="badge platform">
          {platformName(p)}
        </span>
      ))}
    </span>
  );
}

const kinds: ReferrerKind[] = ['signature', 'sbom', 'attestation', 'other'];

/** An artifact's signatures, SBOMs and attestations as one badge per kind, with a count past one. */
export function ReferrerBadges({ referrers }: { referrers: Artifact['referrers'] }) {
  const { t } = useI18n();
  if (referrers.length === 0) return null;
  const present = kinds.map((kind) => [kind, referrers.filter((r) => r.kind === kind).length] as const).filter(([, n]) => n > 0);
  const label = present.map(([kind, n]) => `${t(`artifact.kind.${kind}`)}${n > 1 ? ` ×${n}` : ''}`);
  return (
    <span className="referrer-badges" aria-label={t('artifact.referrersOf', { list: label.join(', ') })}>
      {present.map(([kind], i) => (
        <span key={kind} className={`badge referrer referrer-${kind}`}>
          {label[i]}
        </span>
      ))}
    </span>
  );
}
