import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/load.js';
import { parseManifest, requiredReferences } from '../domain/manifest.js';
import { assertRepositoryName, assertTag } from '../domain/names.js';
import { LayoutContentError } from '../adapters/transfer/layout-storage.js';
import { hostPlatform, platformChild } from '../adapters/transfer/docker-archive.js';
import { OciLayout } from '../adapters/transfer/oci-layout.js';
import { ArchiveStorage } from '../adapters/transfer/layout-storage.js';
import { UpstreamError, type UpstreamRegistry } from '../ports/upstream-registry.js';
import { ArtifactCopier, emptyCounts, type CopyCounts } from '../services/replication/artifact-copier.js';
import { exitCodes } from './exit-codes.js';
import { openLocalBerth } from './local-berth.js';
import { printError, printResult } from './output.js';
import { ByteProgress, formatBytes, formatDuration, rateOf } from './progress.js';
import { settingFlags } from './set-flags.js';
import { openDestination, openSource, parseLocation, registryAccess, transportsHelp, type OpenedLocation } from './transfer-ends.js';

/** The contents list an export carries beside index.json. */
export const contentsFile = 'berth-export.json';

export interface ExportContents {
  format: 'berth-export';
  version: 1;
  createdAt: string;
  selection: string;
  images: Array<{ repository: string; tag: string; digest: string }>;
}

interface LocalOptions {
  config?: string;
  dataDir?: string;
  set?: string[];
}

const user = () => process.env.USER ?? 'unknown';

/**
 * Bytes of the blobs an artifact needs (every platform of an index, each blob once), read
 * from its manifests before copying: the progress bar's total.
 */
async function plannedBytes(registry: UpstreamRegistry, repository: string, reference: string, seen = new Set<string>(), depth = 0): Promise<number> {
  const manifest = await registry.getManifest(repository, reference);
  if (!manifest || depth > 8) return 0;
  const parsed = parseManifest(manifest.body, manifest.mediaType);
  let total = 0;
  for (const blob of [parsed.config, ...parsed.layers]) {
    if (blob && !seen.has(blob.digest) && requiredReferences(parsed).blobs.includes(blob.digest)) {
      seen.add(blob.digest);
      total += blob.size;
    }
  }
  for (const child of parsed.manifests) total += await plannedBytes(registry, repository, child.digest, seen, depth + 1);
  return total;
}

function countsLine(counts: CopyCounts, elapsedMs: number): string {
  return `${counts.blobsCopied} blobs copied (${formatBytes(counts.bytesCopied)}, ${formatBytes(rateOf(counts.bytesCopied, elapsedMs))}/s), ${counts.blobsSkipped + counts.blobsMounted} already there, ${counts.manifestsCopied} manifests copied, ${counts.manifestsSkipped} already there, in ${formatDuration(elapsedMs / 1000)}`;
}

/** A tag from a reference that may carry a name (`repo:tag`): the part after the last colon; undefined for a digest. */
function tagOf(reference: string | undefined): string | undefined {
  if (reference === undefined || /^[a-z0-9]+:[a-f0-9]{32,}$/.test(reference)) return undefined;
  return reference.slice(reference.lastIndexOf(':') + 1);
}

/** Says what went wrong with a copy in words a user acts on; unknown errors keep their stack for a bug report. */
function failure(command: string, err: unknown): never {
  if (err instanceof UpstreamError || err instanceof LayoutContentError || (err as { code?: string }).code === 'ENOENT') fail(`${command}: ${(err as Error).message}`);
  throw err;
}

