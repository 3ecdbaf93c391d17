import { mkdtemp, readdir, rm, utimes, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Digest } from '../../src/domain/digest.js';
import { FsBlobStore } from '../../src/adapters/storage/fs-blob-store.js';
import { blobStoreContract } from './blobstore.contract.js';

blobStoreContract('filesystem', {
  async create() {
    return new FsBlobStore(await mkdtemp(join(tmpdir(), 'berth-fs-'))).init();
  },
  async destroy(store) {
    await rm((store as FsBlobStore).root, { recursive: true, force: true });
  },
  async reopen(store) {
    return new FsBlobStore((store as FsBlobStore).root).init();
  },
});

describe('filesystem driver specifics', () => {
  it('clears staging files a crash left behind when it starts, and not those of a put running beside it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'berth-fs-'));
    await mkdir(join(root, 'tmp'), { recursive: true });
    await writeFile(join(root, 'tmp', 'half-written'), 'partial');
    const hourAgo = (Date.now() - 3_601_000) / 1000;
    await utimes(join(root, 'tmp', 'half-written'), hourAgo, hourAgo);
    // Another process on the same root (a sibling worker, `berth backup`) is writing this one now.
    await writeFile(join(root, 'tmp', 'being-written'), 'partial');
    await new FsBlobStore(root).init();
    expect(await readdir(join(root, 'tmp'))).toEqual(['being-written']);
    await rm(root, { recursive: true, force: true });
  });

  it('fails a put with the file system\'s error when it cannot tell whether the content is stored', async () => {
    const root = await mkdtemp(join(tmpdir(), 'berth-fs-'));
    const store = await new FsBlobStore(root).init();
    const data = Buffer.from('content whose directory is a file');
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
    // Where the digest's directory belongs, a file: checking for the content fails with ENOTDIR, not "absent".
    await mkdir(join(root, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(root, 'blobs', 'sha256', digest.slice('sha256:'.length, 'sha256:'.length + 2)), 'not a directory');
    await expect(store.put(digest, data)).rejects.toMatchObject({ code: 'ENOTDIR' });
    await rm(root, { recursive: true, force: true });
  });
});
