import { randomUUID } from 'node:crypto';
import { buffer as readAll } from 'node:stream/consumers';
import { BerthError } from '../../domain/errors.js';
import { digestOf, parseDigest, tryParseDigest, type Digest } from '../../domain/digest.js';
import { quarantineMessage } from '../../domain/quarantine.js';
import { assertRepositoryName, assertTag, isValidTag, projectOf } from '../../domain/names.js';
import { MediaType, indexManifestTypes } from '../../domain/media-types.js';
import { parseManifest, requiredReferences, type Descriptor, type ParsedManifest } from '../../domain/manifest.js';
import { StoreNotFoundError, type BlobStore } from '../../ports/blob-store.js';
import { MissingReferencesError, QuotaExceededError, RepositoryGoneError, TagMovedError, type ManifestRow, type MetadataStore, type PinState, type Quarantine, type QuotaLimits, type RepositoryRow } from '../../ports/metadata-store.js';
import { quotaExceeded } from '../../domain/quota.js';
import type { OutboxEvent } from '../../ports/event-store.js';
import { LruCache } from '../../domain/lru-cache.js';
import { TagCache } from './tag-cache.js';
import { existingRepository, onWritableRepository, readableRepository } from './repositories.js';
import type { RepositoryCache } from './repository-cache.js';
import { pinForWrite, pinTtlMs } from './write-pin.js';

export interface ManifestContent {
  digest: Digest;
  mediaType: string;
  size: number;
  body: Buffer;
}

export interface PushedManifest {
  digest: Digest;
  /** The subject's digest, for the `OCI-Subject` response header. */
  subject?: Digest;
}

/** Rules a change must obey (immutability, quotas), asked by the service before it changes anything. */
export interface ManifestGuard {
  /** Describes the rule that makes `tag` of `repository` immutable, or undefined when none does. */
  immutableTag(repository: string, tag: string): Promise<string | undefined>;
  /** False when no rule can make a tag of `repository` immutable (a delete then need not read the manifest's tags); absent: it may. */
  mayHaveImmutableTags?(repository: string): Promise<boolean>;
  /** The quota a push into `repository` must fit, or undefined when there is none. */
  quota?(repository: string): Promise<QuotaLimits | undefined>;
}

export interface ManifestOptions {
  /** Immutability rules (docs/lifecycle.md); absent: every tag may move. */
  guard?: ManifestGuard;
  maxManifestBytes: number;
  /** Records a pull event (pulls change nothing, so they are not written in a transaction). */
  recordPull?: (event: OutboxEvent) => void;
  /** Told after every change whose events were written (wakes the event dispatcher). */
  onEvents?: () => void;
  /** Bytes of manifest content kept in memory (content is immutable per digest, so it never goes stale). */
  cacheBytes?: number;
  /** Tag lookups shared with the catalog (keyed by the repository's tag version). */
  tags?: TagCache;
  /** Repository rows for pulls, shared with the catalog; absent: every pull reads the row. */
  repositories?: RepositoryCache;
  /** Garbage collection's lease (WritePinOptions.removalLeaseMs); 60 s when not given. */
  gcLeaseMs?: number;
  now?: () => number;
}

/**
 * What `takePushed` holds at most: the manifests of the pushes whose jobs have not run yet (an
 * image's manifest is 1-3 KiB, so about a thousand of them; a backlog larger than that reads them
 * back).
 */
const pushedMaxBytes = 2 * 2 ** 20;
const pushedKey = (repositoryName: string, digest: string) => `${repositoryName}@${digest}`;

/** Manifests and tags (OCI dist-spec "Pushing manifests", "Pulling manifests", "Deleting manifests"). */
export class ManifestService {
  private readonly content: LruCache<Digest, Buffer>;
  /** Pushed lately, for `takePushed` (the same buffers as `content`'s). */
  private readonly pushed = new LruCache<string, ManifestContent>(pushedMaxBytes, (c) => c.size);
  private readonly tags: TagCache;
  private readonly now: () => number;

  constructor(
    private readonly meta: MetadataStore,
    private readonly store: BlobStore,
    private readonly options: ManifestOptions,
  ) {
    this.content = new LruCache(options.cacheBytes ?? 64 * 1024 * 1024, (b) => b.length);
    this.now = options.now ?? Date.now;
    this.tags = options.tags ?? new TagCache();
  }

