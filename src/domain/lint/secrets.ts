/** What a secret-looking file is. */
export type SecretKind = 'private-key' | 'dotenv' | 'aws-credentials' | 'docker-config' | 'npmrc' | 'git-credentials' | 'netrc' | 'pypirc' | 'kubeconfig' | 'cloud-credentials';

/** A content check a file's bytes must pass before it counts (a `.pem` holding only a certificate is no secret). */
export type SecretMarker = 'private-key' | 'docker-auth' | 'npm-token' | 'password' | 'kube-credentials';

export interface SecretPath {
  kind: SecretKind;
  /** The marker its content must show; none: the name alone says it. */
  needs?: SecretMarker;
}

/** Path segments of test data and documentation: libraries ship test keys there (CPython's test/certdata, node_modules fixtures). */
const ignoredSegments = new Set(['test', 'tests', 'testdata', 'testing', 'fixtures', '__fixtures__', 'examples']);
const privateKeyNames = /^id_(rsa|dsa|ecdsa|ed25519)(_sk)?$/;
const dotenvName = /^\.env(\.[\w.-]+)?$/;
const dotenvTemplates = /\.(example|sample|template|dist|defaults?|tpl)$/;

/** Whether a path's name says it may hold a secret, and what its content must show; undefined for anything else. */
export function secretPath(path: string): SecretPath | undefined {
  const parts = path.split('/');
  if (parts.some((p) => ignoredSegments.has(p)) || path.startsWith('usr/share/doc/')) return undefined;
  const base = parts[parts.length - 1]!;
  const parent = parts.length > 1 ? parts[parts.length - 2] : undefined;
  if (privateKeyNames.test(base)) return { kind: 'private-key' };
  if (base.endsWith('.pem') || base.endsWith('.key')) return { kind: 'private-key', needs: 'private-key' };
  if (dotenvName.test(base) && !dotenvTemplates.test(base)) return { kind: 'dotenv' };
  if (parent === '.aws' && base === 'credentials') return { kind: 'aws-credentials' };
  if (parent === '.docker' && base === 'config.json') return { kind: 'docker-config', needs: 'docker-auth' };
  if (base === '.npmrc') return { kind: 'npmrc', needs: 'npm-token' };
  if (base === '.git-credentials') return { kind: 'git-credentials' };
  if (base === '.netrc') return { kind: 'netrc', needs: 'password' };
  if (base === '.pypirc') return { kind: 'pypirc', needs: 'password' };
  if (parent === '.kube' && base === 'config') return { kind: 'kubeconfig', needs: 'kube-credentials' };
  if (base === 'application_default_credentials.json' || (path.endsWith('.config/gcloud/credentials.db') && parent === 'gcloud') || (parent === '.azure' && base === 'accessTokens.json')) {
    return { kind: 'cloud-credentials' };
  }
  return undefined;
}

/** What each marker looks for in a file's bytes (ASCII). */
const markerPatterns: ReadonlyArray<[SecretMarker, string]> = [
  ['private-key', 'PRIVATE KEY-----'],
  ['docker-auth', '"auth"'],
  ['docker-auth', '"identitytoken"'],
  ['npm-token', '_authToken'],
  ['npm-token', '_auth='],
  ['npm-token', '_password'],
  ['password', 'password'],
  ['kube-credentials', 'client-key-data'],
  ['kube-credentials', 'token:'],
  ['kube-credentials', 'password:'],
];
const longestPattern = Math.max(...markerPatterns.map(([, p]) => p.length));
const markerCount = new Set(markerPatterns.map(([m]) => m)).size;

/** Bytes of one file a marker search reads at most: credentials files are small. */
export const markerReadBytes = 1024 * 1024;

/**
 * Looks for secret markers in a file as it streams by (layer-walker.ts, `FileProbe`): keeps only
 * the names of the markers found and a tail as long as the longest pattern, never the bytes, so
 * a finding can say what was found without holding or showing the secret.
 */
export class SecretMarkerProbe {
  private readonly found = new Set<SecretMarker>();
  private tail = '';
  private read = 0;

  update(chunk: Buffer): boolean {
    const text = this.tail + chunk.toString('latin1');
    for (const [marker, pattern] of markerPatterns) if (!this.found.has(marker) && text.includes(pattern)) this.found.add(marker);
    this.tail = text.slice(-(longestPattern - 1));
    this.read += chunk.length;
    return this.read >= markerReadBytes || this.found.size === markerCount;
  }

  finish(): SecretMarker[] | undefined {
    return this.found.size > 0 ? [...this.found].sort() : undefined;
  }
}

/** Whether `value` is what `SecretMarkerProbe.finish` returns. */
export function isSecretMarkers(value: unknown): value is SecretMarker[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

/** Name endings that say a variable names where a secret is, not the secret (the `*_FILE` convention of official images). */
const indirectSuffix = /_(FILE|PATH|DIR)$/;

/**
 * Whether an environment variable's or build argument's name says it holds a secret: `*_TOKEN`,
 * `*_SECRET`, `*SECRET_KEY*`, `*SECRET_ACCESS_KEY` (AWS_SECRET_ACCESS_KEY), `*PASSWORD*`,
 * `*PASSWD*`, `*_API_KEY`, `*_APIKEY`, `*_PRIVATE_KEY`; not names ending in _FILE, _PATH or _DIR.
 */
export function secretVariable(name: string): boolean {
  const upper = name.toUpperCase();
  if (indirectSuffix.test(upper)) return false;
  return (
    /(^|_)TOKEN$/.test(upper) ||
    /(^|_)SECRET$/.test(upper) ||
    upper.includes('SECRET_KEY') ||
    upper.includes('SECRET_ACCESS_KEY') ||
    upper.includes('PASSWORD') ||
    upper.includes('PASSWD') ||
    /(^|_)(API_?KEY|PRIVATE_KEY)$/.test(upper)
  );
}

/**
 * Build arguments a history step records with a value: `|2 NPM_TOKEN=… VERSION=… /bin/sh -c …`
 * (docker build and BuildKit, with or without `RUN `) and `ARG NAME=value` (BuildKit). Names
 * only: values are never returned.
 */
export function buildArguments(createdBy: string): string[] {
  const text = createdBy.trim().replace(/^RUN\s+/, '');
  const counted = /^\|(\d+)\s+(.*)$/s.exec(text);
  if (counted) {
    const count = Number(counted[1]);
    const names: string[] = [];
    for (const token of counted[2]!.split(/\s+/).slice(0, count)) {
      const eq = token.indexOf('=');
      if (eq > 0 && eq < token.length - 1) names.push(token.slice(0, eq));
    }
    return names;
  }
  const arg = /^ARG\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)/.exec(text);
  return arg ? [arg[1]!] : [];
}

/** Each kind's name in messages. */
export const secretKindNames: Record<SecretKind, string> = {
  'private-key': 'private key',
  dotenv: '.env file',
  'aws-credentials': 'AWS credentials',
  'docker-config': 'Docker registry credentials',
  npmrc: 'npm token',
  'git-credentials': 'git credentials',
  netrc: 'netrc password',
  pypirc: 'PyPI password',
  kubeconfig: 'Kubernetes credentials',
  'cloud-credentials': 'cloud credentials',
};

