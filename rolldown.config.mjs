// Bundles the compiled server (dist/modules, from tsc) into dist/cli/main.js and the chunks its
// lazy imports load. One file per chunk instead of about 600 modules saves a third of a second
// at every start and 20-30 MiB of summed PSS in an idle two-worker Berth (docs/performance.md,
// "Footprint"). The ES-module packages with many files (kysely, zod, jose) are bundled; CommonJS
// packages stay in node_modules, loaded by require as before.
import { builtinModules } from 'node:module';

const bundled = new Set(['kysely', 'zod', 'jose']);

function packageName(id) {
  return id.startsWith('@') ? id.split('/').slice(0, 2).join('/') : id.split('/')[0];
}

export default {
  input: { main: 'dist/modules/cli/main.js' },
  platform: 'node',
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