  /** `actor` names who pushed, for the push event written with the change. */
  async put(repositoryName: string, reference: string, body: Buffer, contentType: string | undefined, actor = 'system'): Promise<PushedManifest> {
    const byDigest = tryParseDigest(reference);
    if (!byDigest) {
      if (reference.includes(':')) throw new BerthError('DIGEST_INVALID', { message: `invalid digest: ${reference.slice(0, 100)}` });
      assertTag(reference);
    }
    if (body.length > this.options.maxManifestBytes) {
      throw new BerthError('MANIFEST_TOO_LARGE', { detail: { limit: this.options.maxManifestBytes } });
    }
    assertRepositoryName(repositoryName);
    const digest = digestOf(body, byDigest?.algorithm ?? 'sha256');
    if (byDigest && byDigest.digest !== digest) {
      throw new BerthError('DIGEST_INVALID', { message: 'manifest digest did not match its content', detail: { expected: byDigest.digest, actual: digest } });
    }
    const manifest = parseManifest(body, contentType);
    const tag = byDigest ? undefined : reference;
    const required = requiredReferences(manifest);
    // Taken with the check when the push will store the content (one round trip on PostgreSQL);
    // record() removes it with the push's record, or when the push fails.
    const pin = { token: randomUUID(), until: this.now() + pinTtlMs };
    await onWritableRepository(
      this.meta,
      repositoryName,
      async (repositoryId, confirmed) => {
        // One read before anything is written: does the repository hold it, where the tag points,
        // and which references are missing (a clear error early; putManifest checks again, holding them).
        const state = await this.meta.pushState(repositoryId, digest, tag, required, pin);
        const previousDigest = state.tagged !== digest ? state.tagged : undefined;
        const events = [event('push', repositoryName, actor, { digest, tag, previousDigest, mediaType: manifest.mediaType, size: body.length })];
        if (state.held && (await this.pushHeld(repositoryName, repositoryId, digest, tag, events))) return;
        if (state.missingBlobs.length > 0 || state.missingManifests.length > 0) {
          // Under an id remembered from before, the name's repository may have been made again since.
          if (!confirmed) throw new RepositoryGoneError(repositoryId);
          throw missingReferences(state.missingBlobs, state.missingManifests);
        }
        await this.record(repositoryName, repositoryId, digest, body, manifest, tag, events, state.pinned && { token: pin.token, state: state.pinned });
      },
      this.options.repositories,
    );
    const owned = this.remember(digest, body);
    this.pushed.set(pushedKey(repositoryName, digest), { digest, mediaType: manifest.mediaType, size: owned.length, body: owned });
    return { digest, subject: manifest.subject?.digest };
  }

  /**
   * The content of a manifest this process pushed to `repositoryName` lately, taken once, without
   * asking the database whether the repository still holds it: for the push's own job (its index
   * and scan), which would otherwise read back the repository and manifest rows the push just
   * wrote. A manifest deleted in between is indexed all the same, as it would be had the delete
   * come a moment later. Undefined when another process pushed it, or it was taken or evicted.
   */
  takePushed(repositoryName: string, digest: string): ManifestContent | undefined {
    const key = pushedKey(repositoryName, digest);
    const content = this.pushed.get(key);
    this.pushed.delete(key);
    return content;
  }

  /**
   * A push of a manifest the repository holds (a tag moved to an image it has, a copy pushed
   * again): its content is stored and its references are held, so only the tag and the event
   * are written (pushState found the repository holds it). False when its stored copy is
   * quarantined or being deleted meanwhile (the push then writes it again).
   */
  private async pushHeld(repositoryName: string, repositoryId: number, digest: Digest, tag: string | undefined, events: OutboxEvent[]): Promise<boolean> {
    const immutable = tag === undefined ? undefined : await this.options.guard?.immutableTag(repositoryName, tag);
    try {
      if (!(await this.meta.pushHeldManifest(repositoryId, digest, tag, this.now(), events, { tagMustNotMove: immutable !== undefined, repositoryName }))) return false;
    } catch (err) {
      if (err instanceof TagMovedError) throw immutableTag(repositoryName, err.tag, immutable!, 'moved');
      throw err;
    }
    this.options.onEvents?.();
    return true;
  }

