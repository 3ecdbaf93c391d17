import { sql, type Kysely, type Selectable, type SelectQueryBuilder, type Updateable } from 'kysely';
import type { ProjectRole } from '../../domain/permissions.js';
import type {
  GroupRow,
  IdentityStore,
  ListQuery,
  ListResult,
  MemberRow,
  NewUser,
  ProjectRow,
  RobotPermission,
  RobotRow,
  SigningKeyRow,
  UserPatch,
  UserPreferences,
  UserRow,
  UserSource,
  LimitOverride,
  RateLimitOverrides,
} from '../../ports/identity-store.js';
import type { QuotaLimits } from '../../ports/metadata-store.js';
import type { Database } from './connect.js';
import { likeContains } from './like.js';
import type { Engine } from './migrations.js';
import type { ProjectTable, RobotTable, Schema, UserAccountTable, UserGroupTable } from './schema.js';

/** API field names a list may be sorted and filtered by, per table (never raw input as a column). */
const userFields = { username: 'username', email: 'email', created_at: 'created_at', source: 'source' } as const;
const groupFields = { name: 'name', source: 'source', created_at: 'created_at' } as const;
const projectFields = { name: 'name', created_at: 'created_at', public: 'public' } as const;
const robotFields = { name: 'name', created_at: 'created_at', expires_at: 'expires_at' } as const;

export class KyselyIdentityStore implements IdentityStore {
  private readonly db: Kysely<Schema>;
  private readonly engine: Engine;

  constructor(database: Database) {
    this.db = database.db;
    this.engine = database.engine;
  }

  // --- users -------------------------------------------------------------------------------

