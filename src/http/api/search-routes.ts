import { z } from 'zod';
import { defaultSearchLimit, maxSearchLimit, packageTypes } from '../../services/insights/search-service.js';
import { maxFileTreeLimit } from '../../services/insights/file-tree-service.js';
import { route, type AnyRoute } from './api-route.js';
import { artifactParams, fullName } from './repository-routes.js';
import type { ApiServices } from './services.js';

const text = (max: number) => z.string().min(1).max(max);
const platform = z
  .string()
  .regex(/^[a-z0-9._-]+\/[a-z0-9._-]+(\/[a-z0-9._-]+)?$/i, 'os/arch[/variant], e.g. linux/arm64/v8')
  .optional()
  .describe("For an index: which of its images (`os/arch[/variant]`); without it an index is refused with the list of its platforms");

const searchQuery = z.strictObject({
  digest: text(80).optional().describe('A manifest digest or a prefix of one: sha256: (optional) and at least 4 hex digits'),
  path: text(4096).optional().describe('A path from the root, e.g. /usr/bin/curl, present in the merged filesystem'),
  file: text(255).optional().describe('A file name in any directory, e.g. id_rsa, present in the merged filesystem'),
  package: text(214).optional().describe("A package by name (the ecosystem's, or its source package's)"),
  version: text(128).optional().describe('An exact version of package'),
  type: z.enum(packageTypes as [string, ...string[]]).optional().describe('The package type (with package)'),
  vulnerability: text(128).optional().describe("A vulnerability id or alias in the image's latest scan report (CVE-…, GHSA-…)"),
  base: text(600).optional().describe('REPOSITORY:TAG or REPOSITORY@DIGEST: images built on it (its layers are their lowest ones, and they have more); refused as a pull of it would be'),
  platform,
  label: text(1300).optional().describe('A config label or manifest annotation: key, or key=value'),
  mediaType: text(255).optional().describe("The manifest's media type"),
  artifactType: text(255).optional().describe("The manifest's artifact type"),
  limit: z.coerce.number().int().min(1).max(maxSearchLimit).default(defaultSearchLimit).describe(`Hits per page (at most ${maxSearchLimit})`),
  after: text(2000).optional().describe("The previous page's `next`"),
});

const hitSchema = z.object({
  repository: z.string(),
  digest: z.string(),
  mediaType: z.string(),
  artifactType: z.string().nullable(),
  tags: z.array(z.string()),
  indexes: z.array(z.object({ digest: z.string(), tags: z.array(z.string()) })).describe('Indexes of the repository listing this manifest (a platform image is found through them)'),
  pushedAt: z.number().int(),
  matched: z.object({
    files: z.array(z.object({ path: z.string(), layer: z.number().int(), size: z.number().int() })).optional(),
    packages: z.array(z.object({ name: z.string(), version: z.string(), type: z.string() })).optional(),
    vulnerabilities: z.array(z.object({ id: z.string(), severity: z.string(), package: z.string() })).optional(),
    labels: z.record(z.string(), z.string()).optional(),
  }),
});

const searchResult = z.object({
  items: z.array(hitSchema),
  next: z.string().optional().describe('Pass as `after` for the next page; absent on the last page'),
  base: z
    .object({ repository: z.string(), digest: z.string(), layers: z.number().int(), index: z.object({ digest: z.string(), platform: z.string() }).optional() })
    .optional()
    .describe('The image `base` resolved to'),
});

const filesQuery = z.strictObject({
  path: z.string().max(4096).optional().describe('A directory from the root (default /)'),
  layer: z.coerce.number().int().min(0).optional().describe('One layer (0 = the lowest) instead of the merged filesystem'),
  q: text(255).optional().describe("A name filter: with path, that directory's children whose name contains it; alone, files anywhere whose name contains it"),
  platform,
  limit: z.coerce.number().int().min(1).max(maxFileTreeLimit).default(500).describe(`Entries at most (up to ${maxFileTreeLimit})`),
});

const entrySchema = z.object({
  path: z.string(),
  name: z.string(),
  type: z.enum(['file', 'directory', 'symlink', 'hardlink', 'whiteout', 'opaque', 'other']),
  size: z.number().int(),
  mode: z.number().int().optional(),
  uid: z.number().int().optional(),
  gid: z.number().int().optional(),
  linkTarget: z.string().optional(),
  layer: z.number().int().optional().describe('The layer (0 = the lowest) the entry comes from'),
});

const fileTree = z.object({
  repository: z.string(),
  digest: z.string(),
  index: z.object({ digest: z.string(), platform: z.string() }).optional(),
  layers: z.array(
    z.object({
      index: z.number().int(),
      digest: z.string(),
      size: z.number().int(),
      uncompressedSize: z.number().int(),
      files: z.number().int(),
      truncated: z.boolean().describe('The layer has more entries than the index keeps: only the first ones are listed'),
    }),
  ),
  layer: z.number().int().nullable(),
  path: z.string(),
  q: z.string().nullable(),
  mode: z.enum(['list', 'find']),
  entries: z.array(entrySchema),
  truncated: z.boolean(),
});

/** Search across the registry and images' file trees (docs/search.md). Reads: no audit entries. */
export function searchRoutes(s: ApiServices): AnyRoute[] {
  return [
    route({
      method: 'GET',
      path: '/search',
      summary: 'Images across the registry by digest prefix, file, package, vulnerability, base image, label or media type, among those the caller may pull',
      tag: 'insights',
      // Anyone may search: the scope (the projects the caller may pull from) decides what is found.
      auth: 'public',
      query: searchQuery,
      response: searchResult,
      handler: async ({ query, principal }) => {
        const { limit, after, ...criteria } = query;
        return s.search.images.search(principal, criteria, { limit, after });
      },
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/repositories/{repository}/artifacts/{reference}/files',
      summary: "An image's files: the merged filesystem or one layer, a directory at a time, or found by name",
      tag: 'insights',
      auth: { action: 'pull', project: ({ params }) => params.project },
      params: artifactParams,
      query: filesQuery,
      response: fileTree,
      handler: async ({ params, query }) => s.search.files.files(fullName(params.project, params.repository), params.reference, query),
    }),
  ];
}
