/** The kinds of things that happen (shared/DESIGN.md "Events and integrations"). */
export const eventTypes = ['push', 'pull', 'delete', 'tag', 'quota', 'scan', 'policy', 'rebuild', 'lint', 'test', 'gc', 'scrub', 'replication'] as const;
export type EventType = (typeof eventTypes)[number];
/** Types that are about the whole registry, not a project: no project webhook receives them. */
export const systemEventTypes: readonly EventType[] = ['test', 'gc', 'scrub', 'replication'];

export interface EventData {
  /** Who did it (username, robot name, anonymous). */
  operator: string;
  repository: string;
  digest?: string;
  tag?: string;
  /** The digest `tag` named before this push or tag event moved it (absent when the tag is new or already named `digest`). */
  previousDigest?: string;
  mediaType?: string;
  size?: number;
  /** A push: whether it created the manifest in its repository (false: the artifact was there, pushed again). */
  created?: boolean;
  /** What else the event carries (a garbage-collection run's figures). */
  details?: Record<string, unknown>;
}

export interface OutboxEvent {
  type: EventType;
  project: string | null;
  repository: string | null;
  data: EventData;
}

export interface StoredEvent extends OutboxEvent {
  id: number;
  createdAt: number;
}

/**
 * The transactional outbox. Changes write their events in their own transaction (see the
 * `events` parameters of MetadataStore); this port reads them back for consumers.
 */
export interface EventStore {
  /** Appends events outside any other change (pulls). */
  append(events: OutboxEvent[], now: number): Promise<void>;
  get(id: number): Promise<StoredEvent | undefined>;
  /** Newest event id, and how far a consumer has read (for lag metrics). */
  positions(consumer: string): Promise<{ newest: number; consumed: number; oldestUnconsumedAt: number | null }>;
  /** Events older than `before` that every consumer has read are removed. */
  prune(before: number): Promise<number>;
}
