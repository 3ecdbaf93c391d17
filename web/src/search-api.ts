/** What the console reads from the search and file-tree API (docs/search.md), in their own module. */

export interface SearchHit {
  repository: string;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  tags: string[];
  indexes: Array<{ digest: string; tags: string[] }>;
  pushedAt: number;
  matched: {
    files?: Array<{ path: string; layer: number; size: number }>;
    packages?: Array<{ name: string; version: string; type: string }>;
    vulnerabilities?: Array<{ id: string; severity: string; package: string }>;
    labels?: Record<string, string>;
  };
}

export interface SearchResult {
  items: SearchHit[];
  next?: string;
  base?: { repository: string; digest: string; layers: number; index?: { digest: string; platform: string } };
}

/** The search criteria, by the API's query parameter names (`platform` picks the image of a base that is an index). */
export const searchCriteria = ['package', 'version', 'path', 'file', 'vulnerability', 'base', 'platform', 'label', 'digest', 'mediaType', 'artifactType'] as const;
export type SearchCriterion = (typeof searchCriteria)[number];

export type FileEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'whiteout' | 'opaque' | 'other';

export interface FileEntry {
  path: string;
  name: string;
  type: FileEntryType;
  size: number;
  mode?: number;
  uid?: number;
  gid?: number;
  linkTarget?: string;
  layer?: number;
}

export interface FileTree {
  repository: string;
  digest: string;
  index?: { digest: string; platform: string };
  layers: Array<{ index: number; digest: string; size: number; uncompressedSize: number; files: number; truncated: boolean }>;
  layer: number | null;
  path: string;
  q: string | null;
  mode: 'list' | 'find';
  entries: FileEntry[];
  truncated: boolean;
}

/** The console's page of an artifact named by its full repository name (`project/name`). */
export function artifactPath(repository: string, digest: string): string {
  const project = repository.split('/')[0] ?? repository;
  const inner = repository.startsWith(`${project}/`) ? repository.slice(project.length + 1) : repository;
  return `/projects/${project}/repositories/${encodeURIComponent(inner)}/artifacts/${digest}`;
}

/** `ls -l`'s permission string of a tar mode (`drwxr-xr-x`), with setuid/setgid/sticky bits. */
export function modeString(type: FileEntryType, mode: number): string {
  const kind = type === 'directory' ? 'd' : type === 'symlink' ? 'l' : type === 'hardlink' ? 'h' : type === 'file' ? '-' : '?';
  const bits = ['r', 'w', 'x', 'r', 'w', 'x', 'r', 'w', 'x'].map((c, i) => ((mode >> (8 - i)) & 1 ? c : '-'));
  if (mode & 0o4000) bits[2] = bits[2] === 'x' ? 's' : 'S';
  if (mode & 0o2000) bits[5] = bits[5] === 'x' ? 's' : 'S';
  if (mode & 0o1000) bits[8] = bits[8] === 'x' ? 't' : 'T';
  return kind + bits.join('');
}
