import { clientKey } from '../../domain/address-ranges.js';
import { BerthError } from '../../domain/errors.js';
import type { LimitOverride, ProjectRow } from '../../ports/identity-store.js';
import type { Principal } from '../identity/principal.js';
import type { RateLimitCategory, RateLimitSettings } from '../settings/system-settings.js';
import type { RateDecision, RateLimiter } from './rate-limiter.js';

export interface LimitRequest {
  principal: Principal;
  /** The client's address (behind a trusted proxy, from X-Forwarded-For). */
  address: string;
  category: RateLimitCategory;
  /** The project the request is about, when it is about one. */
  project?: string;
}

/** The answer, with what the response headers say. */
export interface LimitOutcome {
  decision: RateDecision;
  /** Who was counted, as Docker Hub's `Docker-RateLimit-Source` names it (an address or an account). */
  source: string;
  headers: Record<string, string>;
}

export interface RequestLimitsOptions {
  settings: () => RateLimitSettings;
  project: (name: string) => Promise<ProjectRow | undefined>;
  /** Told of every counted request's result (metrics). */
  onDecision?: (category: RateLimitCategory, subject: Subject['kind'], allowed: boolean) => void;
}

interface Subject {
  kind: 'anonymous' | 'user' | 'robot' | 'project';
  key: string;
  limit: number;
  /** For the header and messages. */
  label: string;
}

/**
 * Rate limits as Docker Hub users know them: pulls (manifest GETs) and API calls counted per
 * user, robot, anonymous client address (IPv6 per /64) and project, in fixed windows, over
 * every process and instance (RateLimiter). System administrators are not limited. A request
 * must fit every limit that applies to it; the response carries the tightest one in
 * `RateLimit-Limit` / `RateLimit-Remaining` (`<n>;w=<seconds>`), and a refusal is 429
 * TOOMANYREQUESTS with `Retry-After`.
 */
export class RequestLimits {
  constructor(
    private readonly limiter: RateLimiter,
    private readonly options: RequestLimitsOptions,
  ) {}

  /** Counts the request; throws TOOMANYREQUESTS (with the headers) when a limit is reached. Undefined when no limit applies. */
  async check(request: LimitRequest): Promise<LimitOutcome | undefined> {
    const settings = this.options.settings();
    if (!settings.enabled) return undefined;
    if (request.principal.kind === 'user' && request.principal.isAdmin) return undefined;
    const subjects = await this.subjects(request, settings);
    if (subjects.length === 0) return undefined;
    const windowMs = settings.windowSeconds * 1000;
    const taken: Subject[] = [];
    let tightest: { subject: Subject; decision: RateDecision } | undefined;
    for (const subject of subjects) {
      const decision = await this.limiter.take(subject.key, subject.limit, windowMs);
      this.options.onDecision?.(request.category, subject.kind, decision.allowed);
      if (!decision.allowed) {
        // The request is refused as a whole: what it took from the other limits goes back.
        for (const t of taken) this.limiter.refund(t.key);
        const outcome = this.outcome(subject, decision);
        const retry = Math.max(1, Math.ceil(decision.resetMs / 1000));
        const what = request.category === 'pull' ? 'pull' : 'API';
        throw new BerthError('TOOMANYREQUESTS', {
          message: `You have reached your ${what} rate limit: ${subject.limit} per ${windowText(settings.windowSeconds)} for ${subject.label}. Try again in ${retry} s.`,
          headers: { ...outcome.headers, 'Retry-After': String(retry) },
        });
      }
      taken.push(subject);
      if (!tightest || decision.remaining < tightest.decision.remaining) tightest = { subject, decision };
    }
    return this.outcome(tightest!.subject, tightest!.decision);
  }

  private outcome(subject: Subject, decision: RateDecision): LimitOutcome {
    const window = Math.round(decision.windowMs / 1000);
    return {
      decision,
      source: subject.label,
      headers: {
        'RateLimit-Limit': `${decision.limit};w=${window}`,
        'RateLimit-Remaining': `${decision.remaining};w=${window}`,
        'Docker-RateLimit-Source': subject.label,
      },
    };
  }

  private async subjects(request: LimitRequest, settings: RateLimitSettings): Promise<Subject[]> {
    const limits = settings[request.category];
    const subjects: Subject[] = [];
    const add = (kind: Subject['kind'], id: string, limit: number | null, label: string) => {
      if (limit !== null) subjects.push({ kind, key: `${request.category}:${kind}:${id}`, limit, label });
    };
    const { principal } = request;
    if (principal.kind === 'anonymous') {
      const client = clientKey(request.address);
      add('anonymous', client, limits.anonymous, client);
    } else if (principal.kind === 'user') {
      add('user', String(principal.id), limits.user, principal.name);
    } else {
      add('robot', String(principal.id), effective(principal.rateLimits?.[request.category] ?? null, limits.robot), principal.name);
    }
    if (request.project !== undefined) {
      const project = await this.options.project(request.project);
      if (project) add('project', String(project.id), effective(project.rateLimits[request.category], limits.project), `project ${project.name}`);
    }
    return subjects;
  }
}

/** A project's or robot's own limit, else the system's (null: unlimited). */
function effective(own: LimitOverride, system: number | null): number | null {
  if (own === 'unlimited') return null;
  return own ?? system;
}

function windowText(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}