  /**
   * Writes the content and records the manifest, its references and `tag`. The content is
   * pinned while it is written, so a collector deleting an old unreferenced copy of the same
   * digest cannot remove the bytes just written (docs/lifecycle.md, "Why a push always wins"):
   * by `pinned`, the pin pushState took, or here. The pin goes with the record, or when it fails.
   */
  private async record(
    repositoryName: string,
    repositoryId: number,
    digest: Digest,
    body: Buffer,
    manifest: ParsedManifest,
    tag: string | undefined,
    events: OutboxEvent[],
    pinned?: { token: string; state: PinState },
  ): Promise<void> {
    const pin = pinned?.token ?? randomUUID();
    let immutable: string | undefined;
    try {
      immutable = tag === undefined ? undefined : await this.options.guard?.immutableTag(repositoryName, tag);
      const quota = await this.options.guard?.quota?.(repositoryName);
      // Pinned already unless the collector was removing an old copy then: pinForWrite waits for that.
      const replace =
        pinned && pinned.state.removingSince === undefined
          ? pinned.state.quarantined
          : await pinForWrite(this.meta, digest, pin, { removalLeaseMs: this.options.gcLeaseMs ?? 60_000, now: this.now });
      // Quarantined: the stored copy is corrupt or gone, and this body (its digest checked) replaces it.
      if (replace) await this.store.delete(digest);
      await this.store.put(digest, body);
      await this.meta.putManifest(
        {
          repositoryId,
          digest,
          mediaType: manifest.mediaType,
          artifactType: manifest.artifactType ?? null,
          subjectDigest: manifest.subject?.digest ?? null,
          configDigest: manifest.config?.digest ?? null,
          size: body.length,
          annotations: manifest.annotations ?? null,
          references: [
            ...requiredReferences(manifest).blobs.map((d) => ({ digest: d, kind: 'blob' as const })),
            ...manifest.manifests.map((m) => ({ digest: m.digest, kind: 'manifest' as const })),
          ],
        },
        tag,
        this.now(),
        events,
        { pin, tagMustNotMove: immutable !== undefined, quota, repositoryName },
      );
    } catch (err) {
      await this.meta.unpinBlob(digest, pin).catch(() => undefined);
      if (err instanceof MissingReferencesError) throw missingReferences(err.blobs, err.manifests);
      if (err instanceof TagMovedError) throw immutableTag(repositoryName, err.tag, immutable!, 'moved');
      if (err instanceof QuotaExceededError) throw quotaExceeded(err.project, err.kind, err.used, err.adding, err.limit);
      throw err;
    }
    this.options.onEvents?.();
  }

  /**
   * Resolves a tag or digest to stored content. `accept` is the client's Accept list; see
   * `negotiate` for what happens when the stored type is not among them.
   */
  /**
   * A manifest by tag or digest, negotiated against `accept`. With `pulledBy` it is a pull, recorded
   * as an event once `admit` (a project's pull policy) let it through.
   */
  async get(repositoryName: string, reference: string, accept: string[] = [], pulledBy?: string, admit?: (content: ManifestContent) => Promise<void>): Promise<ManifestContent> {
    const repository = await readableRepository(this.meta, repositoryName, this.options.repositories);
    const row = await this.resolve(repository, reference);
    const chosen = await this.negotiate(repository, row, reference, accept);
    const body = await this.bytes(chosen.digest);
    await admit?.({ digest: chosen.digest, mediaType: chosen.mediaType, size: chosen.size, body });
    if (pulledBy !== undefined && this.options.recordPull) {
      this.options.recordPull(
        event('pull', repositoryName, pulledBy, { digest: chosen.digest, tag: tryParseDigest(reference) ? undefined : reference, mediaType: chosen.mediaType, size: chosen.size }),
      );
    }
    return { digest: chosen.digest, mediaType: chosen.mediaType, size: chosen.size, body };
  }

  /** DELETE by digest removes the manifest and its tags; DELETE by tag removes only the tag. */
  async delete(repositoryName: string, reference: string, actor = 'system'): Promise<void> {
    const byDigest = tryParseDigest(reference);
    if (byDigest) {
      assertRepositoryName(repositoryName);
      const { digest } = byDigest;
      // Under the id last read for the name first, without reading the row (ids are never
      // reused, so what it finds is this repository's); a miss is confirmed against the row.
      const lastId = this.options.repositories?.lastId(repositoryName);
      let deleted = lastId !== undefined && (await this.deleteIn(repositoryName, lastId, digest, actor));
      if (!deleted) {
        const repository = await existingRepository(this.meta, repositoryName);
        deleted = repository.id !== lastId && (await this.deleteIn(repositoryName, repository.id, digest, actor));
      }
      if (!deleted) throw new BerthError('MANIFEST_UNKNOWN', { detail: { digest } });
      this.options.onEvents?.();
      return;
    }
    const repository = await existingRepository(this.meta, repositoryName);
    if (reference.includes(':')) throw new BerthError('DIGEST_INVALID', { message: `invalid digest: ${reference.slice(0, 100)}` });
    assertTag(reference);
    const rule = await this.options.guard?.immutableTag(repositoryName, reference);
    if (rule) throw immutableTag(repositoryName, reference, rule, 'deleted');
    const tagged = await this.meta.getTaggedManifest(repository.id, reference);
    const deleted = await this.meta.deleteTag(repository.id, reference, [event('delete', repositoryName, actor, { tag: reference, digest: tagged?.digest })]);
    if (!deleted) throw new BerthError('MANIFEST_UNKNOWN', { detail: { tag: reference } });
    this.options.onEvents?.();
  }

