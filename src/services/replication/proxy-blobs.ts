import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LeaseStore } from '../../ports/lease-store.js';
import type { Spool, SpoolFile } from '../../ports/spool.js';
import { UpstreamError, type UpstreamRegistry } from '../../ports/upstream-registry.js';

/** Where a blob is fetched from, and where it is kept once whole. */
export interface BlobSource {
  upstream: UpstreamRegistry;
  /** The repository's name upstream. */
  upstreamName: string;
  /** The proxy-cache repository here. */
  repository: string;
  digest: string;
}

export interface ProxyBlobsOptions {
  /** This Berth: where blobs are kept. */
  local: UpstreamRegistry;
  /** Files of blobs being fetched (dataDir/proxy-spool). */
  spool: Spool;
  leases?: { store: LeaseStore; owner: string };
}

/** A fetch another process holds: waited for until the blob is stored here, polled this often, this long. */
const pollMs = 200;
const waitMs = 10 * 60_000;
const leaseMs = 30_000;

/**
 * One fetch of a blob from the upstream into a spool file, hashed as it arrives, that any
 * number of readers follow while it is written, then stored here from the file.
 */
class Fetch extends EventEmitter {
  written = 0;
  size: number | undefined;
  failed: Error | undefined;
  complete = false;
  readonly sized: Promise<number>;
  readonly stored: Promise<void>;
  private resolveSize!: (size: number) => void;
  private rejectSize!: (err: Error) => void;

  constructor(readonly file: SpoolFile) {
    super();
    this.setMaxListeners(0);
    this.sized = new Promise((resolve, reject) => {
      this.resolveSize = resolve;
      this.rejectSize = reject;
    });
    this.sized.catch(() => undefined);
    this.stored = new Promise<void>((resolve, reject) => {
      this.once('stored', resolve);
      this.once('failed', reject);
    });
    this.stored.catch(() => undefined);
  }

  started(size: number): void {
    this.size = size;
    this.resolveSize(size);
  }

  progress(bytes: number): void {
    this.written += bytes;
    this.emit('progress');
  }

  finish(): void {
    this.complete = true;
    this.emit('progress');
  }

  fail(err: Error): void {
    this.failed = err;
    this.rejectSize(err);
    this.emit('progress');
    this.emit('failed', err);
  }

  /** A stream of the blob from its first byte, as far as it is written and on as more arrives. */
  async reader(): Promise<Readable> {
    return followingReader(this, await this.file.openReader());
  }
}

/** Reads `fetch`'s spool file from the start, waiting at its end for more until the fetch is complete or failed. */
function followingReader(fetch: Fetch, handle: Awaited<ReturnType<SpoolFile['openReader']>>): Readable {
  let position = 0;
  const next = (): Promise<void> => (fetch.failed || fetch.complete || position < fetch.written ? Promise.resolve() : new Promise((resolve) => fetch.once('progress', resolve)));
  return new Readable({
    async read(size) {
      try {
        for (;;) {
          if (fetch.failed) return this.destroy(fetch.failed);
          if (position < fetch.written) {
            const buffer = Buffer.allocUnsafe(Math.min(size, fetch.written - position, 1024 * 1024));
            const bytesRead = await handle.read(buffer, position);
            position += bytesRead;
            this.push(buffer.subarray(0, bytesRead));
            return;
          }
          if (fetch.complete) {
            this.push(null);
            return;
          }
          await next();
        }
      } catch (err) {
        this.destroy(err as Error);
      }
    },
    destroy(err, callback) {
      void handle.close().finally(() => callback(err));
    },
  });
}

/**
 * Blobs of proxy-cache projects on their way from the upstream (docs/replication.md): a client
 * asking for a blob that is not here yet gets the bytes as they arrive, while they are written
 * to a spool file; every other client (and the fill that stores the image) follows the same
 * fetch. Once whole and matching its digest, the blob is stored here from the file. Across
 * processes a lease names the one that fetches; the others wait until the blob is stored.
 */
