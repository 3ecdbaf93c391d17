import { z } from 'zod';
import { route, type AnyRoute } from './api-route.js';
import { artifactParams, fullName } from './repository-routes.js';
import type { ApiServices } from './services.js';

const projectParam = z.object({ project: z.string().min(1).max(255) });

const imageRef = z.object({ repository: z.string(), tag: z.string().optional(), digest: z.string() });
const vulnerability = z.object({ id: z.string(), severity: z.string(), package: z.string() });

const recommendationSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('slimmer-base'),
    message: z.string(),
    image: imageRef.describe('The slimmer base: same distribution and platform, a tagged image the caller may pull'),
    savingBytes: z.number().int().describe("The base's uncompressed bytes minus the candidate's (at least 5 MB and 10% of the base)"),
    baseBytes: z.number().int(),
    candidateBytes: z.number().int(),
  }),
  z.object({
    kind: z.literal('patched-base'),
    message: z.string(),
    image: imageRef.describe("A newer build of the base (its tag moved, or a newer tag of the base tag's line) with fewer findings in its scan report"),
    fixes: z.array(vulnerability).describe('Vulnerabilities this image carries that the newer build no longer has (at most 50)'),
    baseFindings: z.number().int(),
    candidateFindings: z.number().int(),
  }),
  z.object({
    kind: z.literal('stale-base'),
    message: z.string(),
    image: imageRef.describe("What the base's tag names now"),
    previousDigest: z.string().describe('The base this image was built on'),
  }),
]);

const recommendationsSchema = z.object({
  repository: z.string(),
  digest: z.string(),
  indexed: z.boolean().describe('False until the image index has read the image: nothing is recommended yet'),
  os: z.object({ id: z.string(), versionId: z.string().optional() }).nullable(),
  base: imageRef
    .extend({ layers: z.number().int(), uncompressedBytes: z.number().int().nullable(), tagMoved: z.boolean().describe('Its tag names a newer build now') })
    .nullable()
    .describe('The image this one was built on, among images the caller may pull'),
  recommendations: z.array(recommendationSchema),
});

const rebuildImage = z.object({
  repository: z.string(),
  digest: z.string(),
  tags: z.array(z.string()),
  indexTags: z.array(z.string()).describe('Tags of indexes listing this platform image'),
  fixedVulnerabilities: z.array(vulnerability).optional().describe('With scan data: what the image carries that the old base had and the new one has not'),
});

const hintsSchema = z.object({
  project: z.string(),
  hints: z.array(
    z.object({
      base: z.object({ repository: z.string(), tag: z.string(), previousDigest: z.string().describe('What the tag named when the images were built'), digest: z.string().describe('What it names now'), movedAt: z.number().int() }),
      images: z.array(rebuildImage),
    }),
  ),
});

/** Recommendations for an image and a project's rebuild hints (docs/insights.md). */
export function recommendationRoutes(s: ApiServices): AnyRoute[] {
  const { images, hints } = s.recommendations;
  return [
    route({
      method: 'GET',
      path: '/projects/{project}/repositories/{repository}/artifacts/{reference}/recommendations',
      summary: "Recommendations for an image: a slimmer base of the same distribution, a newer base build with fewer known vulnerabilities, a base whose tag moved on",
      tag: 'insights',
      auth: { action: 'read', project: ({ params }) => params.project },
      params: artifactParams,
      response: recommendationsSchema,
      // Only images the caller may pull are named (the Authorizer's search scope).
      handler: async ({ params, principal }) => images.recommendations(principal, fullName(params.project, params.repository), params.reference),
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/rebuild-hints',
      summary: "The project's tagged images whose base's tag names a newer build than the one they were built on",
      tag: 'insights',
      auth: { action: 'read', project: ({ params }) => params.project },
      params: projectParam,
      response: hintsSchema,
      handler: async ({ params, principal }) => hints.projectHints(params.project, async (repository) => (await s.authorizer.repositoryActions(principal, repository)).has('pull')),
    }),
  ];
}
