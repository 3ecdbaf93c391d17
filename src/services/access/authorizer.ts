import { BerthError } from '../../domain/errors.js';
import { projectOf } from '../../domain/names.js';
import {
  highestRole,
  publicProjectPermissions,
  rolePermissions,
  type ProjectAction,
  type ProjectRole,
} from '../../domain/permissions.js';
import type { IdentityStore, ProjectRow } from '../../ports/identity-store.js';
import type { QuotaLimits } from '../../ports/metadata-store.js';
import type { SearchScope } from '../../ports/image-index-store.js';
import { staleIfErrorMs } from '../identity/authenticator.js';
import type { Principal } from '../identity/principal.js';

export type RepositoryAction = 'pull' | 'push' | 'delete';

export interface AuthorizerOptions {
  /** Who may create projects (and so push into a project that does not exist yet). */
  projectCreation: 'everyone' | 'admin';
  /** The quota a project created by a first push gets (the system default). */
  newProjectQuota?: () => QuotaLimits;
  now?: () => number;
}

/** Project rows and role lookups are trusted this long (they change rarely; changes here invalidate at once). */
const cacheTtlMs = 2_000;
const noActions: ReadonlySet<ProjectAction> = new Set();
const allActions: ReadonlySet<ProjectAction> = rolePermissions.admin;

/**
 * The one place that decides who may do what (issue: "authorization is decided in one
 * module"). Handlers of /v2, /service/token and /api ask it; none re-implements a check.
 */
export class Authorizer {
  private readonly projects = new Map<string, { row: ProjectRow | undefined; expires: number; fetchedAt: number }>();
  private readonly roles = new Map<string, { role: ProjectRole | undefined; expires: number; fetchedAt: number }>();
  /** Names of the public projects (`public`) and of every project (`all`), for search scopes. */
  private readonly projectLists = new Map<'public' | 'all', { names: readonly string[]; expires: number }>();
  private readonly now: () => number;
  /** Bumped by invalidate(): a read that began before a change answers its request but is not kept. */
  private generation = 0;

