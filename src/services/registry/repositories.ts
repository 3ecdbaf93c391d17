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

/** The repository a write names, created on first push. */
export async function writableRepository(meta: MetadataStore, name: string): Promise<RepositoryRow> {
  assertRepositoryName(name);
  return meta.ensureRepository(name);
}

/**
 * Runs a write against the repository `name`, created on first push. When a concurrent
 * delete removes the repository between the lookup and the write, the write runs again on
 * the repository created anew (a push after a delete makes it again, as it would a moment later).
 */
export async function onWritableRepository<T>(meta: MetadataStore, name: string, write: (repository: RepositoryRow) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const repository = await writableRepository(meta, name);
    try {
      return await write(repository);
    } catch (err) {
      if (!(err instanceof RepositoryGoneError) || attempt >= 3) throw err;
    }
  }
}