  /** Deletes manifest `digest` of the repository with id `repositoryId`, unless a tag of it is immutable; false when the repository does not hold it. */
  private async deleteIn(repositoryName: string, repositoryId: number, digest: Digest, actor: string): Promise<boolean> {
    const guard = this.options.guard;
    if (guard && (await guard.mayHaveImmutableTags?.(repositoryName)) !== false) {
      for (const { name } of await this.meta.tagsOf(repositoryId, digest)) {
        const rule = await guard.immutableTag(repositoryName, name);
        if (rule) throw immutableTag(repositoryName, name, rule, 'deleted with its manifest');
      }
    }
    return this.meta.deleteManifest(repositoryId, digest, [event('delete', repositoryName, actor, { digest })]);
  }

  /** Removes a repository with all its manifests, tags and blob links, with one `delete` event. */
  async deleteRepository(repositoryName: string, actor: string): Promise<void> {
    const repository = await existingRepository(this.meta, repositoryName);
    const uploads = await this.meta.deleteRepository(repository.id, [event('delete', repositoryName, actor, {})]);
    // Sessions in progress end with it; their bytes go now rather than stay until nothing would remove them.
    for (const id of uploads) await this.store.deleteUpload(id).catch(() => undefined);
    this.options.onEvents?.();
  }

  /** Points a tag at an existing manifest (management API), with a `tag` event. */
  async tag(repositoryName: string, reference: string, tag: string, actor: string): Promise<Digest> {
    assertTag(tag);
    const repository = await existingRepository(this.meta, repositoryName);
    const row = await this.resolve(repository, reference);
    const body = await this.bytes(row.digest);
    const manifest = parseManifest(body, row.mediaType);
    const previousDigest = await this.previousDigest(repository, tag, row.digest);
    await this.record(repositoryName, repository.id, row.digest, body, manifest, tag, [event('tag', repositoryName, actor, { digest: row.digest, tag, previousDigest, mediaType: row.mediaType, size: row.size })]);
    return row.digest;
  }

  /**
   * The digest `tag` names before it is moved to `digest`, for the event (rebuild hints read it:
   * images built on the old digest are due a rebuild). Read just before the change, through the
   * tag cache: two pushes racing to move the same tag may both name the same previous digest.
   */
  private async previousDigest(repository: RepositoryRow, tag: string, digest: Digest): Promise<Digest | undefined> {
    const current = await this.tags.manifest(repository, tag, () => this.meta.getTaggedManifest(repository.id, tag));
    return current && current.digest !== digest ? current.digest : undefined;
  }

  /** OCI dist-spec "Listing Referrers": an image index of the manifests whose subject is `digest`. */
  async referrers(repositoryName: string, digestValue: string, artifactType?: string): Promise<Buffer> {
    const subject = tryParseDigest(digestValue);
    if (!subject) throw new BerthError('DIGEST_INVALID', { message: `invalid digest: ${digestValue.slice(0, 100)}` });
    const repository = await this.meta.getRepository(repositoryName);
    const rows = repository ? await this.meta.listReferrers(repository.id, subject.digest, artifactType) : [];
    const manifests: Descriptor[] = rows.map((row) => {
      const descriptor: Descriptor = { mediaType: row.mediaType, digest: row.digest, size: row.size };
      if (row.artifactType) descriptor.artifactType = row.artifactType;
      if (row.annotations) descriptor.annotations = row.annotations;
      return descriptor;
    });
    return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
  }

