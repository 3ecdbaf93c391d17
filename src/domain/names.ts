import { BerthError } from './errors.js';

// OCI dist-spec: "Pulling manifests" — repository name and tag grammar.
const componentPattern = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const namePattern = new RegExp(`^${componentPattern}(?:/${componentPattern})*$`);
const tagPattern = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** The longest repository name accepted, as in CNCF distribution. */
export const maxNameLength = 255;

export function isValidRepositoryName(name: string): boolean {
  return name.length > 0 && name.length <= maxNameLength && namePattern.test(name);
}

export function assertRepositoryName(name: string): void {
  if (!isValidRepositoryName(name)) {
    throw new BerthError('NAME_INVALID', {
      message: `invalid repository name: ${name.length > 80 ? `${name.slice(0, 80)}…` : name}`,
      detail: { name: name.slice(0, 300), rule: `lowercase path components matching ${componentPattern}, separated by '/', at most ${maxNameLength} characters` },
    });
  }
}

export function isValidTag(tag: string): boolean {
  return tagPattern.test(tag);
}

export function assertTag(tag: string): void {
  if (!isValidTag(tag)) {
    throw new BerthError('TAG_INVALID', { message: `invalid tag: ${tag.slice(0, 140)}`, detail: { tag: tag.slice(0, 300), rule: tagPattern.source } });
  }
}

/** The project a repository belongs to: its first path component. */
export function projectOf(name: string): string {
  const slash = name.indexOf('/');
  return slash === -1 ? name : name.slice(0, slash);
}
