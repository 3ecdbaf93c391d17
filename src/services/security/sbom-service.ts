import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { digestOf, parseDigest } from '../../domain/digest.js';
import { BerthError } from '../../domain/errors.js';
import { parseManifest, type ParsedManifest } from '../../domain/manifest.js';
import { MediaType } from '../../domain/media-types.js';
import { cycloneDxDocument } from '../../domain/sbom/cyclonedx.js';
import { sbomMediaTypes, type SbomFormat } from '../../domain/sbom/sbom.js';
import { spdxDocument } from '../../domain/sbom/spdx.js';
import type { Registry } from '../registry/registry.js';
import type { InventoryService } from './inventory-service.js';

/** Annotation on the SBOM referrers Berth makes: who made it. */
export const sbomGeneratorAnnotation = 'dev.berth.sbom.generator';

/** An SBOM of an artifact, made by Berth or pushed by a client (a referrer, a cosign attestation, a BuildKit attestation). */
export interface SbomEntry {
  format: SbomFormat | 'syft' | 'other';
  mediaType: string;
  source: 'berth' | 'referrer' | 'cosign-attestation' | 'buildkit-attestation';
  /** The manifest holding it. */
  manifestDigest: string;
  /** The blob holding the document (a DSSE envelope for attestations): GET /v2/<repository>/blobs/<digest>. */
  blobDigest: string;
  size: number;
  /** The in-toto predicate type of an attestation. */
  predicateType?: string;
  created?: string;
}

/** SBOM media types clients push as referrers (artifactType), and what format each is. */
const referrerTypes: Record<string, SbomEntry['format']> = {
  [sbomMediaTypes.spdx]: 'spdx',
  'text/spdx+json': 'spdx',
  'text/spdx': 'spdx',
  [sbomMediaTypes.cyclonedx]: 'cyclonedx',
  'application/vnd.cyclonedx+xml': 'cyclonedx',
  'application/vnd.cyclonedx': 'cyclonedx',
  'application/vnd.syft+json': 'syft',
};

/** in-toto predicate types of SBOM attestations (cosign attest --type, BuildKit --sbom). */
function predicateFormat(predicateType: string): SbomEntry['format'] | undefined {
  if (/^https:\/\/spdx\.dev\/Document/.test(predicateType)) return 'spdx';
  if (/^https:\/\/cyclonedx\.org\/(bom|schema)/.test(predicateType)) return 'cyclonedx';
  if (/^https:\/\/syft\.dev\/bom/.test(predicateType)) return 'syft';
  return undefined;
}

const indexesLooked = 10;

/**
 * SBOMs as OCI 1.1 referrers of their image (issue 16): Berth's own, made from the package
 * inventory and pushed into the image's repository with `subject` set and `artifactType` per
 * format, so referrers-aware clients (oras discover, cosign tree, regctl) find them; and the
 * SBOMs clients pushed themselves, recognised in their usual forms.
 */
export class SbomService {
  constructor(
    private readonly registry: Registry,
    private readonly inventory: InventoryService,
    private readonly options: { host: () => string; toolVersion: string; now?: () => number },
  ) {}

