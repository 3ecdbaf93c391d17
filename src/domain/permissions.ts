/**
 * Who may do what: Harbor's project roles and their permission matrix, as pure data.
 * The authorizer (services/access) is the one place that applies it.
 */
export const projectRoles = ['admin', 'maintainer', 'developer', 'guest', 'limited-guest'] as const;
export type ProjectRole = (typeof projectRoles)[number];

/** Higher ranks include everything lower ranks may do. */
export const roleRank: Record<ProjectRole, number> = { 'limited-guest': 1, guest: 2, developer: 3, maintainer: 4, admin: 5 };

export const projectActions = [
  'pull', // read manifests, blobs, tags of the project's repositories
  'push', // upload blobs, push manifests and tags
  'delete', // delete manifests, tags, blobs, repositories
  'read', // see the project, its repositories and artifacts in the API and catalog
  'read-members',
  'manage-members',
  'read-robots',
  'manage-robots',
  'read-audit',
  'read-webhooks',
  'manage-webhooks',
  'update-project',
  'delete-project',
  'read-policies', // retention policy, immutability rules and retention runs
  'manage-policies',
] as const;
export type ProjectAction = (typeof projectActions)[number];

/** Harbor's matrix, per role (https://goharbor.io/docs/main/administration/managing-users/user-permissions-by-role/). */
export const rolePermissions: Record<ProjectRole, ReadonlySet<ProjectAction>> = {
  'limited-guest': new Set(['pull', 'read']),
  guest: new Set(['pull', 'read', 'read-members', 'read-audit']),
  developer: new Set(['pull', 'push', 'read', 'read-members', 'read-audit', 'read-policies']),
  maintainer: new Set(['pull', 'push', 'delete', 'read', 'read-members', 'read-robots', 'manage-robots', 'read-audit', 'read-webhooks', 'read-policies', 'manage-policies']),
  admin: new Set(projectActions),
};

/** What anyone (even anonymous) may do in a public project. */
export const publicProjectPermissions: ReadonlySet<ProjectAction> = new Set(['pull', 'read']);

/** Actions a robot account can be granted on a project. */
export const robotActions = ['pull', 'push', 'delete'] as const;
export type RobotAction = (typeof robotActions)[number];

export function isProjectRole(value: string): value is ProjectRole {
  return (projectRoles as readonly string[]).includes(value);
}

export function highestRole(roles: Iterable<ProjectRole>): ProjectRole | undefined {
  let best: ProjectRole | undefined;
  for (const role of roles) if (!best || roleRank[role] > roleRank[best]) best = role;
  return best;
}
