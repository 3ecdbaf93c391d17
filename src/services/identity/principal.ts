import type { RateLimitOverrides, RobotPermission, UserSource } from '../../ports/identity-store.js';

/** Who is making a request, once credentials are checked. */
export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'user'; id: number; name: string; isAdmin: boolean; groupIds: number[]; source: UserSource }
  | { kind: 'robot'; id: number; name: string; projectId: number | null; permissions: RobotPermission[]; rateLimits?: RateLimitOverrides };

export const anonymous: Principal = { kind: 'anonymous' };

export function principalName(principal: Principal): string {
  return principal.kind === 'anonymous' ? 'anonymous' : principal.name;
}
