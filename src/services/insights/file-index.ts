import { cacheOf, isDocFile, isSecretMarkers, lintNotable, SecretMarkerProbe, secretPath, type CacheFact, type FileFact } from '../../domain/lint/index.js';
import { npmManifestPath } from '../../domain/packages/npm.js';
import { pythonMetadataPath } from '../../domain/packages/python.js';
import { inventoryWants } from '../security/inventory.js';
import type { LayerWalk, LayerEntry, WalkOptions } from '../security/layer-walker.js';

/** Notable entries one layer summary keeps at most (a layer of 100 000 world-writable files is counted, not listed). */
export const maxNotablePerLayer = 2_000;

/**
 * What lint needs from one layer, kept per layer digest (lint-service.ts): the entries some
 * rule looks at, per-cache counts, documentation files counted, the operating-system package
 * databases (for the inventory's parsers), and a compact record of every path the layer lists
 * (two sorted arrays of 53-bit hashes) so that an entry of a lower layer can be told replaced or
 * still present without keeping the listing.
 */
export interface LayerSummary {
  entries: number;
  notable: Array<LayerEntry & { markers?: string[] }>;
  /** Notable entries past `maxNotablePerLayer`, counted only. */
  notableOmitted: number;
  caches: Array<Omit<CacheFact, 'layer'>>;
  docFiles: number;
  /** Hashes of every path the layer lists, sorted. */
  paths: Float64Array;
  /** Hashes of the paths it lists as something other than a directory (replacing a directory takes its contents), sorted. */
  nonDirectories: Float64Array;
  whiteouts: Set<string>;
  opaqueDirs: Set<string>;
  /** The walk as the inventory parsers need it: os-release, dpkg/apk/rpm databases and symlinks only. */
  packages: LayerWalk;
  /** Regular files by path hash and size, for wasted space (wasted-space.ts). */
  files: FileTable;
  /** Bytes of the layer blob as read, and of its tar once decompressed. */
  compressedBytes: number;
  uncompressedBytes: number;
}

/** Names kept per layer for the largest files (the wasted-space report names its biggest offenders among them). */
export const maxNamedFilesPerLayer = 1_000;

/**
 * The regular files of one layer, compactly: per file its path hash, size and directory (an
 * index into `dirHash`, whose parents come before their children; -1 is the root), and the
 * hardlinks of the layer with the file they name. Only the largest files keep their names.
 */
export interface FileTable {
  hash: Float64Array;
  size: Float64Array;
  dir: Int32Array;
  dirHash: Float64Array;
  dirParent: Int32Array;
  links: { file: Int32Array; hash: Float64Array; dir: Int32Array };
  /** Files listed again at the same path later in the same layer (the later entry is the one extracted). */
  relisted: Int32Array;
  /** Paths of the `maxNamedFilesPerLayer` largest files, by file index. */
  names: Map<number, string>;
  /** Sum of `size`. */
  bytes: number;
}

/** The files whose bytes the file index keeps: os-release and the operating-system package databases (not Python or npm metadata). */
export function fileIndexWants(path: string): boolean {
  return inventoryWants(path) && !pythonMetadataPath.test(path) && !npmManifestPath.test(path);
}

/** The walk options of the file index: keep the package databases, probe secret-looking files for markers. */
export const fileIndexWalk: Pick<WalkOptions, 'wanted' | 'probe'> = {
  wanted: fileIndexWants,
  probe: (entry) => (secretPath(entry.path)?.needs ? new SecretMarkerProbe() : undefined),
};

/** Summarises one walked layer; the walk itself can then be dropped. */
export function summarise(walk: LayerWalk): LayerSummary {
  const notable = new Map<string, LayerEntry & { markers?: string[] }>();
  let notableSeen = 0;
  const caches = new Map<string, Omit<CacheFact, 'layer'>>();
  let docFiles = 0;
  const paths = new Float64Array(walk.entries.length);
  const nonDirectories: number[] = [];
  walk.entries.forEach((entry, i) => {
    const hash = pathHash(entry.path);
    paths[i] = hash;
    if (entry.type !== 'directory') nonDirectories.push(hash);
    // A path listed twice in one layer: the later entry is the one extracted.
    if (lintNotable(entry)) {
      notableSeen++;
      if (notable.size < maxNotablePerLayer || notable.has(entry.path)) {
        const markers = walk.probes.get(entry.path);
        notable.set(entry.path, isSecretMarkers(markers) ? { ...entry, markers } : { ...entry });
      }
    } else notable.delete(entry.path);
    if (entry.type !== 'file' && entry.type !== 'hardlink') return;
    const cache = cacheOf(entry.path);
    if (cache) {
      const counted = caches.get(cache.kind) ?? { kind: cache.kind, dir: cache.dir, files: 0, bytes: 0 };
      counted.files++;
      counted.bytes += entry.size;
      caches.set(cache.kind, counted);
    }
    if (isDocFile(entry.path)) docFiles++;
  });
  paths.sort();
  const files = fileTable(walk);
  const packages: LayerWalk = { ...walk, entries: walk.entries.filter((e) => e.type === 'symlink' || fileIndexWants(e.path)), probes: new Map() };
  return {
    entries: walk.entries.length,
    notable: [...notable.values()],
    notableOmitted: Math.max(0, notableSeen - notable.size),
    caches: [...caches.values()],
    docFiles,
    paths,
    nonDirectories: Float64Array.from(nonDirectories).sort(),
    whiteouts: new Set(walk.whiteouts),
    opaqueDirs: new Set(walk.opaqueDirs),
    packages,
    files,
    compressedBytes: walk.compressedBytes,
    uncompressedBytes: walk.uncompressedBytes,
  };
}

