import type { ProjectRole, RobotAction } from '../domain/permissions.js';
import type { QuotaLimits } from './metadata-store.js';

export type UserSource = 'local' | 'ldap' | 'oidc';

export interface UserRow {
  id: number;
  username: string;
  email: string | null;
  displayName: string | null;
  passwordHash: string | null;
  source: UserSource;
  externalId: string | null;
  isAdmin: boolean;
  disabled: boolean;
  cliSecretHash: string | null;
  createdAt: number;
  updatedAt: number;
  lastLoginAt: number | null;
  preferences: UserPreferences;
}

export interface UserPreferences {
  language?: 'en' | 'zh-CN';
  theme?: 'light' | 'dark' | 'system';
}

export type NewUser = Pick<UserRow, 'username' | 'email' | 'displayName' | 'passwordHash' | 'source' | 'externalId' | 'isAdmin'>;
export type UserPatch = Partial<
  Pick<UserRow, 'email' | 'displayName' | 'passwordHash' | 'isAdmin' | 'disabled' | 'cliSecretHash' | 'lastLoginAt' | 'preferences'>
>;

export interface GroupRow {
  id: number;
  name: string;
  source: UserSource;
  externalId: string | null;
  createdAt: number;
}

/** A limit set on a project or robot: a number per window, `unlimited`, or null to follow the system setting. */
export type LimitOverride = number | 'unlimited' | null;

export interface RateLimitOverrides {
  pull: LimitOverride;
  api: LimitOverride;
}

export interface ProjectRow {
  id: number;
  name: string;
  public: boolean;
  createdAt: number;
  createdBy: string | null;
  updatedAt: number;
  rateLimits: RateLimitOverrides;
  /** Storage and artifact limits (null: unlimited). */
  quota: QuotaLimits;
}

export type PrincipalType = 'user' | 'group';

export interface MemberRow {
  id: number;
  projectId: number;
  principalType: PrincipalType;
  principalId: number;
  /** Username or group name, joined for display. */
  principalName: string;
  role: ProjectRole;
  createdAt: number;
}

export interface RobotPermission {
  /** A project name, or '*' for every project (system robots only). */
  project: string;
  actions: RobotAction[];
}

export interface RobotRow {
  id: number;
  /** Full login name, e.g. `robot$team-a+ci` (project robot) or `robot$ci` (system robot). */
  name: string;
  projectId: number | null;
  description: string | null;
  secretHash: string;
  permissions: RobotPermission[];
  expiresAt: number | null;
  disabled: boolean;
  createdAt: number;
  createdBy: string | null;
  updatedAt: number;
  rateLimits: RateLimitOverrides;
}

export interface SigningKeyRow {
  kid: string;
  privateJwk: string;
  publicJwk: string;
  createdAt: number;
  retiredAt: number | null;
}

export interface ListQuery {
  offset: number;
  limit: number;
  /** Column to sort by and direction. */
  sort?: { field: string; descending: boolean };
  /** Exact matches and substring matches by field, from the API's `q=` parameter. */
  exact?: Record<string, string>;
  fuzzy?: Record<string, string>;
}

export interface ListResult<T> {
  items: T[];
  total: number;
}

/**
 * Users, groups, projects, members, robots and token signing keys. One Kysely implementation
 * serves SQLite and PostgreSQL.
 */
export interface IdentityStore {
  createUser(user: NewUser, now: number): Promise<UserRow>;
  getUser(id: number): Promise<UserRow | undefined>;
  getUserByName(username: string): Promise<UserRow | undefined>;
  getUserByExternalId(source: UserSource, externalId: string): Promise<UserRow | undefined>;
  updateUser(id: number, patch: UserPatch, now: number): Promise<UserRow | undefined>;
  deleteUser(id: number): Promise<boolean>;
  listUsers(query: ListQuery): Promise<ListResult<UserRow>>;
  countAdmins(): Promise<number>;

  createGroup(group: Omit<GroupRow, 'id' | 'createdAt'>, now: number): Promise<GroupRow>;
  getGroup(id: number): Promise<GroupRow | undefined>;
  getGroupByExternalId(source: UserSource, externalId: string): Promise<GroupRow | undefined>;
  listGroups(query: ListQuery): Promise<ListResult<GroupRow>>;
  deleteGroup(id: number): Promise<boolean>;
  /** Replaces the user's memberships among groups of `source` (LDAP/OIDC sync on login). */
  setUserGroups(userId: number, source: UserSource, groupIds: number[]): Promise<void>;
  addUserToGroup(userId: number, groupId: number): Promise<void>;
  removeUserFromGroup(userId: number, groupId: number): Promise<boolean>;
  groupIdsOf(userId: number): Promise<number[]>;

  createProject(project: { name: string; public: boolean; createdBy: string | null; quota?: QuotaLimits }, now: number): Promise<ProjectRow>;
  getProject(name: string): Promise<ProjectRow | undefined>;
  getProjectById(id: number): Promise<ProjectRow | undefined>;
  updateProject(id: number, patch: { public?: boolean; rateLimits?: Partial<RateLimitOverrides>; quota?: Partial<QuotaLimits> }, now: number): Promise<ProjectRow | undefined>;
  deleteProject(id: number): Promise<boolean>;
  /** Projects, optionally only those public or with the given member principals. */
  listProjects(query: ListQuery, visibleTo?: { userId: number; groupIds: number[] }): Promise<ListResult<ProjectRow>>;

  addMember(member: { projectId: number; principalType: PrincipalType; principalId: number; role: ProjectRole }, now: number): Promise<MemberRow>;
  getMember(id: number): Promise<MemberRow | undefined>;
  updateMember(id: number, role: ProjectRole): Promise<MemberRow | undefined>;
  deleteMember(id: number): Promise<boolean>;
  listMembers(projectId: number, query: ListQuery): Promise<ListResult<MemberRow>>;
  /** Roles the user holds in a project, directly and through groups. */
  rolesIn(projectId: number, userId: number, groupIds: number[]): Promise<ProjectRole[]>;
  /** Every project the user holds a role in, with the role (for catalog filtering). */
  projectRolesOf(userId: number, groupIds: number[]): Promise<Array<{ projectName: string; role: ProjectRole }>>;

  createRobot(robot: Omit<RobotRow, 'id' | 'createdAt' | 'updatedAt' | 'rateLimits'> & { rateLimits?: RateLimitOverrides }, now: number): Promise<RobotRow>;
  getRobot(id: number): Promise<RobotRow | undefined>;
  getRobotByName(name: string): Promise<RobotRow | undefined>;
  updateRobot(
    id: number,
    patch: Partial<Pick<RobotRow, 'description' | 'secretHash' | 'permissions' | 'expiresAt' | 'disabled'>> & { rateLimits?: Partial<RateLimitOverrides> },
    now: number,
  ): Promise<RobotRow | undefined>;
  deleteRobot(id: number): Promise<boolean>;
  listRobots(projectId: number | null, query: ListQuery): Promise<ListResult<RobotRow>>;

  listSigningKeys(): Promise<SigningKeyRow[]>;
  /**
   * Makes `key` the one active signing key, retiring the others, in one transaction serialised
   * against every other rotation. With `unlessActiveAfter`, does nothing when an active key
   * created after that time exists (another instance rotated first). Resolves whether `key`
   * was added.
   */
  rotateSigningKey(key: SigningKeyRow, options?: { unlessActiveAfter?: number }): Promise<boolean>;
  deleteSigningKeysRetiredBefore(time: number): Promise<number>;
}
