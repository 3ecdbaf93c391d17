import { BerthError } from '../../domain/errors.js';
import type { Package } from '../../domain/packages/package.js';
import type { ImageIndexStore, ImageSearchHit, ImageSearchQuery } from '../../ports/image-index-store.js';
import { denial, type Authorizer } from '../access/authorizer.js';
import type { Principal } from '../identity/principal.js';
import type { Registry } from '../registry/index.js';
import { parseImageReference, resolveImage } from './image-reference.js';

/** The criteria of a search as the API and the CLI name them (all optional; at least one needed). */
export interface SearchCriteria {
  /** A manifest digest or a prefix of one (`sha256:` optional, at least 4 hex digits). */
  digest?: string;
  /** A path from the root (`/usr/bin/curl`). */
  path?: string;
  /** A file name in any directory (`id_rsa`). */
  file?: string;
  package?: string;
  /** An exact version of `package`. */
  version?: string;
  /** A package type (`deb`, `npm`, ...), with `package`. */
  type?: string;
  /** A vulnerability id or alias (CVE-…, GHSA-…). */
  vulnerability?: string;
  /** `REPOSITORY:TAG` or `REPOSITORY@DIGEST`: images built on it. */
  base?: string;
  /** For a `base` that is an index: which of its images. */
  platform?: string;
  /** `key` or `key=value`. */
  label?: string;
  mediaType?: string;
  artifactType?: string;
}

export interface SearchResult {
  items: ImageSearchHit[];
  next?: string;
  /** The base image `base` resolved to. */
  base?: { repository: string; digest: string; layers: number; index?: { digest: string; platform: string } };
}

export const packageTypes: ReadonlyArray<Package['type']> = ['deb', 'apk', 'rpm', 'pypi', 'npm', 'golang', 'maven'];
export const maxSearchLimit = 100;
export const defaultSearchLimit = 25;

/**
 * Search across the registry (issue 17): by digest prefix, file path or name, package and
 * version, vulnerability, base image, label and media type, over the image index. Results
 * respect permissions exactly as pulls do: the store is asked only within the projects the
 * Authorizer says the caller may pull from, and a base image is read only as its pull would be
 * (refused alike whether it is missing or hidden).
 */
export class SearchService {
  constructor(
    private readonly store: ImageIndexStore,
    private readonly registry: Registry,
    private readonly authorizer: Authorizer,
  ) {}

  async search(principal: Principal, criteria: SearchCriteria, page: { limit: number; after?: string }): Promise<SearchResult> {
    const query = queryOf(criteria);
    const limit = page.limit;
    if (!Number.isInteger(limit) || limit < 1 || limit > maxSearchLimit) throw new BerthError('BAD_REQUEST', { message: `limit must be 1 to ${maxSearchLimit}` });
    let base: Awaited<ReturnType<SearchService['baseOf']>> | undefined;
    if (criteria.base !== undefined) {
      base = await this.baseOf(principal, criteria.base, criteria.platform);
      query.baseLayers = base.layers;
    } else if (criteria.platform !== undefined) {
      throw new BerthError('BAD_REQUEST', { message: 'platform picks the image of a base that is an index: give it with base' });
    }
    if (Object.keys(query).length === 0) throw new BerthError('BAD_REQUEST', { message: noCriterion });
    const scope = await this.authorizer.searchScope(principal);
    const found = await this.store.search(query, scope, { limit, after: page.after });
    return { items: found.hits, ...(found.next ? { next: found.next } : {}), ...(base ? { base: { ...base, layers: base.layers.length } } : {}) };
  }

  /** The layers of a base image, read only if the caller may pull it: otherwise refused as /v2 refuses the pull. */
  private async baseOf(principal: Principal, text: string, platform: string | undefined) {
    const { repository, reference } = parseImageReference(text, 'base');
    if (!(await this.authorizer.repositoryActions(principal, repository)).has('pull')) throw denial(principal, `pull on ${repository}`);
    const image = await resolveImage(this.registry, repository, reference, platform, 'a base is an image');
    const layers = image.parsed.layers.map((l) => l.digest as string);
    if (layers.length === 0) throw new BerthError('BAD_REQUEST', { message: `the base ${repository}@${image.digest} has no layers: nothing is built on it` });
    return { repository, digest: image.digest, layers, ...(image.index ? { index: image.index } : {}) };
  }
}

