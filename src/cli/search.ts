import type { Command } from 'commander';
import { ConfigError } from '../config/load.js';
import { BerthError, type ErrorKey } from '../domain/errors.js';
import type { ImageSearchHit } from '../ports/image-index-store.js';
import { columns, printResult } from './output.js';
import { cliOutbound, registryAccess, type RegistryAccess } from './transfer-ends.js';

export interface SearchCommandOptions {
  registry?: string;
  creds?: string;
  tlsVerify?: string;
  package?: string;
  type?: string;
  path?: string;
  file?: string;
  cve?: string;
  base?: string;
  platform?: string;
  label?: string;
  digest?: string;
  mediaType?: string;
  artifactType?: string;
  limit?: string;
  /** A `next` a previous run printed: the search goes on from there. */
  after?: string;
}

export interface SearchReport {
  items: ImageSearchHit[];
  /** Set when more hits exist than `--limit` asked for: pass it on with the API's `after`. */
  next?: string;
  base?: { repository: string; digest: string; layers: number; index?: { digest: string; platform: string } };
}

/** Hits `--limit` shows at most; the API pages by 100. */
const maxLimit = 1000;
const pageSize = 100;

/** The API's query parameters for the flags (`--package name@version` split at its last `@`, so `@scope/pkg@1.0` works). */
export function searchParameters(opts: SearchCommandOptions): URLSearchParams {
  const params = new URLSearchParams();
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined) params.set(name, value);
  };
  if (opts.package !== undefined) {
    const at = opts.package.lastIndexOf('@');
    if (at > 0) {
      set('package', opts.package.slice(0, at));
      set('version', opts.package.slice(at + 1));
    } else set('package', opts.package);
  }
  set('type', opts.type);
  set('path', opts.path);
  set('file', opts.file);
  set('vulnerability', opts.cve);
  set('base', opts.base);
  set('platform', opts.platform);
  set('label', opts.label);
  set('digest', opts.digest);
  set('mediaType', opts.mediaType);
  set('artifactType', opts.artifactType);
  if ([...params.keys()].filter((k) => k !== 'platform' && k !== 'type').length === 0) {
    throw new ConfigError('name at least one criterion: --package, --path, --file, --cve, --base, --label, --digest, --media-type or --artifact-type');
  }
  return params;
}

/** What a Berth's problem answer means for the exit code: a bad request is a usage error, a missing base is "not found". */
function problemError(status: number, body: string): BerthError {
  let problem: { code?: unknown; title?: unknown } = {};
  try {
    problem = JSON.parse(body) as typeof problem;
  } catch {
    // not a problem document: the status says enough
  }
  const code = typeof problem.code === 'string' ? problem.code : '';
  // Berth's problem documents carry the message as the title (the detail is structured data).
  const message = typeof problem.title === 'string' ? problem.title : `HTTP ${status}`;
  const key: ErrorKey = status === 400 ? 'BAD_REQUEST' : status === 404 ? 'NOT_FOUND' : status === 401 ? 'UNAUTHORIZED' : status === 403 ? 'DENIED' : 'UNAVAILABLE';
  return new BerthError(key, { message: `the registry answered ${status}${code ? ` ${code}` : ''}: ${message}` });
}

/**
 * Asks a Berth's search API (GET /api/v1/search) with these credentials, page after page until
 * `--limit` hits; what a caller may not pull is never found (the server decides).
 */
export async function searchRegistry(opts: SearchCommandOptions): Promise<SearchReport> {
  if (!opts.registry) throw new ConfigError('--registry HOST[:PORT] names the Berth to search');
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(opts.registry)) throw new ConfigError(`--registry ${opts.registry}: expected HOST[:PORT], e.g. registry.example.com or localhost:5000`);
  const limit = opts.limit === undefined ? 25 : Number(opts.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) throw new ConfigError(`--limit: 1 to ${maxLimit}`);
  const params = searchParameters(opts);
  const access = registryAccess(opts.creds, opts.tlsVerify);
  const outbound = cliOutbound();
  const report: SearchReport = { items: [] };
  try {
    let after = opts.after;
    if (after !== undefined && (after === '' || after.length > 2000)) throw new ConfigError('--after takes the cursor a previous search printed');
    do {
      const page = new URLSearchParams(params);
      page.set('limit', String(Math.min(pageSize, limit - report.items.length)));
      if (after !== undefined) page.set('after', after);
      const body = await get(outbound, access, `${access.insecure ? 'http' : 'https'}://${opts.registry}/api/v1/search?${page}`);
      report.items.push(...body.items);
      if (body.base) report.base = body.base;
      after = body.next;
    } while (after !== undefined && report.items.length < limit);
    if (after !== undefined) report.next = after;
    return report;
  } finally {
    await outbound.close();
  }
}

