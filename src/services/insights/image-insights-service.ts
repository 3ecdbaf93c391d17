import type { Digest } from '../../domain/digest.js';
import { BerthError } from '../../domain/errors.js';
import { parseManifest, type ParsedManifest } from '../../domain/manifest.js';
import { MediaType } from '../../domain/media-types.js';
import type { BaseImageStore } from '../../ports/base-image-store.js';
import type { Registry } from '../registry/index.js';
import type { LayerSummary } from './file-index.js';
import type { LayerReader } from './layer-reader.js';
import { storedImage } from './stored-image.js';
import { wastedSpace, type WastedSpace } from './wasted-space.js';

export interface LayerInsight {
  /** 0 = the lowest layer. */
  index: number;
  digest: string;
  mediaType: string;
  /** The blob's size, as the manifest gives it. */
  compressedSize: number;
  /** Bytes of the layer's tar once decompressed. */
  uncompressedSize: number;
  /** Regular files the layer lists. */
  files: number;
  /** From the history step matched to this layer; null when none is (no history, or `historyMismatch`). */
  createdBy: string | null;
  created: string | null;
  emptyLayer: false;
}

export interface HistoryStep {
  index: number;
  created: string | null;
  createdBy: string | null;
  comment: string | null;
  emptyLayer: boolean;
  /** The layer this step made; null for an empty step or when the counts do not match. */
  layer: number | null;
}

export interface BaseImage {
  repository: string;
  tag?: string;
  digest: string;
  /** Layers of the base image (the lowest ones of this image when matched by layers). */
  layers: number;
  matchedBy: 'layers' | 'annotation';
}

export interface ImageInsights {
  repository: string;
  digest: string;
  layers: LayerInsight[];
  history: HistoryStep[];
  /** The history's non-empty steps are not as many as the layers: no step is matched to a layer. */
  historyMismatch: boolean;
  totalCompressed: number;
  totalUncompressed: number;
  wasted: WastedSpace;
  /** 1 − wasted.bytes / (bytes of all regular files of all layers); 1 for an image without file bytes. */
  efficiency: number;
  base?: BaseImage;
}

/** Whether the caller may pull from a repository (the authorizer's answer, as for /v2 pulls). */
export type CanPull = (repository: string) => Promise<boolean>;

export const baseNameAnnotation = 'org.opencontainers.image.base.name';
export const baseDigestAnnotation = 'org.opencontainers.image.base.digest';

/** Candidate base manifests read at most per request. */
const maxCandidates = 50;
/** Layers of an image looked at for a base (a base of more layers is not found). */
const maxBaseLayers = 500;

/**
 * The `docker history` view of an image without pulling it (issue 17): its layers with their
 * sizes beside the config's history, the bytes later layers overwrite or delete, and the image
 * it was built from. Layers are read through the shared layer summaries (one walk per layer
 * digest, shared with lint); the base is looked for only among images the caller may pull.
 */
export class ImageInsightsService {
  constructor(
    private readonly registry: Registry,
    private readonly layers: LayerReader,
    private readonly bases: BaseImageStore,
  ) {}

  async insights(repository: string, reference: string, canPull: CanPull): Promise<ImageInsights> {
    const { digest, parsed, config } = await storedImage(this.registry, repository, reference, 'insights read images');
    const summaries = await Promise.all(parsed.layers.map((layer, index) => this.layers.summary(repository, layer.digest, index)));

    const result = insightsOf({ repository, digest, layers: parsed.layers, config, summaries });
    const base = (await this.annotatedBase(digest, parsed, config, canPull)) ?? (await this.layerBase(digest, parsed, canPull));
    if (base) result.base = base;
    return result;
  }

  /** The base the `org.opencontainers.image.base.*` annotations (or labels) name, when it is here, an image and readable. */
  private async annotatedBase(self: string, parsed: ParsedManifest, config: Record<string, unknown>, canPull: CanPull): Promise<BaseImage | undefined> {
    const labels = labelsOf(config);
    const name = parsed.annotations?.[baseNameAnnotation] ?? labels[baseNameAnnotation];
    const digest = parsed.annotations?.[baseDigestAnnotation] ?? labels[baseDigestAnnotation];
    if (!name && !digest) return undefined;
    const named = name ? parseImageName(name) : undefined;
    const reference = digest ?? named?.digest ?? named?.tag;
    if (!reference) return undefined;
    const repositories = named ? [named.repository] : [];
    if (digest?.startsWith('sha256:') || digest?.startsWith('sha512:')) {
      for (const r of await this.bases.repositoriesWith(digest as Digest, 20)) if (!repositories.includes(r)) repositories.push(r);
    }
    for (const repository of repositories) {
      if (!(await canPull(repository))) continue;
      const found = await this.image(repository, reference);
      if (!found || found.digest === self) continue;
      const tag = named?.tag && named.repository === repository && (await this.tagsOf(repository, found.digest)).includes(named.tag) ? named.tag : (await this.tagsOf(repository, found.digest))[0];
      return { repository, ...(tag ? { tag } : {}), digest: found.digest, layers: found.parsed.layers.length, matchedBy: 'annotation' };
    }
    return undefined;
  }

