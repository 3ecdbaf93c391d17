import type { Selectable } from 'kysely';
import { severityRank, type Severity } from '../../domain/vulns/cvss.js';
import type { AdvisoryHead, Candidate } from '../../domain/vulns/match.js';
import type { AffectedPackage, AffectedRange, Advisory } from '../../domain/vulns/osv.js';
import type { ImportCounts, VulnDatabaseStatus, VulnImportRow, VulnStore } from '../../ports/vuln-store.js';
import type { Database } from './connect.js';
import type { VulnAdvisoryTable, VulnImportTable } from './schema.js';
import { inTransaction } from './transaction.js';

/** Rows per IN list: well under SQLite's 32,766 bound variables and PostgreSQL's 65,535. */
const chunk = 500;

export class KyselyVulnStore implements VulnStore {
  constructor(private readonly database: Database) {}

  private get db() {
    return this.database.db;
  }

  async upsert(advisories: readonly Advisory[], now: number): Promise<ImportCounts> {
    const counts: ImportCounts = { added: 0, updated: 0, unchanged: 0 };
    if (advisories.length === 0) return counts;
    // The last record of an id in one batch wins, as it would across batches.
    const byId = new Map(advisories.map((a) => [a.id, a]));
    await inTransaction(this.db, async (trx) => {
      const stored = new Map<string, string>();
      const ids = [...byId.keys()];
      for (let i = 0; i < ids.length; i += chunk) {
        const rows = await trx.selectFrom('vuln_advisory').select(['id', 'modified']).where('id', 'in', ids.slice(i, i + chunk)).execute();
        for (const row of rows) stored.set(row.id, row.modified);
      }
      const fresh: Advisory[] = [];
      for (const advisory of byId.values()) {
        const modified = stored.get(advisory.id);
        if (modified === undefined) counts.added++;
        else if (Date.parse(advisory.modified) > Date.parse(modified) || (Number.isNaN(Date.parse(modified)) && advisory.modified !== modified)) counts.updated++;
        else {
          counts.unchanged++;
          continue;
        }
        fresh.push(advisory);
      }
      const replaced = fresh.filter((a) => stored.has(a.id)).map((a) => a.id);
      for (let i = 0; i < replaced.length; i += chunk) await trx.deleteFrom('vuln_advisory').where('id', 'in', replaced.slice(i, i + chunk)).execute();
      for (let i = 0; i < fresh.length; i += 100) {
        const batch = fresh.slice(i, i + 100);
        await trx.insertInto('vuln_advisory').values(batch.map((a) => advisoryRow(a, now))).execute();
        const affected = batch.flatMap((a) =>
          a.affected.map((p) => ({ advisory_id: a.id, ecosystem: p.ecosystem, name: p.name, ranges: JSON.stringify(p.ranges), versions: JSON.stringify(p.versions), severity: p.severity ?? null })),
        );
        for (let j = 0; j < affected.length; j += 200) await trx.insertInto('vuln_affected').values(affected.slice(j, j + 200)).execute();
        const aliases = batch.flatMap((a) => a.aliases.map((alias) => ({ alias, advisory_id: a.id })));
        for (let j = 0; j < aliases.length; j += 400) await trx.insertInto('vuln_alias').values(aliases.slice(j, j + 400)).execute();
      }
    });
    return counts;
  }

  async recordImport(row: Omit<VulnImportRow, 'id'>): Promise<VulnImportRow> {
    const inserted = await this.db
      .insertInto('vuln_import')
      .values({ source: row.source, added: row.added, updated: row.updated, unchanged: row.unchanged, rejected: row.rejected, imported_by: row.importedBy, imported_at: row.importedAt })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { ...row, id: Number(inserted.id) };
  }

  async version(): Promise<number> {
    const row = await this.db
      .selectFrom('vuln_import')
      .select((eb) => eb.fn.max('id').as('id'))
      .where((eb) => eb.or([eb('added', '>', 0), eb('updated', '>', 0)]))
      .executeTakeFirst();
    return Number(row?.id ?? 0);
  }

  async status(): Promise<VulnDatabaseStatus> {
    const [version, advisories, ecosystems, last] = await Promise.all([
      this.version(),
      this.db
        .selectFrom('vuln_advisory')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow(),
      this.db
        .selectFrom('vuln_affected')
        .select((eb) => ['ecosystem', eb.fn.countAll<number>().as('n')])
        .groupBy('ecosystem')
        .orderBy('ecosystem')
        .execute(),
      this.db.selectFrom('vuln_import').selectAll().orderBy('id', 'desc').limit(1).executeTakeFirst(),
    ]);
    const status: VulnDatabaseStatus = {
      version,
      advisories: Number(advisories.n),
      ecosystems: Object.fromEntries(ecosystems.map((e) => [e.ecosystem, Number(e.n)])),
    };
    if (last) status.lastImport = importOf(last);
    return status;
  }

