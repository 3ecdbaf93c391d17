// Bundles the compiled server (dist/modules, from tsc) into dist/cli/main.js and the chunks its
// lazy imports load. One file per chunk instead of about 600 modules saves a third of a second
// at every start and 20-30 MiB of summed PSS in an idle two-worker Berth (docs/performance.md,
// "Footprint"). The ES-module packages with many files (kysely, zod, jose) are bundled; CommonJS
// packages stay in node_modules, loaded by require as before.
import { builtinModules } from 'node:module';

const bundled = new Set(['kysely', 'zod', 'jose']);

/**
 * V8 keeps each loaded chunk's source text, in one byte per character unless a single character
 * is beyond Latin-1: then in two. A "…" or "’" in one message doubled the server chunk's 0.6 MB of
 * source in every worker's heap. Such characters (all in string and template literals; nothing
 * in the bundle reads a template's raw text) are written as \u escapes, which mean the same.
 */
const latin1Source = {
  name: 'latin1-source',
  // After rendering (renderChunk sees code that rolldown still finalizes).
  generateBundle(_options, bundle) {
    for (const file of Object.values(bundle)) {
      if (file.type === 'chunk') file.code = file.code.replace(/[\u0100-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    }
  },
};

function packageName(id) {
  return id.startsWith('@') ? id.split('/').slice(0, 2).join('/') : id.split('/')[0];
}

export default {
  input: { main: 'dist/modules/cli/main.js' },
  platform: 'node',
  plugins: [latin1Source],
  external: (id) => {
    if (id.startsWith('node:') || builtinModules.includes(id)) return true;
    if (id.startsWith('.') || id.startsWith('/')) return false;
    return !bundled.has(packageName(id));
  },
  output: {
    dir: 'dist/cli',
    // Chunk names carry a hash: without this, every rebuild would leave the old ones behind.
    cleanDir: true,
    format: 'esm',
    entryFileNames: '[name].js',
    chunkFileNames: '[name]-[hash].js',
    // Comments are kept in memory with the source text: only license notices stay.
    comments: { legal: true, annotation: false, jsdoc: false },
  },
};
