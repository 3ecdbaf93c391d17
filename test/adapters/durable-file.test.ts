import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { syncPath, writeSynced } from '../../src/adapters/storage/durable-file.js';

describe('durable file calls', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-durable-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the exact bytes, empty or large, replacing what the file held', async () => {
    const path = join(dir, 'a');
    await writeFile(path, 'an older and longer content than the new one');
    const large = randomBytes(9 * 2 ** 20);
    await writeSynced(path, large);
    expect((await readFile(path)).equals(large)).toBe(true);
    await writeSynced(path, new Uint8Array(0));
    expect((await readFile(path)).length).toBe(0);
    await writeSynced(path, Buffer.from('short'));
    expect(await readFile(path, 'utf8')).toBe('short');
  });

  it('fails as the file call did: a missing directory, a missing file, a directory opened to write', async () => {
    await expect(writeSynced(join(dir, 'missing', 'b'), Buffer.from('x'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(syncPath(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(syncPath(dir, 'r+')).rejects.toMatchObject({ code: 'EISDIR' });
    await expect(syncPath(dir)).resolves.toBeUndefined();
  });
});
