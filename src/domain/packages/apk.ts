import { packageUrl, type OperatingSystem, type Package } from './package.js';

/**
 * Packages in Alpine's installed database (`/lib/apk/db/installed`): one record per package,
 * records separated by blank lines, each line a one-letter key, a colon and a value
 * (P name, V version, A architecture, o origin, L license).
 */
export function parseApkInstalled(text: string, foundIn: string, os: OperatingSystem | undefined): Package[] {
  const packages: Package[] = [];
  for (const record of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of record.split('\n')) {
      const m = /^([A-Za-z]):(.*)$/.exec(line);
      // Only the first value of a key: F/R (directories, files) repeat and are not needed here.
      if (m && !fields.has(m[1]!)) fields.set(m[1]!, m[2]!);
    }
    const name = fields.get('P');
    const version = fields.get('V');
    if (!name || !version) continue;
    const arch = fields.get('A');
    const origin = fields.get('o');
    const pkg: Package = { name, version, type: 'apk', purl: packageUrl('apk', os?.id ?? 'alpine', name, version, { arch, distro: os?.versionId ? `${os.id}-${os.versionId}` : undefined }), foundIn };
    if (arch) pkg.arch = arch;
    if (origin && origin !== name) pkg.source = origin;
    if (fields.get('L')) pkg.license = fields.get('L');
    packages.push(pkg);
  }
  return packages;
}
