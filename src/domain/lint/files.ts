import type { CacheKind } from './facts.js';
import { secretPath } from './secrets.js';

interface EntryLike {
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';
  mode: number;
}

/** Setuid (04000) or setgid (02000) on a regular file. */
export function isSetuid(entry: EntryLike): boolean {
  return (entry.type === 'file' || entry.type === 'hardlink') && (entry.mode & 0o6000) !== 0;
}

/** Writable by others (0002); a symlink's mode means nothing, and a sticky directory (/tmp, 01777) is meant to be. */
export function isWorldWritable(entry: EntryLike): boolean {
  if (entry.type === 'symlink' || entry.type === 'other') return false;
  if ((entry.mode & 0o002) === 0) return false;
  return !(entry.type === 'directory' && (entry.mode & 0o1000) !== 0);
}

const caches: ReadonlyArray<{ kind: CacheKind; root: RegExp }> = [
  { kind: 'apt-lists', root: /^(var\/lib\/apt\/lists)\// },
  { kind: 'apt-archives', root: /^(var\/cache\/apt)\// },
  { kind: 'apk-cache', root: /^(var\/cache\/apk)\// },
  { kind: 'dnf-yum-cache', root: /^(var\/cache\/(?:dnf|yum))\// },
  { kind: 'pip-cache', root: /^((?:.*\/)?\.cache\/pip)\// },
  { kind: 'npm-cache', root: /^((?:.*\/)?\.npm\/_cacache)\// },
  { kind: 'yarn-cache', root: /^((?:.*\/)?\.cache\/yarn)\// },
];

/** The package-manager cache a file belongs to (its kind and root directory); lock files are not cache. */
export function cacheOf(path: string): { kind: CacheKind; dir: string } | undefined {
  if (path.endsWith('/lock') || path.endsWith('.lock')) return undefined;
  for (const { kind, root } of caches) {
    const m = root.exec(path);
    if (m) return { kind, dir: m[1]! };
  }
  return undefined;
}

export const cacheNames: Record<CacheKind, string> = {
  'apt-lists': 'apt package lists',
  'apt-archives': 'apt downloaded packages',
  'apk-cache': 'apk cache',
  'dnf-yum-cache': 'dnf/yum cache',
  'pip-cache': 'pip cache',
  'npm-cache': 'npm cache',
  'yarn-cache': 'yarn cache',
};

/** Manual, info and documentation files that Debian's slim variants exclude (they keep copyright notices). */
export function isDocFile(path: string): boolean {
  if (path.startsWith('usr/share/man/') || path.startsWith('usr/share/info/')) return true;
  return path.startsWith('usr/share/doc/') && !path.endsWith('/copyright');
}

/** Compilers and build tools installed outside a package manager (or beside one): their usual paths. */
const toolchainPaths = /^(usr\/(local\/)?bin\/(gcc|g\+\+|cc|c\+\+|clang|clang\+\+|make|cmake|rustc|javac)(-\d+(\.\d+)*)?|usr\/local\/go\/bin\/go|usr\/local\/cargo\/bin\/(rustc|cargo)|usr\/lib\/jvm\/[^/]+\/bin\/javac|opt\/java\/openjdk\/bin\/javac)$/;

export function isToolchainFile(path: string): boolean {
  return toolchainPaths.test(path);
}

/** Language runtimes the official images install under /usr/local, which tell their full variants (large-base rule). */
export const runtimeMarkers = { python: 'usr/local/bin/python3', node: 'usr/local/bin/node' } as const;

/** Whether the file index keeps an entry for the rules (the rest of a layer is only counted). */
export function lintNotable(entry: EntryLike): boolean {
  return (
    isSetuid(entry) ||
    isWorldWritable(entry) ||
    ((entry.type === 'file' || entry.type === 'hardlink') && secretPath(entry.path) !== undefined) ||
    ((entry.type === 'file' || entry.type === 'symlink' || entry.type === 'hardlink') && isToolchainFile(entry.path)) ||
    entry.path === runtimeMarkers.python ||
    entry.path === runtimeMarkers.node
  );
}
