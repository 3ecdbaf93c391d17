import type { Kysely, Selectable } from 'kysely';
import { BerthError } from '../../domain/errors.js';
import type { AdapterScanRow, AdapterScanStatus, AdapterScanStore, NewScanner, ScannerAuth, ScannerRow, ScannerStore } from '../../ports/scanner-store.js';
import type { Database } from './connect.js';
import type { ScannerAdapterScanTable, ScannerRegistrationTable, Schema } from './schema.js';
import { inTransaction, isUniqueViolation } from './transaction.js';

function scannerOf(r: Selectable<ScannerRegistrationTable>): ScannerRow {
  return {
    id: Number(r.id),
    name: r.name,
    description: r.description,
    url: r.url,
    auth: r.auth as ScannerAuth,
    credentialSealed: r.credential_sealed,
    skipCertVerify: Number(r.skip_cert_verify) === 1,
    enabled: Number(r.enabled) === 1,
    isDefault: Number(r.is_default) === 1,
    createdBy: r.created_by,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

const flag = (value: boolean | undefined) => (value === undefined ? undefined : value ? 1 : 0);

function columns(s: Partial<NewScanner>) {
  const values = {
    name: s.name,
    description: s.description,
    url: s.url,
    auth: s.auth,
    credential_sealed: s.credentialSealed,
    skip_cert_verify: flag(s.skipCertVerify),
    enabled: flag(s.enabled),
    is_default: flag(s.isDefault),
    created_by: s.createdBy,
    created_at: s.createdAt,
    updated_at: s.updatedAt,
  };
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
}

/** Scanner registrations on SQLite and PostgreSQL; a partial unique index keeps one default at most. */
export class KyselyScannerStore implements ScannerStore {
  private readonly db: Kysely<Schema>;

  constructor(database: Database) {
    this.db = database.db;
  }

  async list(): Promise<ScannerRow[]> {
    return (await this.db.selectFrom('scanner_registration').selectAll().orderBy('name').execute()).map(scannerOf);
  }

  async get(id: number): Promise<ScannerRow | undefined> {
    const row = await this.db.selectFrom('scanner_registration').selectAll().where('id', '=', id).executeTakeFirst();
    return row && scannerOf(row);
  }

  async byName(name: string): Promise<ScannerRow | undefined> {
    const row = await this.db.selectFrom('scanner_registration').selectAll().where('name', '=', name).executeTakeFirst();
    return row && scannerOf(row);
  }

  async defaultScanner(): Promise<ScannerRow | undefined> {
    const row = await this.db.selectFrom('scanner_registration').selectAll().where('is_default', '=', 1).executeTakeFirst();
    return row && scannerOf(row);
  }

  async create(scanner: NewScanner): Promise<ScannerRow> {
    return this.conflicts(scanner.name, () =>
      inTransaction(this.db, async (trx) => {
        if (scanner.isDefault) await trx.updateTable('scanner_registration').set({ is_default: 0 }).where('is_default', '=', 1).execute();
        return scannerOf(await trx.insertInto('scanner_registration').values(columns(scanner) as never).returningAll().executeTakeFirstOrThrow());
      }),
    );
  }

  async update(id: number, patch: Partial<NewScanner>): Promise<ScannerRow | undefined> {
    const set = columns(patch);
    if (Object.keys(set).length === 0) return this.get(id);
    return this.conflicts(patch.name, () =>
      inTransaction(this.db, async (trx) => {
        if (patch.isDefault) await trx.updateTable('scanner_registration').set({ is_default: 0 }).where('is_default', '=', 1).where('id', '!=', id).execute();
        const row = await trx.updateTable('scanner_registration').set(set).where('id', '=', id).returningAll().executeTakeFirst();
        return row && scannerOf(row);
      }),
    );
  }

  async delete(id: number): Promise<boolean> {
    return Number((await this.db.deleteFrom('scanner_registration').where('id', '=', id).executeTakeFirst()).numDeletedRows) > 0;
  }

  /** A unique violation is the name, or (PostgreSQL, two administrators at once) the default mark. */
  private async conflicts<T>(name: string | undefined, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      if (name !== undefined && (await this.byName(name))) throw new BerthError('CONFLICT', { message: `a scanner named ${name} is already registered` });
      throw new BerthError('CONFLICT', { message: 'another scanner was made the default at the same time: try again' });
    }
  }
}

function adapterScanOf(r: Selectable<ScannerAdapterScanTable>): AdapterScanRow {
  return {
    id: r.id,
    repository: r.repository,
    digest: r.digest,
    status: r.status as AdapterScanStatus,
    report: r.report === null ? null : (JSON.parse(r.report) as unknown),
    error: r.error,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

/** Scan requests of Berth's scanner-adapter endpoint, shared by every instance. */
export class KyselyAdapterScanStore implements AdapterScanStore {
  private readonly db: Kysely<Schema>;

  constructor(database: Database) {
    this.db = database.db;
  }

  async create(row: Pick<AdapterScanRow, 'id' | 'repository' | 'digest' | 'createdAt'>): Promise<void> {
    await this.db
      .insertInto('scanner_adapter_scan')
      .values({ id: row.id, repository: row.repository, digest: row.digest, status: 'running', report: null, error: null, created_at: row.createdAt, updated_at: row.createdAt })
      .execute();
  }

  async get(id: string): Promise<AdapterScanRow | undefined> {
    const row = await this.db.selectFrom('scanner_adapter_scan').selectAll().where('id', '=', id).executeTakeFirst();
    return row && adapterScanOf(row);
  }

  async finish(id: string, outcome: { status: 'succeeded'; report: unknown } | { status: 'failed'; error: string }, now: number): Promise<void> {
    await this.db
      .updateTable('scanner_adapter_scan')
      .set({ status: outcome.status, report: outcome.status === 'succeeded' ? JSON.stringify(outcome.report) : null, error: outcome.status === 'failed' ? outcome.error : null, updated_at: now })
      .where('id', '=', id)
      .execute();
  }

  async prune(before: number): Promise<number> {
    return Number((await this.db.deleteFrom('scanner_adapter_scan').where('created_at', '<', before).executeTakeFirst()).numDeletedRows);
  }
}
