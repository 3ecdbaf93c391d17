import { createHash, randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import { pgModule } from '../db/pg-module.js';
import type { Schema } from '../db/schema.js';
import type {
  Invalidation,
  InvalidationBus,
  InvalidationBusStatus,
  InvalidationHandler,
  PublishedInvalidation,
} from '../../ports/invalidation-bus.js';
import { HandlerSet } from './handler-set.js';

export interface PgInvalidationBusOptions {
  /** Connection string of the database every instance shares; the bus holds one connection of its own there. */
  url: string;
  /** Sends NOTIFY through the shared pool, so publishing needs no connection of its own. */
  db: Kysely<Schema>;
  instanceId?: string;
  /** The LISTEN channel; instances on one database must agree on it. */
  channel?: string;
  /** Delay before the first reconnect attempt, doubled per failure up to `maxReconnectDelayMs`. */
  minReconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /** How often the listening connection is probed, so a silently dead one is noticed. */
  heartbeatMs?: number;
  /** Bound on connecting, LISTEN and each probe. */
  timeoutMs?: number;
  /**
   * How long a message this instance heard of its own keeps its caches trusted, and the longest
   * a `publish` waits for an instance that does not confirm (see `fresh`).
   */
  freshnessMs?: number;
  /**
   * Instance ids that start with this are this process's sibling workers, told of every change
   * through their primary (whose relay the change's response waits for as well): a publish does
   * not wait for them, and they do not confirm to each other.
   */
  siblingPrefix?: string;
  /** Told when a `publish` stopped waiting for instances that did not confirm it (for logs). */
  onUnconfirmed?: (instanceIds: string[], invalidation: PublishedInvalidation) => void;
  /** A monotonic clock in milliseconds (durations only are compared, each on its own instance's clock). */
  now?: () => number;
  /** Told when the connection is made, lost or made again (for logs); the first failure counts too. */
  onStatus?: (status: InvalidationBusStatus) => void;
  /** A subscriber threw. */
  onError?: (err: unknown) => void;
}

/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. */
const maxPayloadBytes = 7900;
const wireVersion = 1;
/** Listening connections are named `berth-bus <channel hash> <instance id>`, so a publisher can list them. */
const applicationPrefix = 'berth-bus';

interface Waiter {
  /** Instances still to confirm; undefined until the NOTIFY has gone out and the listeners are known. */
  remaining?: Set<string>;
  /** Confirmations that came before the listeners were known. */
  early: Set<string>;
  done(): void;
}

/** Cache invalidations of one channel sent together: their keys (undefined: the whole cache), and the send they wait for. */
interface CacheBatch {
  keys: Set<string> | undefined;
  sent: Promise<void>;
}

/** What arrives on the channel: an invalidation, an instance's probe of itself, or confirmations. */
export type BusMessage =
  | { sender: string; seq?: number; invalidation: Invalidation }
  | { sender: string; seq: number; probe: true }
  | { sender: string; ack: { to: string; seqs: number[] } };

/**
 * Invalidations over PostgreSQL LISTEN/NOTIFY: the database the instances already share is the
 * bus, so scale-out needs no other service. A dedicated connection LISTENs; it is re-opened
 * with backoff whenever it is lost (database restart, network cut), and after every
 * re-connection subscribers get a local `resync`, because NOTIFYs sent meanwhile are gone.
 *
 * Read-your-writes across instances (docs/scale-out.md, "Caches that agree at once"):
 * - `publish` sends the message and, in the same statement, lists the listening connections of
 *   the other instances (pg_stat_activity); it resolves when each has confirmed that it applied
 *   the message, or `freshnessMs` after the commit for one that does not.
 * - An instance trusts its caches (`fresh`) only while its listening connection is up and it has
 *   heard on it, less than `freshnessMs` after sending, a message it sent itself (a probe while
 *   caches are in use, or any publish). NOTIFYs reach a listener in commit order, so hearing
 *   one's own message sent at time s means every message committed before s has been applied.
 * Together: after a publish resolves, an instance either confirmed it, or was not listening when
 * it was sent (it then drops all caches when it listens again), or trusts its caches only on an
 * own message sent after the commit, which it hears after the message. Only durations are
 * compared, each on its own instance's monotonic clock, so clocks need not agree.
 */
export class PgInvalidationBus implements InvalidationBus {
  readonly instanceId: string;
  private readonly channel: string;
  private readonly handlers: HandlerSet;
  private readonly lostClients = new WeakSet<pg.Client>();
  private client: pg.Client | undefined;
  private state: InvalidationBusStatus = { scope: 'shared', connected: false, error: 'not started' };
  private failures = 0;
  private everConnected = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly applicationName: string;
  private readonly freshnessMs: number;
  private readonly now: () => number;
  /** Sequence numbers of this instance's messages; confirmations name them. */
  private seq = 0;
  /** When each of our own messages not yet heard back was sent. */
  private readonly sentAt = new Map<number, number>();
  /** Send time of the latest own message heard back. */
  private heardOwnAt: number | undefined;
  private lastProbeAt = Number.NEGATIVE_INFINITY;
  private started = false;
  private readonly waiters = new Map<number, Waiter>();
  /** Confirmations to send, per publishing instance, flushed once per turn of the event loop. */
  private readonly acks = new Map<string, number[]>();
  private acksScheduled = false;
  /** Cache invalidations waiting for the end of this turn of the event loop, per channel (see `publish`). */
  private readonly batches = new Map<string, CacheBatch>();

  constructor(private readonly options: PgInvalidationBusOptions) {
    this.instanceId = options.instanceId ?? randomUUID();
    this.channel = options.channel ?? 'berth_invalidation';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.channel)) throw new Error(`invalid LISTEN channel name: ${this.channel}`);
    this.handlers = new HandlerSet(options.onError);
    this.freshnessMs = options.freshnessMs ?? 5000;
    this.now = options.now ?? (() => performance.now());
    this.applicationName = listenerName(this.channel, this.instanceId);
  }

  /** Sends one message from a process that does not listen otherwise (the CLI), waiting for the instances' confirmations. */
  static async tell(options: PgInvalidationBusOptions, invalidation: PublishedInvalidation): Promise<void> {
    const bus = new PgInvalidationBus(options);
    try {
      await bus.start();
      await bus.publish(invalidation);
    } finally {
      await bus.close();
    }
  }

  /** Opens the listening connection; resolves after the first attempt either way (later ones run in the background). */
  async start(): Promise<void> {
    this.started = true;
    await this.connect();
  }

  /**
   * Cache invalidations of one channel published in the same turn of the event loop go out as one
   * message with all their keys (a burst of pushes to one repository changes its tags many times
   * a second): one NOTIFY, and one confirmation per instance, for all of them. The message is the
   * one a single invalidation sends, so instances of an earlier release read it alike.
   */
  publish(invalidation: PublishedInvalidation): Promise<void> {
    if (invalidation.kind !== 'cache') return this.publishNow(invalidation);
    let batch = this.batches.get(invalidation.channel);
    if (!batch) {
      batch = { keys: new Set(), sent: this.sendBatch(invalidation.channel) };
      this.batches.set(invalidation.channel, batch);
    }
    if (invalidation.keys === undefined) batch.keys = undefined;
    else if (batch.keys) for (const key of invalidation.keys) batch.keys.add(key);
    return batch.sent;
  }

  /** Sends the cache invalidations of `channel` gathered in this turn of the event loop. */
  private async sendBatch(channel: string): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    const batch = this.batches.get(channel)!;
    this.batches.delete(channel);
    await this.publishNow({ kind: 'cache', channel, keys: batch.keys && [...batch.keys] });
  }

  private async publishNow(invalidation: PublishedInvalidation): Promise<void> {
    // A bus that never listens (nothing to confirm to) only sends.
    if (!this.started || this.closed) {
      await this.notify(encode(invalidation, this.instanceId));
      return;
    }
    const seq = this.nextSeq();
    let done!: () => void;
    const confirmed = new Promise<void>((resolve) => (done = resolve));
    const waiter: Waiter = { early: new Set(), done };
    this.waiters.set(seq, waiter);
    let listeners: string[];
    try {
      const result = await sql<{ listeners: string[] | null }>`
        select pg_notify(${this.channel}, ${encode(invalidation, this.instanceId, seq)}) as sent,
          array(select application_name from pg_stat_activity
                where datname = current_database() and application_name like ${`${applicationPrefix} ${channelTag(this.channel)} %`}) as listeners`.execute(this.options.db);
      listeners = result.rows[0]?.listeners ?? [];
    } catch (err) {
      this.waiters.delete(seq);
      throw err;
    }
    const others = listeners.map((name) => name.slice(name.lastIndexOf(' ') + 1)).filter((id) => id !== this.instanceId && !this.isSibling(id) && !waiter.early.has(id));
    if (others.length === 0) {
      this.waiters.delete(seq);
      return;
    }
    waiter.remaining = new Set(others);
    // Counted from after the commit: an instance that missed the message trusted its caches on an
    // own message sent before that commit, so its trust has lapsed when this wait ends.
    const timer = setTimeout(done, this.freshnessMs);
    await confirmed;
    clearTimeout(timer);
    this.waiters.delete(seq);
    if (waiter.remaining.size > 0 && !this.closed) this.options.onUnconfirmed?.([...waiter.remaining], invalidation);
  }

  fresh(): boolean {
    const now = this.now();
    const age = this.heardOwnAt === undefined ? Number.POSITIVE_INFINITY : now - this.heardOwnAt;
    // While caches are read, a probe every third of the window keeps them trusted.
    if (this.client && age >= this.freshnessMs / 3 && now - this.lastProbeAt >= this.freshnessMs / 3) this.probe(now);
    return this.client !== undefined && age < this.freshnessMs;
  }

  subscribe(handler: InvalidationHandler): () => void {
    return this.handlers.add(handler);
  }

  status(): InvalidationBusStatus {
    return { ...this.state };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiters.values()) waiter.done();
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeatTimer);
    const client = this.client;
    this.client = undefined;
    if (client) {
      this.lostClients.add(client);
      await withTimeout(client.end(), this.timeoutMs(), 'closing the LISTEN connection').catch(() => undefined);
    }
  }

  private timeoutMs(): number {
    return this.options.timeoutMs ?? 5000;
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new (pgModule().Client)({
      connectionString: this.options.url,
      keepAlive: true,
      connectionTimeoutMillis: this.timeoutMs(),
      application_name: this.applicationName,
    });
    // Without listeners an 'error' would crash the process; every loss leads to a reconnect.
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, new Error('the connection ended')));
    client.on('notification', (message) => {
      if (message.channel === this.channel && message.payload !== undefined) this.receive(message.payload);
    });
    try {
      await client.connect();
      await withTimeout(client.query(`LISTEN ${this.channel}`), this.timeoutMs(), 'LISTEN');
    } catch (err) {
      this.lost(client, err);
      return;
    }
    if (this.closed || this.lostClients.has(client)) {
      if (this.closed) await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.failures = 0;
    const reconnected = this.everConnected;
    this.everConnected = true;
    this.setState({ scope: 'shared', connected: true });
    this.heartbeatTimer = setInterval(() => void this.heartbeat(client), this.options.heartbeatMs ?? 30_000);
    this.heartbeatTimer.unref();
    if (reconnected) this.handlers.deliver({ kind: 'resync' }, this.instanceId);
  }

  private async heartbeat(client: pg.Client): Promise<void> {
    try {
      await withTimeout(client.query('select 1'), this.timeoutMs(), 'heartbeat');
    } catch (err) {
      this.lost(client, err);
    }
  }

  /** Forgets a broken connection (once, however many events report it) and schedules the next attempt. */
  private lost(client: pg.Client, err: unknown): void {
    if (this.lostClients.has(client)) return;
    this.lostClients.add(client);
    if (this.client === client) {
      this.client = undefined;
      // What was heard on the lost connection vouches for nothing sent while it is down.
      this.heardOwnAt = undefined;
      clearInterval(this.heartbeatTimer);
    }
    // Not awaited: on a dead socket end() may wait for a close that never comes.
    client.end().catch(() => undefined);
    if (this.closed) return;
    this.setState({ scope: 'shared', connected: false, error: (err as Error)?.message ?? String(err) });
    const min = this.options.minReconnectDelayMs ?? 100;
    const delay = Math.min(this.options.maxReconnectDelayMs ?? 5000, min * 2 ** Math.min(this.failures, 16));
    this.failures++;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
    this.retryTimer.unref();
  }

  private receive(payload: string): void {
    const message = decodeMessage(payload);
    if (!message) return;
    // Our own NOTIFYs come back to us too (they go out on a pool connection, not this one):
    // everything committed before them has been heard.
    if (message.sender === this.instanceId) {
      if ('seq' in message && message.seq !== undefined) this.heardOwn(message.seq);
      return;
    }
    if ('ack' in message) {
      if (message.ack.to === this.instanceId) for (const seq of message.ack.seqs) this.confirmed(seq, message.sender);
      return;
    }
    if ('probe' in message) return;
    const applied = this.handlers.deliver(message.invalidation, message.sender);
    const { seq, sender } = message;
    if (seq !== undefined && !this.isSibling(sender)) void applied.then(() => this.acknowledge(sender, seq));
  }

  private isSibling(id: string): boolean {
    return this.options.siblingPrefix !== undefined && id.startsWith(this.options.siblingPrefix);
  }

  private nextSeq(): number {
    const seq = ++this.seq;
    const now = this.now();
    this.sentAt.set(seq, now);
    // Messages never heard back (the connection was down) stop mattering once they are too old to trust on.
    if (this.sentAt.size > 1000) for (const [old, at] of this.sentAt) if (now - at >= this.freshnessMs) this.sentAt.delete(old);
    return seq;
  }

  private heardOwn(seq: number): void {
    const at = this.sentAt.get(seq);
    if (at === undefined) return;
    this.sentAt.delete(seq);
    if (this.heardOwnAt === undefined || at > this.heardOwnAt) this.heardOwnAt = at;
  }

  /** A NOTIFY to ourselves (others ignore it): when it comes back, our caches are known current as of `now`. */
  private probe(now: number): void {
    this.lastProbeAt = now;
    const seq = this.nextSeq();
    const payload = JSON.stringify({ v: wireVersion, sender: this.instanceId, seq, kind: 'probe' });
    this.notify(payload).catch(() => this.sentAt.delete(seq));
  }

  /** One NOTIFY on the channel, through the shared pool. */
  private async notify(payload: string): Promise<void> {
    await sql`select pg_notify(${this.channel}, ${payload})`.execute(this.options.db);
  }

  private confirmed(seq: number, sender: string): void {
    const waiter = this.waiters.get(seq);
    if (!waiter) return;
    if (!waiter.remaining) {
      waiter.early.add(sender);
      return;
    }
    waiter.remaining.delete(sender);
    if (waiter.remaining.size === 0) waiter.done();
  }

  /** Confirms a message once applied; confirmations made in one turn of the event loop go out together. */
  private acknowledge(to: string, seq: number): void {
    if (this.closed) return;
    const list = this.acks.get(to) ?? [];
    list.push(seq);
    this.acks.set(to, list);
    if (this.acksScheduled) return;
    this.acksScheduled = true;
    setImmediate(() => {
      this.acksScheduled = false;
      const batches = [...this.acks];
      this.acks.clear();
      for (const [recipient, seqs] of batches) {
        for (const payload of ackPayloads(this.instanceId, recipient, seqs)) {
          // A lost confirmation only makes the sender wait its bound.
          this.notify(payload).catch(() => undefined);
        }
      }
    });
  }

  private setState(state: InvalidationBusStatus): void {
    // Told on transitions only: a reconnect loop does not repeat itself in the log.
    const changed = state.connected !== this.state.connected || this.state.error === 'not started';
    this.state = state;
    if (changed) this.options.onStatus?.({ ...state });
  }
}

