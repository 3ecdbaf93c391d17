import { BerthError } from '../../domain/errors.js';
import { isValidRepositoryName } from '../../domain/names.js';
import type { ProjectRole } from '../../domain/permissions.js';
import type { IdentityStore, ListQuery, ListResult, MemberRow, PrincipalType, ProjectRow, RateLimitOverrides } from '../../ports/identity-store.js';
import type { MetadataStore, QuotaLimits } from '../../ports/metadata-store.js';
import type { Principal } from '../identity/principal.js';

export interface ProjectServiceOptions {
  onChange: () => void;
  /** The quota a new project gets (the system default). */
  newProjectQuota?: () => QuotaLimits;
  now?: () => number;
}

const projectNamePattern = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;

/** Projects (the first path component of repository names), their visibility and members. */
export class ProjectService {
  private readonly now: () => number;

  constructor(
    private readonly identity: IdentityStore,
    private readonly meta: MetadataStore,
    private readonly options: ProjectServiceOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  async create(name: string, isPublic: boolean, creator: Principal): Promise<ProjectRow> {
    if (!projectNamePattern.test(name) || name.length > 255 || !isValidRepositoryName(name)) {
      throw new BerthError('BAD_REQUEST', { message: 'project name must be lowercase letters and digits, separated by . _ __ or -' });
    }
    if (await this.identity.getProject(name)) throw new BerthError('CONFLICT', { message: `project ${name} already exists` });
    const createdBy = creator.kind === 'anonymous' ? null : creator.name;
    const project = await this.identity.createProject({ name, public: isPublic, createdBy, quota: this.options.newProjectQuota?.() }, this.now());
    if (creator.kind === 'user' && !creator.isAdmin) {
      await this.identity.addMember({ projectId: project.id, principalType: 'user', principalId: creator.id, role: 'admin' }, this.now());
    }
    this.options.onChange();
    return project;
  }

  async get(name: string): Promise<ProjectRow> {
    const project = await this.identity.getProject(name);
    if (!project) throw new BerthError('NOT_FOUND', { message: `project ${name} not found` });
    return project;
  }

  /** Projects the principal may see: all for admins, otherwise public ones and those it is a member of. */
  async list(principal: Principal, query: ListQuery): Promise<ListResult<ProjectRow>> {
    if (principal.kind === 'user' && principal.isAdmin) return this.identity.listProjects(query);
    if (principal.kind === 'user') return this.identity.listProjects(query, { userId: principal.id, groupIds: principal.groupIds });
    if (principal.kind === 'robot') {
      const all = principal.permissions.some((p) => p.project === '*');
      if (all) return this.identity.listProjects(query);
      const names = new Set(principal.permissions.map((p) => p.project));
      const visible = await this.identity.listProjects({ ...query, offset: 0, limit: 100_000 });
      const items = visible.items.filter((p) => p.public || names.has(p.name));
      return { items: items.slice(query.offset, query.offset + query.limit), total: items.length };
    }
    return this.identity.listProjects({ ...query, exact: { ...query.exact, public: '1' } });
  }

  async update(name: string, patch: { public?: boolean; rateLimits?: Partial<RateLimitOverrides> }): Promise<ProjectRow> {
    const project = await this.get(name);
    const updated = await this.identity.updateProject(project.id, patch, this.now());
    this.options.onChange();
    return updated!;
  }

  /** Harbor's rule: a project is deleted only when it holds no repositories. */
  async delete(name: string): Promise<ProjectRow> {
    const project = await this.get(name);
    const repositories = await this.meta.listProjectRepositories(name, { offset: 0, limit: 1 });
    if (repositories.total > 0) {
      throw new BerthError('CONFLICT', { message: `project ${name} still has ${repositories.total} repositories; delete them first` });
    }
    await this.identity.deleteProject(project.id);
    this.options.onChange();
    return project;
  }

  listMembers(project: ProjectRow, query: ListQuery): Promise<ListResult<MemberRow>> {
    return this.identity.listMembers(project.id, query);
  }

  async addMember(project: ProjectRow, principal: { type: PrincipalType; name?: string; id?: number }, role: ProjectRole): Promise<MemberRow> {
    const principalId = await this.resolvePrincipal(principal);
    const existing = await this.identity.rolesIn(project.id, principal.type === 'user' ? principalId : -1, principal.type === 'group' ? [principalId] : []);
    if (existing.length > 0) throw new BerthError('CONFLICT', { message: 'already a member of this project; change the role instead' });
    const member = await this.identity.addMember({ projectId: project.id, principalType: principal.type, principalId, role }, this.now());
    this.options.onChange();
    return member;
  }

  async updateMember(project: ProjectRow, memberId: number, role: ProjectRole): Promise<MemberRow> {
    await this.member(project, memberId);
    const member = await this.identity.updateMember(memberId, role);
    this.options.onChange();
    return member!;
  }

  async removeMember(project: ProjectRow, memberId: number): Promise<MemberRow> {
    const member = await this.member(project, memberId);
    await this.identity.deleteMember(memberId);
    this.options.onChange();
    return member;
  }

  private async member(project: ProjectRow, memberId: number): Promise<MemberRow> {
    const member = await this.identity.getMember(memberId);
    if (!member || member.projectId !== project.id) throw new BerthError('NOT_FOUND', { message: `member ${memberId} not found in project ${project.name}` });
    return member;
  }

  private async resolvePrincipal(principal: { type: PrincipalType; name?: string; id?: number }): Promise<number> {
    if (principal.type === 'user') {
      const user = principal.id !== undefined ? await this.identity.getUser(principal.id) : principal.name ? await this.identity.getUserByName(principal.name) : undefined;
      if (!user) throw new BerthError('NOT_FOUND', { message: `user ${principal.name ?? principal.id} not found` });
      return user.id;
    }
    const group = principal.id !== undefined ? await this.identity.getGroup(principal.id) : undefined;
    if (group) return group.id;
    if (principal.name) {
      const match = (await this.identity.listGroups({ offset: 0, limit: 2, exact: { name: principal.name } })).items;
      if (match.length === 1) return match[0]!.id;
      if (match.length > 1) throw new BerthError('CONFLICT', { message: `several groups are named ${principal.name}; give the group id` });
    }
    throw new BerthError('NOT_FOUND', { message: `group ${principal.name ?? principal.id} not found` });
  }
}