  private async resolve(repository: RepositoryRow, reference: string): Promise<ManifestRow> {
    const byDigest = tryParseDigest(reference);
    if (!byDigest && reference.includes(':')) throw new BerthError('DIGEST_INVALID', { message: `invalid digest: ${reference.slice(0, 100)}` });
    // A reference that cannot be a tag names nothing: 404 on reads (as the conformance suite and
    // distribution expect), while pushes of such a tag are refused with TAG_INVALID.
    if (!byDigest && !isValidTag(reference)) throw new BerthError('MANIFEST_UNKNOWN', { detail: { tag: reference.slice(0, 200) } });
    const row = byDigest
      ? await this.meta.getManifest(repository.id, byDigest.digest)
      : await this.tags.manifest(repository, reference, () => this.meta.getTaggedManifest(repository.id, reference));
    if (!row) throw new BerthError('MANIFEST_UNKNOWN', { detail: byDigest ? { digest: reference } : { tag: reference } });
    return row;
  }

  /**
   * What CNCF distribution does, which clients rely on: an OCI image manifest is not served to
   * a client that does not accept it; an index asked for by tag by a client that accepts no
   * index gets its linux/amd64 image instead. Anything else is served as stored.
   */
  private async negotiate(repository: RepositoryRow, row: ManifestRow, reference: string, accept: string[]): Promise<ManifestRow> {
    if (accept.length === 0 || accept.includes('*/*') || accept.includes(row.mediaType)) return row;
    if (row.mediaType === MediaType.ociManifest) {
      throw new BerthError('MANIFEST_UNKNOWN', { message: 'OCI manifest found, but the Accept header does not allow it', detail: { mediaType: row.mediaType } });
    }
    if (indexManifestTypes.has(row.mediaType) && !tryParseDigest(reference)) {
      const index = parseManifest(await this.bytes(row.digest), row.mediaType);
      const fallback = defaultPlatform(index);
      const child = fallback && (await this.meta.getManifest(repository.id, fallback.digest));
      if (child) return child;
    }
    return row;
  }

  private async bytes(digest: Digest): Promise<Buffer> {
    const cached = this.content.get(digest);
    if (cached) return cached;
    let body: Buffer;
    try {
      body = await readAll(await this.store.read(digest));
    } catch (err) {
      if (err instanceof StoreNotFoundError) throw await this.quarantined(digest, 'missing');
      throw err;
    }
    // Small enough to check on every read from storage: corrupt content is never served.
    if (digestOf(body, parseDigest(digest).algorithm) !== digest) throw await this.quarantined(digest, 'corrupt');
    return this.remember(digest, body);
  }

  /** Quarantines content a read found corrupt or missing (a push of it repairs it); the error to answer with. */
  private async quarantined(digest: Digest, kind: Quarantine): Promise<BerthError> {
    await this.meta.quarantineBlob(digest, kind, this.now()).catch(() => undefined);
    return new BerthError('MANIFEST_UNKNOWN', { message: quarantineMessage('manifest', digest, kind), detail: { digest, quarantine: kind } });
  }

  /**
   * Caches the body in memory of its own: a small body may be a slice of Node's shared 8 KiB
   * buffer pool (a request body is), and caching the slice would keep the whole pool chunk
   * alive. Only such slices are copied.
   */
  private remember(digest: Digest, body: Buffer): Buffer {
    let owned = body;
    if (body.byteOffset !== 0 || body.byteLength !== body.buffer.byteLength) {
      owned = Buffer.allocUnsafeSlow(body.length);
      body.copy(owned);
    }
    this.content.set(digest, owned);
    return owned;
  }
}

/** OCI dist-spec DENIED, naming the tag and the rule (clients print the message). */
function immutableTag(repository: string, tag: string, rule: string, change: 'moved' | 'deleted' | 'deleted with its manifest'): BerthError {
  return new BerthError('DENIED', {
    message: `tag ${tag} of ${repository} is immutable and cannot be ${change} (${rule})`,
    detail: { repository, tag, rule },
  });
}

function missingReferences(blobs: Digest[], manifests: Digest[]): BerthError {
  return new BerthError('MANIFEST_BLOB_UNKNOWN', {
    message: `manifest references ${blobs.length + manifests.length} unknown blob(s) or manifest(s)`,
    detail: { blobs: blobs.slice(0, 50), manifests: manifests.slice(0, 50) },
  });
}

function event(type: OutboxEvent['type'], repository: string, operator: string, data: Omit<OutboxEvent['data'], 'operator' | 'repository'>): OutboxEvent {
  const clean = Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined)) as typeof data;
  return { type, project: projectOf(repository), repository, data: { operator, repository, ...clean } };
}

function defaultPlatform(index: ParsedManifest): Descriptor | undefined {
  return index.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64');
}
