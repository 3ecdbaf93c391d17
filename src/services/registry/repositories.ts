import { BerthError } from '../../domain/errors.js';
import { assertRepositoryName } from '../../domain/names.js';
import type { MetadataStore, RepositoryRow } from '../../ports/metadata-store.js';

/** The repository a read names; NAME_UNKNOWN when it has never been pushed to. */
export async function existingRepository(meta: MetadataStore, name: string): Promise<RepositoryRow> {
  assertRepositoryName(name);
  const repository = await meta.getRepository(name);
  if (!repository) throw new BerthError('NAME_UNKNOWN', { message: `repository ${name} not known to registry`, detail: { name } });
  return repository;
}

/** The repository a write names, created on first push. */
export async function writableRepository(meta: MetadataStore, name: string): Promise<RepositoryRow> {
  assertRepositoryName(name);
  return meta.ensureRepository(name);
}
