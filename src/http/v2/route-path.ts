/** The /v2 endpoints (OCI dist-spec "Endpoints"), recognised from a request path. */
export type V2Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'tags'; name: string }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'referrers'; name: string; digest: string };

// Names may contain '/', so each pattern anchors on the fixed words at the end of the path.
// Patterns run on the raw path and each captured part is decoded on its own, so an encoded
// '/' inside a reference or digest can never shift the path's structure.
const patterns: Array<[RegExp, (m: string[]) => V2Route]> = [
  [/^\/v2\/?$/, () => ({ kind: 'base' })],
  [/^\/v2\/_catalog\/?$/, () => ({ kind: 'catalog' })],
  [/^\/v2\/(.+)\/tags\/list\/?$/, (m) => ({ kind: 'tags', name: m[1]! })],
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, (m) => ({ kind: 'manifest', name: m[1]!, reference: m[2]! })],
  [/^\/v2\/(.+)\/blobs\/uploads\/?$/, (m) => ({ kind: 'uploads', name: m[1]! })],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, (m) => ({ kind: 'upload', name: m[1]!, id: m[2]! })],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, (m) => ({ kind: 'blob', name: m[1]!, digest: m[2]! })],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, (m) => ({ kind: 'referrers', name: m[1]!, digest: m[2]! })],
];

export function matchV2Route(path: string): V2Route | undefined {
  for (const [pattern, build] of patterns) {
    const match = pattern.exec(path);
    if (!match) continue;
    const parts: string[] = [];
    for (const part of match) {
      const decoded = decode(part);
      if (decoded === undefined) return undefined;
      parts.push(decoded);
    }
    return build(parts);
  }
  return undefined;
}

function decode(part: string | undefined): string | undefined {
  if (part === undefined) return '';
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}
