import { describe, expect, it } from 'vitest';
import { notableFiles, summarise, maxNotablePerLayer } from '../../../src/services/insights/file-index.js';
import type { LayerEntry, LayerWalk } from '../../../src/services/security/layer-walker.js';

const entry = (path: string, extra: Partial<LayerEntry> = {}): LayerEntry => ({ path, type: 'file', size: 10, mode: 0o644, uid: 0, gid: 0, ...extra });
const walk = (entries: LayerEntry[], extra: Partial<LayerWalk> = {}): LayerWalk => ({ entries, whiteouts: [], opaqueDirs: [], contents: new Map(), probes: new Map(), compressedBytes: 0, uncompressedBytes: 0, ...extra });
const present = (layers: LayerWalk[]) => notableFiles(layers.map(summarise)).map((f) => `${f.layer}:${f.path}:${f.present}`);

describe('lint file index', () => {
  it('keeps only notable entries, and tells which a later layer deletes or replaces', () => {
    const base = walk([
      entry('usr/bin/su', { mode: 0o4755 }),
      entry('opt/a/su', { mode: 0o4755 }),
      entry('opt/b/su', { mode: 0o4755 }),
      entry('opt/c/su', { mode: 0o4755 }),
      entry('opt/d/su', { mode: 0o4755 }),
      entry('srv/plain.txt'),
      entry('srv/open.txt', { mode: 0o666 }),
    ]);
    const above = walk(
      [entry('usr/bin'), entry('opt/b/su', { mode: 0o755 }), entry('opt/c', { type: 'symlink', linkTarget: '/x' }), entry('srv', { type: 'directory', mode: 0o755 })],
      { whiteouts: ['opt/a'], opaqueDirs: ['opt/d'] },
    );
    // A file at usr/bin takes the directory's contents; a whiteout, an opaque parent, a new entry at the path or a symlink parent hide the rest.
    expect(present([base, above])).toEqual(['0:usr/bin/su:false', '0:opt/a/su:false', '0:opt/b/su:false', '0:opt/c/su:false', '0:opt/d/su:false', '0:srv/open.txt:true']);
    // Directories listed again keep what is in them.
    expect(present([base, walk([entry('srv', { type: 'directory' }), entry('usr', { type: 'directory' }), entry('usr/bin', { type: 'directory' })])])).toEqual([
      '0:usr/bin/su:true',
      '0:opt/a/su:true',
      '0:opt/b/su:true',
      '0:opt/c/su:true',
      '0:opt/d/su:true',
      '0:srv/open.txt:true',
    ]);
    expect(present([base, walk([], { opaqueDirs: [''] })]).every((p) => p.endsWith(':false'))).toBe(true);
  });

  it('bounds what one layer keeps, and counts caches and documentation', () => {
    const summary = summarise(
      walk([
        ...Array.from({ length: maxNotablePerLayer + 10 }, (_, i) => entry(`w/${i}`, { mode: 0o666 })),
        entry('var/lib/apt/lists/x_Packages', { size: 100 }),
        entry('var/lib/apt/lists/y_Packages', { size: 50 }),
        entry('var/lib/apt/lists/lock'),
        entry('root/.cache/pip/http/a', { size: 7 }),
        entry('usr/share/man/man1/ls.1.gz'),
        entry('usr/share/doc/bash/copyright'),
      ]),
    );
    expect(summary.notable).toHaveLength(maxNotablePerLayer);
    expect(summary.notableOmitted).toBe(10);
    expect(summary.caches).toEqual([
      { kind: 'apt-lists', dir: 'var/lib/apt/lists', files: 2, bytes: 150 },
      { kind: 'pip-cache', dir: 'root/.cache/pip', files: 1, bytes: 7 },
    ]);
    expect(summary.docFiles).toBe(1);
    expect(summary.packages.entries).toEqual([]);
  });
});
