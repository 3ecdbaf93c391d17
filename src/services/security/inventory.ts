import { parseApkInstalled } from '../../domain/packages/apk.js';
import { parseDpkgStatus } from '../../domain/packages/dpkg.js';
import { GoBuildInfoProbe, isGoBuildInfo, parseGoBuildInfo } from '../../domain/packages/golang.js';
import { isJavaArchives, JarProbe, javaArchivePath, parseJavaArchives } from '../../domain/packages/java.js';
import { npmLockfilePath, npmManifestPath, parseNpmLockfile, parseNpmManifest } from '../../domain/packages/npm.js';
import { parseOsRelease } from '../../domain/packages/os-release.js';
import { parsePythonMetadata, pythonMetadataPath } from '../../domain/packages/python.js';
import type { OperatingSystem, Package } from '../../domain/packages/package.js';
import type { LayerView } from './layer-view.js';
import type { FileProbe, LayerEntry } from './layer-walker.js';
import { isRpmDatabase, rpmDatabasePackages } from './rpm-database.js';

/** What an image holds, as its package databases say (issue 16: package inventory). */
export interface Inventory {
  os?: OperatingSystem;
  packages: Package[];
}

const dpkgStatus = 'var/lib/dpkg/status';
const dpkgStatusDir = 'var/lib/dpkg/status.d/';
const apkInstalled = 'lib/apk/db/installed';

/** The files the inventory reads: what a layer walk should keep (layer-walker.ts, `wanted`). */
export function inventoryWants(path: string): boolean {
  return (
    path === 'etc/os-release' ||
    path === 'usr/lib/os-release' ||
    path === dpkgStatus ||
    path === apkInstalled ||
    (path.startsWith(dpkgStatusDir) && !path.endsWith('.md5sums')) ||
    isRpmDatabase(path) ||
    pythonMetadataPath.test(path) ||
    npmManifestPath.test(path) ||
    isAppLockfile(path)
  );
}

/** An application's npm lockfile (one inside node_modules belongs to an installed package, listed by its package.json). */
function isAppLockfile(path: string): boolean {
  return npmLockfilePath.test(path) && !path.includes('node_modules/');
}

/** Executables smaller than this are not Go programs (the smallest is about 1 MiB). */
const minExecutableBytes = 1024;

/** A zip's end record alone takes 22 bytes. */
const minArchiveBytes = 22;

/**
 * The files the inventory reads in passing, too large to keep (layer-walker.ts, `probe`): Java
 * archives, and executables for a Go binary's build info (the probe gives up on anything but
 * ELF at once).
 */
export function inventoryProbe(entry: LayerEntry): FileProbe | undefined {
  if (!inventoryProbes(entry)) return undefined;
  if (javaArchivePath.test(entry.path)) return entry.size >= minArchiveBytes ? new JarProbe() : undefined;
  if (entry.size >= minExecutableBytes) return new GoBuildInfoProbe();
  return undefined;
}

/**
 * The kinds of file `inventoryProbe` reads, whatever their size: a layer summary keeps their
 * entries, so that a later layer replacing a probed file hides what a lower layer's probe found.
 */
export function inventoryProbes(entry: LayerEntry): boolean {
  return entry.type === 'file' && ((entry.mode & 0o111) !== 0 || javaArchivePath.test(entry.path));
}

/**
 * The packages of the merged filesystem: Debian and Ubuntu (dpkg's status file, and distroless
 * images' `status.d/` files), Alpine (apk's installed database), RPM distributions (rpm's
 * SQLite, NDB or Berkeley DB database, rpm-database.ts), Python distributions
 * (`*.dist-info/METADATA`, `*.egg-info/PKG-INFO` in site-packages) and npm packages
 * (`package.json` under `node_modules`, and applications' `package-lock.json`), Go binaries (their embedded build info) and Java archives
 * (pom.properties, MANIFEST.MF), with the distribution from os-release. What a later layer removed or upgraded is read from the database as that layer
 * left it, so it is absent or at its new version.
 */
export function inventoryOf(view: LayerView): Inventory {
  const osText = view.read('etc/os-release') ?? view.read('usr/lib/os-release');
  const os = osText ? parseOsRelease(osText.toString('utf8')) : undefined;
  const packages: Package[] = [];
  const status = view.read(dpkgStatus);
  if (status) packages.push(...parseDpkgStatus(status.toString('utf8'), `/${dpkgStatus}`, os));
  for (const path of view.below(dpkgStatusDir.slice(0, -1))) {
    if (!inventoryWants(path)) continue;
    const text = view.read(path);
    if (text) packages.push(...parseDpkgStatus(text.toString('utf8'), `/${path}`, os, false));
  }
  const apk = view.read(apkInstalled);
  if (apk) packages.push(...parseApkInstalled(apk.toString('utf8'), `/${apkInstalled}`, os));
  packages.push(...rpmDatabasePackages(view, os));
  // Language packages where they are installed: Python's site-packages, npm's node_modules.
  for (const [path, { entry }] of view.entries()) {
    if (entry.type !== 'file' && entry.type !== 'hardlink') continue;
    const probed = view.probed(path);
    if (isGoBuildInfo(probed)) packages.push(...parseGoBuildInfo(probed, `/${path}`));
    if (isJavaArchives(probed)) packages.push(...parseJavaArchives(probed, `/${path}`));
    const parse = pythonMetadataPath.test(path) ? parsePythonMetadata : npmManifestPath.test(path) ? parseNpmManifest : undefined;
    const text = parse && view.read(path);
    const found = text ? parse(text.toString('utf8'), `/${path}`) : undefined;
    if (found) packages.push(found);
  }
  // npm lockfiles add what node_modules does not show (an application bundled without them); each package once.
  const listed = new Set(packages.map((p) => p.purl));
  for (const [path, { entry }] of view.entries()) {
    if ((entry.type !== 'file' && entry.type !== 'hardlink') || !isAppLockfile(path)) continue;
    const text = view.read(path);
    for (const pkg of text ? parseNpmLockfile(text.toString('utf8'), `/${path}`) : []) {
      if (listed.has(pkg.purl)) continue;
      listed.add(pkg.purl);
      packages.push(pkg);
    }
  }
  packages.sort((a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
  const inventory: Inventory = { packages };
  if (os) inventory.os = os;
  return inventory;
}