export function registerTransfer(program: Command): void {
  program
    .command('copy')
    .description(`copy an image (every platform, with its signatures and SBOMs) between registries, OCI layouts and archives: ${transportsHelp}`)
    .argument('<source>')
    .argument('<destination>')
    .option('--src-creds <user:password>', 'credentials for a source registry')
    .option('--dest-creds <user:password>', 'credentials for a destination registry')
    .option('--src-tls-verify <bool>', 'false: the source registry speaks plain HTTP')
    .option('--dest-tls-verify <bool>', 'false: the destination registry speaks plain HTTP')
    .option('--platform <os/arch>', 'for a docker-archive destination: the platform taken from a multi-platform image', hostPlatform())
    .option('--no-referrers', 'do not copy signatures, SBOMs and other referrers')
    .option('--fresh', 'write a destination archive anew instead of resuming an interrupted one')
    .option('--json', 'print the result as JSON')
    .action(async (src: string, dst: string, opts: { srcCreds?: string; destCreds?: string; srcTlsVerify?: string; destTlsVerify?: string; platform: string; referrers: boolean; fresh?: boolean; json?: boolean }) => {
      const from = await openSource(parseLocation(src), registryAccess(opts.srcCreds, opts.srcTlsVerify)).catch((err: unknown) => failure('copy', err));
      const to = await openDestination(parseLocation(dst), registryAccess(opts.destCreds, opts.destTlsVerify), opts.fresh).catch((err: unknown) => failure('copy', err));
      const started = performance.now();
      const counts = emptyCounts();
      try {
        const digest = await copyOne(from, to, dst.startsWith('docker-archive:') ? opts.platform : undefined, opts.referrers, counts, src);
        await to.finish();
        const elapsedMs = performance.now() - started;
        printResult(opts.json, { source: src, destination: dst, digest, counts, seconds: elapsedMs / 1000 }, () => `copied ${digest}: ${countsLine(counts, elapsedMs)}\n`);
      } catch (err) {
        await to.abandon();
        failure('copy', err);
      }
    });

  program
    .command('export')
    .description('write a project, a repository or one tag of this Berth (with referrers) into an oci-archive file, resumable')
    .argument('<selection>', 'PROJECT, PROJECT/REPOSITORY or PROJECT/REPOSITORY:TAG')
    .argument('<file>', 'the archive (an OCI layout in a tar file; skopeo reads it as oci-archive:FILE:REPOSITORY:TAG)')
    .option('-c, --config <file>', 'YAML config (also BERTH_CONFIG)')
    .option('--data-dir <dir>', 'data directory (dataDir)')
    .option('--set <key=value...>', 'any setting by its dotted key')
    .option('--fresh', 'write the file anew instead of resuming an interrupted export')
    .option('--json', 'print the result as JSON')
    .action(async (selection: string, file: string, opts: LocalOptions & { fresh?: boolean; json?: boolean }) => {
      const config = loadConfig({ file: opts.config, flags: { dataDir: opts.dataDir, ...settingFlags(opts.set) } });
      const local = await openLocalBerth(config, `cli export (${user()})`);
      try {
        const images = await selectImages(local.registry, selection);
        if (images.length === 0) throw new ConfigError(`nothing to export: "${selection}" has no tagged image`);
        const { archive, kept, completeAlready } = await ArchiveStorage.openForWriting(file, opts.fresh !== true);
        if (completeAlready) {
          await archive.abandon();
          throw new ConfigError(`${file} is a finished archive: remove it, or give --fresh to write it anew`);
        }
        if (kept > 0) process.stderr.write(`export: resuming ${file}: ${kept} blobs already in it are kept\n`);
        const layout = await OciLayout.write(archive, { maxManifestBytes: config.registry.maxManifestBytes });
        const started = performance.now();
        const counts = emptyCounts();
        const seen = new Set<string>();
        let total = 0;
        for (const image of images) total += await plannedBytes(local.registry, image.repository, image.tag, seen);
        const progress = new ByteProgress(process.stderr, 'export', total);
        const copier = new ArtifactCopier({ onBytes: (bytes) => progress.add(bytes) });
        const contents: ExportContents = { format: 'berth-export', version: 1, createdAt: new Date().toISOString(), selection, images: [] };
        try {
          for (const image of images) {
            const digest = await copier.copy({ registry: local.registry, repository: image.repository }, { registry: layout, repository: image.repository }, image.tag, counts);
            contents.images.push({ ...image, digest });
          }
        } catch (err) {
          progress.finish();
          await archive.abandon();
          process.stderr.write(`export: stopped; run the same command again to resume ${file}\n`);
          failure('export', err);
        }
        layout.addFile(contentsFile, Buffer.from(JSON.stringify(contents, null, 2)));
        await layout.finish();
        progress.finish();
        local.audit({ action: 'export', resourceType: 'archive', resource: selection, project: selection.split('/')[0]!, result: 'success', detail: { file, images: contents.images.length, bytes: counts.bytesCopied } });
        const elapsedMs = performance.now() - started;
        printResult(opts.json, { selection, file, images: contents.images.map(({ repository, tag, digest }) => ({ repository, tag, digest })), counts, seconds: elapsedMs / 1000 }, () =>
          `exported ${contents.images.length} images of ${selection} to ${file}: ${countsLine(counts, elapsedMs)}\n`,
        );
      } finally {
        await local.close();
      }
    });

  program
    .command('import')
    .description('load an archive written by berth export (or any oci-archive) into this Berth; every digest is checked first, and nothing is imported from an incomplete or damaged file')
    .argument('<file>')
    .option('-c, --config <file>', 'YAML config (also BERTH_CONFIG)')
    .option('--data-dir <dir>', 'data directory (dataDir)')
    .option('--set <key=value...>', 'any setting by its dotted key')
    .option('--repository <name>', 'where images the archive names only by tag go (an oci-archive not written by berth export)')
    .option('--dry-run', 'check the archive and list what it holds; import nothing')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, opts: LocalOptions & { repository?: string; dryRun?: boolean; json?: boolean }) => {
      const config = loadConfig({ file: opts.config, flags: { dataDir: opts.dataDir, ...settingFlags(opts.set) } });
      if (opts.repository !== undefined) assertName(opts.repository);
      let layout: OciLayout;
      try {
        layout = await OciLayout.read(await ArchiveStorage.openForReading(file), { maxManifestBytes: config.registry.maxManifestBytes });
      } catch (err) {
        if (err instanceof LayoutContentError) fail(`import: ${file} cannot be imported: ${err.message}; nothing was imported`);
        throw err;
      }
      const images = layout.tagged().map((t) => ({ ...t, source: t.repository, repository: t.repository || opts.repository || '' }));
      const unnamed = images.filter((i) => i.repository === '');
      if (unnamed.length > 0) fail(`import: ${unnamed.length} image(s) of ${file} carry only a tag (${unnamed[0]!.tag}): give --repository PROJECT/NAME; nothing was imported`);
      for (const image of images) {
        assertName(image.repository);
        try {
          assertTag(image.tag);
        } catch {
          fail(`import: "${image.tag}" (in ${file}) is not a valid tag; nothing was imported`);
        }
      }
      // Everything is checked before anything is written: a truncated or damaged file imports nothing.
      const planned = await layout.verify(false);
      const progress = new ByteProgress(process.stderr, 'verify', planned.bytes);
      const checked = await layout.verify(true, (bytes) => progress.add(bytes));
      progress.finish();
      if (checked.problems.length > 0) fail(`import: ${file} cannot be imported: ${checked.problems.slice(0, 5).join('; ')}${checked.problems.length > 5 ? ` (and ${checked.problems.length - 5} more)` : ''}; nothing was imported`);
      process.stderr.write(`import: ${file} is whole: ${images.length} images, ${checked.blobs} blobs and manifests, ${formatBytes(checked.bytes)}, every digest checked\n`);
      if (opts.dryRun) {
        const listed = images.map((image) => ({ repository: image.repository, tag: image.tag, digest: image.entry.digest }));
        printResult(opts.json, { file, dryRun: true, images: listed }, () => listed.map((i) => `${i.repository}:${i.tag} ${i.digest}\n`).join(''));
        return;
      }
      const local = await openLocalBerth(config, `cli import (${user()})`);
      const started = performance.now();
      const counts = emptyCounts();
      // The copier reports blob bytes (manifests are small and not counted).
      const importing = new ByteProgress(process.stderr, 'import', checked.blobBytes);
      const copier = new ArtifactCopier({ onBytes: (bytes) => importing.add(bytes) });
      const imported: Array<{ repository: string; tag: string; digest: string }> = [];
      try {
        for (const image of images) {
          await local.ensureProject(image.repository);
          const digest = await copier.copy({ registry: layout, repository: image.source }, { registry: local.registry, repository: image.repository }, image.tag, counts);
          local.audit({ action: 'import', resourceType: 'artifact', resource: `${image.repository}:${image.tag}`, project: image.repository.split('/')[0]!, result: 'success', detail: { file, digest } });
          imported.push({ repository: image.repository, tag: image.tag, digest });
          if (!opts.json) process.stdout.write(`${image.repository}:${image.tag} ${digest}\n`);
        }
      } catch (err) {
        importing.finish();
        await local.close();
        process.stderr.write('import: stopped; what was imported stays, and running the same command again goes on from there\n');
        failure('import', err);
      }
      importing.finish();
      await local.close();
      const elapsedMs = performance.now() - started;
      printResult(opts.json, { file, images: imported, counts, seconds: elapsedMs / 1000 }, () => `imported ${images.length} images from ${file}: ${countsLine(counts, elapsedMs)}\n`);
    });
}

