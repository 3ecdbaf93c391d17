import * as oidc from 'openid-client';
import { BerthError } from '../../domain/errors.js';
import type { IdentityStore, UserRow } from '../../ports/identity-store.js';
import { blockedByPolicy } from '../../ports/outbound.js';

export interface OidcSettings {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  scopes: string[];
  usernameClaim: string;
  groupsClaim: string;
  /** Members of this group (as named in the groups claim) are system admins. */
  adminGroup?: string;
  /** Allow an http:// issuer (tests and labs only). */
  allowInsecureHttp: boolean;
}

/** What must survive between the redirect to the provider and the callback (kept in a signed cookie). */
export interface PendingLogin {
  state: string;
  nonce: string;
  verifier: string;
  returnTo: string;
}

/**
 * Console login with an OpenID Connect provider: authorization code flow with PKCE (RFC 7636),
 * ID token validated by openid-client, users and their group claims mirrored locally so
 * project memberships can name OIDC groups.
 */
export class OidcLogin {
  private configuration: Promise<oidc.Configuration> | undefined;

  constructor(
    readonly settings: OidcSettings,
    private readonly identity: IdentityStore,
    /** Requests to the provider go through the outbound policy (an internal issuer must be allowed for `oidc`). */
    private readonly outboundFetch?: typeof fetch,
    private readonly now: () => number = Date.now,
  ) {}

  private config(): Promise<oidc.Configuration> {
    this.configuration ??= oidc
      .discovery(
        new URL(this.settings.issuer),
        this.settings.clientId,
        undefined,
        this.settings.clientSecret ? oidc.ClientSecretPost(this.settings.clientSecret) : oidc.None(),
        {
          ...(this.settings.allowInsecureHttp ? { execute: [oidc.allowInsecureRequests] } : {}),
          ...(this.outboundFetch ? { [oidc.customFetch]: this.outboundFetch as unknown as oidc.CustomFetch } : {}),
        },
      )
      .catch((err: unknown) => {
        this.configuration = undefined;
        const blocked = blockedByPolicy(err);
        throw new BerthError('UNAVAILABLE', { message: `the OIDC provider cannot be reached: ${(blocked ?? (err as Error)).message}`, cause: err });
      });
    return this.configuration;
  }

  async start(redirectUri: string, returnTo: string): Promise<{ url: string; pending: PendingLogin }> {
    const config = await this.config();
    const verifier = oidc.randomPKCECodeVerifier();
    const pending: PendingLogin = { state: oidc.randomState(), nonce: oidc.randomNonce(), verifier, returnTo };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: this.settings.scopes.join(' '),
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: pending.state,
      nonce: pending.nonce,
    });
    return { url: url.href, pending };
  }

  /** Completes the login from the provider's redirect and returns the local user. */
  async finish(callbackUrl: URL, pending: PendingLogin): Promise<UserRow> {
    const config = await this.config();
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: pending.verifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
    } catch (err) {
      throw new BerthError('UNAUTHORIZED', { message: `OIDC login failed: ${(err as Error).message}` });
    }
    const claims: Record<string, unknown> = { ...(tokens.claims() ?? {}) };
    if (claims[this.settings.groupsClaim] === undefined || claims[this.settings.usernameClaim] === undefined) {
      const info = await oidc.fetchUserInfo(config, tokens.access_token, String(claims.sub));
      for (const [k, v] of Object.entries(info)) claims[k] ??= v;
    }
    return this.syncUser(claims);
  }

  private async syncUser(claims: Record<string, unknown>): Promise<UserRow> {
    const subject = `${String(claims.iss)}|${String(claims.sub)}`;
    const username = String(claims[this.settings.usernameClaim] ?? claims.sub);
    const rawGroups = claims[this.settings.groupsClaim];
    const groups = Array.isArray(rawGroups) ? rawGroups.map(String) : typeof rawGroups === 'string' ? [rawGroups] : [];
    const isAdmin = this.settings.adminGroup !== undefined && groups.includes(this.settings.adminGroup);
    const now = this.now();
    let user = await this.identity.getUserByExternalId('oidc', subject);
    if (!user) {
      const clash = await this.identity.getUserByName(username);
      if (clash) throw new BerthError('CONFLICT', { message: `a ${clash.source} user named ${username} already exists; ask an administrator to resolve it` });
      user = await this.identity.createUser(
        {
          username,
          email: typeof claims.email === 'string' ? claims.email : null,
          displayName: typeof claims.name === 'string' ? claims.name : null,
          passwordHash: null,
          source: 'oidc',
          externalId: subject,
          isAdmin,
        },
        now,
      );
    }
    if (user.disabled) throw new BerthError('UNAUTHORIZED', { message: 'the account is disabled' });
    const groupIds: number[] = [];
    for (const name of groups) {
      const group = (await this.identity.getGroupByExternalId('oidc', name)) ?? (await this.identity.createGroup({ name, source: 'oidc', externalId: name }, now));
      groupIds.push(group.id);
    }
    await this.identity.setUserGroups(user.id, 'oidc', groupIds);
    return (await this.identity.updateUser(
      user.id,
      {
        email: typeof claims.email === 'string' ? claims.email : user.email,
        displayName: typeof claims.name === 'string' ? claims.name : user.displayName,
        isAdmin: this.settings.adminGroup !== undefined ? isAdmin : user.isAdmin,
        lastLoginAt: now,
      },
      now,
    ))!;
  }
}
