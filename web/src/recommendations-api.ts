/** What the console reads from the recommendations and rebuild-hints API (docs/insights.md), in their own module. */
import { repoSegment } from './api';

export interface RecommendedImage {
  repository: string;
  tag?: string;
  digest: string;
}

export interface VulnerabilityRef {
  id: string;
  severity: string;
  package: string;
}

export type Recommendation =
  | { kind: 'slimmer-base'; message: string; image: RecommendedImage; savingBytes: number; baseBytes: number; candidateBytes: number }
  | { kind: 'patched-base'; message: string; image: RecommendedImage; fixes: VulnerabilityRef[]; baseFindings: number; candidateFindings: number }
  | { kind: 'stale-base'; message: string; image: RecommendedImage; previousDigest: string };

export interface ImageRecommendations {
  repository: string;
  digest: string;
  indexed: boolean;
  os: { id: string; versionId?: string } | null;
  base: (RecommendedImage & { layers: number; uncompressedBytes: number | null; tagMoved: boolean }) | null;
  recommendations: Recommendation[];
}

export interface RebuildHint {
  base: { repository: string; tag: string; previousDigest: string; digest: string; movedAt: number };
  images: Array<{ repository: string; digest: string; tags: string[]; indexTags: string[]; fixedVulnerabilities?: VulnerabilityRef[] }>;
}

export interface RebuildHints {
  project: string;
  hints: RebuildHint[];
}

/** The console's page of an artifact named by its full repository name (`project/name`). */
export function artifactPath(repository: string, digest: string): string {
  const project = repository.split('/')[0] ?? repository;
  return `/projects/${project}/repositories/${repoSegment(project, repository)}/artifacts/${digest}`;
}
