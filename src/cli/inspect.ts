import type { Command } from 'commander';
import type { Readable } from 'node:stream';
import { ConfigError } from '../config/load.js';
import { isDigest } from '../domain/digest.js';
import { BerthError } from '../domain/errors.js';
import type { LintFinding } from '../domain/lint/index.js';
import { parseManifest, type ParsedManifest } from '../domain/manifest.js';
import { isValidRepositoryName, isValidTag } from '../domain/names.js';
import { UpstreamError, type UpstreamRegistry } from '../ports/upstream-registry.js';
import { insightsOf, isImage, type BaseImage, type ImageInsights } from '../services/insights/image-insights-service.js';
import type { LayerSummary } from '../services/insights/file-index.js';
import { LayerReader } from '../services/insights/layer-reader.js';
import { factsOf, lintOf } from '../services/insights/lint-service.js';
import { RemoteLayers } from '../services/security/remote-layers.js';
import { columns, printResult } from './output.js';
import { formatBytes } from './progress.js';
import { cliOutbound, openSource, parseLocation, registryAccess, type RegistryAccess, type TransferLocation } from './transfer-ends.js';

/** The platform an index is inspected for when none is named and it has more than one. */
export const defaultPlatform = 'linux/amd64';

/** Config blobs larger than this are not read (as the insights API). */
const maxConfigBytes = 4 * 2 ** 20;

export interface InspectOptions {
  /** USERNAME:PASSWORD for the registry. */
  creds?: string;
  /** `false`: the registry speaks plain HTTP. */
  tlsVerify?: string;
  /** `os/arch[/variant]` of an index's image. */
  platform?: string;
}

/**
 * What `berth inspect` reports: the insights API's report of the image (one shape,
 * image-insights-service.ts `insightsOf`) with the lint findings beside it. The base image is
 * not looked for (that needs the registry's database); the tags are the one the reference names.
 */
export interface InspectReport extends ImageInsights {
  reference: string;
  /** The index the image was picked from, and the platform picked. */
  index?: { digest: string; platform: string };
  tags: string[];
  lint: ReturnType<typeof lintOf>;
}

/**
 * Reads an image of another registry as the insights API reads one of this registry (issue 17):
 * the manifest and config, then each layer once, streamed through a digest check into the one
 * layer walker's summaries (nothing written to disk; one layer's walk in memory at a time).
 */
export async function inspectImage(ref: string, options: InspectOptions = {}): Promise<InspectReport> {
  const location = parseRef(ref);
  const access = registryAccess(options.creds, options.tlsVerify);
  const source = await openSource(location, access);
  const { registry, repository } = source;
  const reference = location.reference ?? 'latest';
  try {
    const named = await manifestOf(registry, repository, reference, ref);
    let image = named;
    let index: InspectReport['index'];
    if (named.parsed.manifests.length > 0) {
      const platform = pickPlatform(named.parsed, options.platform, ref);
      image = await manifestOf(registry, repository, platform.digest, `${ref} (${platform.name})`);
      index = { digest: named.digest, platform: platform.name };
    }
    const { parsed, digest } = image;
    if (!isImage(parsed)) throw new BerthError('NOT_SCANNABLE', { message: `${ref}: ${digest} is not a container image: inspect reads images` });

    const remote = new RemoteLayers();
    const session = remote.session(registry, repository);
    try {
      const config = await configOf(remote, session.key, parsed.config!);
      // The layers one after another: one walk in memory, and the registry asked for one blob at a time.
      const layers = new LayerReader({ blobs: remote });
      const walked: LayerSummary[] = [];
      for (const [i, layer] of parsed.layers.entries()) walked.push(await layers.summary(session.key, layer.digest, i));
      const tags = isDigest(reference) ? [] : [reference];
      const base = await berthBase(location, access, digest);
      return {
        reference: ref,
        ...(index ? { index } : {}),
        ...insightsOf({ repository, digest, layers: parsed.layers, config, summaries: walked }),
        ...(base ? { base } : {}),
        tags,
        lint: lintOf(factsOf(config, parsed.annotations ?? {}, tags, walked), []),
      };
    } finally {
      session.close();
    }
  } catch (err) {
    if (err instanceof UpstreamError) throw new BerthError('UNAVAILABLE', { message: `${ref}: ${err.message}`, cause: err });
    throw err;
  }
}

