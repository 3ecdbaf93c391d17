import type { Kysely, Selectable } from 'kysely';
import { BerthError } from '../../domain/errors.js';
import type { EndpointPatch, EndpointRow, EndpointStore, NewEndpoint } from '../../ports/endpoint-store.js';
import type { Database } from './connect.js';
import type { RegistryEndpointTable, Schema } from './schema.js';
import { isForeignKeyViolation, isUniqueViolation } from './transaction.js';

function rowOf(r: Selectable<RegistryEndpointTable>): EndpointRow {
  return {
    id: Number(r.id),
    name: r.name,
    kind: r.kind,
    url: r.url,
    description: r.description,
    username: r.username,
    secretSealed: r.secret_sealed,
    insecure: Number(r.insecure) === 1,
    caCertificate: r.ca_certificate,
    createdBy: r.created_by,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export class KyselyEndpointStore implements EndpointStore {
  private readonly db: Kysely<Schema>;

  constructor(database: Database) {
    this.db = database.db;
  }

  async list(): Promise<EndpointRow[]> {
    return (await this.db.selectFrom('registry_endpoint').selectAll().orderBy('name').execute()).map(rowOf);
  }

  async get(id: number): Promise<EndpointRow | undefined> {
    const row = await this.db.selectFrom('registry_endpoint').selectAll().where('id', '=', id).executeTakeFirst();
    return row && rowOf(row);
  }

  async create(endpoint: NewEndpoint): Promise<EndpointRow> {
    try {
      const row = await this.db
        .insertInto('registry_endpoint')
        .values({
          name: endpoint.name,
          kind: endpoint.kind,
          url: endpoint.url,
          description: endpoint.description,
          username: endpoint.username,
          secret_sealed: endpoint.secretSealed,
          insecure: endpoint.insecure ? 1 : 0,
          ca_certificate: endpoint.caCertificate,
          created_by: endpoint.createdBy,
          created_at: endpoint.createdAt,
          updated_at: endpoint.updatedAt,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return rowOf(row);
    } catch (err) {
      if (isUniqueViolation(err)) throw new BerthError('CONFLICT', { message: `a registry endpoint named ${endpoint.name} already exists` });
      throw err;
    }
  }

  async update(id: number, patch: EndpointPatch): Promise<EndpointRow | undefined> {
    const values = {
      name: patch.name,
      kind: patch.kind,
      url: patch.url,
      description: patch.description,
      username: patch.username,
      secret_sealed: patch.secretSealed,
      insecure: patch.insecure === undefined ? undefined : patch.insecure ? 1 : 0,
      ca_certificate: patch.caCertificate,
      updated_at: patch.updatedAt,
    };
    const set = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
    if (Object.keys(set).length === 0) return this.get(id);
    try {
      const row = await this.db.updateTable('registry_endpoint').set(set).where('id', '=', id).returningAll().executeTakeFirst();
      return row && rowOf(row);
    } catch (err) {
      if (isUniqueViolation(err)) throw new BerthError('CONFLICT', { message: `a registry endpoint named ${patch.name} already exists` });
      throw err;
    }
  }

  async delete(id: number): Promise<boolean> {
    try {
      const result = await this.db.deleteFrom('registry_endpoint').where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    } catch (err) {
      if (isForeignKeyViolation(err)) throw new BerthError('CONFLICT', { message: `registry endpoint ${id} is used by replication rules; delete or change them first` });
      throw err;
    }
  }
}
