import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Berth's version, from the package.json of the checkout or image it runs from: the nearest one
 * above this file that names Berth (the compiled modules and the bundle sit at different depths).
 */
export function berthVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'berth' && typeof manifest.version === 'string') return manifest.version;
    } catch {
      // no package.json here; look further up
    }
    const parent = dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}
