import { sql, type CreateTableBuilder, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { findingRows, type FindingLike } from './scan-finding.js';
import { pushFunctionsV1, pushStateFunctionV2 } from './pg-push.js';

export type Engine = 'sqlite' | 'postgres';

/**
 * Schema migrations for both engines. Each is written once; the few differences
 * (auto-increment keys) are decided by `engine`. Never edit a released migration:
 * add the next one.
 */
function migrations(engine: Engine): Record<string, Migration> {
  return {
    '0001_core': {
      async up(db: Kysely<unknown>) {
        let repository = db.schema.createTable('repository');
        repository =
          engine === 'sqlite'
            ? repository.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
            : repository.addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity());
        await repository
          .addColumn('name', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('blob')
          .addColumn('digest', 'text', (c) => c.primaryKey())
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('repository_blob')
          .addColumn('repository_id', 'bigint', (c) => c.notNull().references('repository.id').onDelete('cascade'))
          .addColumn('digest', 'text', (c) => c.notNull().references('blob.digest'))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('repository_blob_pk', ['repository_id', 'digest'])
          .execute();
        await db.schema.createIndex('repository_blob_digest').on('repository_blob').column('digest').execute();

        await db.schema
          .createTable('upload')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('repository_id', 'bigint', (c) => c.notNull().references('repository.id').onDelete('cascade'))
          .addColumn('received', 'bigint', (c) => c.notNull())
          .addColumn('started_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('upload_updated_at').on('upload').column('updated_at').execute();

        await db.schema
          .createTable('manifest')
          .addColumn('repository_id', 'bigint', (c) => c.notNull().references('repository.id').onDelete('cascade'))
          .addColumn('digest', 'text', (c) => c.notNull().references('blob.digest'))
          .addColumn('media_type', 'text', (c) => c.notNull())
          .addColumn('artifact_type', 'text')
          .addColumn('subject_digest', 'text')
          .addColumn('config_digest', 'text')
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('annotations', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('manifest_pk', ['repository_id', 'digest'])
          .execute();
        await db.schema.createIndex('manifest_subject').on('manifest').columns(['repository_id', 'subject_digest']).execute();
        await db.schema.createIndex('manifest_digest').on('manifest').column('digest').execute();

        await db.schema
          .createTable('manifest_reference')
          .addColumn('repository_id', 'bigint', (c) => c.notNull())
          .addColumn('parent_digest', 'text', (c) => c.notNull())
          .addColumn('child_digest', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('manifest_reference_pk', ['repository_id', 'parent_digest', 'child_digest'])
          .addForeignKeyConstraint('manifest_reference_parent', ['repository_id', 'parent_digest'], 'manifest', ['repository_id', 'digest'], (c) =>
            c.onDelete('cascade'),
          )
          .execute();
        await db.schema.createIndex('manifest_reference_child').on('manifest_reference').column('child_digest').execute();

        await db.schema
          .createTable('tag')
          .addColumn('repository_id', 'bigint', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('manifest_digest', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('tag_pk', ['repository_id', 'name'])
          .addForeignKeyConstraint('tag_manifest', ['repository_id', 'manifest_digest'], 'manifest', ['repository_id', 'digest'], (c) =>
            c.onDelete('cascade'),
          )
          .execute();
        await db.schema.createIndex('tag_manifest').on('tag').columns(['repository_id', 'manifest_digest']).execute();
        if (engine === 'postgres') {
          // Byte order for names, as the OCI spec's lexical ordering of tags and repositories expects.
          await sql`ALTER TABLE repository ALTER COLUMN name TYPE text COLLATE "C"`.execute(db);
          await sql`ALTER TABLE tag ALTER COLUMN name TYPE text COLLATE "C"`.execute(db);
        }
      },
    },
    '0002_identity': {
      up: (db: Kysely<unknown>) => identityMigration(engine, db),
    },
    '0003_events': {
      up: (db: Kysely<unknown>) => eventsMigration(engine, db),
    },
    '0004_user_preferences': {
      async up(db: Kysely<unknown>) {
        // JSON text: the console's language and theme, remembered per user.
        await db.schema.alterTable('user_account').addColumn('preferences', 'text').execute();
      },
    },
    '0005_repository_tag_version': {
      async up(db: Kysely<unknown>) {
        // Bumped in the transaction of every tag change: caches of tag lookups and tag lists are
        // keyed by it, so every instance sees a change at once without being told.
        await db.schema
          .alterTable('repository')
          .addColumn('tag_version', 'bigint', (c) => c.notNull().defaultTo(0))
          .execute();
      },
    },
    '0006_hardening': {
      up: (db: Kysely<unknown>) => hardeningMigration(db),
    },
    '0007_lifecycle': {
      up: (db: Kysely<unknown>) => lifecycleMigration(engine, db),
    },
    '0008_scrub': {
      up: (db: Kysely<unknown>) => scrubMigration(engine, db),
    },
    '0009_gc_indexes': {
      up: gcIndexMigration,
    },
    '0010_registry_endpoints': {
      up: (db: Kysely<unknown>) => endpointMigration(engine, db),
    },
    '0011_replication': {
      up: (db: Kysely<unknown>) => replicationMigration(engine, db),
    },
    '0012_leases': {
      async up(db: Kysely<unknown>) {
        // Named leases (ports/lease-store.ts): a proxy cache's first fetch of an image runs in one process.
        await db.schema
          .createTable('lease')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('owner', 'text', (c) => c.notNull())
          .addColumn('until', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0013_replication_filters': {
      async up(db: Kysely<unknown>) {
        // Replication rules' artifact-type and label filters (JSON lists; null: no filter).
        await db.schema.alterTable('replication_rule').addColumn('artifact_types', 'text').execute();
        await db.schema.alterTable('replication_rule').addColumn('labels', 'text').execute();
      },
    },
    '0014_endpoint_tls': {
      async up(db: Kysely<unknown>) {
        // Per-endpoint TLS: a CA bundle for registries with a private CA, or no verification at all.
        await db.schema.alterTable('registry_endpoint').addColumn('insecure', 'integer', (c) => c.notNull().defaultTo(0)).execute();
        await db.schema.alterTable('registry_endpoint').addColumn('ca_certificate', 'text').execute();
      },
    },
    '0015_preheat': {
      up: (db: Kysely<unknown>) => preheatMigration(engine, db),
    },
    '0016_vulnerabilities': {
      up: (db: Kysely<unknown>) => vulnerabilityMigration(engine, db),
    },
    '0017_scanners': {
      up: (db: Kysely<unknown>) => scannerMigration(engine, db),
    },
    // How often each manifest was pulled, counted by the batched pull recorder (the outbox's pull
    // events are pruned, so they cannot be counted later).
    '0018_pull_count': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('manifest').addColumn('pull_count', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
      },
    },
    '0019_image_index': {
      up: (db: Kysely<unknown>) => imageIndexMigration(engine, db),
    },
    '0020_rebuild_hints': {
      up: (db: Kysely<unknown>) => rebuildHintsMigration(engine, db),
    },
    // Rebuild hints from scans too: a row is a tag move ('move') or a base build scanned ('scan').
    '0021_rebuild_hint_kind': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('base_tag_move').addColumn('kind', 'text', (c) => c.notNull().defaultTo('move')).execute();
      },
    },
    // Which indexer format made each image record: records of an older one are indexed again.
    '0022_image_index_format': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('image_index').addColumn('format', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      },
    },
    // Search answers newest push first: a criterion most images meet walks this instead of sorting them all.
    '0023_manifest_push_order': {
      async up(db: Kysely<unknown>) {
        await db.schema.createIndex('manifest_created').on('manifest').column('created_at').execute();
        // The entries that can hide a path (search and file trees): directories never do, and every
        // application layer lists the same few (app, app/src), thousands of rows per key otherwise.
        await sql`CREATE INDEX layer_entry_masks ON layer_entry (parent, name) WHERE type <> 'directory'`.execute(db);
      },
    },
    // Which layer row is its image's last: "what is built on this image" walks the rows of its
    // chain that are not, instead of every image that ends where it ends (rebuild hints, search).
    '0024_image_layer_top': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('image_layer').addColumn('top', 'integer', (c) => c.notNull().defaultTo(0)).execute();
        await sql`UPDATE image_layer SET top = 1 WHERE position + 1 = (SELECT layer_count FROM image_index WHERE image_index.digest = image_layer.image_digest)`.execute(db);
        await db.schema.createIndex('image_layer_chain_top').on('image_layer').columns(['chain_id', 'position', 'top', 'image_digest']).execute();
        await db.schema.dropIndex('image_layer_chain').execute();
      },
    },
    // A claim takes the oldest runnable job: with queued jobs in id order it stops at the first
    // that is due, where (status, run_at) made it sort every queued job, and PostgreSQL often
    // walked the primary key past every finished job kept for the retention period instead.
    '0025_job_claim_order': {
      async up(db: Kysely<unknown>) {
        await db.schema.createIndex('job_status_id').on('job').columns(['status', 'id']).execute();
        await db.schema.dropIndex('job_runnable').execute();
      },
    },
    // A push's writes as server-side functions on PostgreSQL, one round trip each (pg-push.ts).
    '0026_push_functions': {
      async up(db: Kysely<unknown>) {
        if (engine === 'postgres') await pushFunctionsV1.execute(db);
      },
    },
    // A push's check and its pin in one round trip on PostgreSQL (berth_push_state, pg-push.ts).
    '0027_push_state_function': {
      async up(db: Kysely<unknown>) {
        if (engine === 'postgres') await pushStateFunctionV2.execute(db);
      },
    },
  };
}

/**
 * Online garbage collection (docs/lifecycle.md): when each blob and manifest was last pushed,
 * linked or looked at (the grace period counts from there); blobs being deleted; pins that
 * keep a blob alive while an upload or manifest push writes it; the runs themselves.
 */
async function lifecycleMigration(engine: Engine, db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('blob').addColumn('touched_at', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('blob').addColumn('deleting', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await sql`UPDATE blob SET touched_at = created_at`.execute(db);
  await db.schema.createIndex('blob_touched').on('blob').column('touched_at').execute();
  await db.schema.alterTable('manifest').addColumn('touched_at', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
  await sql`UPDATE manifest SET touched_at = created_at`.execute(db);
  // Last pulled (retention's "most recently pulled"), written in batches with the pull events.
  await db.schema.alterTable('manifest').addColumn('pulled_at', 'bigint').execute();

  // A project's retention policy and immutability rules (JSON), one row each.
  await db.schema
    .createTable('project_policy')
    .addColumn('project_id', 'bigint', (c) => c.notNull().references('project.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_by', 'text')
    .addPrimaryKeyConstraint('project_policy_pk', ['project_id', 'name'])
    .execute();

  await idColumn(engine, db.schema.createTable('retention_run'))
    .addColumn('project_id', 'bigint', (c) => c.notNull().references('project.id').onDelete('cascade'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('dry_run', 'integer', (c) => c.notNull())
    .addColumn('triggered_by', 'text', (c) => c.notNull())
    .addColumn('kept', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('deleted', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('report', 'text')
    .addColumn('error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('started_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .execute();
  await db.schema.createIndex('retention_run_project').on('retention_run').columns(['project_id', 'id']).execute();

  // Quotas: a project's own limits (null: unlimited), and its usage kept exact in the
  // transactions that add and remove manifests. Usage is keyed by the project's name (the first
  // path component), so it holds for repositories whatever their project row. A blob counts once
  // per project however many of its manifests use it (as Harbor counts).
  await db.schema.alterTable('project').addColumn('quota_bytes', 'bigint').execute();
  await db.schema.alterTable('project').addColumn('quota_artifacts', 'bigint').execute();
  await db.schema
    .createTable('project_blob')
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('refs', 'bigint', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('project_blob_pk', ['project', 'digest'])
    .execute();
  await db.schema
    .createTable('project_usage')
    .addColumn('project', 'text', (c) => c.primaryKey())
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .addColumn('artifacts', 'bigint', (c) => c.notNull())
    .execute();
  // What is stored already counts from now on.
  await recountAllUsage(db, engine);

  await db.schema
    .createTable('blob_pin')
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('token', 'text', (c) => c.notNull())
    .addColumn('until', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('blob_pin_pk', ['digest', 'token'])
    .execute();

  await idColumn(engine, db.schema.createTable('gc_run'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('dry_run', 'integer', (c) => c.notNull())
    .addColumn('options', 'text', (c) => c.notNull())
    .addColumn('triggered_by', 'text', (c) => c.notNull())
    .addColumn('phase', 'text')
    .addColumn('manifests_deleted', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('links_deleted', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('blobs_deleted', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('bytes_freed', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('uploads_expired', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('error', 'text')
    .addColumn('preview', 'text')
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('started_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .execute();
  await db.schema.createIndex('gc_run_status').on('gc_run').column('status').execute();
  // One row per named lock (the GC's), taken FOR UPDATE so only one run starts at a time on PostgreSQL.
  await db.schema.createTable('lifecycle_lock').addColumn('name', 'text', (c) => c.primaryKey()).execute();
}

/**
 * Scrub (docs/lifecycle.md): a blob or manifest whose stored bytes are corrupt or missing is
 * quarantined (never served) until a push of the same content repairs it; the runs, with the
 * cursor a run that stopped continues from.
 */
async function scrubMigration(engine: Engine, db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('blob').addColumn('quarantine', 'text').execute();
  await db.schema.alterTable('blob').addColumn('quarantined_at', 'bigint').execute();
  // Partial: only the few quarantined rows are in it (both engines support partial indexes).
  await db.schema.createIndex('blob_quarantine').on('blob').column('quarantined_at').where(sql.ref('quarantine'), 'is not', null).execute();
  await idColumn(engine, db.schema.createTable('scrub_run'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('triggered_by', 'text', (c) => c.notNull())
    .addColumn('resumed_from', 'bigint')
    .addColumn('cursor', 'text')
    .addColumn('objects_checked', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('bytes_checked', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('corrupt', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('missing', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('released', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('report', 'text')
    .addColumn('error', 'text')
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('started_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .execute();
  await db.schema.createIndex('scrub_run_status').on('scrub_run').column('status').execute();
}

/**
 * Other registries replication and the proxy cache talk to (docs/replication.md). The secret is
 * sealed (AES-256-GCM, key from secrets.encryptionKey), never stored in clear.
 */
async function endpointMigration(engine: Engine, db: Kysely<unknown>): Promise<void> {
  const nameType = engine === 'postgres' ? sql`text collate "C"` : sql`text`;
  await idColumn(engine, db.schema.createTable('registry_endpoint'))
    .addColumn('name', nameType, (c) => c.notNull().unique())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('username', 'text')
    .addColumn('secret_sealed', 'text')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

/**
 * Replication rules, their executions and one task per artifact copied (docs/replication.md).
 * Tasks are planned once per execution, so a run taken over after a crash carries on with
 * the tasks not done.
 */
/** P2P preheat (docs/preheat.md): Dragonfly providers, per-project policies, executions with a task per image. */
async function preheatMigration(engine: Engine, db: Kysely<unknown>): Promise<void> {
  await idColumn(engine, db.schema.createTable('preheat_provider'))
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('auth_mode', 'text', (c) => c.notNull())
    .addColumn('username', 'text')
    .addColumn('secret_sealed', 'text')
    .addColumn('insecure', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await idColumn(engine, db.schema.createTable('preheat_policy'))
    .addColumn('project_id', 'bigint', (c) => c.notNull().references('project.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('provider_id', 'bigint', (c) => c.notNull().references('preheat_provider.id'))
    .addColumn('repositories', 'text', (c) => c.notNull())
    .addColumn('tags', 'text', (c) => c.notNull())
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('cron', 'text')
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('cluster_ids', 'text')
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('preheat_policy_name', ['project_id', 'name'])
    .execute();
  await idColumn(engine, db.schema.createTable('preheat_execution'))
    .addColumn('policy_id', 'bigint', (c) => c.notNull().references('preheat_policy.id').onDelete('cascade'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('planned', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('started_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .execute();
  await db.schema.createIndex('preheat_execution_policy').on('preheat_execution').columns(['policy_id', 'id']).execute();
  await idColumn(engine, db.schema.createTable('preheat_task'))
    .addColumn('execution_id', 'bigint', (c) => c.notNull().references('preheat_execution.id').onDelete('cascade'))
    .addColumn('repository', 'text', (c) => c.notNull())
    .addColumn('tag', 'text', (c) => c.notNull())
    .addColumn('digest', 'text')
    .addColumn('job_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('message', 'text')
    .addColumn('started_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .execute();
  await db.schema.createIndex('preheat_task_execution').on('preheat_task').columns(['execution_id', 'status']).execute();
}

async function replicationMigration(engine: Engine, db: Kysely<unknown>): Promise<void> {
  const nameType = engine === 'postgres' ? sql`text collate "C"` : sql`text`;
  await idColumn(engine, db.schema.createTable('replication_rule'))
    .addColumn('name', nameType, (c) => c.notNull().unique())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('endpoint_id', 'bigint', (c) => c.notNull().references('registry_endpoint.id'))
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('repositories', 'text', (c) => c.notNull())
    .addColumn('tags', 'text', (c) => c.notNull())
    .addColumn('destination_namespace', 'text')
    .addColumn('flatten', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('cron', 'text')
    .addColumn('copy_referrers', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('bandwidth_kib', 'integer')
    .addColumn('replicate_deletion', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await idColumn(engine, db.schema.createTable('replication_execution'))
    .addColumn('rule_id', 'bigint', (c) => c.notNull().references('replication_rule.id').onDelete('cascade'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('planned', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('retry_of', 'bigint')
    .addColumn('error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('started_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .execute();
  await db.schema.createIndex('replication_execution_rule').on('replication_execution').columns(['rule_id', 'id']).execute();
  await idColumn(engine, db.schema.createTable('replication_task'))
    .addColumn('execution_id', 'bigint', (c) => c.notNull().references('replication_execution.id').onDelete('cascade'))
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('destination', 'text', (c) => c.notNull())
    .addColumn('reference', 'text', (c) => c.notNull())
    .addColumn('operation', 'text', (c) => c.notNull().defaultTo('copy'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('digest', 'text')
    .addColumn('bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('manifests', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('blobs', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error', 'text')
    .addColumn('started_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .execute();
  await db.schema.createIndex('replication_task_execution').on('replication_task').columns(['execution_id', 'status']).execute();
}

/**
 * Indexes garbage collection's scans read instead of the tables (bench:gc at 1M blob rows on
 * SQLite: finding the candidates 31 s before, 7-8 s after). Whether a repository's manifests
 * still list a blob is answered from the child index alone, parent included (a dry run asks
 * whether that parent would go); the blob scan reads digest, flags, time and size from an
 * index in digest order, not the rows scattered in the table.
 */
async function gcIndexMigration(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('manifest_reference_child').execute();
  await db.schema.createIndex('manifest_reference_child').on('manifest_reference').columns(['child_digest', 'repository_id', 'parent_digest']).execute();
  await db.schema.createIndex('blob_gc').on('blob').columns(['digest', 'deleting', 'touched_at', 'size']).execute();
}

/**
 * Login back-off per account and client address (instead of locking the account for everyone),
 * rate-limit counters shared by every process, settings changed at run time, and limits per
 * project and robot.
 */
async function hardeningMigration(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('login_failure')
    // The login name as given ('*' counts every account from one address) and the client address (IPv6: its /64).
    .addColumn('account', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('blocked_until', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('login_failure_pk', ['account', 'source'])
    .execute();
  await db.schema.createIndex('login_failure_updated').on('login_failure').column('updated_at').execute();

  await db.schema
    .createTable('rate_counter')
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('window_start', 'bigint', (c) => c.notNull())
    .addColumn('count', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('rate_counter_pk', ['key', 'window_start'])
    .execute();
  await db.schema.createIndex('rate_counter_window').on('rate_counter').column('window_start').execute();

  await db.schema
    .createTable('system_setting')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_by', 'text')
    .execute();

  // Per project and robot: null follows the system setting, -1 is unlimited.
  for (const table of ['project', 'robot']) {
    await db.schema.alterTable(table).addColumn('pull_limit', 'integer').execute();
    await db.schema.alterTable(table).addColumn('api_limit', 'integer').execute();
  }
  // The account-wide lock these held is gone (anyone could lock anyone out); login_failure replaces it.
  await db.schema.alterTable('user_account').dropColumn('failed_logins').execute();
  await db.schema.alterTable('user_account').dropColumn('locked_until').execute();
}

/** An auto-increment primary key column, as each engine spells it. */
function idColumn(engine: Engine, table: CreateTableBuilder<string, never>) {
  return engine === 'sqlite'
    ? table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    : table.addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity());
}

async function identityMigration(engine: Engine, db: Kysely<unknown>): Promise<void> {
  const nameType = engine === 'postgres' ? sql`text collate "C"` : sql`text`;
  await idColumn(engine, db.schema.createTable('user_account'))
    .addColumn('username', nameType, (c) => c.notNull().unique())
    .addColumn('email', 'text')
    .addColumn('display_name', 'text')
    .addColumn('password_hash', 'text')
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('external_id', 'text')
    .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('failed_logins', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('locked_until', 'bigint')
    .addColumn('cli_secret_hash', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('last_login_at', 'bigint')
    .execute();
  await db.schema.createIndex('user_account_external').on('user_account').columns(['source', 'external_id']).execute();

  await idColumn(engine, db.schema.createTable('user_group'))
    .addColumn('name', nameType, (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('external_id', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('user_group_source_name', ['source', 'name'])
    .execute();
  await db.schema.createIndex('user_group_external').on('user_group').columns(['source', 'external_id']).execute();

  await db.schema
    .createTable('group_member')
    .addColumn('group_id', 'bigint', (c) => c.notNull().references('user_group.id').onDelete('cascade'))
    .addColumn('user_id', 'bigint', (c) => c.notNull().references('user_account.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('group_member_pk', ['group_id', 'user_id'])
    .execute();
  await db.schema.createIndex('group_member_user').on('group_member').column('user_id').execute();

  await idColumn(engine, db.schema.createTable('project'))
    .addColumn('name', nameType, (c) => c.notNull().unique())
    .addColumn('public', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await idColumn(engine, db.schema.createTable('project_member'))
    .addColumn('project_id', 'bigint', (c) => c.notNull().references('project.id').onDelete('cascade'))
    .addColumn('principal_type', 'text', (c) => c.notNull())
    .addColumn('principal_id', 'bigint', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('project_member_principal', ['project_id', 'principal_type', 'principal_id'])
    .execute();
  await db.schema.createIndex('project_member_lookup').on('project_member').columns(['principal_type', 'principal_id']).execute();

  await idColumn(engine, db.schema.createTable('robot'))
    .addColumn('name', nameType, (c) => c.notNull().unique())
    .addColumn('project_id', 'bigint', (c) => c.references('project.id').onDelete('cascade'))
    .addColumn('description', 'text')
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('permissions', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint')
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('signing_key')
    .addColumn('kid', 'text', (c) => c.primaryKey())
    .addColumn('private_jwk', 'text', (c) => c.notNull())
    .addColumn('public_jwk', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('retired_at', 'bigint')
    .execute();

  await idColumn(engine, db.schema.createTable('audit_log'))
    .addColumn('time', 'bigint', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('actor_type', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('resource_type', 'text', (c) => c.notNull())
    .addColumn('resource', 'text', (c) => c.notNull())
    .addColumn('project', 'text')
    .addColumn('source_ip', 'text')
    .addColumn('result', 'text', (c) => c.notNull())
    .addColumn('detail', 'text')
    .addColumn('request_id', 'text')
    .execute();
  await db.schema.createIndex('audit_log_time').on('audit_log').column('time').execute();
  await db.schema.createIndex('audit_log_project_time').on('audit_log').columns(['project', 'time']).execute();
  await db.schema.createIndex('audit_log_actor_time').on('audit_log').columns(['actor', 'time']).execute();
}

async function eventsMigration(engine: Engine, db: Kysely<unknown>): Promise<void> {
  await idColumn(engine, db.schema.createTable('event_outbox'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('project', 'text')
    .addColumn('repository', 'text')
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('event_outbox_created').on('event_outbox').column('created_at').execute();

  await db.schema
    .createTable('event_cursor')
    .addColumn('consumer', 'text', (c) => c.primaryKey())
    .addColumn('last_id', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await idColumn(engine, db.schema.createTable('webhook'))
    .addColumn('project_id', 'bigint', (c) => c.notNull().references('project.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('event_types', 'text', (c) => c.notNull())
    .addColumn('format', 'text', (c) => c.notNull())
    .addColumn('auth_header', 'text')
    .addColumn('secret', 'text')
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('webhook_project_name', ['project_id', 'name'])
    .execute();

  await idColumn(engine, db.schema.createTable('webhook_delivery'))
    .addColumn('webhook_id', 'bigint', (c) => c.notNull().references('webhook.id').onDelete('cascade'))
    .addColumn('event_id', 'bigint')
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('response_code', 'integer')
    .addColumn('latency_ms', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('webhook_delivery_webhook').on('webhook_delivery').columns(['webhook_id', 'id']).execute();

  await idColumn(engine, db.schema.createTable('job'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('ordering_key', 'text')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('max_attempts', 'integer', (c) => c.notNull())
    .addColumn('run_at', 'bigint', (c) => c.notNull())
    .addColumn('locked_by', 'text')
    .addColumn('locked_until', 'bigint')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('finished_at', 'bigint')
    .execute();
  await db.schema.createIndex('job_runnable').on('job').columns(['status', 'run_at']).execute();
  await db.schema.createIndex('job_ordering').on('job').columns(['ordering_key', 'id']).execute();

  await db.schema
    .createTable('schedule')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('cron', 'text', (c) => c.notNull())
    .addColumn('job_type', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('next_run_at', 'bigint', (c) => c.notNull())
    .addColumn('last_run_at', 'bigint')
    .execute();
}

/**
 * Vulnerability scanning (docs/vulnerabilities.md): the OSV advisories an operator imported (one
 * row per advisory, one per package it affects, one per alias), the imports themselves (whose
 * newest id is the database's version), and one scan report per manifest digest.
 */
async function vulnerabilityMigration(engine: Engine, db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('vuln_advisory')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('modified', 'text', (c) => c.notNull())
    .addColumn('published', 'text')
    .addColumn('withdrawn', 'text')
    .addColumn('aliases', 'text', (c) => c.notNull())
    .addColumn('summary', 'text', (c) => c.notNull())
    .addColumn('severity', 'text', (c) => c.notNull())
    .addColumn('cvss_score', 'double precision')
    .addColumn('cvss_vector', 'text')
    .addColumn('refs', 'text', (c) => c.notNull())
    .addColumn('imported_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('vuln_affected')
    .addColumn('advisory_id', 'text', (c) => c.notNull().references('vuln_advisory.id').onDelete('cascade'))
    .addColumn('ecosystem', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('ranges', 'text', (c) => c.notNull())
    .addColumn('versions', 'text', (c) => c.notNull())
    .addColumn('severity', 'text')
    .execute();
  await db.schema.createIndex('vuln_affected_package').on('vuln_affected').columns(['name', 'ecosystem']).execute();
  await db.schema.createIndex('vuln_affected_advisory').on('vuln_affected').column('advisory_id').execute();
  await db.schema
    .createTable('vuln_alias')
    .addColumn('alias', 'text', (c) => c.notNull())
    .addColumn('advisory_id', 'text', (c) => c.notNull().references('vuln_advisory.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('vuln_alias_pk', ['alias', 'advisory_id'])
    .execute();
  await db.schema.createIndex('vuln_alias_advisory').on('vuln_alias').column('advisory_id').execute();
  await idColumn(engine, db.schema.createTable('vuln_import'))
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('added', 'integer', (c) => c.notNull())
    .addColumn('updated', 'integer', (c) => c.notNull())
    .addColumn('unchanged', 'integer', (c) => c.notNull())
    .addColumn('rejected', 'integer', (c) => c.notNull())
    .addColumn('imported_by', 'text')
    .addColumn('imported_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('scan_report')
    .addColumn('digest', 'text', (c) => c.primaryKey())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('db_version', 'bigint', (c) => c.notNull())
    .addColumn('scanner', 'text', (c) => c.notNull())
    .addColumn('packages', 'integer', (c) => c.notNull())
    .addColumn('summary', 'text', (c) => c.notNull())
    .addColumn('findings', 'text', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addColumn('scanned_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('scan_report_version').on('scan_report').column('db_version').execute();
}

/**
 * Harbor's pluggable scanner API (docs/scanners.md): external scanners registered here (at most
 * one the default), and the scan requests Berth's own adapter endpoint accepted (any instance
 * answers the report while the one that took the request runs it).
 */
async function scannerMigration(engine: Engine, db: Kysely<unknown>): Promise<void> {
  await idColumn(engine, db.schema.createTable('scanner_registration'))
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('description', 'text')
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('auth', 'text', (c) => c.notNull())
    .addColumn('credential_sealed', 'text')
    .addColumn('skip_cert_verify', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('is_default', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('scanner_registration_one_default').on('scanner_registration').column('is_default').unique().where(sql.ref('is_default'), '=', 1).execute();
  await db.schema
    .createTable('scanner_adapter_scan')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('repository', 'text', (c) => c.notNull())
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('report', 'text')
    .addColumn('error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('scanner_adapter_scan_created').on('scanner_adapter_scan').column('created_at').execute();
}

/**
 * The image index (issue 17, ports/image-index-store.ts): layers and images keyed by content,
 * so search, file trees, stored lint and base lookups are queries. Entries are stored by
 * (parent, name) so an exact path and a bare file name are each one index seek; PostgreSQL
 * compares them byte-wise ("C") as SQLite does, so listings sort alike on both engines.
 * scan_finding flattens the latest scan report of each manifest into one row per
 * vulnerability id or alias, so search by CVE is an index seek too; existing reports are
 * backfilled here. The search indexes end with the image digest, so a criterion's images are
 * read from the index alone (a common package's rows lie on thousands of table pages).
 */
async function imageIndexMigration(engine: Engine, db: Kysely<unknown>): Promise<void> {
  const bytewise = engine === 'postgres' ? sql`text COLLATE "C"` : sql`text`;
  await db.schema
    .createTable('layer_index')
    .addColumn('digest', 'text', (c) => c.primaryKey())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('entries', 'bigint', (c) => c.notNull())
    .addColumn('files', 'bigint', (c) => c.notNull())
    .addColumn('file_bytes', 'bigint', (c) => c.notNull())
    .addColumn('uncompressed_bytes', 'bigint', (c) => c.notNull())
    .addColumn('truncated', 'integer', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('indexed_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('layer_entry')
    .addColumn('layer_digest', 'text', (c) => c.notNull())
    .addColumn('parent', bytewise, (c) => c.notNull())
    .addColumn('name', bytewise, (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('mode', 'integer', (c) => c.notNull())
    .addColumn('uid', 'bigint', (c) => c.notNull())
    .addColumn('gid', 'bigint', (c) => c.notNull())
    .addColumn('link_target', 'text')
    .addPrimaryKeyConstraint('layer_entry_pk', ['layer_digest', 'parent', 'name'])
    .execute();
  await db.schema.createIndex('layer_entry_path').on('layer_entry').columns(['parent', 'name', 'type']).execute();
  await db.schema.createIndex('layer_entry_name').on('layer_entry').columns(['name', 'layer_digest', 'parent']).execute();

  await db.schema
    .createTable('image_index')
    .addColumn('digest', 'text', (c) => c.primaryKey())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('config_digest', 'text', (c) => c.notNull())
    .addColumn('platform', 'text', (c) => c.notNull())
    .addColumn('layer_count', 'integer', (c) => c.notNull())
    .addColumn('compressed_bytes', 'bigint', (c) => c.notNull())
    .addColumn('uncompressed_bytes', 'bigint', (c) => c.notNull())
    .addColumn('os_id', 'text')
    .addColumn('os_version', 'text')
    .addColumn('os', 'text')
    .addColumn('packages', 'text', (c) => c.notNull())
    .addColumn('labels', 'text', (c) => c.notNull())
    .addColumn('annotations', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint')
    .addColumn('lint', 'text')
    .addColumn('indexed_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('image_layer')
    .addColumn('image_digest', 'text', (c) => c.notNull())
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('layer_digest', 'text', (c) => c.notNull())
    .addColumn('chain_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('image_layer_pk', ['image_digest', 'position'])
    .execute();
  await db.schema.createIndex('image_layer_chain').on('image_layer').columns(['chain_id', 'position', 'image_digest']).execute();
  await db.schema.createIndex('image_layer_layer').on('image_layer').columns(['layer_digest', 'image_digest', 'position']).execute();
  await db.schema
    .createTable('image_package')
    .addColumn('image_digest', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('source', 'text')
    .addColumn('source_version', 'text')
    .execute();
  await db.schema.createIndex('image_package_name').on('image_package').columns(['name', 'version', 'image_digest', 'type']).execute();
  await db.schema.createIndex('image_package_source').on('image_package').columns(['source', 'source_version', 'image_digest', 'type']).execute();
  await db.schema.createIndex('image_package_image').on('image_package').column('image_digest').execute();
  await db.schema
    .createTable('image_label')
    .addColumn('image_digest', 'text', (c) => c.notNull())
    .addColumn('origin', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('image_label_key').on('image_label').columns(['key', 'value', 'image_digest']).execute();
  await db.schema.createIndex('image_label_image').on('image_label').column('image_digest').execute();

  await db.schema
    .createTable('scan_finding')
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('vuln_id', 'text', (c) => c.notNull())
    .addColumn('finding_id', 'text', (c) => c.notNull())
    .addColumn('severity', 'text', (c) => c.notNull())
    .addColumn('package', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('scan_finding_vuln').on('scan_finding').columns(['vuln_id', 'digest']).execute();
  await db.schema.createIndex('scan_finding_digest').on('scan_finding').column('digest').execute();
  // Backfill from the stored reports, a page at a time (a report may list thousands of findings).
  let after = '';
  for (;;) {
    const page = await sql<{ digest: string; findings: string }>`SELECT digest, findings FROM scan_report WHERE digest > ${after} ORDER BY digest LIMIT 200`.execute(db);
    if (page.rows.length === 0) break;
    for (const row of page.rows) {
      for (const chunk of chunksOf(findingRows(row.digest, JSON.parse(row.findings) as FindingLike[]), 1000)) {
        await db.insertInto('scan_finding' as never).values(chunk as never).execute();
      }
    }
    after = page.rows[page.rows.length - 1]!.digest;
  }
}

function chunksOf<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Rebuild hints (docs/insights.md): each base tag that moved (from the outbox's push and tag
 * events), worked out once into `rebuild` events; kept so a project's current hints are a query
 * (the outbox is pruned). Slimmer-base candidates are looked up by distribution and size.
 */
async function rebuildHintsMigration(engine: Engine, db: Kysely<unknown>): Promise<void> {
  await idColumn(engine, db.schema.createTable('base_tag_move'))
    .addColumn('repository', 'text', (c) => c.notNull())
    .addColumn('tag', 'text', (c) => c.notNull())
    .addColumn('previous_digest', 'text', (c) => c.notNull())
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('operator', 'text', (c) => c.notNull())
    .addColumn('moved_at', 'bigint', (c) => c.notNull())
    .addColumn('done', 'integer', (c) => c.notNull())
    .addColumn('previous_layers', 'text')
    .execute();
  await db.schema.createIndex('base_tag_move_pending').on('base_tag_move').columns(['done', 'id']).execute();
  await db.schema.createIndex('base_tag_move_previous').on('base_tag_move').columns(['repository', 'previous_digest']).execute();
  await db.schema.createIndex('image_index_distribution').on('image_index').columns(['os_id', 'os_version', 'platform', 'uncompressed_bytes']).execute();
}

/**
 * Rebuilds project_blob and project_usage from the manifests: the migration's backfill, and the
 * from-scratch recount tests compare the maintained figures with.
 */
export async function recountAllUsage(db: Kysely<unknown>, engine: Engine): Promise<void> {
  const project = engine === 'postgres' ? sql`split_part(repo.name, '/', 1)` : sql`CASE WHEN instr(repo.name, '/') > 0 THEN substr(repo.name, 1, instr(repo.name, '/') - 1) ELSE repo.name END`;
  await sql`DELETE FROM project_blob`.execute(db);
  await sql`DELETE FROM project_usage`.execute(db);
  // Every digest a project's manifests are or reference, with how many times.
  await sql`
    INSERT INTO project_blob (project, digest, refs, size)
    SELECT ${project}, x.digest, COUNT(*), MAX(b.size)
    FROM (
      SELECT m.repository_id, m.digest FROM manifest m
      UNION ALL
      SELECT r.repository_id, r.child_digest FROM manifest_reference r
    ) x
    JOIN repository repo ON repo.id = x.repository_id
    JOIN blob b ON b.digest = x.digest
    GROUP BY ${project}, x.digest`.execute(db);
  await sql`
    INSERT INTO project_usage (project, bytes, artifacts)
    SELECT p.project, COALESCE((SELECT SUM(pb.size) FROM project_blob pb WHERE pb.project = p.project), 0), p.artifacts
    FROM (SELECT ${project} AS project, COUNT(*) AS artifacts FROM manifest m JOIN repository repo ON repo.id = m.repository_id GROUP BY ${project}) p`.execute(db);
}

export function migrationProvider(engine: Engine): MigrationProvider {
  return { getMigrations: async () => migrations(engine) };
}
