/** A registry's `WWW-Authenticate` challenge (RFC 7235; Docker's token authentication). */
export type Challenge = { scheme: 'basic'; realm?: string; service?: undefined; scope?: undefined } | { scheme: 'bearer'; realm: string; service?: string; scope?: string };

/**
 * Reads `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`; undefined for anything
 * else (or a Bearer challenge without a realm, which cannot be answered).
 */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const match = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!match) return undefined;
  const scheme = match[1]!.toLowerCase();
  const params = new Map<string, string>();
  const pattern = /([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy;
  const rest = match[2]!;
  for (let m = pattern.exec(rest); m; m = pattern.exec(rest)) {
    params.set(m[1]!.toLowerCase(), m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? ''));
    if (pattern.lastIndex >= rest.length) break;
  }
  if (scheme === 'basic') return { scheme: 'basic', realm: params.get('realm') };
  if (scheme !== 'bearer') return undefined;
  const realm = params.get('realm');
  if (!realm || !/^https?:\/\//.test(realm)) return undefined;
  return { scheme: 'bearer', realm, service: params.get('service'), scope: params.get('scope') };
}