  constructor(
    private readonly identity: IdentityStore,
    private readonly options: AuthorizerOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  invalidate(): void {
    this.generation++;
    this.projects.clear();
    this.roles.clear();
    this.projectLists.clear();
  }

  isSystemAdmin(principal: Principal): boolean {
    return principal.kind === 'user' && principal.isAdmin;
  }

  canCreateProject(principal: Principal): boolean {
    if (principal.kind !== 'user') return false;
    return principal.isAdmin || this.options.projectCreation === 'everyone';
  }

  async project(name: string): Promise<ProjectRow | undefined> {
    const cached = this.projects.get(name);
    if (cached && cached.expires > this.now()) return cached.row;
    const generation = this.generation;
    let row: ProjectRow | undefined;
    try {
      row = await this.identity.getProject(name);
    } catch (err) {
      // While the database cannot be read, the last answer (at most staleIfErrorMs old) stands in.
      if (cached && this.now() - cached.fetchedAt < staleIfErrorMs) return cached.row;
      throw err;
    }
    if (generation !== this.generation) return row;
    if (this.projects.size > 10_000) this.projects.clear();
    this.projects.set(name, { row, expires: this.now() + cacheTtlMs, fetchedAt: this.now() });
    return row;
  }

  /** The role a user holds in a project (directly or through a group), if any. */
  async roleOf(principal: Principal, project: ProjectRow): Promise<ProjectRole | undefined> {
    if (principal.kind !== 'user') return undefined;
    const key = `${project.id}:${principal.id}:${principal.groupIds.join(',')}`;
    const cached = this.roles.get(key);
    if (cached && cached.expires > this.now()) return cached.role;
    const generation = this.generation;
    let role: ProjectRole | undefined;
    try {
      role = highestRole(await this.identity.rolesIn(project.id, principal.id, principal.groupIds));
    } catch (err) {
      if (cached && this.now() - cached.fetchedAt < staleIfErrorMs) return cached.role;
      throw err;
    }
    if (generation !== this.generation) return role;
    if (this.roles.size > 50_000) this.roles.clear();
    this.roles.set(key, { role, expires: this.now() + cacheTtlMs, fetchedAt: this.now() });
    return role;
  }

  /** Everything the principal may do in a project (empty when the project does not exist). */
  async projectActions(principal: Principal, projectName: string): Promise<ReadonlySet<ProjectAction>> {
    const project = await this.project(projectName);
    if (!project) return noActions;
    if (this.isSystemAdmin(principal)) return allActions;
    const granted = new Set<ProjectAction>(project.public ? publicProjectPermissions : []);
    if (principal.kind === 'user') {
      const role = await this.roleOf(principal, project);
      if (role) for (const action of rolePermissions[role]) granted.add(action);
    } else if (principal.kind === 'robot') {
      for (const permission of principal.permissions) {
        const applies = permission.project === '*' ? principal.projectId === null : permission.project === projectName;
        if (!applies) continue;
        for (const action of permission.actions) granted.add(action);
        if (permission.actions.length > 0) granted.add('read');
      }
    }
    return granted;
  }

  async can(principal: Principal, action: ProjectAction, projectName: string): Promise<boolean> {
    return (await this.projectActions(principal, projectName)).has(action);
  }

  /**
   * Throws unless allowed: UNAUTHORIZED for anonymous callers (they may log in), DENIED for
   * known ones, NOT_FOUND-like DENIED never reveals whether a private project exists.
   */
  async require(principal: Principal, action: ProjectAction, projectName: string): Promise<void> {
    if (await this.can(principal, action, projectName)) return;
    throw denial(principal, `${action} on project ${projectName}`);
  }

  requireSystemAdmin(principal: Principal): void {
    if (!this.isSystemAdmin(principal)) throw denial(principal, 'this needs a system administrator');
  }

  requireAuthenticated(principal: Principal): void {
    if (principal.kind === 'anonymous') throw new BerthError('UNAUTHORIZED', { message: 'authentication required' });
  }

  /**
   * Repository actions for the distribution API and token scopes. Pushing into a project that
   * does not exist is allowed to those who may create it (it is created on first push).
   */
  async repositoryActions(principal: Principal, repository: string): Promise<Set<RepositoryAction>> {
    const projectName = projectOf(repository);
    const actions = await this.projectActions(principal, projectName);
    const granted = new Set<RepositoryAction>();
    for (const a of ['pull', 'push', 'delete'] as const) if (actions.has(a)) granted.add(a);
    if (!(await this.project(projectName)) && this.canCreateProject(principal)) {
      granted.add('pull');
      granted.add('push');
      granted.add('delete');
    }
    return granted;
  }

  /** Which repositories' names a principal may see in the catalog. */
  async catalogFilter(principal: Principal): Promise<((repository: string) => Promise<boolean>) | 'all'> {
    if (this.isSystemAdmin(principal)) return 'all';
    return async (repository) => (await this.projectActions(principal, projectOf(repository))).has('read');
  }

  /**
   * The projects whose images a principal may find in a registry-wide search (issue 17: results
   * respect permissions exactly as pulls do): the projects where projectActions grants `pull`,
   * listed instead of asked one by one. The lists of projects are trusted as long as project
   * rows are (a change made here or announced by another instance drops them at once); roles are
   * read fresh.
   */
  async searchScope(principal: Principal): Promise<SearchScope> {
    if (this.isSystemAdmin(principal)) return 'all';
    const projects = new Set<string>();
    const pullable = (actions: readonly string[]) => actions.includes('pull');
    // Every existing project: what a system robot granted `*` may pull from.
    const everyProject = principal.kind === 'robot' && principal.projectId === null && principal.permissions.some((p) => p.project === '*' && pullable(p.actions));
    if (everyProject || publicProjectPermissions.has('pull')) {
      for (const name of await this.projectNames(everyProject ? 'all' : 'public')) projects.add(name);
    }
    if (principal.kind === 'user') {
      for (const { projectName, role } of await this.identity.projectRolesOf(principal.id, principal.groupIds)) {
        if (rolePermissions[role].has('pull')) projects.add(projectName);
      }
    } else if (principal.kind === 'robot') {
      const named = principal.permissions.filter((p) => p.project !== '*' && pullable(p.actions)).map((p) => p.project);
      // Only projects that exist: projectActions grants nothing in a missing one.
      for (const name of named) if (!projects.has(name) && (await this.project(name))) projects.add(name);
    }
    return { projects: [...projects].sort() };
  }

  /** Names of the public projects, or of every project, read page by page (and kept as project rows are). */
  private async projectNames(which: 'public' | 'all'): Promise<readonly string[]> {
    const cached = this.projectLists.get(which);
    if (cached && cached.expires > this.now()) return cached.names;
    const generation = this.generation;
    const names: string[] = [];
    const pageSize = 1000;
    for (let offset = 0; ; offset += pageSize) {
      const page = await this.identity.listProjects({ offset, limit: pageSize, exact: which === 'public' ? { public: '1' } : {} });
      names.push(...page.items.map((p) => p.name));
      if (page.items.length < pageSize) break;
    }
    if (generation === this.generation) this.projectLists.set(which, { names, expires: this.now() + cacheTtlMs });
    return names;
  }

  /** Creates the project of a first push when it does not exist yet (the pusher becomes its admin). */
  async ensureProjectForPush(principal: Principal, repository: string): Promise<void> {
    const projectName = projectOf(repository);
    if (await this.project(projectName)) return;
    if (!this.canCreateProject(principal) || principal.kind !== 'user') throw denial(principal, `project ${projectName} does not exist`);
    const now = this.now();
    try {
      const project = await this.identity.createProject({ name: projectName, public: false, createdBy: principal.name, quota: this.options.newProjectQuota?.() }, now);
      await this.identity.addMember({ projectId: project.id, principalType: 'user', principalId: principal.id, role: 'admin' }, now);
    } catch (err) {
      // Another push created it at the same moment: that is fine.
      if (!(await this.identity.getProject(projectName))) throw err;
    }
    this.projects.delete(projectName);
  }
}

export function denial(principal: Principal, what: string): BerthError {
  return principal.kind === 'anonymous'
    ? new BerthError('UNAUTHORIZED', { message: `authentication required: ${what}` })
    : new BerthError('DENIED', { message: `requested access to the resource is denied: ${what}` });
}
