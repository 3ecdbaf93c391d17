import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Spool, SpoolFile } from '../../ports/spool.js';

/** Spool files in a directory of the data directory (local disk, whatever the storage driver). */
export class FileSpool implements Spool {
  constructor(private readonly dir: string) {}

  async create(name: string): Promise<SpoolFile> {
    await mkdir(this.dir, { recursive: true });
    const path = join(this.dir, `${name.replace(/[^A-Za-z0-9._-]/g, '-')}.${randomBytes(4).toString('hex')}`);
    const handle = await open(path, 'w');
    let size = 0;
    return {
      async append(chunk) {
        let done = 0;
        while (done < chunk.length) done += (await handle.write(chunk, done, chunk.length - done, size + done)).bytesWritten;
        size += chunk.length;
      },
      async openReader() {
        const reader = await open(path, 'r');
        return {
          read: async (buffer, position) => (await reader.read(buffer, 0, buffer.length, position)).bytesRead,
          close: () => reader.close(),
        };
      },
      stream: () => createReadStream(path),
      close: () => handle.close(),
      remove: () => rm(path, { force: true }),
    };
  }
}
