import { has, pathHash, type LayerSummary } from './file-index.js';

/** One file whose bytes an image carries but its filesystem no longer shows. */
export interface WastedFile {
  path: string;
  bytes: number;
  /** The layer (0 = the lowest) holding the bytes. */
  layer: number;
  /** The layer that overwrote or deleted the file (the last of its names, for a hardlinked file). */
  replacedIn: number;
}

export interface WastedSpace {
  /** Bytes of regular files overwritten or deleted by a later layer (or listed again later in their own layer). */
  bytes: number;
  files: number;
  /** The largest such files, largest first, among the files whose names the layer summaries keep. */
  largest: WastedFile[];
}

/** Wasted files the report names at most. */
export const maxWastedListed = 20;

/** What one layer removes from the layers below it, as hashes (OCI image spec, "Applying Changesets"). */
interface Removals {
  /** Paths whited out: the path and all below it. */
  whiteouts: Set<number>;
  /** Paths under which the lower layers' entries are gone: whiteouts, opaque directories (their contents) and non-directories. */
  hides: (dir: number) => boolean;
  /** An opaque root directory: everything below is gone. */
  root: boolean;
  paths: Float64Array;
}

function removalsOf(layer: LayerSummary): Removals {
  const whiteouts = new Set([...layer.whiteouts].map(pathHash));
  const opaque = new Set([...layer.opaqueDirs].filter((d) => d !== '').map(pathHash));
  return {
    whiteouts,
    hides: (dir) => whiteouts.has(dir) || opaque.has(dir) || has(layer.nonDirectories, dir),
    root: layer.opaqueDirs.has(''),
    paths: layer.paths,
  };
}

/**
 * The bytes of regular files that later layers overwrite or delete: the image carries them but its
 * filesystem does not show them. A file counts once its path and every hardlink to it in its
 * own layer are gone; a path listed twice in one layer wastes its earlier entry. Directories,
 * symlinks and tar headers are not files' bytes and are never counted.
 */
export function wastedSpace(layers: readonly LayerSummary[]): WastedSpace {
  const removals = layers.map(removalsOf);
  const wasted: WastedFile[] = [];
  let bytes = 0;
  let files = 0;
  layers.forEach((layer, i) => {
    const table = layer.files;
    const above = removals.slice(i + 1);
    const rootGone = above.findIndex((r) => r.root);
    // The first layer (absolute index) removing each directory of this layer, or Infinity.
    const dirGone = new Float64Array(table.dirHash.length).fill(Infinity);
    table.dirHash.forEach((hash, d) => {
      const parent = table.dirParent[d]!;
      const inherited = parent < 0 ? (rootGone < 0 ? Infinity : i + 1 + rootGone) : dirGone[parent]!;
      const own = above.findIndex((r) => r.hides(hash));
      dirGone[d] = Math.min(inherited, own < 0 ? Infinity : i + 1 + own);
    });
    const goneAt = (hash: number, dir: number): number => {
      const viaDir = dir < 0 ? (rootGone < 0 ? Infinity : i + 1 + rootGone) : dirGone[dir]!;
      for (let j = 0; j < above.length && i + 1 + j < viaDir; j++) {
        const r = above[j]!;
        if (r.whiteouts.has(hash) || has(r.paths, hash)) return i + 1 + j;
      }
      return viaDir;
    };
    const gone = new Float64Array(table.hash.length);
    table.hash.forEach((hash, f) => (gone[f] = goneAt(hash, table.dir[f]!)));
    for (const f of table.relisted) gone[f] = i;
    // A file lives as long as its last name.
    table.links.file.forEach((f, l) => (gone[f] = Math.max(gone[f]!, goneAt(table.links.hash[l]!, table.links.dir[l]!))));
    gone.forEach((at, f) => {
      if (at === Infinity) return;
      const size = table.size[f]!;
      bytes += size;
      files++;
      const path = table.names.get(f);
      if (path !== undefined) wasted.push({ path: `/${path}`, bytes: size, layer: i, replacedIn: at });
    });
  });
  wasted.sort((a, b) => b.bytes - a.bytes || a.layer - b.layer || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { bytes, files, largest: wasted.slice(0, maxWastedListed) };
}
