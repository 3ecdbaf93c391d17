/**
 * What one Berth instance tells the others when state they may cache has changed. Instances
 * share the database and storage, so the truth is always there; the bus only says "what you
 * remember about this is out of date".
 */
export type Invalidation =
  /** Users, robots, projects, members or groups changed: drop identity and permission caches. */
  | { kind: 'identity' }
  /** A token signing key was added or retired: reload the key set. */
  | { kind: 'signing-keys' }
  /**
   * A named cache (e.g. a future tag or manifest cache) changed: drop `keys`, or everything in
   * that cache when `keys` is absent.
   */
  | { kind: 'cache'; channel: string; keys?: string[] }
  /**
   * Delivered locally only, never sent: messages may have been missed (the bus reconnected), so
   * every cache should be dropped.
   */
  | { kind: 'resync' };

/** Kinds an instance may publish (`resync` is the bus's own, local signal). */
export type PublishedInvalidation = Exclude<Invalidation, { kind: 'resync' }>;

/** May return a promise: the sender's `publish` waits for it (re-reads done) before it resolves. */
export type InvalidationHandler = (invalidation: Invalidation, sender: string) => unknown;

export interface InvalidationBusStatus {
  /** `process`: reaches only this process (SQLite, one instance); `shared`: every instance on the database. */
  scope: 'process' | 'shared';
  /** False while a shared bus is reconnecting (caches then rely on their TTLs alone). */
  connected: boolean;
  /** Why it is not connected, when it is not. */
  error?: string;
}

/**
 * Publish/subscribe of invalidations between instances. An instance never receives its own
 * messages; every message says which instance sent it.
 */
export interface InvalidationBus {
  /** This instance's id, carried by everything it publishes. */
  readonly instanceId: string;
  /**
   * Tells the other instances, and resolves once every instance listening has applied it (or a
   * bounded wait for an unresponsive one has passed; see `fresh`), so a client's next request
   * sees the change on whichever instance it lands. Rejects when the message could not be sent
   * (callers log it; TTLs still bound staleness).
   */
  publish(invalidation: PublishedInvalidation): Promise<void>;
  /**
   * Whether this instance has provably heard, in order, every message another instance's
   * `publish` has resolved for so far: caches that must agree across instances at once (tags)
   * are read only while it is true. False while the bus is reconnecting or falling behind.
   */
  fresh(): boolean;
  /** Calls `handler` for every message from another instance (and for local `resync`); returns an unsubscribe function. */
  subscribe(handler: InvalidationHandler): () => void;
  status(): InvalidationBusStatus;
  close(): Promise<void>;
}
