/** A package found in an image (issue 16: package inventory), in the form SBOMs and matching need. */
export interface Package {
  /** The ecosystem's own name for it. */
  name: string;
  version: string;
  /** Where it was found: `deb`, `apk`, and so on (a package URL's type). */
  type: 'deb' | 'apk' | 'rpm' | 'pypi' | 'npm' | 'golang' | 'maven';
  arch?: string;
  /** The source package it was built from, when the database says (Debian `Source`, Alpine `o:`). */
  source?: string;
  /** The source package's version, when it differs from the binary's (Debian `Source: name (version)`, binNMUs). */
  sourceVersion?: string;
  license?: string;
  /** Package URL (https://github.com/package-url/purl-spec). */
  purl: string;
  /** The file that listed it. */
  foundIn: string;
}

/** The distribution an image's /etc/os-release names. */
export interface OperatingSystem {
  id: string;
  versionId?: string;
  prettyName?: string;
  codename?: string;
}

/** A package URL: `pkg:type/namespace/name@version?qualifiers`, each part (each segment of a namespace) percent-encoded as the spec asks. */
export function packageUrl(type: string, namespace: string | undefined, name: string, version: string, qualifiers: Record<string, string | undefined> = {}): string {
  const encode = (s: string) => encodeURIComponent(s).replace(/%3A/g, ':');
  const q = Object.entries(qualifiers)
    .filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${encode(v)}`)
    .join('&');
  return `pkg:${type}/${namespace ? `${namespace.split('/').map(encode).join('/')}/` : ''}${encode(name)}@${encode(version)}${q ? `?${q}` : ''}`;
}