async function get(outbound: ReturnType<typeof cliOutbound>, access: RegistryAccess, url: string): Promise<SearchReport> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (access.credentials) headers.authorization = `Basic ${Buffer.from(`${access.credentials.username}:${access.credentials.secret}`).toString('base64')}`;
  let response;
  try {
    response = await outbound.request('replication', url, { headers, maxRedirects: 0 });
  } catch (err) {
    throw new BerthError('UNAVAILABLE', { message: `${new URL(url).host}: ${(err as Error).message}`, cause: err });
  }
  const text = await response.text(32 * 2 ** 20);
  if (response.status !== 200) throw problemError(response.status, text);
  try {
    return JSON.parse(text) as SearchReport;
  } catch {
    throw new BerthError('UNAVAILABLE', { message: `${new URL(url).host} answered with something that is not Berth's search API` });
  }
}

/** `sha256:` and the first 12 hex digits, as docker shows image ids. */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(':');
  return digest.slice(0, colon + 13);
}

/** What a hit matched, in a few words: the files, packages, vulnerabilities and labels named. */
export function matchedText(hit: ImageSearchHit): string {
  const m = hit.matched;
  const parts: string[] = [];
  for (const f of m.files ?? []) parts.push(`/${f.path}`);
  for (const p of m.packages ?? []) parts.push(`${p.name} ${p.version} (${p.type})`);
  for (const v of m.vulnerabilities ?? []) parts.push(`${v.id} ${v.severity} in ${v.package}`);
  for (const [k, v] of Object.entries(m.labels ?? {})) parts.push(`${k}=${v}`);
  return parts.length > 0 ? parts.join(', ') : '-';
}

/** Tags of the manifest, then those of the indexes listing it (`1.0 (index)`). */
export function tagsText(hit: ImageSearchHit): string {
  const tags = [...hit.tags, ...hit.indexes.flatMap((i) => i.tags.map((t) => `${t} (index)`))];
  return tags.length > 0 ? tags.join(', ') : '-';
}

export function formatSearch(report: SearchReport): string {
  const out: string[] = [];
  if (report.base) out.push(`base: ${report.base.repository}@${report.base.digest} (${report.base.layers} layer${report.base.layers === 1 ? '' : 's'}${report.base.index ? `, ${report.base.index.platform}` : ''})\n`);
  if (report.items.length === 0) {
    out.push('no images found\n');
    return out.join('');
  }
  out.push(columns(['REPOSITORY', 'DIGEST', 'TAGS', 'MATCHED'], report.items.map((h) => [h.repository, shortDigest(h.digest), tagsText(h), matchedText(h)])));
  if (report.next !== undefined) out.push(`(more images match: raise --limit, or go on with --after ${report.next})\n`);
  return out.join('');
}

export function registerSearch(program: Command): void {
  program
    .command('search')
    .description('find images across a Berth by package, file, vulnerability, base image, label, digest or media type (only what the credentials may pull)')
    .option('--registry <host[:port]>', 'the Berth to ask')
    .option('--creds <user:password>', 'credentials (a user or robot); without them, public projects only')
    .option('--tls-verify <bool>', 'false: the Berth speaks plain HTTP')
    .option('--package <name[@version]>', 'a contained package, with an exact version after @')
    .option('--type <type>', 'the package type: deb, apk, rpm, pypi, npm, golang, maven')
    .option('--path <path>', 'a path from the root, e.g. /usr/bin/curl')
    .option('--file <name>', 'a file name in any directory, e.g. id_rsa')
    .option('--cve <id>', 'a vulnerability id or alias in the latest scan report (CVE-…, GHSA-…)')
    .option('--base <ref>', 'REPOSITORY:TAG or REPOSITORY@DIGEST: images built on it')
    .option('--platform <os/arch[/variant]>', 'for a --base that is an index: which of its images')
    .option('--label <key[=value]>', 'a config label or manifest annotation')
    .option('--digest <digest>', 'a manifest digest or a prefix of one (at least 4 hex digits)')
    .option('--media-type <type>', "the manifest's media type")
    .option('--artifact-type <type>', "the manifest's artifact type")
    .option('--limit <n>', `images to show at most (1 to ${maxLimit}, default 25)`)
    .option('--after <cursor>', 'go on from where an earlier search stopped (the cursor it printed)')
    .option('--json', 'print the hits as JSON')
    .action(async (opts: SearchCommandOptions & { json?: boolean }) => {
      const report = await searchRegistry(opts);
      printResult(opts.json, report, () => formatSearch(report));
    });
}
