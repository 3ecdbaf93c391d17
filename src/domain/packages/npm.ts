import { packageUrl, type Package } from './package.js';

/** `…/node_modules/NAME/package.json` or `…/node_modules/@SCOPE/NAME/package.json`. */
export const npmManifestPath = /(^|\/)node_modules\/(@[^/]+\/)?[^/@][^/]*\/package\.json$/;

/**
 * An installed npm package from its package.json: name and version as npm wrote them, the
 * `license` field when it is a string. A file that is not such JSON (a fixture, a template)
 * gives nothing.
 */
export function parseNpmManifest(text: string, foundIn: string): Package | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null) return undefined;
  const { name, version, license } = doc as { name?: unknown; version?: unknown; license?: unknown };
  if (typeof name !== 'string' || typeof version !== 'string' || name === '' || version === '') return undefined;
  const scoped = /^(@[^/]+)\/(.+)$/.exec(name);
  const pkg: Package = {
    name,
    version,
    type: 'npm',
    purl: scoped ? packageUrl('npm', scoped[1], scoped[2]!, version) : packageUrl('npm', undefined, name, version),
    foundIn,
  };
  if (typeof license === 'string' && license.length <= 200) pkg.license = license;
  return pkg;
}

/** An npm lockfile of an application (`package-lock.json`, `npm-shrinkwrap.json`), not one inside node_modules. */
export const npmLockfilePath = /(^|\/)(package-lock|npm-shrinkwrap)\.json$/;

/**
 * The packages an npm lockfile (lockfileVersion 2 or 3: its `packages` map, keyed by install
 * path) says the application installs: each `node_modules/…` entry with a version, except
 * development dependencies (`dev: true`, left out of production installs) and links to local
 * folders. Version 1 lockfiles (`dependencies` tree) are read the same way.
 */
export function parseNpmLockfile(text: string, foundIn: string): Package[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return [];
  }
  if (typeof doc !== 'object' || doc === null) return [];
  const found = new Map<string, Package>();
  const add = (name: string, entry: unknown) => {
    if (typeof entry !== 'object' || entry === null) return;
    const { version, dev, link } = entry as { version?: unknown; dev?: unknown; link?: unknown };
    if (typeof version !== 'string' || version === '' || dev === true || link === true || /^(file|link|git\+|https?):/.test(version)) return;
    const pkg = parseNpmManifest(JSON.stringify({ name, version }), foundIn);
    if (pkg) found.set(pkg.purl, pkg);
  };
  const { packages, dependencies } = doc as { packages?: unknown; dependencies?: unknown };
  if (typeof packages === 'object' && packages !== null) {
    for (const [path, entry] of Object.entries(packages)) {
      const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)$/.exec(path);
      if (!m) continue;
      // An aliased dependency (`"x": "npm:y@1"`) is installed at node_modules/x but is package y.
      const real = (entry as { name?: unknown } | null)?.name;
      add(typeof real === 'string' ? real : m[1]!, entry);
    }
  } else if (typeof dependencies === 'object' && dependencies !== null) {
    const walk = (deps: Record<string, unknown>, depth: number) => {
      if (depth > 64) return;
      for (const [name, entry] of Object.entries(deps)) {
        add(name, entry);
        const nested = (entry as { dependencies?: unknown } | null)?.dependencies;
        if (typeof nested === 'object' && nested !== null) walk(nested as Record<string, unknown>, depth + 1);
      }
    };
    walk(dependencies as Record<string, unknown>, 0);
  }
  return [...found.values()];
}
