import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { buffer } from 'node:stream/consumers';
import { BerthError } from '../../domain/errors.js';
import { tryParseDigest } from '../../domain/digest.js';
import { parseManifest } from '../../domain/manifest.js';
import { cycloneDxDocument } from '../../domain/sbom/cyclonedx.js';
import { sbomMediaTypes } from '../../domain/sbom/sbom.js';
import { spdxDocument } from '../../domain/sbom/spdx.js';
import type { Principal } from '../../services/identity/principal.js';
import { groupArtifacts } from '../../services/registry/artifact-groups.js';
import { listOf, pageQuery, paged, route, type AnyRoute } from './api-route.js';
import { artifactSchema, artifactView, repositorySchema, repositoryView } from './schemas.js';
import type { ApiServices } from './services.js';
import { tagRoutes } from './tag-routes.js';

export const repositoryParams = z.object({
  project: z.string().min(1).max(255).describe('Project name'),
  repository: z.string().min(1).max(255).describe("Repository name without the project prefix (URL-encode '/' as %2F)"),
});
export const artifactParams = repositoryParams.extend({ reference: z.string().min(1).max(200).describe('Digest or tag') });

/** `team/app` from project `team` and `app` (or the full name, for callers that pass it). */
export function fullName(project: string, repository: string): string {
  return repository === project || repository.startsWith(`${project}/`) ? repository : `${project}/${repository}`;
}

const layerSchema = z.object({ mediaType: z.string(), digest: z.string(), size: z.number().int() });
const artifactDetailSchema = artifactSchema.extend({
  repository: z.string(),
  pullCommand: z.string(),
  config: layerSchema.nullable(),
  layers: z.array(layerSchema),
  manifests: z.array(layerSchema.extend({ platform: z.object({ os: z.string(), architecture: z.string(), variant: z.string().optional() }).nullable() })),
  history: z.array(z.object({ created: z.string().nullable(), createdBy: z.string().nullable(), emptyLayer: z.boolean() })),
  platform: z.object({ os: z.string().nullable(), architecture: z.string().nullable() }).nullable(),
});

const inventorySchema = z.object({
  digest: z.string(),
  os: z.object({ id: z.string(), versionId: z.string().optional(), prettyName: z.string().optional(), codename: z.string().optional() }).nullable(),
  packages: z.array(
    z.object({
      name: z.string(),
      version: z.string(),
      type: z.string().describe("The package URL's type: deb, apk, rpm, pypi, npm, golang, maven"),
      arch: z.string().optional(),
      source: z.string().optional(),
      sourceVersion: z.string().optional(),
      license: z.string().optional(),
      purl: z.string().describe('Package URL'),
      foundIn: z.string().describe('The package database that lists it'),
    }),
  ),
});