export class ProxyBlobs {
  /** Fetches of this process by digest, set before any await so concurrent callers share one. */
  private readonly fetches = new Map<string, Promise<Fetch | 'elsewhere'>>();
  /** Fetches under way (to the spool, then into storage), awaited on close. */
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly options: ProxyBlobsOptions) {}

  /** Waits for fetches under way to end (stored or failed), at most `waitMs`. */
  async close(waitMs = 5_000): Promise<void> {
    await Promise.race([Promise.allSettled([...this.running]), sleep(waitMs)]);
  }

  /** The blob's bytes as they come (a fetch started or joined); undefined when it is stored here already. */
  async open(source: BlobSource): Promise<{ size: number; stream: Readable } | undefined> {
    if (await this.options.local.hasBlob(source.repository, source.digest)) return undefined;
    const fetch = await this.fetch(source);
    if (fetch === 'elsewhere') {
      await this.waitStored(source);
      return undefined;
    }
    const size = await fetch.sized;
    try {
      return { size, stream: await fetch.reader() };
    } catch (err) {
      // The fetch ended and its file went between finding it and opening it: the blob is stored by now.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Resolves once the blob is stored here: fetched now, or by another process. */
  async ensure(source: BlobSource): Promise<void> {
    if (await this.options.local.hasBlob(source.repository, source.digest)) return;
    const fetch = await this.fetch(source);
    if (fetch === 'elsewhere') return this.waitStored(source);
    await fetch.stored;
  }

  private fetch(source: BlobSource): Promise<Fetch | 'elsewhere'> {
    const key = source.digest;
    let started = this.fetches.get(key);
    if (!started) {
      started = this.begin(source);
      this.fetches.set(key, started);
      // Not fetched here: the next caller asks again (the holder may have died meanwhile).
      void started.then(
        (fetch) => fetch === 'elsewhere' && this.fetches.delete(key),
        () => this.fetches.delete(key),
      );
    }
    return started;
  }

  private async begin(source: BlobSource): Promise<Fetch | 'elsewhere'> {
    const key = source.digest;
    const leases = this.options.leases;
    const name = `proxy-blob:${source.digest}`;
    if (leases && !(await leases.store.acquire(name, leases.owner, Date.now() + leaseMs, Date.now()))) return 'elsewhere';
    const fetch = new Fetch(await this.options.spool.create(source.digest));
    const renew = leases && setInterval(() => void leases.store.acquire(name, leases.owner, Date.now() + leaseMs, Date.now()).catch(() => undefined), leaseMs / 3);
    renew?.unref();
    const run = this.run(source, fetch).finally(async () => {
      if (renew) clearInterval(renew);
      if (leases) await leases.store.release(name, leases.owner).catch(() => undefined);
      this.fetches.delete(key);
      // Readers still on the file keep it open; the name goes now.
      await fetch.file.remove().catch(() => undefined);
    });
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
    return fetch;
  }

  private async run(source: BlobSource, fetch: Fetch): Promise<void> {
    const file = fetch.file;
    try {
      const blob = await source.upstream.getBlob(source.upstreamName, source.digest);
      if (!blob) throw new UpstreamError('not-found', `blob ${source.digest} of ${source.upstreamName} is not upstream`, 404);
      if (blob.size < 0) {
        blob.body.destroy();
        throw new UpstreamError('protocol', `the upstream sent blob ${source.digest} without its length`);
      }
      fetch.started(blob.size);
      const hash = createHash('sha256');
      for await (const chunk of blob.body) {
        const bytes = chunk as Buffer;
        hash.update(bytes);
        await file.append(bytes);
        fetch.progress(bytes.length);
      }
      const digest = `sha256:${hash.digest('hex')}`;
      if (fetch.written !== blob.size) throw new UpstreamError('protocol', `the upstream sent ${fetch.written} bytes of blob ${source.digest}, announced ${blob.size}`);
      if (digest !== source.digest) throw new UpstreamError('protocol', `the upstream sent bytes hashing to ${digest} for blob ${source.digest}`);
      fetch.finish();
      await this.options.local.putBlob(source.repository, source.digest, blob.size, file.stream());
      fetch.emit('stored');
    } catch (err) {
      fetch.fail(err as Error);
    } finally {
      await file.close();
    }
  }

  private async waitStored(source: BlobSource): Promise<void> {
    const deadline = Date.now() + waitMs;
    while (!(await this.options.local.hasBlob(source.repository, source.digest))) {
      if (Date.now() > deadline) throw new UpstreamError('timeout', `another process has been fetching blob ${source.digest} for ${waitMs / 60_000} minutes`);
      // The process fetching it died: its lease runs out and this one takes over.
      const fetch = await this.fetch(source);
      if (fetch !== 'elsewhere') return fetch.stored;
      await sleep(pollMs);
    }
  }
}