  async createUser(user: NewUser, now: number): Promise<UserRow> {
    const row = await this.db
      .insertInto('user_account')
      .values({
        username: user.username,
        email: user.email,
        display_name: user.displayName,
        password_hash: user.passwordHash,
        source: user.source,
        external_id: user.externalId,
        is_admin: user.isAdmin ? 1 : 0,
        disabled: 0,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toUser(row);
  }

  async getUser(id: number): Promise<UserRow | undefined> {
    const row = await this.db.selectFrom('user_account').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toUser(row);
  }

  async getUserByName(username: string): Promise<UserRow | undefined> {
    const row = await this.db.selectFrom('user_account').selectAll().where('username', '=', username).executeTakeFirst();
    return row && toUser(row);
  }

  async getUserByExternalId(source: UserSource, externalId: string): Promise<UserRow | undefined> {
    const row = await this.db
      .selectFrom('user_account')
      .selectAll()
      .where('source', '=', source)
      .where('external_id', '=', externalId)
      .executeTakeFirst();
    return row && toUser(row);
  }

  async updateUser(id: number, patch: UserPatch, now: number): Promise<UserRow | undefined> {
    const values: Updateable<UserAccountTable> = { updated_at: now };
    if (patch.email !== undefined) values.email = patch.email;
    if (patch.displayName !== undefined) values.display_name = patch.displayName;
    if (patch.passwordHash !== undefined) values.password_hash = patch.passwordHash;
    if (patch.isAdmin !== undefined) values.is_admin = patch.isAdmin ? 1 : 0;
    if (patch.disabled !== undefined) values.disabled = patch.disabled ? 1 : 0;
    if (patch.cliSecretHash !== undefined) values.cli_secret_hash = patch.cliSecretHash;
    if (patch.lastLoginAt !== undefined) values.last_login_at = patch.lastLoginAt;
    if (patch.preferences !== undefined) values.preferences = JSON.stringify(patch.preferences);
    const row = await this.db.updateTable('user_account').set(values).where('id', '=', id).returningAll().executeTakeFirst();
    return row && toUser(row);
  }

  async deleteUser(id: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('project_member').where('principal_type', '=', 'user').where('principal_id', '=', id).execute();
      const result = await trx.deleteFrom('user_account').where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  async listUsers(query: ListQuery): Promise<ListResult<UserRow>> {
    const base = this.filtered(this.db.selectFrom('user_account'), query, userFields);
    const [rows, total] = await Promise.all([
      this.paged(base.selectAll(), query, userFields, 'username').execute(),
      this.count(base),
    ]);
    return { items: rows.map(toUser), total };
  }

  async countAdmins(): Promise<number> {
    const row = await this.db
      .selectFrom('user_account')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('is_admin', '=', 1)
      .where('disabled', '=', 0)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  // --- groups ------------------------------------------------------------------------------

  async createGroup(group: Omit<GroupRow, 'id' | 'createdAt'>, now: number): Promise<GroupRow> {
    const row = await this.db
      .insertInto('user_group')
      .values({ name: group.name, source: group.source, external_id: group.externalId, created_at: now })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toGroup(row);
  }

  async getGroup(id: number): Promise<GroupRow | undefined> {
    const row = await this.db.selectFrom('user_group').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toGroup(row);
  }

  async getGroupByExternalId(source: UserSource, externalId: string): Promise<GroupRow | undefined> {
    const row = await this.db
      .selectFrom('user_group')
      .selectAll()
      .where('source', '=', source)
      .where('external_id', '=', externalId)
      .executeTakeFirst();
    return row && toGroup(row);
  }

  async listGroups(query: ListQuery): Promise<ListResult<GroupRow>> {
    const base = this.filtered(this.db.selectFrom('user_group'), query, groupFields);
    const [rows, total] = await Promise.all([this.paged(base.selectAll(), query, groupFields, 'name').execute(), this.count(base)]);
    return { items: rows.map(toGroup), total };
  }

  async deleteGroup(id: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('project_member').where('principal_type', '=', 'group').where('principal_id', '=', id).execute();
      await trx.deleteFrom('group_member').where('group_id', '=', id).execute();
      const result = await trx.deleteFrom('user_group').where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  async setUserGroups(userId: number, source: UserSource, groupIds: number[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const sourceGroups = trx.selectFrom('user_group').select('id').where('source', '=', source);
      await trx.deleteFrom('group_member').where('user_id', '=', userId).where('group_id', 'in', sourceGroups).execute();
      if (groupIds.length > 0) {
        await trx
          .insertInto('group_member')
          .values(groupIds.map((groupId) => ({ group_id: groupId, user_id: userId })))
          .onConflict((oc) => oc.columns(['group_id', 'user_id']).doNothing())
          .execute();
      }
    });
  }

  async addUserToGroup(userId: number, groupId: number): Promise<void> {
    await this.db
      .insertInto('group_member')
      .values({ group_id: groupId, user_id: userId })
      .onConflict((oc) => oc.columns(['group_id', 'user_id']).doNothing())
      .execute();
  }

  async removeUserFromGroup(userId: number, groupId: number): Promise<boolean> {
    const result = await this.db.deleteFrom('group_member').where('user_id', '=', userId).where('group_id', '=', groupId).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async groupIdsOf(userId: number): Promise<number[]> {
    const rows = await this.db.selectFrom('group_member').select('group_id').where('user_id', '=', userId).execute();
    return rows.map((r) => r.group_id);
  }

  // --- projects ----------------------------------------------------------------------------

  async createProject(project: { name: string; public: boolean; createdBy: string | null; quota?: QuotaLimits }, now: number): Promise<ProjectRow> {
    const row = await this.db
      .insertInto('project')
      .values({
        name: project.name,
        public: project.public ? 1 : 0,
        created_at: now,
        created_by: project.createdBy,
        updated_at: now,
        quota_bytes: project.quota?.bytes ?? null,
        quota_artifacts: project.quota?.artifacts ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toProject(row);
  }

  async getProject(name: string): Promise<ProjectRow | undefined> {
    const row = await this.db.selectFrom('project').selectAll().where('name', '=', name).executeTakeFirst();
    return row && toProject(row);
  }

  async getProjectById(id: number): Promise<ProjectRow | undefined> {
    const row = await this.db.selectFrom('project').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toProject(row);
  }

  async updateProject(id: number, patch: { public?: boolean; rateLimits?: Partial<RateLimitOverrides>; quota?: Partial<QuotaLimits> }, now: number): Promise<ProjectRow | undefined> {
    const values: Updateable<ProjectTable> = { updated_at: now, ...limitColumns(patch.rateLimits) };
    if (patch.public !== undefined) values.public = patch.public ? 1 : 0;
    if (patch.quota?.bytes !== undefined) values.quota_bytes = patch.quota.bytes;
    if (patch.quota?.artifacts !== undefined) values.quota_artifacts = patch.quota.artifacts;
    const row = await this.db.updateTable('project').set(values).where('id', '=', id).returningAll().executeTakeFirst();
    return row && toProject(row);
  }

  async deleteProject(id: number): Promise<boolean> {
    const result = await this.db.deleteFrom('project').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async listProjects(query: ListQuery, visibleTo?: { userId: number; groupIds: number[] }): Promise<ListResult<ProjectRow>> {
    let base = this.filtered(this.db.selectFrom('project'), query, projectFields);
    if (visibleTo) {
      base = base.where((eb) =>
        eb.or([
          eb('public', '=', 1),
          eb(
            'id',
            'in',
            this.db
              .selectFrom('project_member')
              .select('project_id')
              .where((m) =>
                m.or([
                  m.and([m('principal_type', '=', 'user'), m('principal_id', '=', visibleTo.userId)]),
                  ...(visibleTo.groupIds.length > 0 ? [m.and([m('principal_type', '=', 'group'), m('principal_id', 'in', visibleTo.groupIds)])] : []),
                ]),
              ),
          ),
        ]),
      );
    }
    const [rows, total] = await Promise.all([this.paged(base.selectAll(), query, projectFields, 'name').execute(), this.count(base)]);
    return { items: rows.map(toProject), total };
  }

  // --- members -----------------------------------------------------------------------------

  async addMember(member: { projectId: number; principalType: 'user' | 'group'; principalId: number; role: ProjectRole }, now: number): Promise<MemberRow> {
    const row = await this.db
      .insertInto('project_member')
      .values({ project_id: member.projectId, principal_type: member.principalType, principal_id: member.principalId, role: member.role, created_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    return (await this.getMember(row.id))!;
  }

  async getMember(id: number): Promise<MemberRow | undefined> {
    const row = await this.memberQuery().where('project_member.id', '=', id).executeTakeFirst();
    return row && toMember(row);
  }

  async updateMember(id: number, role: ProjectRole): Promise<MemberRow | undefined> {
    await this.db.updateTable('project_member').set({ role }).where('id', '=', id).execute();
    return this.getMember(id);
  }

  async deleteMember(id: number): Promise<boolean> {
    const result = await this.db.deleteFrom('project_member').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async listMembers(projectId: number, query: ListQuery): Promise<ListResult<MemberRow>> {
    const rows = await this.memberQuery().where('project_member.project_id', '=', projectId).orderBy('project_member.id').execute();
    const members = rows.map(toMember).filter((m) => {
      const name = query.fuzzy?.name ?? query.exact?.name;
      if (name === undefined) return true;
      return query.exact?.name !== undefined ? m.principalName === name : m.principalName.toLowerCase().includes(name.toLowerCase());
    });
    return { items: members.slice(query.offset, query.offset + query.limit), total: members.length };
  }

  async rolesIn(projectId: number, userId: number, groupIds: number[]): Promise<ProjectRole[]> {
    const rows = await this.db
      .selectFrom('project_member')
      .select('role')
      .where('project_id', '=', projectId)
      .where((eb) =>
        eb.or([
          eb.and([eb('principal_type', '=', 'user'), eb('principal_id', '=', userId)]),
          ...(groupIds.length > 0 ? [eb.and([eb('principal_type', '=', 'group'), eb('principal_id', 'in', groupIds)])] : []),
        ]),
      )
      .execute();
    return rows.map((r) => r.role as ProjectRole);
  }

  async projectRolesOf(userId: number, groupIds: number[]): Promise<Array<{ projectName: string; role: ProjectRole }>> {
    const rows = await this.db
      .selectFrom('project_member')
      .innerJoin('project', 'project.id', 'project_member.project_id')
      .select(['project.name as projectName', 'project_member.role as role'])
      .where((eb) =>
        eb.or([
          eb.and([eb('principal_type', '=', 'user'), eb('principal_id', '=', userId)]),
          ...(groupIds.length > 0 ? [eb.and([eb('principal_type', '=', 'group'), eb('principal_id', 'in', groupIds)])] : []),
        ]),
      )
      .execute();
    return rows.map((r) => ({ projectName: r.projectName, role: r.role as ProjectRole }));
  }

  private memberQuery() {
    return this.db
      .selectFrom('project_member')
      .leftJoin('user_account', (join) =>
        join.onRef('user_account.id', '=', 'project_member.principal_id').on('project_member.principal_type', '=', 'user'),
      )
      .leftJoin('user_group', (join) =>
        join.onRef('user_group.id', '=', 'project_member.principal_id').on('project_member.principal_type', '=', 'group'),
      )
      .select([
        'project_member.id as id',
        'project_member.project_id as project_id',
        'project_member.principal_type as principal_type',
        'project_member.principal_id as principal_id',
        'project_member.role as role',
        'project_member.created_at as created_at',
        'user_account.username as username',
        'user_group.name as group_name',
      ]);
  }

  // --- robots ------------------------------------------------------------------------------

  async createRobot(robot: Omit<RobotRow, 'id' | 'createdAt' | 'updatedAt' | 'rateLimits'> & { rateLimits?: RateLimitOverrides }, now: number): Promise<RobotRow> {
    const row = await this.db
      .insertInto('robot')
      .values({
        name: robot.name,
        project_id: robot.projectId,
        description: robot.description,
        secret_hash: robot.secretHash,
        permissions: JSON.stringify(robot.permissions),
        expires_at: robot.expiresAt,
        disabled: robot.disabled ? 1 : 0,
        created_at: now,
        created_by: robot.createdBy,
        updated_at: now,
        ...limitColumns(robot.rateLimits),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toRobot(row);
  }

  async getRobot(id: number): Promise<RobotRow | undefined> {
    const row = await this.db.selectFrom('robot').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRobot(row);
  }

  async getRobotByName(name: string): Promise<RobotRow | undefined> {
    const row = await this.db.selectFrom('robot').selectAll().where('name', '=', name).executeTakeFirst();
    return row && toRobot(row);
  }

  async updateRobot(
    id: number,
    patch: Partial<Pick<RobotRow, 'description' | 'secretHash' | 'permissions' | 'expiresAt' | 'disabled'>> & { rateLimits?: Partial<RateLimitOverrides> },
    now: number,
  ): Promise<RobotRow | undefined> {
    const values: Updateable<RobotTable> = { updated_at: now, ...limitColumns(patch.rateLimits) };
    if (patch.description !== undefined) values.description = patch.description;
    if (patch.secretHash !== undefined) values.secret_hash = patch.secretHash;
    if (patch.permissions !== undefined) values.permissions = JSON.stringify(patch.permissions);
    if (patch.expiresAt !== undefined) values.expires_at = patch.expiresAt;
    if (patch.disabled !== undefined) values.disabled = patch.disabled ? 1 : 0;
    const row = await this.db.updateTable('robot').set(values).where('id', '=', id).returningAll().executeTakeFirst();
    return row && toRobot(row);
  }

  async deleteRobot(id: number): Promise<boolean> {
    const result = await this.db.deleteFrom('robot').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async listRobots(projectId: number | null, query: ListQuery): Promise<ListResult<RobotRow>> {
    let base = this.filtered(this.db.selectFrom('robot'), query, robotFields);
    base = projectId === null ? base.where('project_id', 'is', null) : base.where('project_id', '=', projectId);
    const [rows, total] = await Promise.all([this.paged(base.selectAll(), query, robotFields, 'name').execute(), this.count(base)]);
    return { items: rows.map(toRobot), total };
  }

  // --- signing keys ------------------------------------------------------------------------

  async listSigningKeys(): Promise<SigningKeyRow[]> {
    const rows = await this.db.selectFrom('signing_key').selectAll().orderBy('created_at', 'desc').execute();
    return rows.map((r) => ({ kid: r.kid, privateJwk: r.private_jwk, publicJwk: r.public_jwk, createdAt: r.created_at, retiredAt: r.retired_at }));
  }

  async rotateSigningKey(key: SigningKeyRow, options: { unlessActiveAfter?: number } = {}): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      // One rotation at a time, across instances. PostgreSQL: the lock conflicts with itself
      // and with writes, not with reads, so verifiers go on. SQLite: write transactions begin
      // IMMEDIATE (connect.ts), so they are serial already.
      if (this.engine === 'postgres') await sql`LOCK TABLE signing_key IN SHARE ROW EXCLUSIVE MODE`.execute(trx);
      if (options.unlessActiveAfter !== undefined) {
        const fresh = await trx.selectFrom('signing_key').select('kid').where('retired_at', 'is', null).where('created_at', '>', options.unlessActiveAfter).limit(1).executeTakeFirst();
        if (fresh) return false;
      }
      await trx.updateTable('signing_key').set({ retired_at: key.createdAt }).where('retired_at', 'is', null).execute();
      await trx
        .insertInto('signing_key')
        .values({ kid: key.kid, private_jwk: key.privateJwk, public_jwk: key.publicJwk, created_at: key.createdAt, retired_at: null })
        .execute();
      return true;
    });
  }

  async deleteSigningKeysRetiredBefore(time: number): Promise<number> {
    const result = await this.db.deleteFrom('signing_key').where('retired_at', '<', time).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  // --- query helpers -----------------------------------------------------------------------

  /** Applies `q=` filters, mapping API field names through an allowlist. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private filtered<QB extends SelectQueryBuilder<Schema, any, object>>(query: QB, list: ListQuery, fields: Record<string, string>): QB {
    let q = query;
    for (const [field, value] of Object.entries(list.exact ?? {})) {
      const column = fields[field];
      if (column) q = q.where(sql.ref(column), '=', value) as QB;
    }
    for (const [field, value] of Object.entries(list.fuzzy ?? {})) {
      const column = fields[field];
      if (column) q = q.where(likeContains(this.engine, column, value)) as QB;
    }
    return q;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private paged<QB extends SelectQueryBuilder<Schema, any, any>>(query: QB, list: ListQuery, fields: Record<string, string>, defaultSort: string): QB {
    const column = (list.sort && fields[list.sort.field]) ?? defaultSort;
    return query
      .orderBy(sql.ref(column), list.sort?.descending ? 'desc' : 'asc')
      .orderBy(sql.ref('id'), 'asc')
      .limit(list.limit)
      .offset(list.offset) as QB;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private async count(query: SelectQueryBuilder<Schema, any, object>): Promise<number> {
    const row = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number((row as { n: number }).n);
  }
}

function toUser(row: Selectable<UserAccountTable>): UserRow {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    displayName: row.display_name,
    passwordHash: row.password_hash,
    source: row.source,
    externalId: row.external_id,
    isAdmin: row.is_admin === 1,
    disabled: row.disabled === 1,
    cliSecretHash: row.cli_secret_hash,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastLoginAt: row.last_login_at,
    preferences: row.preferences ? (JSON.parse(row.preferences) as UserPreferences) : {},
  };
}

function toGroup(row: Selectable<UserGroupTable>): GroupRow {
  return { id: row.id, name: row.name, source: row.source, externalId: row.external_id, createdAt: row.created_at };
}

function toProject(row: Selectable<ProjectTable>): ProjectRow {
  return {
    id: row.id,
    name: row.name,
    public: row.public === 1,
    createdAt: row.created_at,
    createdBy: row.created_by,
    updatedAt: row.updated_at,
    rateLimits: { pull: toLimit(row.pull_limit), api: toLimit(row.api_limit) },
    quota: { bytes: row.quota_bytes === null ? null : Number(row.quota_bytes), artifacts: row.quota_artifacts === null ? null : Number(row.quota_artifacts) },
  };
}

/** Stored: null follows the system setting, -1 is unlimited. */
function toLimit(value: number | null): LimitOverride {
  return value === null ? null : value < 0 ? 'unlimited' : value;
}

function fromLimit(value: LimitOverride): number | null {
  return value === null ? null : value === 'unlimited' ? -1 : value;
}

function limitColumns(limits: Partial<RateLimitOverrides> | undefined): { pull_limit?: number | null; api_limit?: number | null } {
  const columns: { pull_limit?: number | null; api_limit?: number | null } = {};
  if (limits?.pull !== undefined) columns.pull_limit = fromLimit(limits.pull);
  if (limits?.api !== undefined) columns.api_limit = fromLimit(limits.api);
  return columns;
}

function toRobot(row: Selectable<RobotTable>): RobotRow {
  return {
    id: row.id,
    name: row.name,
    projectId: row.project_id,
    description: row.description,
    secretHash: row.secret_hash,
    permissions: JSON.parse(row.permissions) as RobotPermission[],
    expiresAt: row.expires_at,
    disabled: row.disabled === 1,
    createdAt: row.created_at,
    createdBy: row.created_by,
    updatedAt: row.updated_at,
    rateLimits: { pull: toLimit(row.pull_limit), api: toLimit(row.api_limit) },
  };
}

function toMember(row: {
  id: number;
  project_id: number;
  principal_type: 'user' | 'group';
  principal_id: number;
  role: string;
  created_at: number;
  username: string | null;
  group_name: string | null;
}): MemberRow {
  return {
    id: row.id,
    projectId: row.project_id,
    principalType: row.principal_type,
    principalId: row.principal_id,
    principalName: (row.principal_type === 'user' ? row.username : row.group_name) ?? `(deleted ${row.principal_type} ${row.principal_id})`,
    role: row.role as ProjectRole,
    createdAt: row.created_at,
  };
}
