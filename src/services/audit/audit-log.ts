import type { AuditEntry, AuditFilter, AuditRow, AuditStore } from '../../ports/audit-store.js';
import { BatchWriter } from '../batch-writer.js';

export interface AuditLogOptions {
  retentionDays: number;
  /** Flush buffered entries at least this often. */
  flushIntervalMs?: number;
  onError?: (err: unknown) => void;
  now?: () => number;
}

/**
 * The audit trail of every mutation, pull and push. Entries are buffered briefly and written
 * in batches; `flush()` (also before every read and on shutdown) writes whatever is pending.
 */
export class AuditLog {
  private readonly writer: BatchWriter<AuditEntry>;
  private readonly now: () => number;

  constructor(
    private readonly store: AuditStore,
    private readonly options: AuditLogOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.writer = new BatchWriter((entries) => store.append(entries), {
      intervalMs: options.flushIntervalMs ?? 200,
      maxBatch: 500,
      maxPending: 50_000,
      onError: options.onError,
    });
  }

  record(entry: Omit<AuditEntry, 'time'> & { time?: number }): void {
    this.writer.add({ ...entry, time: entry.time ?? this.now() });
  }

  flush(): Promise<void> {
    return this.writer.flush();
  }

  async list(filter: AuditFilter, page: { offset: number; limit: number }): Promise<{ items: AuditRow[]; total: number }> {
    await this.flush();
    return this.store.list(filter, page);
  }

  /** Every matching entry in time order, read in bounded batches (for JSON-lines export). */
  async *export(filter: AuditFilter): AsyncIterable<AuditRow> {
    await this.flush();
    let after = 0;
    for (;;) {
      const rows = await this.store.batch(filter, after, 1000);
      if (rows.length === 0) return;
      yield* rows;
      after = rows[rows.length - 1]!.id;
    }
  }

  async applyRetention(): Promise<number> {
    return this.store.deleteBefore(this.now() - this.options.retentionDays * 86_400_000);
  }

  close(): Promise<void> {
    return this.writer.close();
  }
}
