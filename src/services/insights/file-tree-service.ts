import { BerthError } from '../../domain/errors.js';
import type { ImageIndexStore, IndexedEntryType } from '../../ports/image-index-store.js';
import type { Registry } from '../registry/index.js';
import { resolveImage } from './image-reference.js';
import { cleanPath } from './search-service.js';

export interface FileTreeRequest {
  /** A directory from the root (`''` or `/` = the root). */
  path?: string;
  /** One layer (0 = the lowest) instead of the merged filesystem. */
  layer?: number;
  /** A name filter: with `path`, that directory's children whose name contains it; alone, files anywhere whose name contains it. */
  q?: string;
  /** For an index: which of its images (`os/arch[/variant]`). */
  platform?: string;
  limit: number;
}

export interface FileTreeEntry {
  /** From the root, no leading slash. */
  path: string;
  name: string;
  type: IndexedEntryType;
  size: number;
  mode?: number;
  uid?: number;
  gid?: number;
  linkTarget?: string;
  /** The layer (0 = lowest) the entry comes from. */
  layer?: number;
}

export interface FileTree {
  repository: string;
  digest: string;
  index?: { digest: string; platform: string };
  layers: Array<{ index: number; digest: string; size: number; uncompressedSize: number; files: number; truncated: boolean }>;
  layer: number | null;
  path: string;
  q: string | null;
  /** `list`: the children of `path`; `find`: files anywhere whose name contains `q`. */
  mode: 'list' | 'find';
  entries: FileTreeEntry[];
  /** More entries than `limit`: the first ones (by name, or by path when finding) are listed. */
  truncated: boolean;
}

export const maxFileTreeLimit = 1000;

/**
 * An image's file tree (issue 17): the merged filesystem (whiteouts applied, as a container
 * sees it) or one layer's entries, browsed directory by directory or searched by name — all
 * read from the image index, never from the layers, so a request costs a few index reads.
 */
export class FileTreeService {
  constructor(
    private readonly store: ImageIndexStore,
    private readonly registry: Registry,
    /** Indexes an image now when it is not yet (the indexer's, when it offers one). */
    private readonly indexNow?: (repository: string, digest: string) => Promise<void>,
  ) {}

  async files(repository: string, reference: string, request: FileTreeRequest): Promise<FileTree> {
    const bad = (message: string) => new BerthError('BAD_REQUEST', { message });
    const image = await resolveImage(this.registry, repository, reference, request.platform, 'file trees are of images');
    let record = await this.store.getImage(image.digest);
    if (!record && this.indexNow) {
      await this.indexNow(repository, image.digest);
      record = await this.store.getImage(image.digest);
    }
    if (!record) throw new BerthError('IMAGE_NOT_INDEXED', { message: `${repository}@${image.digest} is not indexed: images are indexed as they are pushed while the image index is on (insights.index.enabled)`, detail: { digest: image.digest } });
    if (record.status === 'failed') throw new BerthError('LAYER_UNREADABLE', { message: `${repository}@${image.digest} could not be indexed: ${record.error ?? 'a layer could not be read'}`, detail: { digest: image.digest } });
    const layers = image.parsed.layers.map((l) => l.digest as string);
    const known = await this.store.getLayers(layers);
    const records = layers.map((d) => known.get(d));
    const { layer, q, limit } = request;
    if (layer !== undefined && (!Number.isInteger(layer) || layer < 0 || layer >= layers.length)) throw bad(`layer: 0 to ${layers.length - 1} (the image has ${layers.length} layer${layers.length === 1 ? '' : 's'})`);
    if (q !== undefined && (q === '' || q.length > 255 || q.includes('/'))) throw bad('q: part of a file name (no slash), at most 255 characters');
    const path = request.path === undefined ? '' : cleanPath(request.path, bad, true);
    const find = q !== undefined && request.path === undefined;

    let entries: FileTreeEntry[];
    let truncated: boolean;
    if (find) {
      // One layer is searched as a filesystem of that layer alone; its entries keep their layer's number.
      const found = await this.store.findFiles(layer === undefined ? layers : [layers[layer]!], q, limit + 1);
      truncated = found.length > limit;
      entries = found.slice(0, limit).map((f) => ({ path: f.path, name: f.path.slice(f.path.lastIndexOf('/') + 1), type: f.type, size: f.size, layer: layer ?? f.layer }));
    } else {
      const listing = await this.store.listDirectory(layers, path, { ...(layer !== undefined ? { layer } : {}), limit, ...(q !== undefined ? { nameContains: q } : {}) });
      truncated = listing.truncated;
      entries = listing.entries.map((e) => ({
        path: e.parent === '' ? e.name : `${e.parent}/${e.name}`,
        name: e.name,
        type: e.type,
        size: e.size,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        ...(e.linkTarget !== undefined ? { linkTarget: e.linkTarget } : {}),
        ...(e.layer !== undefined ? { layer: e.layer } : layer !== undefined ? { layer } : {}),
      }));
    }
    return {
      repository,
      digest: image.digest,
      ...(image.index ? { index: image.index } : {}),
      layers: image.parsed.layers.map((l, index) => ({
        index,
        digest: l.digest,
        size: l.size,
        uncompressedSize: records[index]?.uncompressedBytes ?? 0,
        files: records[index]?.files ?? 0,
        truncated: records[index]?.truncated ?? false,
      })),
      layer: layer ?? null,
      path,
      q: q ?? null,
      mode: find ? 'find' : 'list',
      entries,
      truncated,
    };
  }
}
