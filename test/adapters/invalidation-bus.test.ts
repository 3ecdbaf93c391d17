import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { LocalInvalidationHub } from '../../src/adapters/bus/local-invalidation-bus.js';
import { PgInvalidationBus, type PgInvalidationBusOptions, ackPayloads, decode, decodeMessage, encode, listenerName } from '../../src/adapters/bus/pg-invalidation-bus.js';
import { connect, type Database } from '../../src/adapters/db/connect.js';
import type { Invalidation, InvalidationBus, InvalidationBusStatus, PublishedInvalidation } from '../../src/ports/invalidation-bus.js';
import { createTempDatabase, pgUnavailableReason, type TempDatabase } from '../helpers/pg.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { until } from '../helpers/wait.js';

const pgSkip = await pgUnavailableReason();
if (pgSkip) console.warn(`SKIPPING PostgreSQL invalidation-bus tests: ${pgSkip}`);

type Heard = Array<{ invalidation: Invalidation; sender: string }>;

function recorder(bus: InvalidationBus): Heard {
  const heard: Heard = [];
  bus.subscribe((invalidation, sender) => heard.push({ invalidation, sender }));
  return heard;
}

interface BusPair {
  a: InvalidationBus;
  b: InvalidationBus;
  close(): Promise<void>;
}

/** The behaviour every InvalidationBus adapter has. */
function busContract(name: string, skip: string | undefined, open: () => Promise<BusPair>): void {
  describe.skipIf(skip !== undefined)(`InvalidationBus contract: ${name}`, () => {
    let pair: BusPair;
    beforeAll(async () => {
      pair = await open();
    });
    afterAll(async () => {
      await pair?.close();
    });

    it('delivers a message to the other instance with the sender id, never back to the sender', async () => {
      const heardA = recorder(pair.a);
      const heardB = recorder(pair.b);
      await pair.a.publish({ kind: 'identity' });
      await until(() => heardB.length === 1, 3000, 'B to hear A');
      expect(heardB).toEqual([{ invalidation: { kind: 'identity' }, sender: pair.a.instanceId }]);
      await pair.b.publish({ kind: 'signing-keys' });
      await until(() => heardA.length === 1, 3000, 'A to hear B');
      expect(heardA).toEqual([{ invalidation: { kind: 'signing-keys' }, sender: pair.b.instanceId }]);
      // Neither heard itself (a last message from B, once A has it, proves B's own were dropped).
      expect(heardB).toHaveLength(1);
      expect(pair.a.instanceId).not.toBe(pair.b.instanceId);
    });

    it('carries a named cache channel with or without keys', async () => {
      const heard = recorder(pair.b);
      await pair.a.publish({ kind: 'cache', channel: 'tags', keys: ['library/alpine:3.20', 'library/nginx:1'] });
      await pair.a.publish({ kind: 'cache', channel: 'manifests' });
      await until(() => heard.length === 2, 3000, 'two cache messages');
      expect(heard.map((h) => h.invalidation)).toEqual([
        { kind: 'cache', channel: 'tags', keys: ['library/alpine:3.20', 'library/nginx:1'] },
        { kind: 'cache', channel: 'manifests' },
      ]);
    });

    it('stops delivering to a handler that unsubscribed; a throwing handler does not stop the others', async () => {
      const kept: Invalidation[] = [];
      const dropped: Invalidation[] = [];
      const unsubscribe = pair.b.subscribe((i) => dropped.push(i));
      pair.b.subscribe(() => {
        throw new Error('a broken subscriber');
      });
      pair.b.subscribe((i) => kept.push(i));
      unsubscribe();
      await pair.a.publish({ kind: 'identity' });
      await until(() => kept.length === 1, 3000, 'the kept handler');
      expect(dropped).toEqual([]);
    });
  });
}

busContract('in-process hub', undefined, async () => {
  const hub = new LocalInvalidationHub();
  const a = hub.bus();
  const b = hub.bus();
  return { a, b, close: async () => (await a.close(), await b.close()) };
});

