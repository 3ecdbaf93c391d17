import { packageUrl, type OperatingSystem, type Package } from './package.js';

/**
 * Packages in a dpkg status file (`/var/lib/dpkg/status`, or one file of distroless images'
 * `/var/lib/dpkg/status.d/`): RFC 822-style paragraphs, continuation lines indented. Only
 * packages whose Status says "installed" count (removed ones keep a paragraph with their
 * config files).
 */
export function parseDpkgStatus(text: string, foundIn: string, os: OperatingSystem | undefined, requireStatus = true): Package[] {
  const packages: Package[] = [];
  for (const paragraph of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const line of paragraph.split('\n')) {
      if (/^[ \t]/.test(line) && last) {
        fields.set(last, `${fields.get(last)}\n${line.trim()}`);
        continue;
      }
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (!m) continue;
      last = m[1]!.toLowerCase();
      fields.set(last, m[2]!.trim());
    }
    const name = fields.get('package');
    const version = fields.get('version');
    if (!name || !version) continue;
    const status = fields.get('status');
    if (requireStatus ? !status || !/\binstalled$/.test(status) : status !== undefined && !/\binstalled$/.test(status)) continue;
    const arch = fields.get('architecture');
    // "Source: name (version)" when the source version differs from the binary's.
    const sourceField = /^(\S+)(?:\s*\((.+)\))?$/.exec(fields.get('source') ?? '');
    const source = sourceField?.[1];
    const distro = os && os.versionId ? `${os.id}-${os.versionId}` : os?.id;
    const pkg: Package = { name, version, type: 'deb', purl: packageUrl('deb', os?.id ?? 'debian', name, version, { arch, distro }), foundIn };
    if (arch) pkg.arch = arch;
    if (source && source !== name) pkg.source = source;
    if (sourceField?.[2] && sourceField[2] !== version) pkg.sourceVersion = sourceField[2].trim();
    packages.push(pkg);
  }
  return packages;
}