/** A `docker://HOST/REPOSITORY[:TAG|@DIGEST]` reference, as `berth copy` takes a registry's; anything else is a usage error. */
function parseRef(ref: string): Extract<TransferLocation, { transport: 'docker' }> {
  if (!ref.startsWith('docker://')) throw new ConfigError(`"${ref}": inspect reads a registry: docker://HOST/REPOSITORY[:TAG|@DIGEST]`);
  const location = parseLocation(ref);
  if (location.transport !== 'docker') throw new ConfigError(`"${ref}": expected docker://HOST/REPOSITORY[:TAG|@DIGEST]`);
  if (!isValidRepositoryName(location.repository)) throw new ConfigError(`"${ref}": invalid repository name ${location.repository}`);
  const reference = location.reference;
  if (reference !== undefined && !(reference.includes(':') ? isDigest(reference) : isValidTag(reference))) throw new ConfigError(`"${ref}": invalid tag or digest ${reference}`);
  return location;
}

async function manifestOf(registry: UpstreamRegistry, repository: string, reference: string, shown: string): Promise<{ digest: string; parsed: ParsedManifest }> {
  const manifest = await registry.getManifest(repository, reference);
  if (!manifest) throw new BerthError('NOT_FOUND', { message: `${shown}: no such image (the registry has no manifest ${repository}${reference.includes(':') ? '@' : ':'}${reference})` });
  try {
    return { digest: manifest.digest, parsed: parseManifest(manifest.body, manifest.mediaType) };
  } catch (err) {
    throw new BerthError('UNAVAILABLE', { message: `${shown}: the registry answered with a manifest Berth cannot read: ${(err as Error).message}`, cause: err });
  }
}

/**
 * The image of an index for `platform` (`os/arch[/variant]`); without one, linux/amd64 or the
 * only image. Attestation entries (platform unknown/unknown) are not images.
 */
function pickPlatform(index: ParsedManifest, platform: string | undefined, ref: string): { digest: string; name: string } {
  const images = index.manifests
    .filter((m) => m.platform && m.platform.os !== 'unknown' && m.platform.architecture !== 'unknown')
    .map((m) => ({ digest: m.digest, name: [m.platform!.os, m.platform!.architecture, ...(m.platform!.variant ? [m.platform!.variant] : [])].join('/') }));
  const list = images.map((m) => `  ${m.name}  ${m.digest}`).join('\n');
  const matching = (wanted: string) => {
    const [os, arch, variant] = wanted.split('/');
    return images.find((m) => {
      const [mos, march, mvariant] = m.name.split('/');
      return mos === os && march === arch && (variant === undefined || mvariant === variant);
    });
  };
  if (platform !== undefined) {
    if (!/^[a-z0-9._-]+\/[a-z0-9._-]+(\/[a-z0-9._-]+)?$/i.test(platform)) throw new ConfigError(`--platform ${platform}: expected OS/ARCH[/VARIANT], e.g. linux/arm64/v8`);
    const found = matching(platform);
    if (!found) throw new BerthError('NOT_FOUND', { message: `${ref} is an index without ${platform}; its platforms:\n${list}` });
    return found;
  }
  if (images.length === 1) return images[0]!;
  const found = matching(defaultPlatform);
  if (found) return found;
  throw new BerthError('BAD_REQUEST', { message: `${ref} is an index without ${defaultPlatform}: name one of its platforms with --platform:\n${list}` });
}

/**
 * The base image as the insights API of the registry names it, when the registry is a Berth
 * that lets these credentials read the image; undefined for any other answer (another
 * registry, no access, no base).
 */
async function berthBase(location: { host: string; repository: string }, access: RegistryAccess, digest: string): Promise<BaseImage | undefined> {
  const slash = location.repository.indexOf('/');
  if (slash < 0 || location.host === 'docker.io') return undefined;
  const project = encodeURIComponent(location.repository.slice(0, slash));
  const repository = encodeURIComponent(location.repository.slice(slash + 1));
  const url = `${access.insecure ? 'http' : 'https'}://${location.host}/api/v1/projects/${project}/repositories/${repository}/artifacts/${digest}/insights`;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (access.credentials) headers.authorization = `Basic ${Buffer.from(`${access.credentials.username}:${access.credentials.secret}`).toString('base64')}`;
  const outbound = cliOutbound();
  try {
    const response = await outbound.request('replication', url, { headers, maxRedirects: 0 });
    if (response.status !== 200) {
      await response.discard();
      return undefined;
    }
    const body = JSON.parse(await response.text(16 * 2 ** 20)) as { digest?: unknown; base?: Partial<BaseImage> };
    const base = body.base;
    return body.digest === digest && base && typeof base.repository === 'string' && typeof base.digest === 'string' ? (base as BaseImage) : undefined;
  } catch {
    return undefined;
  } finally {
    await outbound.close();
  }
}

