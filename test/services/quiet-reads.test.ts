import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Database } from '../../src/adapters/db/connect.js';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { RegistryClient } from '../helpers/oci.js';

/**
 * Scans and insights read layers "quietly": a client's HEAD or GET restarts a blob's grace period
 * (it may skip uploading it), a background reader's read does not, so it adds no write that
 * contends with pushes for the blob's row.
 */
describe('quiet blob reads', () => {
  let berth: TestBerth;
  let database: Database;

  beforeAll(async () => {
    berth = await startTestBerth({ settings: { 'lifecycle.gc.graceHours': 1 } });
    database = connect({ url: berth.config.database.url });
  });
  afterAll(async () => {
    await database?.db.destroy();
    await berth?.stop();
  });

  const touchedAt = async (digest: string) => Number((await database.db.selectFrom('blob').select('touched_at').where('digest', '=', digest).executeTakeFirstOrThrow()).touched_at);

  it('leaves the grace period alone for a background reader, and restarts it for a client', async () => {
    const image = await new RegistryClient(berth.url).pushImage('library/quiet', 'v1');
    const layer = image.layers[0]!.digest;
    // As if pushed two hours ago: a touch is due (every grace/4 = 15 minutes).
    await database.db.updateTable('blob').set({ touched_at: 1000 }).where('digest', '=', layer).execute();
    await database.db.updateTable('repository_blob').set({ created_at: 1000 }).where('digest', '=', layer).execute();

    const quiet = await berth.registry.blobs.openQuietly('library/quiet', layer);
    quiet.stream.destroy();
    expect(await touchedAt(layer)).toBe(1000);

    const loud = await berth.registry.blobs.open('library/quiet', layer);
    loud.stream.destroy();
    expect(await touchedAt(layer)).toBeGreaterThan(Date.now() - 60_000);
  });
});
