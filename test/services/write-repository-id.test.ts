import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient } from '../helpers/api.js';
import { RegistryClient, errorCode, randomImage } from '../helpers/oci.js';
import { pgUnavailableReason } from '../helpers/pg.js';

const pgSkip = await pgUnavailableReason();
if (pgSkip) console.warn(`SKIPPING writes by the repository's last id: ${pgSkip}`);

const name = 'library/writes';

/**
 * On PostgreSQL a push writes under the id its process last read for the repository's name
 * (RepositoryCache.lastId), without reading the row again. Two instances share one database
 * and storage here: when the other deletes the repository and makes it anew under the same
 * name, this one's remembered id is stale, and its writes must still land in the new repository.
 */
describe.skipIf(pgSkip !== undefined)('writes by the repository id last read (PostgreSQL)', () => {
  let a: TestBerth;
  let b: TestBerth;

  beforeAll(async () => {
    // Instance a runs no jobs: the index and scan jobs of b's pushes read the row too, in
    // whichever instance claims them, and would count among the reads of a's requests.
    a = await startTestBerth({ engine: 'postgres', settings: { 'jobs.enabled': false } });
    b = await startTestBerth({ engine: 'postgres', dataDir: a.dataDir, databaseUrl: a.config.database.url });
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
  });

  /** Runs `work` counting the reads of the repository's row in instance `a` (ensureRepository reads it with getRepository too). */
  async function rowReadsOf(work: () => Promise<void>): Promise<number> {
    const gets = vi.spyOn(a.registry.meta, 'getRepository');
    try {
      await work();
      return gets.mock.calls.filter(([n]) => n === name).length;
    } finally {
      gets.mockRestore();
    }
  }

  const tagsOf = async (berth: TestBerth) => ((await (await new RegistryClient(berth.url).fetch(`/v2/${name}/tags/list`)).json()) as { tags: string[] }).tags.sort();

  it('pushes without reading the row, and lands in a repository another instance deleted and made anew', async () => {
    const viaA = new RegistryClient(a.url);
    const viaB = new RegistryClient(b.url);
    await viaA.pushImage(name, 'v1');
    // Blob uploads and the manifest PUT of a second image: no row read at all.
    expect(await rowReadsOf(async () => void (await viaA.pushImage(name, 'v2')))).toBe(0);

    // Instance b deletes the repository and pushes an image into one made anew (another id).
    expect((await new ApiClient(b.url).call('DELETE', `/projects/library/repositories/writes`)).status).toBe(204);
    const again = await viaB.pushImage(name, 'v3');
    // Instance a pushes the same manifest under another tag: under its old id the references
    // look missing; it reads the row once and pushes into the new repository.
    let status = 0;
    expect(await rowReadsOf(async () => void (status = (await viaA.pushManifest(name, 'v4', again.manifest)).status))).toBe(1);
    expect(status).toBe(201);
    expect(await tagsOf(b)).toEqual(['v3', 'v4']);

    // Deleted again: instance a's next push (uploads first) makes the repository itself.
    expect((await new ApiClient(b.url).call('DELETE', `/projects/library/repositories/writes`)).status).toBe(204);
    const fresh = randomImage();
    await viaA.pushImage(name, 'v5', fresh);
    expect(await tagsOf(b)).toEqual(['v5']);
    const pulled = await viaB.fetch(`/v2/${name}/manifests/v5`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(pulled.status).toBe(200);
    expect(Buffer.from(await pulled.arrayBuffer()).equals(fresh.manifest)).toBe(true);
  });

  it('deletes by digest without reading the row, and in a repository another instance made anew', async () => {
    const viaA = new RegistryClient(a.url);
    const viaB = new RegistryClient(b.url);
    const [one, two] = [randomImage(), randomImage()];
    await viaA.pushImage(name, 'd1', one);
    await viaA.pushImage(name, 'd2', two);
    const deleteVia = async (client: RegistryClient, digest: string) => {
      const res = await client.fetch(`/v2/${name}/manifests/${digest}`, { method: 'DELETE' });
      return { status: res.status, code: res.status === 202 ? undefined : await errorCode(res) };
    };
    let outcome: Awaited<ReturnType<typeof deleteVia>> | undefined;
    expect(await rowReadsOf(async () => void (outcome = await deleteVia(viaA, one.digest)))).toBe(0);
    expect(outcome).toEqual({ status: 202, code: undefined });
    // Not there: confirmed against the row.
    expect(await rowReadsOf(async () => void (outcome = await deleteVia(viaA, one.digest)))).toBe(1);
    expect(outcome).toEqual({ status: 404, code: 'MANIFEST_UNKNOWN' });

    // Instance b deletes the repository and makes it anew with the second image: a's old id
    // finds nothing, the row read names the new repository, and the delete happens there.
    expect((await new ApiClient(b.url).call('DELETE', `/projects/library/repositories/writes`)).status).toBe(204);
    await viaB.pushImage(name, 'd3', two);
    expect(await rowReadsOf(async () => void (outcome = await deleteVia(viaA, two.digest)))).toBe(1);
    expect(outcome).toEqual({ status: 202, code: undefined });
    expect((await viaB.fetch(`/v2/${name}/manifests/d3`)).status).toBe(404);
  });
});
