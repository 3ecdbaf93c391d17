import { BerthError } from '../../domain/errors.js';
import { robotActions, type RobotAction } from '../../domain/permissions.js';
import type { IdentityStore, ListQuery, ListResult, ProjectRow, RateLimitOverrides, RobotPermission, RobotRow } from '../../ports/identity-store.js';
import { generateSecret, hashSecret } from './password.js';

export interface RobotInput {
  name: string;
  description?: string | null;
  /** Milliseconds since the epoch, or null for never. */
  expiresAt?: number | null;
  permissions: RobotPermission[];
}

const robotNamePattern = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/**
 * Robot accounts (Harbor's model): system robots may span projects (`*` or a list), project
 * robots act only in their project. Names get the `robot$` prefix (`robot$<project>+<name>` for
 * project robots); the secret is shown once and stored hashed.
 */
export class RobotService {
  constructor(
    private readonly identity: IdentityStore,
    private readonly onChange: () => void,
    private readonly now: () => number = Date.now,
  ) {}

  async create(input: RobotInput, project: ProjectRow | null, createdBy: string): Promise<{ robot: RobotRow; secret: string }> {
    if (!robotNamePattern.test(input.name) || input.name.length > 100) {
      throw new BerthError('BAD_REQUEST', { message: 'robot name must be lowercase letters and digits, separated by . _ or -' });
    }
    const permissions = this.normalize(input.permissions, project);
    const name = project ? `robot$${project.name}+${input.name}` : `robot$${input.name}`;
    if (await this.identity.getRobotByName(name)) throw new BerthError('CONFLICT', { message: `robot ${name} already exists` });
    if (input.expiresAt !== undefined && input.expiresAt !== null && input.expiresAt <= this.now()) {
      throw new BerthError('BAD_REQUEST', { message: 'expiresAt must be in the future' });
    }
    const secret = generateSecret(32);
    const robot = await this.identity.createRobot(
      {
        name,
        projectId: project?.id ?? null,
        description: input.description ?? null,
        secretHash: await hashSecret(secret),
        permissions,
        expiresAt: input.expiresAt ?? null,
        disabled: false,
        createdBy,
      },
      this.now(),
    );
    this.onChange();
    return { robot, secret };
  }

  async get(id: number, project: ProjectRow | null): Promise<RobotRow> {
    const robot = await this.identity.getRobot(id);
    if (!robot || robot.projectId !== (project?.id ?? null)) throw new BerthError('NOT_FOUND', { message: `robot ${id} not found` });
    return robot;
  }

  list(project: ProjectRow | null, query: ListQuery): Promise<ListResult<RobotRow>> {
    return this.identity.listRobots(project?.id ?? null, query);
  }

  async update(
    id: number,
    project: ProjectRow | null,
    patch: { description?: string | null; expiresAt?: number | null; disabled?: boolean; permissions?: RobotPermission[] },
  ): Promise<RobotRow> {
    await this.get(id, project);
    const updated = await this.identity.updateRobot(
      id,
      { ...patch, permissions: patch.permissions === undefined ? undefined : this.normalize(patch.permissions, project) },
      this.now(),
    );
    this.onChange();
    return updated!;
  }

  /** A system administrator's limits for one robot (any robot, project or system: `get` is not scoped). */
  async setRateLimits(id: number, limits: Partial<RateLimitOverrides>): Promise<RobotRow> {
    const updated = await this.identity.updateRobot(id, { rateLimits: limits }, this.now());
    if (!updated) throw new BerthError('NOT_FOUND', { message: `robot ${id} not found` });
    this.onChange();
    return updated;
  }

  async refreshSecret(id: number, project: ProjectRow | null): Promise<string> {
    await this.get(id, project);
    const secret = generateSecret(32);
    await this.identity.updateRobot(id, { secretHash: await hashSecret(secret) }, this.now());
    this.onChange();
    return secret;
  }

  async delete(id: number, project: ProjectRow | null): Promise<RobotRow> {
    const robot = await this.get(id, project);
    await this.identity.deleteRobot(id);
    this.onChange();
    return robot;
  }

  private normalize(permissions: RobotPermission[], project: ProjectRow | null): RobotPermission[] {
    if (permissions.length === 0) throw new BerthError('BAD_REQUEST', { message: 'a robot needs at least one permission' });
    return permissions.map((p) => {
      const actions = [...new Set(p.actions)];
      if (actions.length === 0 || !actions.every((a): a is RobotAction => (robotActions as readonly string[]).includes(a))) {
        throw new BerthError('BAD_REQUEST', { message: `robot actions must be among ${robotActions.join(', ')}` });
      }
      if (project && p.project !== project.name) {
        throw new BerthError('BAD_REQUEST', { message: `a robot of project ${project.name} can only have permissions on it` });
      }
      return { project: p.project, actions };
    });
  }
}
