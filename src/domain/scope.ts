/**
 * Docker token authentication scopes (distribution "Token Scope Documentation"):
 * `repository:<name>:<action>[,<action>]`, `registry:catalog:*`. Names may contain ':'
 * only in a port of a registry host, which Berth names never have, so split from the ends.
 */
export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

export function parseScope(scope: string): AccessEntry[] {
  const entries: AccessEntry[] = [];
  for (const part of scope.split(' ')) {
    if (part === '') continue;
    const first = part.indexOf(':');
    const last = part.lastIndexOf(':');
    if (first <= 0 || last === first) continue;
    const type = part.slice(0, first);
    const name = part.slice(first + 1, last);
    const actions = part
      .slice(last + 1)
      .split(',')
      .filter((a) => a !== '');
    if (name === '' || actions.length === 0) continue;
    entries.push({ type, name, actions });
  }
  return entries;
}

export function formatScope(entry: AccessEntry): string {
  return `${entry.type}:${entry.name}:${entry.actions.join(',')}`;
}
