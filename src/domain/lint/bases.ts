import type { ImageFacts } from './facts.js';
import { runtimeMarkers } from './files.js';

/**
 * Bases that come in a full and a slimmer variant of the same distribution, told apart by what
 * the image holds (there is no record of FROM in an image). First match wins. The thresholds:
 * Debian's buildpack-deps (the base of the full python, node, golang… images) installs about
 * 400 dpkg packages, debian:<codename> and the -slim variants fewer than 100; Red Hat's UBI
 * standard image about 190 rpm packages, ubi-minimal about 100. Debian's -slim variants exclude
 * manual pages and documentation (dpkg path-exclude), the full debian image keeps a few hundred.
 */
export interface LargeBase {
  id: string;
  /** What the image was probably built on. */
  base: string;
  /** The slimmer variants of the same distribution to use instead. */
  slimmer: string;
  matches: (facts: ImageFacts, counts: PackageCounts) => boolean;
}

export interface PackageCounts {
  deb: number;
  rpm: number;
  apk: number;
}

/** dpkg packages at or above which a Debian or Ubuntu image is a full (buildpack-deps-like) one. */
export const fullDebPackages = 200;
/** rpm packages at or above which a UBI or Fedora image is the standard, not the minimal, one. */
export const fullRpmPackages = 150;
/** Documentation files at or above which a Debian image with few packages is debian:<codename>, not -slim. */
export const fullDocFiles = 100;

const present = (facts: ImageFacts, path: string) => facts.files.some((f) => f.present && f.path === path);
const debianLike = (facts: ImageFacts) => facts.os?.id === 'debian' || facts.os?.id === 'ubuntu';

export const largeBases: readonly LargeBase[] = [
  {
    id: 'python-full',
    base: 'python:<version> (full, on buildpack-deps)',
    slimmer: 'python:<version>-slim, python:<version>-alpine or gcr.io/distroless/python3',
    matches: (facts, counts) => debianLike(facts) && counts.deb >= fullDebPackages && present(facts, runtimeMarkers.python),
  },
  {
    id: 'node-full',
    base: 'node:<version> (full, on buildpack-deps)',
    slimmer: 'node:<version>-slim, node:<version>-alpine or gcr.io/distroless/nodejs',
    matches: (facts, counts) => debianLike(facts) && counts.deb >= fullDebPackages && present(facts, runtimeMarkers.node),
  },
  {
    id: 'debian-buildpack',
    base: 'buildpack-deps:<codename> or a full Debian with build dependencies',
    slimmer: 'debian:<codename>-slim (or gcr.io/distroless/base-debian<major> for the runtime stage)',
    matches: (facts, counts) => facts.os?.id === 'debian' && counts.deb >= fullDebPackages,
  },
  {
    id: 'debian-full',
    base: 'debian:<codename>',
    slimmer: 'debian:<codename>-slim',
    matches: (facts, counts) => facts.os?.id === 'debian' && counts.deb < fullDebPackages && facts.docFiles >= fullDocFiles,
  },
  {
    id: 'ubuntu-full',
    base: 'ubuntu:<version> with many packages',
    slimmer: "Canonical's chiselled Ubuntu images (ubuntu/chiselled-*), or ubuntu:<version> as a runtime stage with only runtime packages",
    matches: (facts, counts) => facts.os?.id === 'ubuntu' && counts.deb >= fullDebPackages,
  },
  {
    id: 'ubi-standard',
    base: 'ubi<major>/ubi (standard)',
    slimmer: 'ubi<major>/ubi-minimal or ubi<major>/ubi-micro',
    matches: (facts, counts) => facts.os?.id === 'rhel' && counts.rpm >= fullRpmPackages,
  },
  {
    id: 'fedora-full',
    base: 'fedora:<version>',
    slimmer: 'fedora-minimal:<version>',
    matches: (facts, counts) => facts.os?.id === 'fedora' && counts.rpm >= fullRpmPackages,
  },
];

/** The large base the image was probably built on, with its placeholders filled from os-release. */
export function largeBaseOf(facts: ImageFacts): { id: string; base: string; slimmer: string; counts: PackageCounts } | undefined {
  const counts: PackageCounts = { deb: 0, rpm: 0, apk: 0 };
  for (const p of facts.packages) if (p.type === 'deb' || p.type === 'rpm' || p.type === 'apk') counts[p.type]++;
  const found = largeBases.find((b) => b.matches(facts, counts));
  if (!found) return undefined;
  const version = facts.os?.versionId ?? '<version>';
  const fill = (text: string) =>
    text
      .replace(/<codename>/g, facts.os?.codename ?? '<codename>')
      .replace(/<major>/g, version.split('.')[0]!)
      .replace(/<version>/g, found.id === 'python-full' || found.id === 'node-full' ? '<version>' : version);
  return { id: found.id, base: fill(found.base), slimmer: fill(found.slimmer), counts };
}