  /**
   * The image whose layers are the longest proper prefix of this one's, among manifests the
   * caller may pull; a tagged one before an untagged one of the same length.
   */
  private async layerBase(self: string, parsed: ParsedManifest, canPull: CanPull): Promise<BaseImage | undefined> {
    const digests = parsed.layers.map((l) => l.digest as Digest);
    if (digests.length < 2) return undefined;
    const prefix = digests.slice(0, Math.min(digests.length - 1, maxBaseLayers));
    const candidates = await this.bases.candidates(digests[0]!, prefix, maxCandidates * 4);
    let best: BaseImage | undefined;
    let read = 0;
    for (const candidate of candidates) {
      if (candidate.digest === self) continue;
      if (best && (candidate.matched < best.layers || (candidate.matched === best.layers && best.tag !== undefined))) break;
      if (read >= maxCandidates) break;
      if (!(await canPull(candidate.repository))) continue;
      read++;
      const found = await this.image(candidate.repository, candidate.digest);
      if (!found) continue;
      const layers = found.parsed.layers.map((l) => l.digest);
      if (layers.length === 0 || layers.length >= digests.length || layers.some((d, i) => d !== digests[i])) continue;
      if (best && (layers.length < best.layers || (layers.length === best.layers && best.tag !== undefined))) continue;
      const tag = (await this.tagsOf(candidate.repository, found.digest))[0];
      if (best && layers.length === best.layers && !tag) continue;
      best = { repository: candidate.repository, ...(tag ? { tag } : {}), digest: found.digest, layers: layers.length, matchedBy: 'layers' };
    }
    return best;
  }

  /** The image manifest `reference` names in `repository`; undefined when absent or not an image. */
  private async image(repository: string, reference: string): Promise<{ digest: string; parsed: ParsedManifest } | undefined> {
    try {
      const manifest = await this.registry.manifests.get(repository, reference);
      const parsed = parseManifest(manifest.body, manifest.mediaType);
      return isImage(parsed) ? { digest: manifest.digest, parsed } : undefined;
    } catch (err) {
      if (err instanceof BerthError) return undefined;
      throw err;
    }
  }

  private async tagsOf(repository: string, digest: string): Promise<string[]> {
    const repo = await this.registry.meta.getRepository(repository);
    return repo ? (await this.registry.meta.tagsOf(repo.id, digest as Digest)).map((t) => t.name).sort() : [];
  }
}

/**
 * The insights report of one image from its manifest's layers, its config and the summaries of
 * its layers (lowest first), without the base: the API's report and `berth inspect`'s are this
 * one shape.
 */
export function insightsOf(image: {
  repository: string;
  digest: string;
  layers: ReadonlyArray<{ digest: string; mediaType: string; size: number }>;
  config: Record<string, unknown>;
  summaries: readonly LayerSummary[];
}): ImageInsights {
  const { summaries } = image;
  const history = historyOf(image.config);
  const made = history.filter((h) => !h.emptyLayer);
  const historyMismatch = history.length > 0 && made.length !== image.layers.length;
  if (!historyMismatch) made.forEach((step, layer) => (step.layer = layer));
  const layers: LayerInsight[] = image.layers.map((layer, index) => {
    const step = historyMismatch ? undefined : made[index];
    return {
      index,
      digest: layer.digest,
      mediaType: layer.mediaType,
      compressedSize: layer.size,
      uncompressedSize: summaries[index]!.uncompressedBytes,
      files: summaries[index]!.files.hash.length,
      createdBy: step?.createdBy ?? null,
      created: step?.created ?? null,
      emptyLayer: false,
    };
  });
  const wasted = wastedSpace(summaries);
  const fileBytes = summaries.reduce((n, s) => n + s.files.bytes, 0);
  return {
    repository: image.repository,
    digest: image.digest,
    layers,
    history,
    historyMismatch,
    totalCompressed: layers.reduce((n, l) => n + l.compressedSize, 0),
    totalUncompressed: layers.reduce((n, l) => n + l.uncompressedSize, 0),
    wasted,
    efficiency: fileBytes === 0 ? 1 : 1 - wasted.bytes / fileBytes,
  };
}

export function isImage(parsed: ParsedManifest): boolean {
  return parsed.kind === 'image' && parsed.manifests.length === 0 && !!parsed.config && (parsed.artifactType === MediaType.ociConfig || parsed.artifactType === MediaType.dockerConfig);
}

/** The config's history steps (image-spec config "history"), at most 10 000. */
function historyOf(config: Record<string, unknown>): HistoryStep[] {
  if (!Array.isArray(config.history)) return [];
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  return (config.history as unknown[]).slice(0, 10_000).map((h, index) => {
    const step = (typeof h === 'object' && h !== null ? h : {}) as Record<string, unknown>;
    return { index, created: text(step.created), createdBy: text(step.created_by), comment: text(step.comment), emptyLayer: step.empty_layer === true, layer: null };
  });
}

function labelsOf(config: Record<string, unknown>): Record<string, string> {
  const run = (typeof config.config === 'object' && config.config !== null ? config.config : {}) as Record<string, unknown>;
  const labels: Record<string, string> = {};
  if (typeof run.Labels === 'object' && run.Labels !== null) for (const [k, v] of Object.entries(run.Labels)) if (typeof v === 'string') labels[k] = v;
  return labels;
}

/**
 * The repository, tag and digest of an image name as `org.opencontainers.image.base.name` holds
 * it (`[host[:port]/]path[:tag][@digest]`): a first component with a dot, a colon or `localhost`
 * is a registry host and dropped, so `berth.example.com/library/alpine:3` names `library/alpine`.
 */
export function parseImageName(name: string): { repository: string; tag?: string; digest?: string } | undefined {
  let rest = name.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const parts = rest.split('/');
  if (parts.length > 1 && (parts[0]!.includes('.') || parts[0]!.includes(':') || parts[0] === 'localhost')) parts.shift();
  const repository = parts.join('/');
  if (!repository) return undefined;
  return { repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}
