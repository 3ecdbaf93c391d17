/**
 * Glob patterns as Harbor's rules use them (doublestar): `*` matches within one path segment,
 * `**` across segments, `?` one character, `[abc]` / `[a-z]` / `[!a]` a character class,
 * `{a,b}` either alternative (alternatives may hold patterns). Everything else is literal.
 */
export class GlobError extends Error {
  constructor(
    readonly pattern: string,
    reason: string,
  ) {
    super(`invalid pattern ${JSON.stringify(pattern)}: ${reason}`);
    this.name = 'GlobError';
  }
}

const cache = new Map<string, RegExp>();

/** Whether `text` matches `pattern` as a whole. Throws GlobError for a malformed pattern. */
export function globMatch(pattern: string, text: string): boolean {
  return globRegExp(pattern).test(text);
}

/** Throws GlobError when `pattern` is not a valid glob. */
export function assertGlob(pattern: string): void {
  globRegExp(pattern);
}

export function globRegExp(pattern: string): RegExp {
  let regexp = cache.get(pattern);
  if (!regexp) {
    if (pattern.length === 0) throw new GlobError(pattern, 'empty');
    if (pattern.length > 500) throw new GlobError(pattern, 'longer than 500 characters');
    regexp = new RegExp(`^${translate(pattern)}$`, 'u');
    if (cache.size > 1000) cache.clear();
    cache.set(pattern, regexp);
  }
  return regexp;
}

function translate(pattern: string): string {
  let out = '';
  let depth = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        // `**/` also matches no segment at all ("a/**/b" matches "a/b").
        if (pattern[i + 1] === '/') {
          i++;
          out += '(?:.*/)?';
        } else out += '.*';
      } else out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) throw new GlobError(pattern, `unclosed [ at ${i}`);
      let body = pattern.slice(i + 1, end);
      const negated = body.startsWith('!') || body.startsWith('^');
      if (negated) body = body.slice(1);
      if (body.length === 0) throw new GlobError(pattern, `empty character class at ${i}`);
      out += `[${negated ? '^' : ''}${body.replace(/[\\\]]/g, '\\$&')}]`;
      i = end;
    } else if (c === '{') {
      depth++;
      out += '(?:';
    } else if (c === '}') {
      if (depth === 0) throw new GlobError(pattern, `} without { at ${i}`);
      depth--;
      out += ')';
    } else if (c === ',' && depth > 0) out += '|';
    else if (c === '\\' && i + 1 < pattern.length) {
      i++;
      out += escape(pattern[i]!);
    } else out += escape(c);
  }
  if (depth > 0) throw new GlobError(pattern, 'unclosed {');
  return out;
}

function escape(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}
