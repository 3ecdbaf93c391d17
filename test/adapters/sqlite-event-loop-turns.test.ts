import { afterAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { connect } from '../../src/adapters/db/connect.js';

describe('SQLite queries and the event loop', () => {
  const database = connect({ url: 'sqlite::memory:' });
  afterAll(() => database.db.destroy());

  it('lets timers and I/O run during a long loop of queries, which SQLite answers without ever waiting', async () => {
    let timerFiredAfterMs: number | undefined;
    const started = performance.now();
    setTimeout(() => (timerFiredAfterMs = performance.now() - started), 0);
    let queries = 0;
    // Each query takes about a millisecond; the loop about 300 ms, in one chain of promises.
    while (performance.now() - started < 300) {
      const { rows } = await sql<{ n: number }>`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000) SELECT count(*) AS n FROM c`.execute(database.db);
      expect(rows[0]!.n).toBe(3000);
      queries++;
    }
    // Without a turn the timer would fire only once the loop is over.
    expect(timerFiredAfterMs).toBeDefined();
    expect(timerFiredAfterMs!).toBeLessThan(150);
    expect(queries).toBeGreaterThan(10);
  });
});