  async candidates(lookups: ReadonlyArray<{ ecosystem: string; name: string }>): Promise<Candidate[]> {
    const names = [...new Set(lookups.map((l) => l.name))];
    const ecosystems = [...new Set(lookups.map((l) => l.ecosystem))];
    const wanted = new Set(lookups.map((l) => `${l.ecosystem}\n${l.name}`));
    if (names.length === 0) return [];
    const heads = new Map<string, AdvisoryHead>();
    const results: Candidate[] = [];
    for (let i = 0; i < names.length; i += chunk) {
      const rows = await this.db
        .selectFrom('vuln_affected')
        .innerJoin('vuln_advisory', 'vuln_advisory.id', 'vuln_affected.advisory_id')
        .select(['vuln_affected.ecosystem', 'vuln_affected.name', 'vuln_affected.ranges', 'vuln_affected.versions', 'vuln_affected.severity as affected_severity'])
        .selectAll('vuln_advisory')
        .where('vuln_affected.name', 'in', names.slice(i, i + chunk))
        .where('vuln_affected.ecosystem', 'in', ecosystems)
        .execute();
      for (const row of rows) {
        if (!wanted.has(`${row.ecosystem}\n${row.name}`)) continue;
        let head = heads.get(row.id);
        if (!head) {
          head = headOf(row);
          heads.set(row.id, head);
        }
        const affected: AffectedPackage = {
          ecosystem: row.ecosystem,
          name: row.name,
          ranges: JSON.parse(row.ranges) as AffectedRange[],
          versions: JSON.parse(row.versions) as string[],
        };
        if (row.affected_severity) affected.severity = row.affected_severity as Severity;
        results.push({ advisory: head, affected });
      }
    }
    return results;
  }

  async aliasSeverities(ids: readonly string[]): Promise<Map<string, Severity>> {
    const found = new Map<string, Severity>();
    const unique = [...new Set(ids)];
    const keep = (id: string, severity: Severity) => {
      const known = found.get(id);
      if (severity !== 'UNKNOWN' && (!known || severityRank(severity) > severityRank(known))) found.set(id, severity);
    };
    for (let i = 0; i < unique.length; i += chunk) {
      const part = unique.slice(i, i + chunk);
      // Advisories that are the id, or that list it as an alias.
      const direct = await this.db.selectFrom('vuln_advisory').select(['id', 'severity']).where('id', 'in', part).execute();
      for (const row of direct) keep(row.id, row.severity as Severity);
      const aliased = await this.db
        .selectFrom('vuln_alias')
        .innerJoin('vuln_advisory', 'vuln_advisory.id', 'vuln_alias.advisory_id')
        .select(['vuln_alias.alias', 'vuln_advisory.severity'])
        .where('vuln_alias.alias', 'in', part)
        .execute();
      for (const row of aliased) keep(row.alias, row.severity as Severity);
    }
    return found;
  }
}

function advisoryRow(a: Advisory, now: number) {
  return {
    id: a.id,
    modified: a.modified,
    published: a.published ?? null,
    withdrawn: a.withdrawn ?? null,
    aliases: JSON.stringify(a.aliases),
    summary: a.summary,
    severity: a.severity,
    cvss_score: a.cvss?.score ?? null,
    cvss_vector: a.cvss?.vector ?? null,
    refs: JSON.stringify(a.references),
    imported_at: now,
  };
}

function headOf(row: Selectable<VulnAdvisoryTable>): AdvisoryHead {
  const head: AdvisoryHead = {
    id: row.id,
    modified: row.modified,
    aliases: JSON.parse(row.aliases) as string[],
    summary: row.summary,
    severity: row.severity as Severity,
    references: JSON.parse(row.refs) as string[],
  };
  if (row.published) head.published = row.published;
  if (row.withdrawn) head.withdrawn = row.withdrawn;
  if (row.cvss_score !== null && row.cvss_vector) head.cvss = { score: Number(row.cvss_score), vector: row.cvss_vector };
  return head;
}

function importOf(row: Selectable<VulnImportTable>): VulnImportRow {
  return {
    id: Number(row.id),
    source: row.source,
    added: Number(row.added),
    updated: Number(row.updated),
    unchanged: Number(row.unchanged),
    rejected: Number(row.rejected),
    importedBy: row.imported_by,
    importedAt: Number(row.imported_at),
  };
}
