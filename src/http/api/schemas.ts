import { z } from 'zod';
import { projectRoles, robotActions } from '../../domain/permissions.js';
import type { AuditRow } from '../../ports/audit-store.js';
import type { GroupRow, MemberRow, ProjectRow, RobotRow, UserRow } from '../../ports/identity-store.js';
import type { ArtifactSummary, RepositorySummary } from '../../ports/metadata-store.js';
import type { ArtifactGroup } from '../../services/registry/artifact-groups.js';

const time = z.string().describe('RFC 3339 time');
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const limitOverride = z
  .union([z.number().int().min(0).max(1e9), z.literal('unlimited'), z.null()])
  .describe('Requests per window; `unlimited`; or null to follow the system setting.');

/** A project's or robot's own rate limits (system administrators set them). */
export const rateLimitOverridesSchema = z.object({ pull: limitOverride, api: limitOverride });

export const userSchema = z.object({
  id: z.number().int(),
  username: z.string(),
  email: z.string().nullable(),
  displayName: z.string().nullable(),
  source: z.enum(['local', 'ldap', 'oidc']),
  isAdmin: z.boolean(),
  disabled: z.boolean(),
  locked: z
    .boolean()
    .optional()
    .describe('Some client address must wait before trying this account again (login back-off); in administrators\' views of users.'),
  createdAt: time,
  lastLoginAt: time.nullable(),
  preferences: z.object({ language: z.enum(['en', 'zh-CN']).optional(), theme: z.enum(['light', 'dark', 'system']).optional() }),
});

/** A user as the API shows it; `blocked` (accounts in login back-off) adds `locked` for administrators. */
export function userView(user: UserRow, blocked?: ReadonlySet<string>): z.infer<typeof userSchema> {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    displayName: user.displayName,
    source: user.source,
    isAdmin: user.isAdmin,
    disabled: user.disabled,
    ...(blocked ? { locked: blocked.has(user.username) } : {}),
    createdAt: iso(user.createdAt)!,
    lastLoginAt: iso(user.lastLoginAt),
    preferences: user.preferences,
  };
}

export const groupSchema = z.object({ id: z.number().int(), name: z.string(), source: z.enum(['local', 'ldap', 'oidc']), externalId: z.string().nullable(), createdAt: time });

export function groupView(group: GroupRow): z.infer<typeof groupSchema> {
  return { id: group.id, name: group.name, source: group.source, externalId: group.externalId, createdAt: iso(group.createdAt)! };
}

export const projectSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  public: z.boolean(),
  createdAt: time,
  createdBy: z.string().nullable(),
  repositoryCount: z.number().int().optional(),
  /** The caller's own role, when it has one. */
  currentUserRole: z.enum(projectRoles).nullable().optional(),
  rateLimits: rateLimitOverridesSchema,
});

export function projectView(project: ProjectRow, extra: { repositoryCount?: number; currentUserRole?: (typeof projectRoles)[number] | null } = {}): z.infer<typeof projectSchema> {
  return { id: project.id, name: project.name, public: project.public, createdAt: iso(project.createdAt)!, createdBy: project.createdBy, rateLimits: project.rateLimits, ...extra };
}

export const memberSchema = z.object({
  id: z.number().int(),
  principalType: z.enum(['user', 'group']),
  principalId: z.number().int(),
  principalName: z.string(),
  role: z.enum(projectRoles),
  createdAt: time,
});

export function memberView(member: MemberRow): z.infer<typeof memberSchema> {
  return {
    id: member.id,
    principalType: member.principalType,
    principalId: member.principalId,
    principalName: member.principalName,
    role: member.role,
    createdAt: iso(member.createdAt)!,
  };
}

export const robotPermissionSchema = z.object({
  project: z.string().min(1).describe("A project name, or '*' for all projects (system robots)."),
  actions: z.array(z.enum(robotActions)).min(1),
});

export const robotSchema = z.object({
  id: z.number().int(),
  name: z.string().describe('Login name, e.g. robot$team+ci'),
  project: z.string().nullable(),
  description: z.string().nullable(),
  permissions: z.array(robotPermissionSchema),
  expiresAt: time.nullable(),
  disabled: z.boolean(),
  createdAt: time,
  createdBy: z.string().nullable(),
  rateLimits: rateLimitOverridesSchema,
});