export const noCriterion = 'name at least one criterion: digest, path, file, package, vulnerability, base, label, mediaType or artifactType';

/** The store's query from the criteria, each validated (BAD_REQUEST naming the criterion). */
export function queryOf(c: SearchCriteria): ImageSearchQuery {
  const query: ImageSearchQuery = {};
  const bad = (message: string) => new BerthError('BAD_REQUEST', { message });
  if (c.digest !== undefined) {
    const digest = c.digest.trim().toLowerCase();
    const prefixed = /^[0-9a-f]+$/.test(digest) ? `sha256:${digest}` : digest;
    if (!/^sha256:[0-9a-f]{4,64}$/.test(prefixed)) throw bad('digest: a digest or a prefix of one, sha256: and at least 4 hex digits');
    query.digest = prefixed;
  }
  if (c.path !== undefined) query.path = cleanPath(c.path, bad);
  if (c.file !== undefined) {
    const name = c.file;
    if (name === '' || name.length > 255 || name.includes('/') || name === '.' || name === '..' || name.includes('\0')) throw bad('file: a file name (no slash), at most 255 characters');
    query.fileName = name;
  }
  if (c.package !== undefined) {
    const name = c.package.trim();
    if (name === '' || name.length > 214) throw bad('package: a package name, at most 214 characters');
    if (c.version !== undefined && (c.version === '' || c.version.length > 128)) throw bad('version: an exact version, at most 128 characters');
    if (c.type !== undefined && !(packageTypes as readonly string[]).includes(c.type)) throw bad(`type: one of ${packageTypes.join(', ')}`);
    query.package = { name, ...(c.version !== undefined ? { version: c.version } : {}), ...(c.type !== undefined ? { type: c.type as Package['type'] } : {}) };
  } else if (c.version !== undefined || c.type !== undefined) {
    throw bad('version and type narrow a package search: give them with package');
  }
  if (c.vulnerability !== undefined) {
    const id = c.vulnerability.trim();
    if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{1,127}$/.test(id)) throw bad('vulnerability: an id or alias such as CVE-2024-3094 or GHSA-xxxx-xxxx-xxxx');
    query.vulnerability = id;
  }
  if (c.label !== undefined) {
    const at = c.label.indexOf('=');
    const key = at < 0 ? c.label : c.label.slice(0, at);
    if (key === '' || key.length > 255) throw bad('label: key or key=value, the key 1 to 255 characters');
    const value = at < 0 ? undefined : c.label.slice(at + 1);
    if (value !== undefined && value.length > 1024) throw bad('label: the value is at most 1024 characters');
    query.label = value === undefined ? { key } : { key, value };
  }
  const type = (name: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    if (!/^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/.test(value)) throw bad(`${name}: a media type such as application/vnd.oci.image.manifest.v1+json`);
    return value;
  };
  const mediaType = type('mediaType', c.mediaType);
  if (mediaType) query.mediaType = mediaType;
  const artifactType = type('artifactType', c.artifactType);
  if (artifactType) query.artifactType = artifactType;
  return query;
}

/** A path from the root as the index keeps it: no leading or trailing slash, no `.`/`..` or empty segments. */
export function cleanPath(text: string, bad: (message: string) => Error, allowRoot = false): string {
  const trimmed = text.replace(/^\/+/, '').replace(/\/+$/, '');
  if (trimmed === '' && allowRoot) return '';
  const segments = trimmed.split('/');
  if (trimmed === '' || trimmed.length > 4096 || segments.some((s) => s === '' || s === '.' || s === '..') || trimmed.includes('\0')) {
    throw bad(`path: a path from the root such as /usr/bin/curl (no empty, "." or ".." segments), at most 4096 characters`);
  }
  return trimmed;
}
