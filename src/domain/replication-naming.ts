/**
 * Where a replicated repository lands (Harbor's "destination namespace" and "flattening"):
 * `flatten` leading path segments are dropped from the source name (-1: all but the last),
 * then the namespace, when given, is put in front.
 *
 *   library/team/app, flatten 0, namespace mirror → mirror/library/team/app
 *   library/team/app, flatten 1, namespace mirror → mirror/team/app
 *   library/team/app, flatten -1, namespace mirror → mirror/app
 */
export function destinationRepository(source: string, namespace: string | null, flatten: number): string {
  const segments = source.split('/');
  const keep = flatten < 0 ? segments.slice(-1) : segments.slice(Math.min(flatten, segments.length - 1));
  return namespace ? `${namespace.replace(/\/+$/, '')}/${keep.join('/')}` : keep.join('/');
}

/** Whether a glob has anything but literal characters (then the source's catalog is listed). */
export function hasWildcards(pattern: string): boolean {
  return /[*?[\]{}]/.test(pattern);
}
