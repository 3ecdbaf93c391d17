import type { IdentityStore } from '../../ports/identity-store.js';
import type { JobStore } from '../../ports/job-store.js';
import type { WebhookService } from '../../services/webhooks/webhook-service.js';
import type { Authorizer } from '../../services/access/authorizer.js';
import type { AuditLog } from '../../services/audit/audit-log.js';
import type { Authenticator } from '../../services/identity/authenticator.js';
import type { LoginThrottle } from '../../services/identity/login-throttle.js';
import type { OidcLogin } from '../../services/identity/oidc-login.js';
import type { RobotService } from '../../services/identity/robot-service.js';
import type { TokenService } from '../../services/identity/token-service.js';
import type { UserService } from '../../services/identity/user-service.js';
import type { ProjectService } from '../../services/projects/project-service.js';
import type { RequestLimits } from '../../services/limits/request-limits.js';
import type { SystemSettings } from '../../services/settings/system-settings.js';
import type { Lifecycle } from '../../services/lifecycle/index.js';
import type { Registry } from '../../services/registry/index.js';
import type { Security } from '../../wiring/security.js';
import type { Insights } from '../../wiring/insights.js';
import type { Search } from '../../wiring/search.js';
import type { Recommendations } from '../../wiring/rebuild-hints.js';
import type { Replication } from '../../wiring/replication.js';
import type { PreheatService } from '../../services/preheat/preheat-service.js';

/** What the management API calls into. */
export interface ApiServices {
  version: string;
  registry: Registry;
  /** Supply-chain security (issue 16): package inventories (each layer read once), scans, pull policies. */
  security: Security;
  /** Insights (issue 17): best-practice lint of images. */
  insights: Insights;
  /** Search across the registry and images' file trees (issue 17). */
  search: Search;
  /** Recommendations for images and rebuild hints (issue 17). */
  recommendations: Recommendations;
  identity: IdentityStore;
  users: UserService;
  robots: RobotService;
  projects: ProjectService;
  authenticator: Authenticator;
  loginThrottle: LoginThrottle;
  authorizer: Authorizer;
  tokens: TokenService;
  audit: AuditLog;
  /** Settings administrators change at run time (outbound allowlists, rate limits). */
  settings: SystemSettings;
  /** Rate limits of pulls and API calls (inactive unless enabled in settings). */
  limits: RequestLimits;
  /** Garbage collection (and, later, retention, quotas, scrub). */
  lifecycle: Lifecycle;
  /** Registry endpoints (and, later, replication rules and proxy caches). */
  replication: Replication;
  /** P2P preheat: providers, per-project policies, executions. */
  preheat: PreheatService;
  webhooks: WebhookService;
  jobs: JobStore;
  oidc?: OidcLogin;
  ldapEnabled: boolean;
  /** Drops every cache of identity and permission state (after a change made here). */
  onIdentityChange: () => void;
  /** Fixed public base URL (for OIDC redirect URIs), when configured. */
  publicUrl?: string;
  /** Secure cookies when the console is served over HTTPS (publicUrl https://…). */
  secureCookies: boolean;
}
