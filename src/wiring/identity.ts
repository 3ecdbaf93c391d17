import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import type { Database } from '../adapters/db/connect.js';
import { KyselyIdentityStore } from '../adapters/db/kysely-identity-store.js';
import type { KyselyMetadataStore } from '../adapters/db/kysely-metadata-store.js';
import type { OutboundClient } from '../adapters/outbound/outbound-client.js';
import type { PublishedInvalidation } from '../ports/invalidation-bus.js';
import type { QuotaLimits } from '../ports/metadata-store.js';
import { Authorizer } from '../services/access/authorizer.js';
import { Authenticator } from '../services/identity/authenticator.js';
import type { LoginThrottle } from '../services/identity/login-throttle.js';
import type { OidcLogin } from '../services/identity/oidc-login.js';
import { RobotService } from '../services/identity/robot-service.js';
import { TokenService } from '../services/identity/token-service.js';
import { UserService } from '../services/identity/user-service.js';
import { ProjectService } from '../services/projects/project-service.js';

/** The administrator a first start created, with the password to show once. */
export interface InitialAdmin {
  username: string;
  password: string;
  generated: boolean;
}

/** Who is who and who may do what: users, robots, projects, tokens, and their caches. */
export interface Identity {
  identity: KyselyIdentityStore;
  authorizer: Authorizer;
  authenticator: Authenticator;
  tokens: TokenService;
  users: UserService;
  projects: ProjectService;
  robots: RobotService;
  oidc?: OidcLogin;
  /** Forgets cached principals and permissions here, and tells the other processes to. */
  onIdentityChange(): void;
  /** Forgets cached principals and permissions here (another process changed them). */
  invalidate(): void;
  /** Re-reads the signing keys a sibling changed; a failure is logged, and the next unknown key retries. */
  reloadKeys(): Promise<unknown>;
  /**
   * Loads the signing keys and does first-start work (the first administrator and the public
   * `library` project); call it once invalidations are heard, so a sibling rotating keys at the
   * same moment is not missed.
   */
  init(): Promise<InitialAdmin | undefined>;
}

export interface IdentityDependencies {
  logger: Logger;
  meta: KyselyMetadataStore;
  announce: (invalidation: PublishedInvalidation) => void;
  loginThrottle: LoginThrottle;
  /** The quota a new project gets (runtime settings). */
  newProjectQuota: () => QuotaLimits;
  outbound: OutboundClient;
}

/** Wires identity and access (docs/identity.md); LDAP and OIDC client libraries load only when configured. */
export async function wireIdentity(database: Database, config: ResolvedConfig, deps: IdentityDependencies): Promise<Identity> {
  const { logger } = deps;
  const { ldap, oidc } = config.auth;
  const identity = new KyselyIdentityStore(database);
  const authorizer = new Authorizer(identity, { projectCreation: config.auth.projectCreation, newProjectQuota: deps.newProjectQuota });
  const authenticator = new Authenticator(identity, {
    throttle: deps.loginThrottle,
    ldap: ldap.enabled ? new (await import('../services/identity/ldap-directory.js')).LdapDirectory({ ...ldap, baseDn: ldap.baseDn }) : undefined,
    ldapAdminGroupDn: ldap.adminGroupDn,
  });
  const invalidate = () => {
    authenticator.invalidate();
    authorizer.invalidate();
  };
  const onIdentityChange = () => {
    invalidate();
    deps.announce({ kind: 'identity' });
  };
  const tokens = new TokenService(
    identity,
    {
      issuer: config.auth.issuer,
      service: config.auth.service,
      accessTtlSeconds: config.auth.tokenTtlSeconds,
      refreshTtlSeconds: config.auth.refreshTokenTtlSeconds,
      sessionTtlSeconds: config.auth.sessionTtlSeconds,
      keyRotationDays: config.auth.keyRotationDays,
    },
    {
      // Instances hear it on the bus; cluster workers on SQLite through the primary's relay
      // (their bus is local), which re-reads keys with every identity change it passes on.
      onKeysChanged: () => deps.announce({ kind: 'signing-keys' }),
    },
  );
  const passwordPolicy = { minLength: config.auth.passwordMinLength };
  const users = new UserService(identity, { passwordPolicy, onChange: onIdentityChange });
  return {
    identity,
    authorizer,
    authenticator,
    tokens,
    users,
    projects: new ProjectService(identity, deps.meta, { onChange: onIdentityChange, newProjectQuota: deps.newProjectQuota }),
    robots: new RobotService(identity, onIdentityChange),
    oidc:
      oidc.enabled && oidc.issuer && oidc.clientId
        ? new (await import('../services/identity/oidc-login.js')).OidcLogin({ ...oidc, issuer: oidc.issuer, clientId: oidc.clientId }, identity, deps.outbound.fetchFor('oidc'))
        : undefined,
    onIdentityChange,
    invalidate,
    reloadKeys: () => tokens.reload().catch((err: unknown) => logger.warn({ err }, 'reloading token signing keys failed; retried on the next unknown key')),
    async init() {
      await tokens.init();
      // In cluster mode the first worker does this (after the migrations) before the primary starts the others.
      const initialAdmin = await users.ensureInitialAdmin(config.auth.initialAdminPassword);
      if (initialAdmin) {
        if (!(await identity.getProject('library'))) await identity.createProject({ name: 'library', public: true, createdBy: 'admin' }, Date.now());
        logger.info({ username: initialAdmin.username, generated: initialAdmin.generated }, 'created the first system administrator');
      }
      return initialAdmin;
    },
  };
}
