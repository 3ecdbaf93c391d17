import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
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
  /** Told when the connection is made, lost or made again (for logs); the first failure counts too. */
  onStatus?: (status: InvalidationBusStatus) => void;
  /** A subscriber threw. */
  onError?: (err: unknown) => void;
}

/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. */
const maxPayloadBytes = 7900;
const wireVersion = 1;

/**
 * Invalidations over PostgreSQL LISTEN/NOTIFY: the database the instances already share is the
 * bus, so scale-out needs no other service. A dedicated connection LISTENs; it is re-opened
 * with backoff whenever it is lost (database restart, network cut), and after every
 * re-connection subscribers get a local `resync`, because NOTIFYs sent meanwhile are gone.
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

  constructor(private readonly options: PgInvalidationBusOptions) {
    this.instanceId = options.instanceId ?? randomUUID();
    this.channel = options.channel ?? 'berth_invalidation';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.channel)) throw new Error(`invalid LISTEN channel name: ${this.channel}`);
    this.handlers = new HandlerSet(options.onError);
  }

  /** Opens the listening connection; resolves after the first attempt either way (later ones run in the background). */
  async start(): Promise<void> {
    await this.connect();
  }

  async publish(invalidation: PublishedInvalidation): Promise<void> {
    await sql`select pg_notify(${this.channel}, ${encode(invalidation, this.instanceId)})`.execute(this.options.db);
  }

  subscribe(handler: InvalidationHandler): () => void {
    return this.handlers.add(handler);
  }

  status(): InvalidationBusStatus {
    return { ...this.state };
  }

  async close(): Promise<void> {
    this.closed = true;
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
    const client = new pg.Client({
      connectionString: this.options.url,
      keepAlive: true,
      connectionTimeoutMillis: this.timeoutMs(),
      application_name: 'berth-invalidation',
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
    this.heartbeatTimer = setInterval(() => void this.probe(client), this.options.heartbeatMs ?? 30_000);
    this.heartbeatTimer.unref();
    if (reconnected) this.handlers.deliver({ kind: 'resync' }, this.instanceId);
  }

  private async probe(client: pg.Client): Promise<void> {
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
    const message = decode(payload);
    // Our own NOTIFYs come back to us too (they go out on a pool connection, not this one).
    if (!message || message.sender === this.instanceId) return;
    this.handlers.deliver(message.invalidation, message.sender);
  }

  private setState(state: InvalidationBusStatus): void {
    // Told on transitions only: a reconnect loop does not repeat itself in the log.
    const changed = state.connected !== this.state.connected || this.state.error === 'not started';
    this.state = state;
    if (changed) this.options.onStatus?.({ ...state });
  }
}

/** The NOTIFY payload: versioned JSON naming the sender. A cache message too large to send drops its keys (meaning "everything"). */
export function encode(invalidation: PublishedInvalidation, sender: string): string {
  const text = JSON.stringify({ v: wireVersion, sender, ...invalidation });
  if (Buffer.byteLength(text) <= maxPayloadBytes) return text;
  if (invalidation.kind === 'cache') return JSON.stringify({ v: wireVersion, sender, kind: 'cache', channel: invalidation.channel.slice(0, 200) });
  throw new Error(`invalidation of kind ${invalidation.kind} does not fit a NOTIFY payload`);
}

/** Reads a payload; anything that is not a message this version understands is ignored (any database user can NOTIFY). */
export function decode(payload: string): { sender: string; invalidation: Invalidation } | undefined {
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
  switch (message.kind) {
    case 'identity':
    case 'signing-keys':
      return { sender, invalidation: { kind: message.kind } };
    case 'cache': {
      if (typeof message.channel !== 'string' || message.channel === '') return undefined;
      if (message.keys === undefined) return { sender, invalidation: { kind: 'cache', channel: message.channel } };
      if (!Array.isArray(message.keys) || !message.keys.every((k) => typeof k === 'string')) return undefined;
      return { sender, invalidation: { kind: 'cache', channel: message.channel, keys: message.keys as string[] } };
    }
    default:
      return undefined;
  }
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
