import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileReadStream } from '../../src/adapters/storage/file-read-stream.js';
import { until } from '../helpers/wait.js';

/** A Writable that calls back at once but hands the chunk on later, as a Transform would. */
class HoldingSink extends Writable {
  private readonly held: Buffer[] = [];
  readonly hash = createHash('sha256');
  bytes = 0;

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.held.push(chunk);
    setTimeout(() => {
      const next = this.held.shift()!;
      this.hash.update(next);
      this.bytes += next.length;
    }, 2);
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    setTimeout(callback, 20);
  }
}

/** An HTTP server that answers every request with the stream `open` gives, recording the streams and the buffers it wrote. */
async function serving(open: () => Promise<FileReadStream>) {
  const streams: FileReadStream[] = [];
  const written: { buffers: Set<ArrayBufferLike>; writes: number }[] = [];
  const server = createServer(async (_req, res) => {
    const record = { buffers: new Set<ArrayBufferLike>(), writes: 0 };
    written.push(record);
    const write = res.write.bind(res) as (chunk: Buffer, cb?: (err?: Error | null) => void) => boolean;
    res.write = ((chunk: Buffer, cb?: (err?: Error | null) => void) => {
      record.writes++;
      record.buffers.add(chunk.buffer);
      return write(chunk, cb);
    }) as typeof res.write;
    const stream = await open();
    streams.push(stream);
    stream.pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { port, streams, written, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** GETs the body with a slow reader (so the server meets backpressure) and returns its sha256 and length. */
function slowGet(port: number, abortAfterBytes?: number): Promise<{ hash: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/' }, (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
        if (abortAfterBytes !== undefined && bytes >= abortAfterBytes) {
          req.destroy();
          resolve({ hash: '', bytes });
          return;
        }
        res.pause();
        setTimeout(() => res.resume(), 1);
      });
      res.on('end', () => resolve({ hash: hash.digest('hex'), bytes }));
      res.on('error', reject);
    });
    req.on('error', (err) => (abortAfterBytes === undefined ? reject(err) : undefined));
    req.end();
  });
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('FileReadStream', () => {
  let dir: string;
  let path: string;
  const data = randomBytes(5 * 1024 * 1024 + 12345);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-frs-'));
    path = join(dir, 'blob');
    await writeFile(path, data);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const openStream = async (start = 0, end = data.length - 1) => new FileReadStream(await open(path, 'r'), start, end);

  it('piped into an HTTP response, sends every byte through at most three reused buffers, each reused only once written', async () => {
    const server = await serving(() => openStream());
    try {
      expect(await slowGet(server.port)).toEqual({ hash: sha256(data), bytes: data.length });
      expect(server.written[0]!.writes).toBe(Math.ceil(data.length / (256 * 1024)));
      // At most three buffers (fewer when the socket drains fast, as under load in CI), reused for all 21 writes.
      expect(server.written[0]!.buffers.size).toBeLessThanOrEqual(3);
      expect(server.written[0]!.buffers.size).toBeGreaterThanOrEqual(1);
      expect(server.streams[0]!.destroyed).toBe(true); // the file is closed
    } finally {
      await server.close();
    }
  });

  it('piped into an HTTP response, sends exactly a byte range', async () => {
    const server = await serving(() => openStream(1000, 1_000_999));
    try {
      expect(await slowGet(server.port)).toEqual({ hash: sha256(data.subarray(1000, 1_001_000)), bytes: 1_000_000 });
    } finally {
      await server.close();
    }
  });

  it('stops reading and closes the file when the client goes away mid-way', async () => {
    // Larger than loopback's socket buffers can take in (4 MiB to send, up to 32 MiB to
    // receive here), so what the server wrote before the client left cannot be the whole file.
    const large = join(dir, 'large');
    const size = 64 * 1024 * 1024;
    await writeFile(large, Buffer.alloc(size, 7));
    const server = await serving(async () => new FileReadStream(await open(large, 'r'), 0, size - 1));
    try {
      const got = await slowGet(server.port, 600_000);
      expect(got.bytes).toBeLessThan(size);
      await until(() => server.streams[0]?.destroyed === true, 5000, 'the stream to close');
      expect(server.written[0]!.writes).toBeLessThan(Math.ceil(size / (256 * 1024)));
    } finally {
      await server.close();
    }
  });

  it('piped into any other Writable, gives it fresh buffers (one that holds chunks after its callback still gets the right bytes)', async () => {
    const stream = await openStream();
    const sink = new HoldingSink();
    stream.pipe(sink);
    await finished(sink);
    expect(sink.bytes).toBe(data.length);
    expect(sink.hash.digest('hex')).toBe(sha256(data));
  });

  it('read as an ordinary stream, yields the same bytes in fresh buffers', async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of await openStream()) chunks.push(chunk as Buffer);
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(data));
    expect(new Set(chunks.map((c) => c.buffer)).size).toBe(chunks.length);
  });

  it('fails, rather than ends cleanly, when the file is shorter than promised', async () => {
    const short = join(dir, 'short');
    await writeFile(short, data.subarray(0, 600_000));
    const stream = new FileReadStream(await open(short, 'r'), 0, 999_999);
    await truncate(short, 500_000);
    const sink = new HoldingSink();
    stream.pipe(sink);
    const error = await new Promise<Error>((resolve) => stream.once('error', resolve));
    expect(error.message).toBe('file ended 500000 bytes early');
  });

  it('piped into an HTTP response from a file shorter than promised, errors (the server then drops the connection)', async () => {
    const short = join(dir, 'short-http');
    await writeFile(short, data.subarray(0, 600_000));
    const errors: Error[] = [];
    const server = createServer(async (_req, res) => {
      const stream = new FileReadStream(await open(short, 'r'), 0, 999_999);
      stream.once('error', (err) => {
        errors.push(err);
        res.destroy();
      });
      await truncate(short, 500_000);
      res.setHeader('Content-Length', '1000000');
      stream.pipe(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      await expect(slowGet((server.address() as AddressInfo).port)).rejects.toThrow(/aborted|socket hang up/);
      expect(errors.map((e) => e.message)).toEqual(['file ended 500000 bytes early']);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
