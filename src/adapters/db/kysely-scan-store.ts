import type { Kysely, Selectable } from 'kysely';
import type { Severity } from '../../domain/vulns/cvss.js';
import type { Finding } from '../../domain/vulns/match.js';
import { MediaType } from '../../domain/media-types.js';
import type { ScanReport, ScanStatus, ScanStore } from '../../ports/scan-store.js';
import type { Database } from './connect.js';
import { advanceCursor, readAfterCursor } from './event-cursor.js';
import { jobValues } from './kysely-job-store.js';
import { findingRows } from './scan-finding.js';
import { inOneStatement } from './one-statement.js';
import type { ScanReportTable, Schema } from './schema.js';
import { inTransaction } from './transaction.js';

const chunk = 500;

/** Manifests that have layers to scan (indexes are scanned through their platform manifests). */
const imageMediaTypes = [MediaType.ociManifest, MediaType.dockerManifest];

export class KyselyScanStore implements ScanStore {
  constructor(private readonly database: Database) {}

  private get db() {
    return this.database.db;
  }

  async put(report: ScanReport): Promise<void> {
    const row = {
      digest: report.digest,
      status: report.status,
      db_version: report.dbVersion,
      scanner: report.scanner,
      packages: report.packages,
      summary: JSON.stringify(report.summary),
      findings: JSON.stringify(report.findings),
      error: report.error ?? null,
      duration_ms: Math.round(report.durationMs),
      scanned_at: report.scannedAt,
    };
    const { digest: _digest, ...update } = row;
    // The report's vulnerability ids, flattened for search by CVE (ports/image-index-store.ts), replaced with it.
    const findings = findingRows(report.digest, report.findings);
    const upsert = (db: Kysely<Schema>) => db.insertInto('scan_report').values(row).onConflict((oc) => oc.column('digest').doUpdateSet(update));
    if (this.database.engine === 'postgres' && findings.length <= 1000) {
      // The report first, alone (it waits for a concurrent put of the same digest to commit), then
      // its findings replaced in one statement: four round trips instead of six.
      await inTransaction(this.db, async (db) => {
        await upsert(db).execute();
        await inOneStatement(db, [db.deleteFrom('scan_finding').where('digest', '=', report.digest), ...(findings.length === 0 ? [] : [db.insertInto('scan_finding').values(findings)])]);
      });
      return;
    }
    await inTransaction(this.db, async (trx) => {
      await upsert(trx).execute();
      await trx.deleteFrom('scan_finding').where('digest', '=', report.digest).execute();
      for (let i = 0; i < findings.length; i += 1000) await trx.insertInto('scan_finding').values(findings.slice(i, i + 1000)).execute();
    });
  }

  async get(digest: string): Promise<ScanReport | undefined> {
    const row = await this.db.selectFrom('scan_report').selectAll().where('digest', '=', digest).executeTakeFirst();
    return row ? reportOf(row) : undefined;
  }

  async heads(digests: readonly string[]) {
    const found = new Map<string, Pick<ScanReport, 'digest' | 'status' | 'dbVersion' | 'summary' | 'scannedAt'>>();
    const unique = [...new Set(digests)];
    for (let i = 0; i < unique.length; i += chunk) {
      const rows = await this.db
        .selectFrom('scan_report')
        .select(['digest', 'status', 'db_version', 'summary', 'scanned_at'])
        .where('digest', 'in', unique.slice(i, i + chunk))
        .execute();
      for (const r of rows)
        found.set(r.digest, { digest: r.digest, status: r.status as ScanStatus, dbVersion: Number(r.db_version), summary: JSON.parse(r.summary) as Partial<Record<Severity, number>>, scannedAt: Number(r.scanned_at) });
    }
    return found;
  }

  async due(version: number, limit: number, unscanned: boolean): Promise<Array<{ digest: string; repository: string }>> {
    // One repository per digest is enough to read the layers: content is stored once.
    const rows = await this.db
      .selectFrom('manifest')
      .innerJoin('repository', 'repository.id', 'manifest.repository_id')
      .leftJoin('scan_report', 'scan_report.digest', 'manifest.digest')
      .select(['manifest.digest', (eb) => eb.fn.min('repository.name').as('repository')])
      .where('manifest.media_type', 'in', imageMediaTypes)
      .where((eb) => (unscanned ? eb.or([eb('scan_report.digest', 'is', null), eb('scan_report.db_version', '<', version)]) : eb('scan_report.db_version', '<', version)))
      .groupBy(['manifest.digest', 'scan_report.scanned_at'])
      .orderBy('scan_report.scanned_at')
      .orderBy('manifest.digest')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ digest: r.digest, repository: String(r.repository) }));
  }

  async prune(): Promise<number> {
    return inTransaction(this.db, async (trx) => {
      await trx
        .deleteFrom('scan_finding')
        .where(({ not, exists, selectFrom }) => not(exists(selectFrom('manifest').select('manifest.digest').whereRef('manifest.digest', '=', 'scan_finding.digest'))))
        .execute();
      const result = await trx
        .deleteFrom('scan_report')
        .where(({ not, exists, selectFrom }) => not(exists(selectFrom('manifest').select('manifest.digest').whereRef('manifest.digest', '=', 'scan_report.digest'))))
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }

  async fanOutPushes(options: { consumer: string; batch: number; now: number; maxAttempts: number }): Promise<{ events: number; jobs: number }> {
    return inTransaction(this.db, async (trx) => {
      const events = await readAfterCursor(trx, this.database.engine, options);
      if (events.length === 0) return { events: 0, jobs: 0 };
      const jobs = [];
      const seen = new Set<string>();
      for (const event of events) {
        if (event.type !== 'push' || event.repository === null) continue;
        const { digest, created } = JSON.parse(event.payload) as { digest?: unknown; created?: unknown };
        // Pushed again (a new tag for an artifact the repository has): scanned and indexed at its first push.
        if (typeof digest !== 'string' || created === false || seen.has(digest)) continue;
        seen.add(digest);
        jobs.push(jobValues({ type: 'scan.artifact', payload: { repository: event.repository, digest, trigger: 'push' }, maxAttempts: options.maxAttempts, runAt: options.now }, options.now));
      }
      if (jobs.length > 0) await trx.insertInto('job').values(jobs).execute();
      await advanceCursor(trx, options.consumer, events[events.length - 1]!.id, options.now);
      return { events: events.length, jobs: jobs.length };
    });
  }
}

function reportOf(row: Selectable<ScanReportTable>): ScanReport {
  const report: ScanReport = {
    digest: row.digest,
    status: row.status as ScanStatus,
    dbVersion: Number(row.db_version),
    scanner: row.scanner,
    packages: Number(row.packages),
    summary: JSON.parse(row.summary) as Partial<Record<Severity, number>>,
    findings: JSON.parse(row.findings) as Finding[],
    durationMs: Number(row.duration_ms),
    scannedAt: Number(row.scanned_at),
  };
  if (row.error) report.error = row.error;
  return report;
}