export function robotView(robot: RobotRow, projectName: string | null): z.infer<typeof robotSchema> {
  return {
    id: robot.id,
    name: robot.name,
    project: projectName,
    description: robot.description,
    permissions: robot.permissions,
    expiresAt: iso(robot.expiresAt),
    disabled: robot.disabled,
    createdAt: iso(robot.createdAt)!,
    createdBy: robot.createdBy,
    rateLimits: robot.rateLimits,
  };
}

export const robotWithSecretSchema = robotSchema.extend({ secret: z.string().describe('Shown once; store it now.') });

export const repositorySchema = z.object({
  name: z.string(),
  project: z.string(),
  artifactCount: z.number().int(),
  tagCount: z.number().int(),
  createdAt: time,
  updatedAt: time,
});

export function repositoryView(repository: RepositorySummary, project: string): z.infer<typeof repositorySchema> {
  return {
    name: repository.name,
    project,
    artifactCount: repository.artifactCount,
    tagCount: repository.tagCount,
    createdAt: iso(repository.createdAt)!,
    updatedAt: iso(repository.updatedAt)!,
  };
}

export const artifactSchema = z.object({
  digest: z.string(),
  mediaType: z.string(),
  artifactType: z.string().nullable(),
  size: z.number().int().describe('Manifest size in bytes'),
  totalSize: z.number().int().describe('Every distinct blob of the artifact in bytes: its manifest, platform manifests, configs and layers'),
  tags: z.array(z.string()),
  subject: z.string().nullable(),
  pushedAt: time,
  annotations: z.record(z.string(), z.string()).nullable(),
  platforms: z
    .array(
      z.object({
        digest: z.string(),
        os: z.string(),
        architecture: z.string(),
        variant: z.string().optional(),
        size: z.number().int().describe('The platform manifest, its config and layers in bytes'),
      }),
    )
    .describe("An index's platforms (its platform manifests are not listed as artifacts); empty for an image"),
  referrers: z
    .array(
      z.object({
        digest: z.string(),
        artifactType: z.string().nullable(),
        mediaType: z.string(),
        size: z.number().int(),
        kind: z.enum(['signature', 'sbom', 'attestation', 'other']),
      }),
    )
    .describe("Signatures, SBOMs and attestations of the artifact: referrers, cosign's sha256-<hex>.sig/.att/.sbom tags, BuildKit attestation manifests"),
  pullCount: z.number().int().describe('Pulls (manifest GETs) recorded since Berth counted them'),
  lastPulledAt: time.nullable(),
});

export function artifactView(artifact: ArtifactSummary, group: ArtifactGroup): z.infer<typeof artifactSchema> {
  return {
    totalSize: group.totalSize,
    platforms: group.platforms,
    referrers: group.referrers,
    pullCount: artifact.pullCount ?? 0,
    lastPulledAt: iso(artifact.pulledAt ?? null),
    digest: artifact.digest,
    mediaType: artifact.mediaType,
    artifactType: artifact.artifactType,
    size: artifact.size,
    tags: artifact.tags,
    subject: artifact.subjectDigest,
    pushedAt: iso(artifact.createdAt)!,
    annotations: artifact.annotations,
  };
}

export const auditSchema = z.object({
  id: z.number().int(),
  time,
  actor: z.string(),
  actorType: z.string(),
  action: z.string(),
  resourceType: z.string(),
  resource: z.string(),
  project: z.string().nullable(),
  sourceIp: z.string().nullable(),
  result: z.enum(['success', 'failure']),
  detail: z.record(z.string(), z.unknown()).nullable(),
  requestId: z.string().nullable(),
});

export function auditView(row: AuditRow): z.infer<typeof auditSchema> {
  return { ...row, time: iso(row.time)! };
}

export const nameParam = (key: string, description: string) => z.object({ [key]: z.string().min(1).max(255).describe(description) });
export const idParam = z.object({ id: z.coerce.number().int().positive() });
export const timeInput = z.iso.datetime({ offset: true }).describe('RFC 3339 time');
