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