function fail(message: string): never {
  printError('FAILED', message, `berth ${message}`);
  process.exit(exitCodes.failed);
}

function assertName(name: string): void {
  try {
    assertRepositoryName(name);
  } catch {
    throw new ConfigError(`"${name}" is not a repository name`);
  }
  if (!name.includes('/')) throw new ConfigError(`"${name}": a repository is PROJECT/NAME`);
}

/** Images of a selection: every tag of a project's repositories, of one repository, or one tag. */
async function selectImages(registry: UpstreamRegistry, selection: string): Promise<Array<{ repository: string; tag: string }>> {
  const colon = selection.lastIndexOf(':');
  if (colon > selection.lastIndexOf('/')) {
    const repository = selection.slice(0, colon);
    return [{ repository, tag: selection.slice(colon + 1) }];
  }
  const repositories = selection.includes('/') ? [selection] : (await registry.listRepositories()).filter((r) => r.startsWith(`${selection}/`));
  const images: Array<{ repository: string; tag: string }> = [];
  for (const repository of repositories) for (const tag of await registry.listTags(repository)) images.push({ repository, tag });
  return images;
}

/**
 * Copies one image by digest, then tags it at the destination: with the destination's
 * reference, else the source's tag (a docker-archive names images `repository:tag`). A
 * docker-archive destination (one platform per image) gets the platform asked for out of an index.
 */
