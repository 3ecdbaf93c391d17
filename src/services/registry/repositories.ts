import { BerthError } from '../../domain/errors.js';
import { assertRepositoryName } from '../../domain/names.js';
import { RepositoryGoneError, type MetadataStore, type RepositoryRow } from '../../ports/metadata-store.js';
import type { RepositoryCache } from './repository-cache.js';

/** The repository a read names; NAME_UNKNOWN when it has never been pushed to. */
export async function existingRepository(meta: MetadataStore, name: string): Promise<RepositoryRow> {
  assertRepositoryName(name);
  const repository = await meta.getRepository(name);
  if (!repository) throw new BerthError('NAME_UNKNOWN', { message: `repository ${name} not known to registry`, detail: { name } });
  return repository;
}

/**
 * The repository a pull names, from `cache` when one is given (RepositoryCache: its row is
 * current up to the last tag change announced); NAME_UNKNOWN when it has never been pushed to.
 */
export async function readableRepository(meta: MetadataStore, name: string, cache: RepositoryCache | undefined): Promise<RepositoryRow> {
  if (!cache) return existingRepository(meta, name);
  assertRepositoryName(name);
  const repository = await cachedRepository(meta, name, cache);
  if (!repository) throw new BerthError('NAME_UNKNOWN', { message: `repository ${name} not known to registry`, detail: { name } });
  return repository;
}

/** The row of repository `name`, from `cache` when one is given; undefined when it has never been pushed to. */
export function cachedRepository(meta: MetadataStore, name: string, cache: RepositoryCache | undefined): Promise<RepositoryRow | undefined> {
  return cache ? cache.get(name, () => meta.getRepository(name)) : meta.getRepository(name);
}

/**
 * Runs a write against the repository `name`, created on first push. When a concurrent
 * delete removes the repository between the lookup and the write, the write runs again on
 * the repository created anew (a push after a delete makes it again, as it would a moment later).
 *
 * With `cache`, the first try writes under the id this process last read for the name
 * (RepositoryCache.lastId) without reading the row: ids are never reused, so a write under the
 * id of a repository deleted since fails on its foreign key (RepositoryGoneError) and runs again
 * on the row read anew. `confirmed` tells the write whether its id was read just now: a write
 * that finds something missing under an unconfirmed id (the name's repository may have been
 * made again by another process) throws RepositoryGoneError to have it read first.
 */
export async function onWritableRepository<T>(
  meta: MetadataStore,
  name: string,
  write: (repositoryId: number, confirmed: boolean) => Promise<T>,
  cache?: RepositoryCache,
): Promise<T> {
  assertRepositoryName(name);
  let remembered = cache?.lastId(name);
  for (let attempt = 1; ; attempt++) {
    const id = remembered ?? (await writableId(meta, name, cache));
    try {
      return await write(id, remembered === undefined);
    } catch (err) {
      if (!(err instanceof RepositoryGoneError) || attempt >= 3) throw err;
      cache?.forget(err.repositoryId);
      remembered = undefined;
    }
  }
}

/** The id of repository `name`, created when missing; read through `cache` so its lastId learns it. */
async function writableId(meta: MetadataStore, name: string, cache: RepositoryCache | undefined): Promise<number> {
  const row = cache ? await cache.get(name, () => meta.ensureRepository(name)) : await meta.ensureRepository(name);
  return row!.id;
}
