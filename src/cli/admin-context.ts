import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { loadConfig, type ResolvedConfig } from '../config/load.js';
import { PgInvalidationBus } from '../adapters/bus/pg-invalidation-bus.js';
import { connect, migrate, type Database } from '../adapters/db/connect.js';
import { KyselyAuditStore } from '../adapters/db/kysely-audit-store.js';
import { KyselyIdentityStore } from '../adapters/db/kysely-identity-store.js';
import { KyselyLoginFailureStore } from '../adapters/db/kysely-login-failure-store.js';
import { KyselyMetadataStore } from '../adapters/db/kysely-metadata-store.js';
import { KyselySettingsStore } from '../adapters/db/kysely-settings-store.js';
import type { AuditEntry } from '../ports/audit-store.js';
import type { IdentityStore } from '../ports/identity-store.js';
import type { LoginFailureStore } from '../ports/login-failure-store.js';
import { AuditLog } from '../services/audit/audit-log.js';
import { QuotaService } from '../services/lifecycle/quotas.js';
import type { Principal } from '../services/identity/principal.js';
import { RobotService } from '../services/identity/robot-service.js';
import { UserService } from '../services/identity/user-service.js';
import { ProjectService } from '../services/projects/project-service.js';
import { SystemSettings } from '../services/settings/system-settings.js';
import { touchIntervalMs } from '../wiring/lifecycle.js';
import { settingFlags } from './set-flags.js';

/** The options every command that opens this Berth's database takes. */
export interface ConfigFlags {
  config?: string;
  dataDir?: string;
  set?: string[];
  json?: boolean;
}

/** Adds `--config`, `--data-dir`, `--set` and `--json` to a command that opens the configured database. */
export function withConfigFlags(command: Command, json = 'print the result as JSON'): Command {
  return command
    .option('-c, --config <file>', 'YAML config (also BERTH_CONFIG)')
    .option('--data-dir <dir>', 'data directory (dataDir)')
    .option('--set <key=value...>', 'any setting by its dotted key')
    .option('--json', json);
}

/** The configuration a command's flags, the environment and the config file make. */
export function configFrom(flags: ConfigFlags): ResolvedConfig {
  return loadConfig({ file: flags.config, flags: { dataDir: flags.dataDir, ...settingFlags(flags.set) } });
}

/** What the user, project and robot commands work with: the services the API uses, on the configured database. */
export interface AdminContext {
  identity: IdentityStore;
  users: UserService;
  projects: ProjectService;
  robots: RobotService;
  quotas: QuotaService;
  loginFailures: LoginFailureStore;
  /** How the CLI appears in the audit log and as a creator: `cli (<login user>)`. */
  actor: string;
  /** The CLI acts as a system administrator (whoever can read the configuration and database is one). */
  principal: Principal;
  audit(entry: Pick<AuditEntry, 'action' | 'resourceType' | 'resource' | 'project' | 'detail'>): void;
  /** Writes the audit log, tells running instances that identities changed (PostgreSQL), closes the database. */
  close(): Promise<void>;
}

/**
 * Opens the configured database (migrated, as `berth serve` would) for an administrator's
 * command, with the same services and rules as the API: password policy, last-admin guard,
 * robot permissions, the system default quota. Works while Berth runs. A running Berth on
 * PostgreSQL drops its identity caches at once (LISTEN/NOTIFY); on SQLite its cached logins
 * expire within 60 s (docs/cli.md).
 */
export async function openAdmin(config: ResolvedConfig): Promise<AdminContext> {
  const database = connect({ url: config.database.url, poolSize: 2, connectRetryMs: config.database.connectRetryMs, preparedStatements: config.database.preparedStatements });
  try {
    await migrate(database);
  } catch (err) {
    await database.db.destroy();
    throw err;
  }
  let changed = false;
  const onChange = () => {
    changed = true;
  };
  const identity = new KyselyIdentityStore(database);
  const meta = new KyselyMetadataStore(database, { touchIntervalMs: touchIntervalMs(config) });
  const settings = new SystemSettings(new KyselySettingsStore(database), {
    file: {
      outbound: config.outbound,
      rateLimits: config.rateLimits,
      quotaDefaults: { storageBytes: config.lifecycle.quota.defaultStorageBytes, artifacts: config.lifecycle.quota.defaultArtifacts },
    },
    onChange: () => undefined,
  });
  await settings.reload();
  const actor = `cli (${loginName()})`;
  const auditLog = new AuditLog(new KyselyAuditStore(database), { retentionDays: config.audit.retentionDays });
  return {
    identity,
    users: new UserService(identity, { passwordPolicy: { minLength: config.auth.passwordMinLength }, onChange }),
    projects: new ProjectService(identity, meta, { onChange, newProjectQuota: () => settings.newProjectQuota() }),
    robots: new RobotService(identity, onChange),
    quotas: new QuotaService(identity, meta, { project: (name) => identity.getProject(name), onChange }),
    loginFailures: new KyselyLoginFailureStore(database),
    actor,
    principal: { kind: 'user', id: 0, name: actor, isAdmin: true, groupIds: [], source: 'local' },
    audit: (entry) => auditLog.record({ ...entry, actor, actorType: 'system', sourceIp: null, result: 'success', requestId: null }),
    close: async () => {
      try {
        await auditLog.flush();
        if (changed) await tellInstances(config, database);
      } finally {
        await database.db.destroy();
      }
    },
  };
}

/** Running instances on a shared PostgreSQL database drop their identity caches now (SQLite has no channel). */
async function tellInstances(config: ResolvedConfig, database: Database): Promise<void> {
  if (database.engine !== 'postgres') return;
  await PgInvalidationBus.tell({ url: config.database.url, db: database.db }, { kind: 'identity' });
}

/** Opens the database for one command and always closes it (which also tells running instances). */
export async function withAdmin(flags: ConfigFlags, work: (admin: AdminContext) => Promise<void>): Promise<void> {
  const admin = await openAdmin(configFrom(flags));
  try {
    await work(admin);
  } finally {
    await admin.close();
  }
}

/** Who runs the command, for the audit log: the login name, or the uid where the system has no name for it (a container). */
function loginName(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? `uid ${process.getuid?.() ?? 'unknown'}`;
  }
}
