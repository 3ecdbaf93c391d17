import pg from 'pg';

/**
 * PostgreSQL's count of a database's transactions (pg_stat_database: xact_commit + xact_rollback).
 * A backend publishes its counts when it has been idle for a while (at the latest 10 s on
 * PostgreSQL 15), so a reading waits that long first: readings are exact, and slow.
 */
export class TransactionCounter {
  private constructor(
    private readonly client: pg.Client,
    private readonly database: string,
  ) {}

  /** Counts the transactions of the database `url` names, reading them through `adminUrl`. */
  static async open(adminUrl: string, url: string): Promise<TransactionCounter> {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    return new TransactionCounter(client, new URL(url).pathname.slice(1));
  }

  /** The count once every connection's transactions so far are published (waits 11 s). */
  async settled(): Promise<number> {
    await new Promise((resolve) => setTimeout(resolve, 11_000));
    await this.client.query('select pg_stat_clear_snapshot()');
    const { rows } = await this.client.query<{ n: string }>('select xact_commit + xact_rollback as n from pg_stat_database where datname = $1', [this.database]);
    return Number(rows[0]?.n ?? 0);
  }

  close(): Promise<void> {
    return this.client.end();
  }
}
