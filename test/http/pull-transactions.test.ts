import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startTestBerth } from '../helpers/berth.js';
import { OCI_MANIFEST, RegistryClient, randomImage } from '../helpers/oci.js';
import { createTempDatabase, pgAdminUrl, pgUnavailableReason, type TempDatabase } from '../helpers/pg.js';

const pgSkip = await pgUnavailableReason();
if (pgSkip) console.warn(`SKIPPING the pull transaction count: ${pgSkip}`);

/**
 * What a pull costs PostgreSQL, counted where the issue asks, in pg_stat_database. PostgreSQL
 * publishes a connection's counts late (up to 10 s) but always when the connection closes, so
 * each run is a whole Berth lifetime (start, pulls, stop), and a run without the pulls, as long,
 * is subtracted: what is left is the pulls' own transactions.
 */
describe.skipIf(pgSkip !== undefined)('manifest GETs of a warm tag on PostgreSQL', () => {
  let database: TempDatabase;
  let dataDir: string;
  let stats: pg.Client;
  let name: string;
  const pulls = 300;

  beforeAll(async () => {
    database = await createTempDatabase();
    name = new URL(database.url).pathname.slice(1);
    dataDir = await mkdtemp(join(tmpdir(), 'berth-pulltx-'));
    stats = new pg.Client({ connectionString: pgAdminUrl });
    await stats.connect();
  });
  afterAll(async () => {
    await stats?.end();
    await database?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** The database's committed and rolled-back transactions, once every closed connection's counts are in. */
  async function transactions(): Promise<number> {
    let last = -1;
    for (let stable = 0; stable < 3; ) {
      await stats.query('select pg_stat_clear_snapshot()');
      const { rows } = await stats.query<{ n: string }>('select xact_commit + xact_rollback as n from pg_stat_database where datname = $1', [name]);
      const n = Number(rows[0]!.n);
      stable = n === last ? stable + 1 : 0;
      last = n;
      await new Promise((r) => setTimeout(r, 150));
    }
    return last;
  }

  /** Waits until `digest` is indexed and no job is due or running, then a little longer for the outbox consumers the jobs' events woke. */
  async function settled(digest: string): Promise<void> {
    const db = new pg.Client({ connectionString: database.url });
    await db.connect();
    try {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const indexed = await db.query('select 1 from image_index where digest = $1', [digest]);
        const busy = await db.query<{ n: string }>("select count(*) as n from job where status in ('queued', 'running') and run_at <= $1", [Date.now()]);
        if (indexed.rowCount === 1 && Number(busy.rows[0]!.n) === 0) break;
        if (Date.now() > deadline) throw new Error(`the push's background work did not finish in 60 s (indexed: ${indexed.rowCount}, jobs due or running: ${busy.rows[0]!.n})`);
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await db.end();
    }
    await new Promise((r) => setTimeout(r, 2_000));
  }

  /** One Berth lifetime: start, one pull to warm, `work`, stop; resolves its transactions and how long `work` took. */
  async function lifetime(work: (client: RegistryClient) => Promise<void>): Promise<{ transactions: number; ms: number }> {
    const before = await transactions();
    const berth = await startTestBerth({ dataDir, databaseUrl: database.url });
    const client = new RegistryClient(berth.url);
    expect((await client.fetch('/v2/pulled/app/manifests/v1', { method: 'HEAD', headers: { Accept: OCI_MANIFEST } })).status).toBe(200);
    const started = performance.now();
    await work(client);
    const ms = performance.now() - started;
    await berth.stop();
    return { transactions: (await transactions()) - before, ms };
  }

  it('cost at most 0.1 database transactions each', async () => {
    const setup = await startTestBerth({ dataDir, databaseUrl: database.url });
    const image = await new RegistryClient(setup.url).pushImage('pulled/app', 'v1', randomImage(1, 1000));
    // The push's own background work (indexing, lint and scan, the events they record and the
    // outbox consumers that read them) finishes in the setup's lifetime, not in the pulls'.
    await settled(image.digest);
    await setup.stop();

    const pulled = await lifetime(async (client) => {
      for (let i = 0; i < pulls; i++) {
        const res = await client.fetch('/v2/pulled/app/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
        expect(res.headers.get('docker-content-digest')).toBe(image.digest);
        await res.arrayBuffer();
      }
    });
    const idle = await lifetime(async () => new Promise((r) => setTimeout(r, pulled.ms)));
    const perPull = (pulled.transactions - idle.transactions) / pulls;
    console.log(
      `${pulls} manifest GETs in ${pulled.ms.toFixed(0)} ms: ${pulled.transactions} transactions in that Berth's life, ${idle.transactions} in an idle one as long: ${perPull.toFixed(3)} per GET`,
    );
    expect(perPull).toBeLessThanOrEqual(0.1);
  }, 120_000);
});
