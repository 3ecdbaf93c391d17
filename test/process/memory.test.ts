import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { memoryOf, spawnBerth, type BerthProcess } from '../helpers/process.js';
import { RegistryClient } from '../helpers/oci.js';

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;

/** 1 GiB of varied bytes, generated as it is read (the test process never holds it either). */
function generated(total: number, hash: ReturnType<typeof createHash>): Readable {
  const pool = randomBytes(4 * MiB);
  let sent = 0;
  let round = 0;
  return new Readable({
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const size = Math.min(MiB, total - sent);
      const chunk = Buffer.from(pool.subarray((round * 7919) % (3 * MiB), ((round * 7919) % (3 * MiB)) + size));
      chunk.writeUInt32BE(round++, 0);
      hash.update(chunk);
      sent += size;
      this.push(chunk);
    },
  });
}

describe('memory stays bounded', () => {
  let dataDir: string;
  let server: BerthProcess;
  let skipReason: string | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-mem-'));
    const fs = await statfs(dataDir);
    if (fs.bavail * fs.bsize < 3 * GiB) skipReason = `needs 3 GiB free in ${tmpdir()}`;
    server = await spawnBerth(['--port', '0', '--data-dir', dataDir]);
  });
  afterAll(async () => {
    server?.proc.kill('SIGTERM');
    await server?.exited;
    await rm(dataDir, { recursive: true, force: true });
  });

  it('pushes and pulls a 1 GiB blob with less than 64 MiB of RSS growth', async (ctx) => {
    if (skipReason) {
      console.warn(`SKIPPED 1 GiB memory test: ${skipReason}`);
      ctx.skip();
    }
    const client = new RegistryClient(server.url);
    // Warm up: one small push and pull, so lazily loaded code is not counted as growth.
    const warm = randomBytes(MiB);
    const warmDigest = `sha256:${createHash('sha256').update(warm).digest('hex')}`;
    await client.fetch(`/v2/mem/warm/blobs/uploads/?digest=${warmDigest}`, { method: 'POST', body: warm });
    await (await client.fetch(`/v2/mem/warm/blobs/${warmDigest}`)).arrayBuffer();
    const before = await memoryOf(server.pid);

    const pushHash = createHash('sha256');
    const location = await client.startUpload('mem/big');
    const patch = await client.fetch(location, {
      method: 'PATCH',
      body: Readable.toWeb(generated(GiB, pushHash)) as ReadableStream,
      headers: { 'Content-Type': 'application/octet-stream' },
      duplex: 'half',
    } as RequestInit);
    expect(patch.status).toBe(202);
    expect(patch.headers.get('range')).toBe(`0-${GiB - 1}`);
    const digest = `sha256:${pushHash.digest('hex')}`;
    const put = await client.fetch(`${patch.headers.get('location')}?digest=${digest}`, { method: 'PUT' });
    expect(put.status).toBe(201);

    const pull = await client.fetch(`/v2/mem/big/blobs/${digest}`);
    expect(pull.headers.get('content-length')).toBe(String(GiB));
    const pullHash = createHash('sha256');
    let received = 0;
    for await (const chunk of pull.body as unknown as AsyncIterable<Uint8Array>) {
      pullHash.update(chunk);
      received += chunk.length;
    }
    expect(received).toBe(GiB);
    expect(`sha256:${pullHash.digest('hex')}`).toBe(digest);

    const after = await memoryOf(server.pid);
    const growth = after.peak - before.rss;
    console.log(`1 GiB push+pull: RSS before ${(before.rss / MiB).toFixed(1)} MiB, peak after ${(after.peak / MiB).toFixed(1)} MiB, growth ${(growth / MiB).toFixed(1)} MiB`);
    expect(growth).toBeLessThan(64 * MiB);
  }, 240_000);
});