/** Short and stable per channel, so listeners of one channel can be told from another's in pg_stat_activity. */
function channelTag(channel: string): string {
  return createHash('sha256').update(channel).digest('hex').slice(0, 8);
}

/** The application_name of an instance's listening connection (at most 63 bytes with a UUID). */
export function listenerName(channel: string, instanceId: string): string {
  return `${applicationPrefix} ${channelTag(channel)} ${instanceId}`;
}

/**
 * The NOTIFY payload: versioned JSON naming the sender, with the sender's sequence number when
 * it waits for confirmations. A cache message too large to send drops its keys (meaning "everything").
 */
export function encode(invalidation: PublishedInvalidation, sender: string, seq?: number): string {
  const head = seq === undefined ? { v: wireVersion, sender } : { v: wireVersion, sender, seq };
  const text = JSON.stringify({ ...head, ...invalidation });
  if (Buffer.byteLength(text) <= maxPayloadBytes) return text;
  if (invalidation.kind === 'cache') return JSON.stringify({ ...head, kind: 'cache', channel: invalidation.channel.slice(0, 200) });
  throw new Error(`invalidation of kind ${invalidation.kind} does not fit a NOTIFY payload`);
}

/** Confirmations of `seqs` to `to`, split so each fits a NOTIFY payload. */
export function ackPayloads(sender: string, to: string, seqs: number[]): string[] {
  const payloads: string[] = [];
  const perPayload = Math.floor((maxPayloadBytes - 200 - sender.length - to.length) / 17);
  for (let i = 0; i < seqs.length; i += perPayload) {
    payloads.push(JSON.stringify({ v: wireVersion, sender, kind: 'ack', to, seqs: seqs.slice(i, i + perPayload) }));
  }
  return payloads;
}