/** The regular files and hardlinks of a walk, by hash (see FileTable). */
function fileTable(walk: LayerWalk): FileTable {
  const dirs = new Map<string, number>();
  const dirHash: number[] = [];
  const dirParent: number[] = [];
  const dirOf = (path: string): number => {
    const slash = path.lastIndexOf('/');
    if (slash < 0) return -1;
    const dir = path.slice(0, slash);
    const known = dirs.get(dir);
    if (known !== undefined) return known;
    const parent = dirOf(dir);
    dirs.set(dir, dirHash.length);
    dirHash.push(pathHash(dir));
    dirParent.push(parent);
    return dirHash.length - 1;
  };
  const hash: number[] = [];
  const size: number[] = [];
  const dir: number[] = [];
  const links: Array<{ file: number; hash: number; dir: number; alive: boolean }> = [];
  const relisted: number[] = [];
  // What each path of this layer names now: a file (its index) or a hardlink (its index in `links`).
  const current = new Map<string, { file: number; link?: number }>();
  let bytes = 0;
  for (const entry of walk.entries) {
    const before = current.get(entry.path);
    if (before) {
      // Listed again: the earlier entry is replaced (a hardlink name only drops that name).
      current.delete(entry.path);
      if (before.link === undefined) relisted.push(before.file);
      else links[before.link]!.alive = false;
    }
    if (entry.type === 'file') {
      current.set(entry.path, { file: hash.length });
      hash.push(pathHash(entry.path));
      size.push(entry.size);
      dir.push(dirOf(entry.path));
      bytes += entry.size;
    } else if (entry.type === 'hardlink') {
      const target = current.get(entry.linkTarget ?? '');
      if (!target) continue;
      current.set(entry.path, { file: target.file, link: links.length });
      links.push({ file: target.file, hash: pathHash(entry.path), dir: dirOf(entry.path), alive: true });
    }
  }
  const alive = links.filter((l) => l.alive);
  const names = new Map<number, string>();
  const largest = size.map((s, i) => i).sort((a, b) => size[b]! - size[a]! || a - b).slice(0, maxNamedFilesPerLayer);
  const wanted = new Set(largest);
  let index = 0;
  for (const entry of walk.entries) {
    if (entry.type !== 'file') continue;
    if (wanted.has(index)) names.set(index, entry.path);
    index++;
  }
  return {
    hash: Float64Array.from(hash),
    size: Float64Array.from(size),
    dir: Int32Array.from(dir),
    dirHash: Float64Array.from(dirHash),
    dirParent: Int32Array.from(dirParent),
    links: { file: Int32Array.from(alive, (l) => l.file), hash: Float64Array.from(alive, (l) => l.hash), dir: Int32Array.from(alive, (l) => l.dir) },
    relisted: Int32Array.from(relisted),
    names,
    bytes,
  };
}

/** Bytes a summary takes in memory, roughly, for the cache's bound. */
export function summaryWeight(summary: LayerSummary): number {
  let bytes = 512 + summary.paths.byteLength + summary.nonDirectories.byteLength + summary.notable.length * 160 + summary.caches.length * 96;
  for (const path of [...summary.whiteouts, ...summary.opaqueDirs]) bytes += 64 + 2 * path.length;
  bytes += summary.packages.entries.length * 128;
  const files = summary.files;
  bytes += files.hash.byteLength + files.size.byteLength + files.dir.byteLength + files.dirHash.byteLength + files.dirParent.byteLength + files.relisted.byteLength;
  bytes += files.links.file.byteLength + files.links.hash.byteLength + files.links.dir.byteLength;
  for (const name of files.names.values()) bytes += 48 + 2 * name.length;
  for (const content of summary.packages.contents.values()) bytes += content.length;
  return bytes;
}

/** Whether `layer` deletes or replaces `path` of a layer below it (OCI image spec, "Applying Changesets"). */
export function replaces(layer: LayerSummary, path: string): boolean {
  if (layer.whiteouts.has(path) || has(layer.paths, pathHash(path))) return true;
  const parts = path.split('/');
  for (let i = 1; i < parts.length; i++) {
    const ancestor = parts.slice(0, i).join('/');
    if (layer.whiteouts.has(ancestor) || layer.opaqueDirs.has(ancestor) || has(layer.nonDirectories, pathHash(ancestor))) return true;
  }
  return layer.opaqueDirs.has('');
}

/** The notable files of an image's layers (lowest first), each marked present or not in the merged filesystem. */
export function notableFiles(layers: readonly LayerSummary[]): FileFact[] {
  const files: FileFact[] = [];
  layers.forEach((summary, layer) => {
    for (const entry of summary.notable) {
      const present = !layers.slice(layer + 1).some((above) => replaces(above, entry.path));
      const fact: FileFact = { path: entry.path, layer, type: entry.type, size: entry.size, mode: entry.mode, uid: entry.uid, present };
      if (entry.linkTarget !== undefined) fact.linkTarget = entry.linkTarget;
      if (entry.markers) fact.markers = entry.markers;
      files.push(fact);
    }
  });
  return files;
}

/** Two FNV-1a hashes of the path's UTF-16 units, 32 and 21 bits, as one exact double (collisions: about 1 in 10^4 for a million paths). */
export function pathHash(path: string): number {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) + i;
  }
  return (b >>> 11) * 2 ** 32 + (a >>> 0);
}

export function has(sorted: Float64Array, value: number): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid]!;
    if (v === value) return true;
    if (v < value) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}