busContract('PostgreSQL LISTEN/NOTIFY', pgSkip, async () => {
  const temp = await createTempDatabase();
  const dbA = connect({ url: temp.url, poolSize: 2 });
  const dbB = connect({ url: temp.url, poolSize: 2 });
  const a = new PgInvalidationBus({ url: temp.url, db: dbA.db, onError: () => undefined });
  const b = new PgInvalidationBus({ url: temp.url, db: dbB.db, onError: () => undefined });
  await Promise.all([a.start(), b.start()]);
  return {
    a,
    b,
    async close() {
      await a.close();
      await b.close();
      await dbA.db.destroy();
      await dbB.db.destroy();
      await temp.drop();
    },
  };
});

describe('in-process bus status', () => {
  it('says it reaches this process only', async () => {
    const bus = new LocalInvalidationHub().bus('solo');
    expect(bus.status()).toEqual({ scope: 'process', connected: true });
    expect(bus.instanceId).toBe('solo');
    await bus.close();
  });
});

describe('NOTIFY payloads', () => {
  it('round-trips every kind and names the sender', () => {
    const all: PublishedInvalidation[] = [{ kind: 'identity' }, { kind: 'signing-keys' }, { kind: 'cache', channel: 'tags', keys: ['a'] }, { kind: 'cache', channel: 'x' }];
    for (const invalidation of all) {
      expect(decode(encode(invalidation, 'sender-1'))).toEqual({ sender: 'sender-1', invalidation });
    }
  });

  it('drops the keys of a cache message too large for NOTIFY (so it means "everything")', () => {
    const keys = Array.from({ length: 1000 }, (_, i) => `library/repository-${i}:tag`);
    const payload = encode({ kind: 'cache', channel: 'tags', keys }, 's');
    expect(Buffer.byteLength(payload)).toBeLessThan(8000);
    expect(decode(payload)).toEqual({ sender: 's', invalidation: { kind: 'cache', channel: 'tags' } });
  });

  it('carries the sequence number confirmations name, probes and confirmations (split to fit)', () => {
    expect(decodeMessage(encode({ kind: 'identity' }, 'a', 7))).toEqual({ sender: 'a', seq: 7, invalidation: { kind: 'identity' } });
    expect(decodeMessage('{"v":1,"sender":"a","seq":8,"kind":"probe"}')).toEqual({ sender: 'a', seq: 8, probe: true });
    // A probe or a confirmation is not an invalidation.
    expect(decode('{"v":1,"sender":"a","seq":8,"kind":"probe"}')).toBeUndefined();
    const seqs = Array.from({ length: 1000 }, (_, i) => 1_000_000_000 + i);
    const payloads = ackPayloads('b', 'a', seqs);
    expect(payloads.length).toBeGreaterThan(1);
    for (const payload of payloads) expect(Buffer.byteLength(payload)).toBeLessThan(7900);
    const acks = payloads.map((p) => decodeMessage(p));
    expect(acks.every((m) => m !== undefined && 'ack' in m && m.sender === 'b' && m.ack.to === 'a')).toBe(true);
    expect(acks.flatMap((m) => (m && 'ack' in m ? m.ack.seqs : []))).toEqual(seqs);
    for (const bad of ['{"v":1,"sender":"a","seq":0,"kind":"identity"}', '{"v":1,"sender":"a","seq":"1","kind":"identity"}', '{"v":1,"sender":"a","kind":"probe"}', '{"v":1,"sender":"b","kind":"ack","to":"a","seqs":[-1]}', '{"v":1,"sender":"b","kind":"ack","seqs":[1]}']) {
      expect(decodeMessage(bad)).toBeUndefined();
    }
  });

  it('ignores anything that is not a message of this version', () => {
    for (const payload of ['', 'not json', '42', 'null', '{"v":2,"sender":"s","kind":"identity"}', '{"v":1,"kind":"identity"}', '{"v":1,"sender":"s","kind":"resync"}', '{"v":1,"sender":"s","kind":"cache"}', '{"v":1,"sender":"s","kind":"cache","channel":"t","keys":[1]}', '{"v":1,"sender":"s","kind":"drop-tables"}']) {
      expect(decode(payload)).toBeUndefined();
    }
  });
});