/** Reads an invalidation; anything else (confirmations, probes, foreign payloads) gives undefined. */
export function decode(payload: string): { sender: string; seq?: number; invalidation: Invalidation } | undefined {
  const message = decodeMessage(payload);
  return message && 'invalidation' in message ? message : undefined;
}

/** Reads a payload; anything that is not a message this version understands is ignored (any database user can NOTIFY). */
export function decodeMessage(payload: string): BusMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const message = value as Record<string, unknown>;
  if (message.v !== wireVersion || typeof message.sender !== 'string' || message.sender === '') return undefined;
  const sender = message.sender;
  if (message.seq !== undefined && !isSeq(message.seq)) return undefined;
  const head = message.seq === undefined ? { sender } : { sender, seq: message.seq as number };
  switch (message.kind) {
    case 'identity':
    case 'signing-keys':
      return { ...head, invalidation: { kind: message.kind } };
    case 'cache': {
      if (typeof message.channel !== 'string' || message.channel === '') return undefined;
      if (message.keys === undefined) return { ...head, invalidation: { kind: 'cache', channel: message.channel } };
      if (!Array.isArray(message.keys) || !message.keys.every((k) => typeof k === 'string')) return undefined;
      return { ...head, invalidation: { kind: 'cache', channel: message.channel, keys: message.keys as string[] } };
    }
    case 'probe':
      return isSeq(message.seq) ? { sender, seq: message.seq, probe: true } : undefined;
    case 'ack':
      if (typeof message.to !== 'string' || !Array.isArray(message.seqs) || !message.seqs.every(isSeq)) return undefined;
      return { sender, ack: { to: message.to, seqs: message.seqs as number[] } };
    default:
      return undefined;
  }
}

function isSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