async function copyOne(from: OpenedLocation, to: OpenedLocation, platform: string | undefined, referrers: boolean, counts: CopyCounts, src: string): Promise<string> {
  const reference = from.reference!;
  const manifest = await from.registry.getManifest(from.repository, reference);
  if (!manifest) throw new UpstreamError('not-found', `${src} is not there`, 404);
  let chosen = manifest;
  if (platform && parseManifest(manifest.body, manifest.mediaType).kind === 'index') {
    const child = platformChild(manifest.body, platform);
    const found = child && (await from.registry.getManifest(from.repository, child));
    if (!found) throw new UpstreamError('not-found', `${src} has no image for ${platform} (choose one with --platform)`, 404);
    chosen = found;
  }
  const sourceTag = tagOf(reference);
  const tag = to.reference ?? (platform && from.repository !== '' && sourceTag ? `${from.repository}:${sourceTag}` : sourceTag);
  if (tag === undefined && to.repository === '') throw new ConfigError('the source is named by digest: name the destination image (…:REF)');
  const progress = new ByteProgress(process.stderr, 'copy', await plannedBytes(from.registry, from.repository, chosen.digest));
  const copier = new ArtifactCopier({ referrers, onBytes: (bytes) => progress.add(bytes) });
  try {
    await copier.copy({ registry: from.registry, repository: from.repository }, { registry: to.registry, repository: to.repository }, chosen.digest, counts);
    if (tag !== undefined) await to.registry.putManifest(to.repository, tag, chosen);
    return chosen.digest;
  } finally {
    progress.finish();
  }
}
