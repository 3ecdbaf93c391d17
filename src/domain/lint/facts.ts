import type { OperatingSystem, Package } from '../packages/package.js';

/**
 * A file of the image that some rule looks at, with the layer (0 = the lowest) whose tar holds
 * it. The file index keeps only such files (setuid, world-writable, secret-looking, toolchain
 * binaries, runtime markers), never the whole listing.
 */
export interface FileFact {
  /** Relative to the root, as the layer walker normalises it. */
  path: string;
  layer: number;
  type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';
  size: number;
  mode: number;
  uid: number;
  linkTarget?: string;
  /** False when a later layer deleted or replaced it: not in the running filesystem, still in this layer's bytes. */
  present: boolean;
  /** What a content check found in it (secrets.ts, `SecretMarkerProbe`): marker names, never the matched bytes. */
  markers?: string[];
}

/** Files a package manager left in one layer, counted per kind of cache. */
export interface CacheFact {
  kind: CacheKind;
  layer: number;
  /** Where the cache lives, e.g. `var/lib/apt/lists`. */
  dir: string;
  files: number;
  bytes: number;
}

export type CacheKind = 'apt-lists' | 'apt-archives' | 'apk-cache' | 'dnf-yum-cache' | 'pip-cache' | 'npm-cache' | 'yarn-cache';

/** Everything the lint rules look at, gathered once per image (services/insights/lint-service.ts). */
export interface ImageFacts {
  /** The config's `config.User`; undefined or empty: root. */
  user?: string;
  /** The config's `config.Healthcheck`; `Test: ["NONE"]` disables an inherited one. */
  healthcheck?: { test?: string[] };
  /** The config's `config.Env`, `NAME=value` each. */
  env: string[];
  /** The config's `config.Labels`. */
  labels: Record<string, string>;
  /** The manifest's annotations. */
  annotations: Record<string, string>;
  /** The config's history, oldest first. */
  history: Array<{ createdBy?: string; emptyLayer: boolean }>;
  /** Layers in the manifest. */
  layerCount: number;
  /** Tags pointing at this artifact now. */
  tags: string[];
  files: FileFact[];
  caches: CacheFact[];
  /** Manual pages, info pages and documentation files (not copyright notices) in the filesystem: slim variants drop them. */
  docFiles: number;
  os?: OperatingSystem;
  /** Operating-system packages (dpkg, apk, rpm) of the merged filesystem. */
  packages: Package[];
}

/** Facts of an image with nothing in it: tests and callers start from this. */
export function emptyFacts(): ImageFacts {
  return { env: [], labels: {}, annotations: {}, history: [], layerCount: 0, tags: [], files: [], caches: [], docFiles: 0, packages: [] };
}
