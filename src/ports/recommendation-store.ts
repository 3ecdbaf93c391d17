import type { OutboxEvent } from './event-store.js';
import type { SearchScope } from './image-index-store.js';

/** An image manifest as one repository holds it. */
export interface HeldImage {
  repository: string;
  digest: string;
  /** Tags naming it in that repository, sorted. */
  tags: string[];
  /** Tags of indexes in that repository that list it (a platform manifest is tagged through its index), sorted. */
  indexTags: string[];
}

/** A smaller image of the same distribution (a slimmer-base candidate). */
export interface SlimImage {
  digest: string;
  uncompressedBytes: number;
  layers: string[];
}

/**
 * What rebuild hints start from: a base's tag that moved to another digest (`move`), or an image
 * scanned (`scan`: `digest` in `repository`, `tag` and `previousDigest` empty), whose report may
 * show it fixes what images built on an older build of its base carry.
 */
export interface BaseTagMove {
  id: number;
  kind: 'move' | 'scan';
  repository: string;
  tag: string;
  previousDigest: string;
  digest: string;
  /** Who moved it (the push or tag event's operator). */
  operator: string;
  movedAt: number;
  /** The previous image's layers (lowest first), once the hint was worked out; several lists for an index (one per platform). */
  previousLayers?: string[][];
}

/**
 * The queries recommendations and rebuild hints need beside the image index (ports/image-index-store.ts):
 * where images are held and tagged, images by distribution, and the base tags that moved.
 */
export interface RecommendationStore {
  /**
   * Repositories holding any of `digests`, with the tags there: within `scope` (projects the
   * caller may pull from) or `project`, at most `limit` rows, tagged rows first.
   */
  holders(digests: readonly string[], options: { scope?: SearchScope; project?: string; limit: number }): Promise<HeldImage[]>;
  /**
   * Indexed images of the distribution `os` (id and version id) and `platform` whose uncompressed
   * bytes are at most `maxBytes`, smallest first, at most `limit` (whoever holds them: callers
   * filter by holders).
   */
  slimmerImages(os: { id: string; versionId?: string }, platform: string, maxBytes: number, limit: number): Promise<SlimImage[]>;
  /** Tags naming `digest` in `repository`, or an index listing it there, sorted (one query). */
  tagsNaming(repository: string, digest: string): Promise<string[]>;
  /** A repository's tags with the digest each names. */
  tagsOf(repository: string): Promise<Array<{ name: string; digest: string }>>;

  /**
   * Reads the outbox after `consumer`'s cursor (at most `batch` events) and records each push or
   * tag event that moved a tag (its `previousDigest`) as a move to work out, and each succeeded
   * scan as a `scan` row, moving the cursor in the same transaction. Resolves how many events
   * were read and rows recorded.
   */
  recordMoves(options: { consumer: string; batch: number; now: number }): Promise<{ events: number; recorded: number }>;
  /** Moves and scans not worked out yet, oldest first. */
  pendingMoves(limit: number): Promise<BaseTagMove[]>;
  /**
   * Marks a move worked out with the previous image's layers (or, when not `keep`, removes it)
   * and appends `events` in one transaction; false (and nothing written) when another instance
   * did it first.
   */
  completeMove(id: number, previousLayers: string[][], events: readonly OutboxEvent[], now: number, keep: boolean): Promise<boolean>;
  /** Worked-out moves kept (kind `move`) with an id above `afterId`, in id order, at most `limit`. */
  keptMoves(afterId: number, limit: number): Promise<BaseTagMove[]>;
  /** Removes worked-out moves by id; resolves how many there were. */
  deleteMoves(ids: readonly number[]): Promise<number>;
  /** Worked-out moves whose tag names another digest now than the move's previous one, newest first, at most `limit`. */
  movedOn(limit: number): Promise<BaseTagMove[]>;
  /** Worked-out moves of `repository` to `digest` or to an index listing it there, newest first, at most `limit`. */
  movesTo(repository: string, digest: string, limit: number): Promise<BaseTagMove[]>;
  /** The newest worked-out move of `repository` away from `digest` or an index listing it there (the tag an untagged base had). */
  lastMoveFrom(repository: string, digest: string): Promise<BaseTagMove | undefined>;
}