/** Repositories and artifacts of a project, as the console and scripts browse them. */
export function repositoryRoutes(s: ApiServices): AnyRoute[] {
  const repository = async (project: string, name: string) => {
    const full = fullName(project, name);
    const row = await s.registry.meta.getRepository(full);
    if (!row) throw new BerthError('NOT_FOUND', { message: `repository ${full} not found` });
    return row;
  };
  /** The inventory of the image `reference` names; an index is refused, naming its manifests. */
  const imageInventory = async (name: string, reference: string) => {
    const manifest = await s.registry.manifests.get(name, reference);
    const parsed = parseManifest(manifest.body, manifest.mediaType);
    if (parsed.manifests.length > 0) {
      throw new BerthError('BAD_REQUEST', {
        message: 'an index has no packages of its own: ask for one of its manifests by digest',
        detail: { manifests: parsed.manifests.map((m) => ({ digest: m.digest, platform: m.platform ?? null })) },
      });
    }
    return { digest: manifest.digest, inventory: await s.security.inventory.ofImage(name, parsed.layers) };
  };
  return [
    route({
      method: 'GET',
      path: '/projects/{project}/repositories',
      summary: 'List repositories of a project (q=name=~part filters by name)',
      tag: 'repositories',
      auth: { action: 'read', project: ({ params }) => params.project },
      params: z.object({ project: z.string().min(1).max(255) }),
      query: pageQuery,
      response: listOf(repositorySchema),
      handler: async ({ params, query, request, reply }) => {
        const nameContains = /(?:^|,)name=~([^,]*)/.exec(query.q ?? '')?.[1];
        const result = await s.registry.meta.listProjectRepositories(params.project, {
          offset: (query.page - 1) * query.page_size,
          limit: query.page_size,
          nameContains,
        });
        return paged(reply, request, query, { items: result.items.map((r) => repositoryView(r, params.project)), total: result.total });
      },
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/repositories/{repository}',
      summary: 'Get a repository',
      tag: 'repositories',
      auth: { action: 'read', project: ({ params }) => params.project },
      params: repositoryParams,
      response: repositorySchema,
      handler: async ({ params }) => {
        const row = await repository(params.project, params.repository);
        const found = (await s.registry.meta.listProjectRepositories(params.project, { offset: 0, limit: 1000, nameContains: row.name })).items.find(
          (r) => r.name === row.name,
        );
        return repositoryView(found!, params.project);
      },
    }),
    route({
      method: 'DELETE',
      path: '/projects/{project}/repositories/{repository}',
      summary: 'Delete a repository with all its artifacts and tags',
      tag: 'repositories',
      auth: { action: 'delete', project: ({ params }) => params.project },
      params: repositoryParams,
      audit: {
        action: 'repository.delete',
        resourceType: 'repository',
        resource: ({ params }) => fullName(params.project, params.repository),
        project: ({ params }) => params.project,
      },
      handler: async ({ params, principal }) => {
        const row = await repository(params.project, params.repository);
        await s.registry.manifests.deleteRepository(row.name, actorName(principal));
        return undefined;
      },
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/repositories/{repository}/artifacts',
      summary: "List artifacts with their tags, platforms, referrers and pulls, newest first or by semver (sort=semver); an index's platform manifests and referrers are not listed on their own",
      tag: 'artifacts',
      auth: { action: 'read', project: ({ params }) => params.project },
      params: repositoryParams,
      query: pageQuery.extend({
        tagged: z.enum(['true', 'false']).optional().describe('Only artifacts with at least one tag'),
        sort: z
          .enum(['-pushed_at', 'semver'])
          .default('-pushed_at')
          .describe('-pushed_at (newest first), or semver: by the highest semver tag of each, highest first; artifacts without one after, newest first'),
      }),
      response: listOf(artifactSchema),
      handler: async ({ params, query, request, reply }) => {
        const row = await repository(params.project, params.repository);
        const result = await s.registry.meta.listArtifacts(row.id, {
          offset: (query.page - 1) * query.page_size,
          limit: query.page_size,
          taggedOnly: query.tagged === 'true',
          order: query.sort === 'semver' ? 'semver' : 'pushed',
        });
        const groups = await groupArtifacts(s.registry.meta, s.registry.manifests, row, result.items);
        return paged(reply, request, query, { items: result.items.map((a) => artifactView(a, groups.get(a.digest)!)), total: result.total });
      },
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/repositories/{repository}/artifacts/{reference}',
      summary: 'An artifact with its layers, config history, platforms and referrers',
      tag: 'artifacts',
      auth: { action: 'read', project: ({ params }) => params.project },
      params: artifactParams,
      response: artifactDetailSchema,
      handler: async ({ params, request }) => {
        const row = await repository(params.project, params.repository);
        const manifest = await s.registry.manifests.get(row.name, params.reference);
        const stored = (await s.registry.meta.getManifest(row.id, manifest.digest))!;
        const tags = (await s.registry.meta.tagsOf(row.id, manifest.digest)).map((t) => t.name);
        const parsed = parseManifest(manifest.body, manifest.mediaType);
        const group = (await groupArtifacts(s.registry.meta, s.registry.manifests, row, [stored])).get(stored.digest)!;
        const config = parsed.config ? await readConfig(s, row.name, parsed.config.digest, parsed.config.size) : undefined;
        const history = Array.isArray(config?.history)
          ? (config.history as Array<Record<string, unknown>>).slice(0, 500).map((h) => ({
              created: typeof h.created === 'string' ? h.created : null,
              createdBy: typeof h.created_by === 'string' ? h.created_by : null,
              emptyLayer: h.empty_layer === true,
            }))
          : [];
        const host = request.host;
        return {
          ...artifactView({ ...stored, tags }, group),
          repository: row.name,
          pullCommand: `podman pull ${host}/${row.name}${tags[0] ? `:${tags[0]}` : `@${manifest.digest}`}`,
          config: parsed.config ? { mediaType: parsed.config.mediaType, digest: parsed.config.digest, size: parsed.config.size } : null,
          layers: parsed.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
          manifests: parsed.manifests.map((m) => ({
            mediaType: m.mediaType,
            digest: m.digest,
            size: m.size,
            platform: m.platform ? { os: m.platform.os, architecture: m.platform.architecture, ...(m.platform.variant ? { variant: m.platform.variant } : {}) } : null,
          })),
          history,
          platform: config ? { os: typeof config.os === 'string' ? config.os : null, architecture: typeof config.architecture === 'string' ? config.architecture : null } : null,
        };
      },
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/repositories/{repository}/artifacts/{reference}/packages',
      summary: "An image's operating system and packages (dpkg, apk, Python, npm), read from its layers",
      tag: 'artifacts',
      auth: { action: 'read', project: ({ params }) => params.project },
      params: artifactParams,
      response: inventorySchema,
      handler: async ({ params }) => {
        const row = await repository(params.project, params.repository);
        const { digest, inventory } = await imageInventory(row.name, params.reference);
        return { digest, os: inventory.os ?? null, packages: inventory.packages };
      },
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/repositories/{repository}/artifacts/{reference}/sbom',
      summary: "An image's SBOM, SPDX 2.3 or CycloneDX 1.5 JSON, made from its package inventory",
      tag: 'artifacts',
      auth: { action: 'read', project: ({ params }) => params.project },
      params: artifactParams,
      query: z.object({ format: z.enum(['spdx', 'cyclonedx']).default('spdx').describe('spdx (application/spdx+json) or cyclonedx (application/vnd.cyclonedx+json)') }),
      response: z.record(z.string(), z.unknown()).describe('The SBOM document'),
      handler: async ({ params, query, request, reply }) => {
        const row = await repository(params.project, params.repository);
        const { digest, inventory } = await imageInventory(row.name, params.reference);
        const subject = { repository: row.name, digest, host: request.host };
        const making = { toolVersion: s.version, created: new Date().toISOString(), uuid: randomUUID() };
        const document = query.format === 'spdx' ? spdxDocument(subject, inventory, making) : cycloneDxDocument(subject, inventory, making);
        reply.type(sbomMediaTypes[query.format]).header('Content-Disposition', `attachment; filename="${row.name.replace(/\//g, '_')}-${digest.slice(7, 19)}.${query.format}.json"`);
        return document;
      },
    }),
    route({
      method: 'DELETE',
      path: '/projects/{project}/repositories/{repository}/artifacts/{reference}',
      summary: 'Delete an artifact (by digest or tag) and all its tags',
      tag: 'artifacts',
      auth: { action: 'delete', project: ({ params }) => params.project },
      params: artifactParams,
      audit: {
        action: 'artifact.delete',
        resourceType: 'artifact',
        resource: ({ params }) => `${fullName(params.project, params.repository)}@${params.reference}`,
        project: ({ params }) => params.project,
      },
      handler: async ({ params, principal }) => {
        const row = await repository(params.project, params.repository);
        const digest = tryParseDigest(params.reference) ? params.reference : (await s.registry.manifests.get(row.name, params.reference)).digest;
        await s.registry.manifests.delete(row.name, digest, actorName(principal));
        return undefined;
      },
    }),
    route({
      method: 'POST',
      path: '/projects/{project}/repositories/{repository}/artifacts/{reference}/tags',
      summary: 'Add a tag to an artifact',
      tag: 'artifacts',
      auth: { action: 'push', project: ({ params }) => params.project },
      params: artifactParams,
      body: z.object({ name: z.string().min(1).max(128) }),
      status: 201,
      response: z.object({ name: z.string(), digest: z.string() }),
      audit: {
        action: 'tag.create',
        resourceType: 'tag',
        resource: ({ params, body }) => `${fullName(params.project, params.repository)}:${body.name}`,
        project: ({ params }) => params.project,
      },
      handler: async ({ params, body, principal }) => {
        const row = await repository(params.project, params.repository);
        const digest = await s.registry.manifests.tag(row.name, params.reference, body.name, actorName(principal));
        return { name: body.name, digest };
      },
    }),
    route({
      method: 'DELETE',
      path: '/projects/{project}/repositories/{repository}/tags/{tag}',
      summary: 'Delete a tag (the artifact stays)',
      tag: 'artifacts',
      auth: { action: 'delete', project: ({ params }) => params.project },
      params: repositoryParams.extend({ tag: z.string().min(1).max(128) }),
      audit: {
        action: 'tag.delete',
        resourceType: 'tag',
        resource: ({ params }) => `${fullName(params.project, params.repository)}:${params.tag}`,
        project: ({ params }) => params.project,
      },
      handler: async ({ params, principal }) => {
        const row = await repository(params.project, params.repository);
        await s.registry.manifests.delete(row.name, params.tag, actorName(principal));
        return undefined;
      },
    }),
    ...tagRoutes(s, repository, repositoryParams),
  ];
}

function actorName(principal: Principal): string {
  return principal.kind === 'anonymous' ? 'anonymous' : principal.name;
}

/** An image config (small JSON), read with a size cap. */
async function readConfig(s: ApiServices, repository: string, digest: string, size: number): Promise<Record<string, unknown> | undefined> {
  if (size > 4 * 1024 * 1024) return undefined;
  try {
    const blob = await s.registry.blobs.open(repository, digest);
    const parsed: unknown = JSON.parse((await buffer(blob.stream)).toString('utf8'));
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