async function configOf(remote: RemoteLayers, key: string, config: { digest: string; size: number }): Promise<Record<string, unknown>> {
  if (config.size > maxConfigBytes) return {};
  const { stream } = await remote.open(key, config.digest);
  const text = (await bounded(stream, maxConfigBytes)).toString('utf8');
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The bytes of a stream, failing past `max` (a registry may send more than the manifest says). */
async function bounded(stream: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    length += (chunk as Buffer).length;
    if (length > max) {
      stream.destroy();
      throw new BerthError('UNAVAILABLE', { message: `the image config is larger than its manifest says (over ${max} bytes)` });
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Steps of the config history, each with the sizes of the layer it made; the layers alone when the history does not match them. */
export function formatReport(report: InspectReport): string {
  const out: string[] = [];
  out.push(`${report.reference}\n`);
  out.push(`digest: ${report.digest}${report.index ? ` (${report.index.platform} of the index ${report.index.digest})` : ''}\n`);
  if (report.lint.os) out.push(`os: ${report.lint.os.prettyName ?? [report.lint.os.id, report.lint.os.versionId].filter(Boolean).join(' ')}\n`);
  if (report.base) out.push(`base: ${report.base.repository}${report.base.tag ? `:${report.base.tag}` : ''} (${report.base.digest}, ${report.base.layers} layer${report.base.layers === 1 ? '' : 's'}, matched by ${report.base.matchedBy})\n`);
  out.push(`packages: ${report.lint.packages} operating-system packages (dpkg, apk, rpm); language packages are not counted here (berth's SBOMs list them)\n\n`);

  const command = (text: string | null) => {
    const shown = (text ?? '-').replace(/\s+/g, ' ').trim();
    return shown.length > 100 ? `${shown.slice(0, 99)}…` : shown;
  };
  const sizes = (layer: number | null) => {
    const l = layer === null ? undefined : report.layers[layer];
    return l ? [String(l.index), formatBytes(l.compressedSize), formatBytes(l.uncompressedSize), String(l.files)] : ['-', '-', '-', '-'];
  };
  const rows =
    report.history.length > 0 && !report.historyMismatch
      ? report.history.map((h) => [...sizes(h.layer), h.created ?? '-', command(h.createdBy)])
      : report.layers.map((l) => [...sizes(l.index), '-', '-']);
  out.push(columns(['LAYER', 'COMPRESSED', 'UNCOMPRESSED', 'FILES', 'CREATED', 'CREATED BY'], rows));
  if (report.historyMismatch) out.push(`(the config history has ${report.history.filter((h) => !h.emptyLayer).length} layer steps for ${report.layers.length} layers: not matched)\n`);
  const files = report.layers.reduce((n, l) => n + l.files, 0);
  out.push(`total: ${report.layers.length} layers, ${formatBytes(report.totalCompressed)} compressed, ${formatBytes(report.totalUncompressed)} uncompressed, ${files} files\n\n`);

  out.push(`wasted space: ${formatBytes(report.wasted.bytes)} in ${report.wasted.files} file${report.wasted.files === 1 ? '' : 's'}\n`);
  out.push(`efficiency: ${(report.efficiency * 100).toFixed(1)}%\n`);
  if (report.wasted.largest.length > 0) {
    out.push('largest wasted files:\n');
    out.push(columns(['  BYTES', 'PATH', 'LAYER', 'REPLACED IN'], report.wasted.largest.map((w) => [`  ${formatBytes(w.bytes)}`, w.path, String(w.layer), String(w.replacedIn)])));
  }
  out.push('\n');

  const { summary, findings, omitted } = report.lint;
  const counted = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  out.push(`lint: ${counted(summary.error, 'error')}, ${counted(summary.warning, 'warning')}, ${summary.info} info\n`);
  for (const f of findings) out.push(formatFinding(f));
  const left = Object.entries(omitted).map(([rule, n]) => `${rule} ${n}`);
  if (left.length > 0) out.push(`(more findings not listed: ${left.join(', ')})\n`);
  return out.join('');
}

function formatFinding(f: LintFinding): string {
  return `  ${f.severity.padEnd(7)}  ${f.rule}: ${f.message}\n           fix: ${f.fix}\n`;
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description("report an image of a registry without pulling it: layers with sizes beside the config's history, wasted space, efficiency and lint findings")
    .argument('<ref>', 'docker://HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]')
    .option('--creds <user:password>', 'credentials for the registry')
    .option('--tls-verify <bool>', 'false: the registry speaks plain HTTP')
    .option('--platform <os/arch[/variant]>', `for an index: the platform inspected (default ${defaultPlatform}, or its only image)`)
    .option('--json', 'print the report as JSON')
    .action(async (ref: string, opts: InspectOptions & { json?: boolean }) => {
      const report = await inspectImage(ref, opts);
      printResult(opts.json, report, () => formatReport(report));
    });
}
