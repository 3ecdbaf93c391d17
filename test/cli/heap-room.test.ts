import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HeapRoom, heapGrowingPercent, heapRoom } from '../../src/cli/heap-room.js';
import { hasLargeBody, largeBodyBytes } from '../../src/http/app.js';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { RegistryClient, randomBlob } from '../helpers/oci.js';
import { until } from '../helpers/wait.js';
import { execFileSync } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function room(settleMs = 50) {
  const flags: string[] = [];
  const collections: unknown[] = [];
  const heap = new HeapRoom({ setFlags: (flag) => flags.push(flag), collect: (options) => collections.push(options), settleMs });
  return { heap, flags, collections };
}

describe("the old generation's room", () => {
  it('is narrow from the start, wide while a large body arrives, and narrow again (with a full collection) once they all ended and settled', () => {
    vi.useFakeTimers();
    try {
      const { heap, flags, collections } = room(50);
      expect(flags).toEqual([`--heap-growing-percent=${heapGrowingPercent.otherwise}`]);
      expect(heap.widened).toBe(false);

      const first = heap.open();
      const second = heap.open();
      expect(flags).toEqual(['--heap-growing-percent=60', '--heap-growing-percent=150']);
      expect(heap.widened).toBe(true);

      first();
      first();
      vi.advanceTimersByTime(500);
      expect(heap.widened).toBe(true);

      second();
      vi.advanceTimersByTime(49);
      expect(heap.widened).toBe(true);
      // A push's next layer within the settling time keeps the room without setting it again.
      const third = heap.open();
      vi.advanceTimersByTime(500);
      expect(flags).toHaveLength(2);
      third();
      vi.advanceTimersByTime(50);
      expect(heap.widened).toBe(false);
      expect(flags).toEqual(['--heap-growing-percent=60', '--heap-growing-percent=150', '--heap-growing-percent=60']);
      expect(collections).toEqual([{ type: 'major', execution: 'async' }]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("is left to V8 when the operator chose the growth, on the command line or in NODE_OPTIONS", () => {
    expect(heapRoom(['--heap-growing-percent=300'], '')).toBeUndefined();
    expect(heapRoom([], '--inspect --heap_growing_percent=50')).toBeUndefined();
  });

  it('counts bodies declared at 1 MiB or more, and those of undeclared length, as large', () => {
    const request = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
    expect(hasLargeBody(request({ 'content-length': String(largeBodyBytes) }))).toBe(true);
    expect(hasLargeBody(request({ 'content-length': String(largeBodyBytes - 1) }))).toBe(false);
    expect(hasLargeBody(request({ 'transfer-encoding': 'chunked' }))).toBe(true);
    expect(hasLargeBody(request({}))).toBe(false);
  });
});

// Node.js 20's V8 (11.3) collects for body buffers when the old generation's limit is reached,
// which the room moves. Node.js 24's (13.6) made 21-24 full collections per 2 GiB of them
// whatever the growth, command line included: there the room has nothing to spare.
const v8Major = Number(process.versions.v8.split('.')[0]);
const roomMatters = v8Major === 11;
if (!roomMatters) console.warn(`SKIPPING the room's V8 check: measured on V8 11 (Node.js 20); this is V8 ${process.versions.v8}, whose collections for body buffers the growth does not move`);

describe('the room in V8', () => {
  // V8 finishes a full collection for external memory after concurrent marking, so a probe that
  // shares the cores with other test files can see fewer: CI once counted 1 narrow again (3-8
  // alone). Up to two more probes then; one where the room does not narrow again fails all three.
  it.skipIf(!roomMatters)('spares the full collections while a large body is open: none or one per GiB received, against three or more when narrow', { retry: 2 }, () => {
    const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
    const probe = join(root, 'test', 'helpers', 'heap-room-probe.mjs');
    const output = execFileSync(process.execPath, ['--max-semi-space-size=4', '--expose-gc', probe, join(root, 'dist', 'modules', 'cli', 'heap-room.js')], { encoding: 'utf8', timeout: 60_000 });
    const counts = JSON.parse(output) as { narrow: number; wide: number; narrowAgain: number };
    // Measured here: narrow 3-9, wide 0, narrow again 3-6 (V8 sets each limit after a full collection).
    expect(counts.wide).toBeLessThanOrEqual(1);
    expect(counts.narrow).toBeGreaterThanOrEqual(3);
    expect(counts.narrowAgain).toBeGreaterThanOrEqual(2);
  });
});

describe('large request bodies reaching the server', () => {
  let berth: TestBerth;
  const bodies = { started: 0, ended: 0 };

  beforeAll(async () => {
    berth = await startTestBerth({
      onLargeBody: () => {
        bodies.started++;
        return () => bodies.ended++;
      },
    });
  });
  afterAll(async () => {
    await berth?.stop();
  });

  it('are told of once each, monolithic or streamed in chunks, and end with their response, refused ones included; manifests and small blobs are not', async () => {
    const client = new RegistryClient(berth.url);
    const base = { ...bodies };
    const small = randomBlob(1000);
    expect((await client.pushBlob('heap/room', small)).status).toBe(201);
    expect(bodies).toEqual(base);

    const large = randomBlob(2 * largeBodyBytes);
    expect((await client.pushBlob('heap/room', large)).status).toBe(201);
    expect(bodies.started).toBe(base.started + 1);
    // The body ends with its response ('close' on it, just after the client has it).
    await until(() => bodies.ended === base.ended + 1, 2000, 'the large body to end');

    // A PATCH whose body is a stream goes out chunked, without a length.
    const location = await client.startUpload('heap/room');
    const chunk = randomBlob(1000);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(chunk.data);
        controller.close();
      },
    });
    const patch = await client.fetch(location, { method: 'PATCH', body: stream, duplex: 'half', headers: { 'Content-Type': 'application/octet-stream' } } as RequestInit);
    expect(patch.status).toBe(202);
    expect(bodies.started).toBe(base.started + 2);
    await until(() => bodies.ended === base.ended + 2, 2000, 'the streamed body to end');

    // Refused before its body is read: the request still ends, so the room does not stay wide.
    const refused = await client.fetch('/v2/heap/room/blobs/uploads/00000000-0000-4000-8000-000000000000', {
      method: 'PATCH',
      body: randomBlob(2 * largeBodyBytes).data,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(refused.status).toBe(404);
    expect(bodies.started).toBe(base.started + 3);
    await until(() => bodies.ended === base.ended + 3, 2000, 'the refused body to end');

    const image = await client.pushImage('heap/room', 'v1');
    expect(image.manifest.length).toBeLessThan(largeBodyBytes);
    expect(bodies).toEqual({ started: base.started + 3, ended: base.ended + 3 });
  });
});
