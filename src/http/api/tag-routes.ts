import { z } from 'zod';
import { BerthError } from '../../domain/errors.js';
import { maxRangeLength, parseSemverRange } from '../../domain/semver-range.js';
import { highestMatching, sortTagsBySemver } from '../../domain/tag-order.js';
import type { RepositoryRow, TagRow } from '../../ports/metadata-store.js';
import { listOf, pageQuery, paged, route, type AnyRoute } from './api-route.js';
import type { ApiServices } from './services.js';

const tagSchema = z.object({
  name: z.string(),
  digest: z.string(),
  pushedAt: z.string().describe('RFC 3339 time the tag was last pushed or moved'),
});

export const tagSorts = ['name', '-name', '-pushed_at', 'pushed_at', 'semver'] as const;

function tagView(tag: TagRow): z.infer<typeof tagSchema> {
  return { name: tag.name, digest: tag.digest, pushedAt: new Date(tag.updatedAt).toISOString() };
}

const byName = (a: TagRow, b: TagRow) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const byPush = (a: TagRow, b: TagRow) => a.updatedAt - b.updatedAt || byName(a, b);

/**
 * Tags of a repository: listed in any order (semver precedence included) and asked for the
 * highest one a range matches, as CI does to pick the newest patch. Every tag of the repository
 * is read once and sorted or filtered in memory: 10,000 tags are a few hundred kilobytes and a
 * few milliseconds (test/http/tag-intelligence.test.ts measures it on both engines).
 */
export function tagRoutes(
  s: ApiServices,
  repository: (project: string, name: string) => Promise<RepositoryRow>,
  params: z.ZodObject<{ project: z.ZodString; repository: z.ZodString }>,
): AnyRoute[] {
  const tagsOf = async (project: string, name: string) => {
    const row = await repository(project, name);
    return { row, tags: (await s.registry.meta.allTags(row.id)).map((t) => ({ ...t, pushedAt: t.updatedAt })) };
  };
  return [
    route({
      method: 'GET',
      path: '/projects/{project}/repositories/{repository}/tags',
      summary: 'List tags with their digests (sort=semver: highest version first, tags that are not semver after, newest first)',
      tag: 'artifacts',
      auth: { action: 'read', project: ({ params }) => params.project },
      params,
      query: pageQuery.extend({
        sort: z.enum(tagSorts).default('name').describe('name, -name, -pushed_at, pushed_at, or semver (semver precedence, highest first)'),
        q: z.string().max(500).optional().describe('name=~part keeps tags whose name contains part'),
      }),
      response: listOf(tagSchema),
      handler: async ({ params, query, request, reply }) => {
        const { tags } = await tagsOf(params.project, params.repository);
        const part = /(?:^|,)name=~([^,]*)/.exec(query.q ?? '')?.[1];
        const kept = part ? tags.filter((t) => t.name.includes(part)) : tags;
        const sorted =
          query.sort === 'semver'
            ? sortTagsBySemver(kept)
            : query.sort === 'name'
              ? kept // the store reads them in name order
              : [...kept].sort(query.sort === '-name' ? (a, b) => byName(b, a) : query.sort === 'pushed_at' ? byPush : (a, b) => b.updatedAt - a.updatedAt || byName(a, b));
        const offset = (query.page - 1) * query.page_size;
        return paged(reply, request, query, { items: sorted.slice(offset, offset + query.page_size).map(tagView), total: sorted.length });
      },
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/repositories/{repository}/tags/latest',
      summary: 'The highest semver tag matching an npm-style range (^1.2, ~1.2, 1.x, >=1.2.0 <2.0.0, 1.2 - 1.4, a || b)',
      tag: 'artifacts',
      auth: { action: 'read', project: ({ params }) => params.project },
      params,
      query: z.object({
        range: z.string().max(maxRangeLength).default('*').describe('npm-style range, as node-semver reads it; * (the default) for any release'),
        prerelease: z.enum(['true', 'false']).default('false').describe('true: pre-releases match too (node-semver includePrerelease)'),
      }),
      response: tagSchema,
      handler: async ({ params, query }) => {
        const parsed = parseSemverRange(query.range, { includePrerelease: query.prerelease === 'true' });
        if ('error' in parsed) throw new BerthError('BAD_REQUEST', { message: `invalid range: ${parsed.error}` });
        const { row, tags } = await tagsOf(params.project, params.repository);
        const best = highestMatching(tags, parsed.range);
        if (!best) {
          const which = query.prerelease === 'true' ? 'version' : 'release (pre-releases only where the range names one; prerelease=true for all)';
          throw new BerthError('NOT_FOUND', { message: `no tag of ${row.name} is a semver ${which} matching "${query.range}" (${parsed.range.normalized})` });
        }
        return tagView(best);
      },
    }),
  ];
}