describe.skipIf(pgSkip !== undefined)('PostgreSQL bus connection', () => {
  let temp: TempDatabase;
  let database: Database;
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    temp = await createTempDatabase();
    database = connect({ url: temp.url, poolSize: 2 });
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    await database?.db.destroy();
    await temp?.drop();
  });

  /** A bus that reaches PostgreSQL through a relay the test can cut. */
  async function busBehindProxy(statuses: InvalidationBusStatus[], more: Partial<PgInvalidationBusOptions> = {}): Promise<{ bus: PgInvalidationBus; proxy: TcpProxy }> {
    const target = new URL(temp.url);
    const proxy = new TcpProxy(target.hostname, Number(target.port));
    await proxy.start();
    const url = new URL(temp.url);
    url.port = String(proxy.port);
    const bus = new PgInvalidationBus({ url: url.toString(), db: database.db, minReconnectDelayMs: 20, maxReconnectDelayMs: 200, timeoutMs: 2000, onStatus: (s) => statuses.push(s), ...more });
    cleanups.push(async () => {
      await bus.close();
      await proxy.cut();
    });
    return { bus, proxy };
  }

  it('reconnects after the LISTEN connection is cut, says resync, and hears new messages', async () => {
    const statuses: InvalidationBusStatus[] = [];
    const { bus, proxy } = await busBehindProxy(statuses);
    const sender = new PgInvalidationBus({ url: temp.url, db: database.db });
    cleanups.push(() => sender.close());
    const heard = recorder(bus);
    await bus.start();
    expect(bus.status()).toEqual({ scope: 'shared', connected: true });

    await proxy.cut();
    await until(() => !bus.status().connected, 3000, 'the bus to notice the cut');
    // While cut, messages are lost; the bus keeps trying, without crashing anything.
    await sender.publish({ kind: 'identity' });
    await new Promise((r) => setTimeout(r, 300));
    expect(bus.status()).toMatchObject({ scope: 'shared', connected: false });
    expect(heard).toEqual([]);

    await proxy.start();
    await until(() => bus.status().connected, 5000, 'the bus to reconnect');
    expect(heard).toEqual([{ invalidation: { kind: 'resync' }, sender: bus.instanceId }]);
    await sender.publish({ kind: 'identity' });
    await until(() => heard.length === 2, 3000, 'a message after reconnecting');
    expect(heard[1]).toEqual({ invalidation: { kind: 'identity' }, sender: sender.instanceId });
    expect(statuses.map((s) => s.connected)).toEqual([true, false, true]);
  });

  it('starts while PostgreSQL is unreachable and connects once it is back', async () => {
    const statuses: InvalidationBusStatus[] = [];
    const { bus, proxy } = await busBehindProxy(statuses);
    await proxy.cut();
    await bus.start();
    expect(bus.status().connected).toBe(false);
    expect(bus.status().error).toMatch(/ECONNREFUSED|connect/);
    await proxy.start();
    await until(() => bus.status().connected, 5000, 'the bus to connect');
  });

  it('resolves a publish only once every listening instance has applied it, however slow its connection', async () => {
    const { bus: slow, proxy } = await busBehindProxy([]);
    let applied = false;
    slow.subscribe(async () => {
      await new Promise((r) => setTimeout(r, 100));
      applied = true;
    });
    await slow.start();
    proxy.serverToClientDelayMs = 200;
    const unconfirmed: string[] = [];
    const sender = new PgInvalidationBus({ url: temp.url, db: database.db, onUnconfirmed: (ids) => unconfirmed.push(...ids) });
    cleanups.push(() => sender.close());
    await sender.start();
    const started = performance.now();
    await sender.publish({ kind: 'identity' });
    const took = performance.now() - started;
    // 200 ms on the way to the slow instance, 100 ms applying, then its confirmation.
    expect(applied).toBe(true);
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(4000);
    expect(unconfirmed).toEqual([]);
  });

  it('sends the cache invalidations of one channel made in one turn as one message, resolving each once it is applied', async () => {
    const { bus: listener } = await busBehindProxy([]);
    const heard: Invalidation[] = [];
    listener.subscribe(async (invalidation) => {
      await new Promise((r) => setTimeout(r, 50));
      heard.push(invalidation);
    });
    await listener.start();
    const sender = new PgInvalidationBus({ url: temp.url, db: database.db });
    cleanups.push(() => sender.close());
    await sender.start();
    const repositories: PublishedInvalidation = { kind: 'cache', channel: 'repositories', keys: ['7', '9'] };
    const tags: PublishedInvalidation = { kind: 'cache', channel: 'tags' };
    const identity: PublishedInvalidation = { kind: 'identity' };
    // For each publish, whether the listener had applied the message carrying it when it resolved.
    const appliedWhenResolved: boolean[] = [];
    const publish = (invalidation: PublishedInvalidation, carrier: Invalidation) =>
      sender.publish(invalidation).then(() => appliedWhenResolved.push(heard.some((h) => JSON.stringify(h) === JSON.stringify(carrier))));
    // Pushes to repositories 7 and 9 in one turn, a whole-cache drop of another channel, an identity change.
    await Promise.all([
      publish({ kind: 'cache', channel: 'repositories', keys: ['7'] }, repositories),
      publish({ kind: 'cache', channel: 'repositories', keys: ['9', '7'] }, repositories),
      publish({ kind: 'cache', channel: 'repositories', keys: ['7'] }, repositories),
      publish({ kind: 'cache', channel: 'tags' }, tags),
      publish({ kind: 'cache', channel: 'tags', keys: ['a'] }, tags),
      publish(identity, identity),
    ]);
    expect(heard).toHaveLength(3);
    expect(heard).toEqual(expect.arrayContaining([identity, repositories, tags]));
    expect(appliedWhenResolved).toEqual([true, true, true, true, true, true]);
    // The next turn's invalidation is a message of its own.
    await sender.publish({ kind: 'cache', channel: 'repositories', keys: ['7'] });
    expect(heard.slice(3)).toEqual([{ kind: 'cache', channel: 'repositories', keys: ['7'] }]);
  });

  it('waits at most freshnessMs for a listener that never confirms, and names it', async () => {
    const mute = new pg.Client({ connectionString: temp.url, application_name: listenerName('berth_invalidation', 'mute-instance') });
    await mute.connect();
    cleanups.push(() => mute.end());
    await mute.query('LISTEN berth_invalidation');
    const unconfirmed: string[][] = [];
    const sender = new PgInvalidationBus({ url: temp.url, db: database.db, freshnessMs: 400, onUnconfirmed: (ids) => unconfirmed.push(ids) });
    cleanups.push(() => sender.close());
    await sender.start();
    const started = performance.now();
    await sender.publish({ kind: 'identity' });
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(350);
    expect(took).toBeLessThan(2000);
    expect(unconfirmed).toEqual([['mute-instance']]);
  });

  it('neither waits for nor confirms to a sibling worker (told through its primary), but still waits for other instances', async () => {
    // A sibling that never confirms (as a mute listener would not): a publish does not wait for it.
    const mute = new pg.Client({ connectionString: temp.url, application_name: listenerName('berth_invalidation', '0123456789abcdef.mute') });
    await mute.connect();
    cleanups.push(() => mute.end());
    await mute.query('LISTEN berth_invalidation');
    const unconfirmed: string[][] = [];
    const sender = new PgInvalidationBus({ url: temp.url, db: database.db, instanceId: '0123456789abcdef.sender', siblingPrefix: '0123456789abcdef.', freshnessMs: 400, onUnconfirmed: (ids) => unconfirmed.push(ids) });
    cleanups.push(() => sender.close());
    await sender.start();
    let started = performance.now();
    await sender.publish({ kind: 'identity' });
    expect(performance.now() - started).toBeLessThan(300);
    expect(unconfirmed).toEqual([]);

    // A sibling hears it and applies it, without a confirmation on the channel.
    const sibling = new PgInvalidationBus({ url: temp.url, db: database.db, instanceId: '0123456789abcdef.sibling', siblingPrefix: '0123456789abcdef.' });
    cleanups.push(() => sibling.close());
    const heard = recorder(sibling);
    await sibling.start();
    const watcher = new pg.Client({ connectionString: temp.url });
    await watcher.connect();
    cleanups.push(() => watcher.end());
    const seen: string[] = [];
    watcher.on('notification', (m) => seen.push(m.payload ?? ''));
    await watcher.query('LISTEN berth_invalidation');
    await sender.publish({ kind: 'signing-keys' });
    await until(() => heard.length === 1, 3000, 'the sibling to hear it');
    await new Promise((r) => setTimeout(r, 300));
    expect(seen.filter((p) => p.includes('"kind":"ack"'))).toEqual([]);

    // Another instance (not a sibling) that does not confirm is still waited for.
    const other = new pg.Client({ connectionString: temp.url, application_name: listenerName('berth_invalidation', 'fedcba9876543210.other') });
    await other.connect();
    cleanups.push(() => other.end());
    await other.query('LISTEN berth_invalidation');
    started = performance.now();
    await sender.publish({ kind: 'identity' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(350);
    expect(unconfirmed).toEqual([['fedcba9876543210.other']]);
  });

  it('resolves at once with no other instance listening (a lone instance, or only a sender that does not listen)', async () => {
    const bus = new PgInvalidationBus({ url: temp.url, db: database.db, freshnessMs: 3000 });
    cleanups.push(() => bus.close());
    await bus.start();
    const started = performance.now();
    await bus.publish({ kind: 'identity' });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('trusts its caches only while it hears its own messages back in time', async () => {
    const { bus, proxy } = await busBehindProxy([], { freshnessMs: 600 });
    expect(bus.fresh()).toBe(false);
    await bus.start();
    // The first question sends a probe; once it is heard, the caches are trusted.
    await until(() => bus.fresh(), 3000, 'the probe to come back');
    // The connection falls behind: its probes are not heard, and trust lapses within the window.
    proxy.serverToClientDelayMs = 60_000;
    const behind = performance.now();
    await until(() => !bus.fresh(), 3000, 'trust to lapse');
    expect(performance.now() - behind).toBeLessThan(1000);
    await new Promise((r) => setTimeout(r, 300));
    expect(bus.fresh()).toBe(false);
  });

  it('ignores NOTIFYs on its channel that are not Berth messages', async () => {
    const bus = new PgInvalidationBus({ url: temp.url, db: database.db });
    cleanups.push(() => bus.close());
    const heard = recorder(bus);
    await bus.start();
    const client = new pg.Client({ connectionString: temp.url });
    await client.connect();
    try {
      await client.query(`NOTIFY berth_invalidation, 'garbage'`);
      await client.query(`NOTIFY berth_invalidation, '{"v":1,"sender":"x","kind":"resync"}'`);
      await client.query(`NOTIFY berth_invalidation, '{"v":1,"sender":"x","kind":"identity"}'`);
    } finally {
      await client.end();
    }
    await until(() => heard.length === 1, 3000, 'the valid message');
    expect(heard).toEqual([{ invalidation: { kind: 'identity' }, sender: 'x' }]);
  });
});