  /**
   * Makes and pushes Berth's SPDX and CycloneDX documents of an image as referrers, unless
   * Berth already attached that format: the documents of one image do not change, and pushing
   * them again would only pile up copies. Resolves the referrer of each format.
   */
  async attach(repository: string, digest: string, actor: string): Promise<Array<{ format: SbomFormat; digest: string; created: boolean }>> {
    const subject = await this.registry.manifests.get(repository, digest);
    const parsed = parseManifest(subject.body, subject.mediaType);
    if (parsed.kind !== 'image' || (parsed.artifactType !== MediaType.ociConfig && parsed.artifactType !== MediaType.dockerConfig)) {
      throw new BerthError('NOT_SCANNABLE', { message: `${digest} is not a container image: SBOMs are attached to images (to each platform of an index)` });
    }
    const existing = await this.berthReferrers(repository, subject.digest);
    const inventory = existing.size === 2 ? undefined : await this.inventory.ofImage(repository, parsed.layers);
    const created = new Date((this.options.now ?? Date.now)()).toISOString();
    const results: Array<{ format: SbomFormat; digest: string; created: boolean }> = [];
    for (const format of ['spdx', 'cyclonedx'] as const) {
      const found = existing.get(format);
      if (found) {
        results.push({ format, digest: found, created: false });
        continue;
      }
      const making = { toolVersion: this.options.toolVersion, created, uuid: randomUUID() };
      const about = { repository, digest: subject.digest, host: this.options.host() };
      const document = Buffer.from(JSON.stringify(format === 'spdx' ? spdxDocument(about, inventory!, making) : cycloneDxDocument(about, inventory!, making)));
      const empty = Buffer.from('{}');
      for (const blob of [empty, document]) await this.registry.uploads.pushMonolithic(repository, digestOf(blob), Readable.from([blob]), blob.length);
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.ociManifest,
          artifactType: sbomMediaTypes[format],
          config: { mediaType: MediaType.ociEmpty, digest: digestOf(empty), size: empty.length, data: empty.toString('base64') },
          layers: [{ mediaType: sbomMediaTypes[format], digest: digestOf(document), size: document.length }],
          subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
          annotations: { 'org.opencontainers.image.created': created, [sbomGeneratorAnnotation]: `berth ${this.options.toolVersion}` },
        }),
      );
      const pushed = await this.registry.manifests.put(repository, digestOf(manifest), manifest, MediaType.ociManifest, actor);
      results.push({ format, digest: pushed.digest, created: true });
    }
    return results;
  }

  /** Every SBOM of the artifact this repository holds, Berth's and clients'. */
  async list(repository: string, digest: string): Promise<SbomEntry[]> {
    const entries = await this.referrerEntries(repository, digest);
    // cosign attest: DSSE envelopes in the sha256-<hex>.att image, each layer naming its predicate type.
    const attestations = await this.manifest(repository, `${digest.replace(':', '-')}.att`);
    for (const layer of attestations?.layers ?? []) {
      const predicateType = layer.annotations?.predicateType;
      const format = predicateType ? predicateFormat(predicateType) : undefined;
      if (!format || !predicateType) continue;
      entries.push({ format, mediaType: layer.mediaType, source: 'cosign-attestation', manifestDigest: attestations!.digest, blobDigest: layer.digest, size: layer.size, predicateType });
    }
    entries.push(...(await this.buildkitAttestations(repository, digest)));
    return entries;
  }

  /** The SBOMs stored as referrers of the artifact (Berth's among them). */
  private async referrerEntries(repository: string, digest: string): Promise<SbomEntry[]> {
    const entries: SbomEntry[] = [];
    const index = JSON.parse((await this.registry.manifests.referrers(repository, digest)).toString('utf8')) as {
      manifests: Array<{ digest: string; artifactType?: string; annotations?: Record<string, string> }>;
    };
    for (const descriptor of index.manifests) {
      const format = descriptor.artifactType ? referrerTypes[descriptor.artifactType.split(';')[0]!.trim()] : undefined;
      if (!format) continue;
      const manifest = await this.manifest(repository, descriptor.digest);
      const layer = manifest?.layers[0];
      if (!layer) continue;
      const entry: SbomEntry = {
        format,
        mediaType: layer.mediaType,
        source: descriptor.annotations?.[sbomGeneratorAnnotation] ? 'berth' : 'referrer',
        manifestDigest: descriptor.digest,
        blobDigest: layer.digest,
        size: layer.size,
      };
      const created = descriptor.annotations?.['org.opencontainers.image.created'];
      if (created) entry.created = created;
      entries.push(entry);
    }
    return entries;
  }

  /**
   * BuildKit (docker buildx --sbom) puts an attestation manifest beside each platform in the
   * index, annotated `vnd.docker.reference.type: attestation-manifest` and naming the platform's
   * digest; its layers are in-toto statements with their predicate type in an annotation.
   */
  private async buildkitAttestations(repository: string, digest: string): Promise<SbomEntry[]> {
    const row = await this.registry.meta.getRepository(repository);
    if (!row) return [];
    const entries: SbomEntry[] = [];
    for (const parent of await this.registry.meta.listParents(row.id, parseDigest(digest).digest, indexesLooked)) {
      const index = await this.manifest(repository, parent);
      for (const child of index?.manifests ?? []) {
        if (child.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest' || child.annotations['vnd.docker.reference.digest'] !== digest) continue;
        const attestation = await this.manifest(repository, child.digest);
        for (const layer of attestation?.layers ?? []) {
          const predicateType = layer.annotations?.['in-toto.io/predicate-type'];
          const format = predicateType ? predicateFormat(predicateType) : undefined;
          if (!format || !predicateType) continue;
          entries.push({ format, mediaType: layer.mediaType, source: 'buildkit-attestation', manifestDigest: child.digest, blobDigest: layer.digest, size: layer.size, predicateType });
        }
      }
    }
    return entries;
  }

  /** Berth's own SBOM referrers of the image, by format. */
  private async berthReferrers(repository: string, digest: string): Promise<Map<SbomFormat, string>> {
    const found = new Map<SbomFormat, string>();
    for (const entry of await this.referrerEntries(repository, digest)) {
      if (entry.source === 'berth' && (entry.format === 'spdx' || entry.format === 'cyclonedx') && !found.has(entry.format)) found.set(entry.format, entry.manifestDigest);
    }
    return found;
  }

  private async manifest(repository: string, reference: string): Promise<(ParsedManifest & { digest: string }) | undefined> {
    try {
      const content = await this.registry.manifests.get(repository, reference);
      return { ...parseManifest(content.body, content.mediaType), digest: content.digest };
    } catch (err) {
      if (err instanceof BerthError && (err.key === 'MANIFEST_UNKNOWN' || err.key === 'NAME_UNKNOWN' || err.key === 'MANIFEST_INVALID')) return undefined;
      throw err;
    }
  }
}
