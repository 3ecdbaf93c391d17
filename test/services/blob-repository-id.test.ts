import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sql } from 'kysely';
import { connect, type Database } from '../../src/adapters/db/connect.js';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient } from '../helpers/api.js';
import { RegistryClient, type Image } from '../helpers/oci.js';
import { pgUnavailableReason } from '../helpers/pg.js';
import { until } from '../helpers/wait.js';

const pgSkip = await pgUnavailableReason();
if (pgSkip) console.warn(`SKIPPING blob reads by the repository's last id: ${pgSkip}`);

/**
 * On PostgreSQL a repository's row is cached for pulls until its tags change; a blob read needs only
 * the repository's id, which tag changes leave alone. After a tag change it reads no repository row
 * (a push's job reads the config this way right after the push moved a tag), and a repository
 * deleted and made anew under the same name is never served from its old id.
 */
describe.skipIf(pgSkip !== undefined)('blob reads by the repository id last read (PostgreSQL)', () => {
  let berth: TestBerth;
  let registry: RegistryClient;
  let admin: ApiClient;
  let db: Database;

  beforeAll(async () => {
    berth = await startTestBerth({ engine: 'postgres' });
    registry = new RegistryClient(berth.url);
    admin = new ApiClient(berth.url);
    db = connect({ url: berth.config.database.url, poolSize: 1, connectRetryMs: 0 });
  });
  afterAll(async () => {
    await db?.db.destroy();
    await berth?.stop();
  });

  /**
   * Waits until `pushes` jobs of pushes of `digest` have finished and none is due or running: a
   * push's job (index, scan, signatures) reads the repository row too, and is not the blob read counted.
   */
  async function settled(digest: string, pushes: number): Promise<void> {
    await until(
      async () => {
        const { rows } = await sql<{ done: number | string; busy: number | string }>`select
            count(*) filter (where type = 'scan.artifact' and status = 'succeeded' and payload like ${`%${digest}%`}) as done,
            count(*) filter (where status in ('queued', 'running')) as busy
          from job`.execute(db.db);
        return Number(rows[0]!.done) >= pushes && Number(rows[0]!.busy) === 0;
      },
      30_000,
      `the jobs of ${pushes} push(es) of ${digest}`,
      50,
    );
  }

  /** The status of a GET of `image`'s first layer, and how many times the repository's row was read for it. */
  async function layerGet(image: Image): Promise<{ status: number; code?: string; rowReads: number }> {
    const reads = vi.spyOn(berth.registry.meta, 'getRepository');
    try {
      const res = await registry.fetch(`/v2/library/ids/blobs/${image.layers[0]!.digest}`);
      const body = res.status === 200 ? (await res.arrayBuffer(), undefined) : ((await res.json()) as { errors: Array<{ code: string }> });
      return { status: res.status, code: body?.errors[0]?.code, rowReads: reads.mock.calls.filter(([name]) => name === 'library/ids').length };
    } finally {
      reads.mockRestore();
    }
  }

  it('reads no repository row for a blob after a tag change, and nothing of a deleted repository from its old id', async () => {
    const first = await registry.pushImage('library/ids', 'v1');
    await settled(first.digest, 1);
    for (let i = 0; i < 5; i++) {
      // A tag change: the cached row is dropped.
      expect((await registry.pushManifest('library/ids', `t${i}`, first.manifest)).status).toBe(201);
      expect(await layerGet(first)).toEqual({ status: 200, code: undefined, rowReads: 0 });
    }
    expect((await admin.call('DELETE', '/projects/library/repositories/ids')).status).toBe(204);
    // Gone: the old id finds nothing, and the row read confirms there is no repository.
    expect(await layerGet(first)).toEqual({ status: 404, code: 'NAME_UNKNOWN', rowReads: 1 });
    // Made anew under the same name (a new id): the old image's layer is not there, the new one's is.
    const second = await registry.pushImage('library/ids', 'v1');
    await settled(second.digest, 1);
    expect(await layerGet(first)).toMatchObject({ status: 404, code: 'BLOB_UNKNOWN' });
    expect(await layerGet(second)).toEqual({ status: 200, code: undefined, rowReads: 0 });
    // Pushed into the new repository as well: found again, now under the new id.
    await registry.pushImage('library/ids', 'v2', first);
    await settled(first.digest, 2);
    expect(await layerGet(first)).toEqual({ status: 200, code: undefined, rowReads: 0 });
  });
});
