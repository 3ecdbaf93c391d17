import type { ResolvedConfig } from '../config/load.js';
import { PgInvalidationBus } from '../adapters/bus/pg-invalidation-bus.js';
import { connect, migrate } from '../adapters/db/connect.js';
import { KyselyAuditStore } from '../adapters/db/kysely-audit-store.js';
import { KyselyIdentityStore } from '../adapters/db/kysely-identity-store.js';
import { KyselyMetadataStore } from '../adapters/db/kysely-metadata-store.js';
import { KyselyPolicyStore } from '../adapters/db/kysely-policy-store.js';
import { createBlobStore } from '../adapters/storage/index.js';
import { projectOf } from '../domain/names.js';
import type { AuditEntry } from '../ports/audit-store.js';
import { AuditLog } from '../services/audit/audit-log.js';
import { ProjectPolicies } from '../services/lifecycle/policies.js';
import { QuotaService } from '../services/lifecycle/quotas.js';
import { Registry } from '../services/registry/index.js';
import { repositoriesChannel } from '../services/registry/repository-cache.js';
import { LocalRegistry } from '../services/replication/local-registry.js';
import { touchIntervalMs } from '../wiring/lifecycle.js';

/** This Berth's database and storage opened by a CLI command, as the server sees them. */
export interface LocalBerth {
  registry: LocalRegistry;
  /** Creates the project a repository belongs to when it does not exist (private, as a push by an administrator would). */
  ensureProject(repository: string): Promise<void>;
  audit(entry: Pick<AuditEntry, 'action' | 'resourceType' | 'resource' | 'project' | 'result' | 'detail'>): void;
  close(): Promise<void>;
}

/**
 * Opens the configured database (migrated) and storage in this process, with what a push
 * through the server honours: immutable tags, quotas, the events written with each change
 * (a running server delivers them), and the audit log. Works while the server runs.
 */
export async function openLocalBerth(config: ResolvedConfig, actor: string): Promise<LocalBerth> {
  const database = connect({ url: config.database.url, poolSize: 4, connectRetryMs: config.database.connectRetryMs, preparedStatements: config.database.preparedStatements });
  const store = await createBlobStore(config.storage);
  try {
    await migrate(database);
  } catch (err) {
    await store.close?.();
    await database.db.destroy();
    throw err;
  }
  // Running instances on PostgreSQL hear which repositories' tags changed (their pull caches);
  // on SQLite they keep no such cache.
  const tagsChanged = new Set<number>();
  const meta = new KyselyMetadataStore(database, { touchIntervalMs: touchIntervalMs(config), onTagsChanged: (id) => tagsChanged.add(id) });
  const identity = new KyselyIdentityStore(database);
  const project = (name: string) => identity.getProject(name);
  const policies = new ProjectPolicies(new KyselyPolicyStore(database), { project });
  const quotas = new QuotaService(identity, meta, { project, onChange: () => undefined });
  const registry = new Registry(meta, store, {
    maxManifestBytes: config.registry.maxManifestBytes,
    maxBlobBytes: config.registry.maxBlobBytes,
    automaticMount: false,
    manifestCacheBytes: 0,
    maxPageSize: config.registry.maxPageSize,
    defaultPageSize: config.registry.catalogPageSize,
    guard: { immutableTag: (repository, tag) => policies.immutableTag(repository, tag), quota: (repository) => quotas.limitsFor(repository) },
    admitBlob: (repository, size, digest) => quotas.admitBlob(repository, size, digest),
    gcLeaseMs: config.lifecycle.gc.leaseSeconds * 1000,
  });
  const auditLog = new AuditLog(new KyselyAuditStore(database), { retentionDays: config.audit.retentionDays });
  return {
    registry: new LocalRegistry(registry, actor),
    ensureProject: async (repository) => {
      const name = projectOf(repository);
      if (await identity.getProject(name)) return;
      await identity.createProject({ name, public: false, createdBy: actor }, Date.now());
      auditLog.record({ actor, actorType: 'system', action: 'project.create', resourceType: 'project', resource: name, project: name, sourceIp: null, result: 'success', detail: { via: 'cli' }, requestId: null });
    },
    audit: (entry) => auditLog.record({ ...entry, actor, actorType: 'system', sourceIp: null, requestId: null }),
    close: async () => {
      await auditLog.flush();
      if (database.engine === 'postgres' && tagsChanged.size > 0) {
        await PgInvalidationBus.tell({ url: config.database.url, db: database.db }, { kind: 'cache', channel: repositoriesChannel, keys: [...tagsChanged].map(String) })
          .catch((err: unknown) => process.stderr.write(`berth: telling running instances failed (${(err as Error).message}); they see the new tags within 5 s\n`));
      }
      await store.close?.();
      await database.db.destroy();
    },
  };
}
