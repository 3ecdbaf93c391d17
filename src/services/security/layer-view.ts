import type { LayerEntry, LayerWalk } from './layer-walker.js';

/** A path of the image's filesystem and the layer (0 = the lowest) whose entry it is. */
export interface ViewEntry {
  entry: LayerEntry;
  layer: number;
}

/** Symlinks followed in one lookup before it gives up (Linux's own limit). */
const maxLinkHops = 40;

/**
 * The filesystem an image's layers make together, as the OCI image spec's "Applying Changesets"
 * says: each layer's whiteouts (`.wh.<name>`) remove that path and all below it from the
 * layers under it, an opaque directory (`.wh..wh..opq`) hides everything the lower layers had in
 * it, and a later entry replaces an earlier one at the same path. Lookups follow symlinks, in
 * any component of the path, relative or absolute, and stop (undefined) after 40 hops: a loop
 * cannot hang them.
 */
export class LayerView {
  private readonly paths = new Map<string, ViewEntry>();

  constructor(private readonly layers: readonly LayerWalk[]) {
    layers.forEach((walk, layer) => {
      for (const dir of walk.opaqueDirs) this.removeBelow(dir, false);
      for (const path of walk.whiteouts) this.removeBelow(path, true);
      for (const entry of walk.entries) {
        // A non-directory replacing a directory takes what was in it along.
        const previous = this.paths.get(entry.path);
        if (previous?.entry.type === 'directory' && entry.type !== 'directory') this.removeBelow(entry.path, false);
        this.paths.set(entry.path, { entry, layer });
      }
    });
  }

  /** Every path of the merged filesystem, in no particular order. */
  entries(): IterableIterator<[string, ViewEntry]> {
    return this.paths.entries();
  }

  /** The path `path` leads to once every symlink in it is followed; undefined for a loop or too many hops. */
  resolve(path: string): string | undefined {
    let hops = 0;
    let pending = path.split('/').filter((p) => p !== '' && p !== '.');
    const done: string[] = [];
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === '..') {
        done.pop();
        continue;
      }
      const here = [...done, part].join('/');
      const found = this.paths.get(here);
      if (found?.entry.type === 'symlink') {
        if (++hops > maxLinkHops) return undefined;
        const target = found.entry.linkTarget ?? '';
        const rest = target.split('/').filter((p) => p !== '' && p !== '.');
        if (target.startsWith('/')) done.length = 0;
        pending = [...rest, ...pending];
        continue;
      }
      done.push(part);
    }
    return done.join('/');
  }

  /** The bytes of the file at `path` (symlinks followed), when its layer's walk kept them. */
  read(path: string): Buffer | undefined {
    const resolved = this.fileAt(path);
    return resolved && this.layers[resolved.layer]!.contents.get(resolved.path);
  }

  /** What the walk's probe found in the file at `path` (symlinks followed), in the layer the merged filesystem takes it from. */
  probed(path: string): unknown {
    const resolved = this.fileAt(path);
    return resolved && this.layers[resolved.layer]!.probes.get(resolved.path);
  }

  private fileAt(path: string): { path: string; layer: number } | undefined {
    const resolved = this.resolve(path);
    if (resolved === undefined) return undefined;
    const found = this.paths.get(resolved);
    if (!found || (found.entry.type !== 'file' && found.entry.type !== 'hardlink')) return undefined;
    return { path: resolved, layer: found.layer };
  }

  /** Paths directly or indirectly below `dir` (not following symlinks), sorted. */
  below(dir: string): string[] {
    const prefix = dir === '' ? '' : `${dir.replace(/^\/+|\/+$/g, '')}/`;
    return [...this.paths.keys()].filter((p) => p.startsWith(prefix) && p !== dir).sort();
  }

  private removeBelow(path: string, itself: boolean): void {
    const existing = this.paths.get(path);
    if (itself) this.paths.delete(path);
    // Only a directory (or a path never listed, whose children may be) has anything below it.
    if (existing && existing.entry.type !== 'directory') return;
    const prefix = path === '' ? '' : `${path}/`;
    for (const key of [...this.paths.keys()]) if (key.startsWith(prefix)) this.paths.delete(key);
  }
}
