import type { IndexedEntryType } from '../ports/image-index-store.js';

/**
 * The OCI image spec's "Applying Changesets" rules, as lookups a store can run: which entries of
 * higher layers can hide a path of a lower one. A path `a/b/c` taken from layer i is gone from
 * the merged filesystem when a layer above i holds
 *  - a whiteout of `a/b/c` itself (`self`),
 *  - anything but a directory at an ancestor (`a/b`, `a`): a whiteout of it, or a file, symlink
 *    or other non-directory replacing the directory (`ancestor`),
 *  - an opaque marker (name '') in an ancestor directory (`a/b`, `a`, the root): everything lower
 *    layers had below it is hidden (`opaque`).
 * A whiteout or opaque marker applies to lower layers only ("files that are present in the same
 * layer as a whiteout file can only be hidden by whiteout files in subsequent layers"), and a
 * higher layer's entry at the same path replaces the lower one.
 */
export type MaskKind = 'self' | 'ancestor' | 'opaque';

export interface MaskKey {
  parent: string;
  name: string;
  kind: MaskKind;
}

/** The entries (by parent and name) of higher layers that could hide `parent/name`. */
export function maskKeys(parent: string, name: string): MaskKey[] {
  const keys: MaskKey[] = [{ parent, name, kind: 'self' }];
  for (let dir: string | undefined = parent; dir !== undefined; dir = parentDirectory(dir)) {
    keys.push({ parent: dir, name: '', kind: 'opaque' });
    if (dir !== '') keys.push({ parent: parentDirectory(dir) ?? '', name: baseName(dir), kind: 'ancestor' });
  }
  return keys;
}

/** Whether an entry of `type` at a key of `kind` hides what lower layers have at the path. */
export function hides(kind: MaskKind, type: IndexedEntryType | string): boolean {
  if (kind === 'self') return type === 'whiteout';
  if (kind === 'opaque') return type === 'opaque';
  return type !== 'directory';
}

/** The directory holding `path` ('' for a top-level name), undefined for the root itself. */
export function parentDirectory(path: string): string | undefined {
  if (path === '') return undefined;
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '' : path.slice(0, slash);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** `usr/bin` + `curl` → `usr/bin/curl`; the root's children have no leading slash. */
export function joinPath(parent: string, name: string): string {
  return parent === '' ? name : `${parent}/${name}`;
}

/** A path as the index keys it: no leading, trailing or doubled slashes, no `.` segments. */
export function normalizeIndexPath(path: string): string {
  return path
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .join('/');
}
