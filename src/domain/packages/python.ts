import { packageUrl, type Package } from './package.js';

/** `…/site-packages/NAME-VERSION.dist-info/METADATA` or `…/NAME.egg-info/PKG-INFO` (also dist-packages). */
export const pythonMetadataPath = /(^|\/)(site|dist)-packages\/[^/]+\.(dist-info\/METADATA|egg-info\/PKG-INFO)$/;

/**
 * A Python distribution from its core metadata (RFC 822 headers up to the first blank line):
 * Name, Version, License. Its purl names it as PyPI does: lower case, runs of `-_.` as one `-`.
 */
export function parsePythonMetadata(text: string, foundIn: string): Package | undefined {
  const head = text.split(/\r?\n\r?\n/, 1)[0] ?? '';
  const field = (name: string) => new RegExp(`^${name}:[ \\t]*(.+)$`, 'mi').exec(head)?.[1]?.trim();
  const name = field('Name');
  const version = field('Version');
  if (!name || !version) return undefined;
  const normalised = name.toLowerCase().replace(/[-_.]+/g, '-');
  const pkg: Package = { name, version, type: 'pypi', purl: packageUrl('pypi', undefined, normalised, version), foundIn };
  const license = field('License-Expression') ?? field('License');
  if (license && license !== 'UNKNOWN' && license.length <= 200) pkg.license = license;
  return pkg;
}
