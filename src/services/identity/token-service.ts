import { createHash, randomUUID } from 'node:crypto';
import {
  SignJWT,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';
import { BerthError } from '../../domain/errors.js';
import { LruCache } from '../../domain/lru-cache.js';
import type { AccessEntry } from '../../domain/scope.js';
import type { IdentityStore, SigningKeyRow } from '../../ports/identity-store.js';
import type { Principal } from './principal.js';

export interface TokenSettings {
  issuer: string;
  /** The `service` of the Docker token flow, and the tokens' audience. */
  service: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  sessionTtlSeconds: number;
  keyRotationDays: number;
}

export interface TokenServiceOptions {
  now?: () => number;
  /** Told after this instance added a key and retired the others (so other instances reload theirs). */
  onKeysChanged?: () => void;
}

/** What a token is for; checked on every use so one kind can never stand in for another. */
export type TokenUse = 'access' | 'refresh' | 'session';

export interface VerifiedToken {
  use: TokenUse;
  /** Anonymous callers get access tokens too (pulls of public repositories through the token flow). */
  subject: { kind: 'user' | 'robot'; id: number; name: string } | { kind: 'anonymous' };
  access: AccessEntry[];
  expiresAt: number;
}

interface KeyEntry {
  kid: string;
  privateKey?: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
  createdAt: number;
  retiredAt: number | null;
}

const algorithm = 'ES256';
/** Accepted clock skew between instances and clients, in seconds. */
const clockTolerance = 30;

/**
 * Signs and verifies Berth's JWTs (Docker registry token auth, refresh tokens, console
 * sessions) with ES256 keys kept in the database, so every instance signs and verifies alike.
 * Keys rotate every `keyRotationDays`; retired keys keep verifying until every token they
 * signed has expired.
 */
export class TokenService {
  private keys: KeyEntry[] = [];
  private lastLoad = 0;
  /**
   * Tokens whose signature and claims were checked, as `verify` returns them, until they expire. A client
   * sends the same token with every request of a push or pull; an ES256 verification is the
   * largest CPU cost of a small request otherwise. The key is the token's SHA-256, so a
   * changed byte is a miss (and then a failed verification), and an entry holds 43 characters
   * rather than the token: ~700 of them, or the whole Authorization header when the token is a
   * slice of it.
   */
  private readonly verified = new LruCache<string, { token: VerifiedToken; until: number }>(4096);

  private readonly now: () => number;

  constructor(
    private readonly identity: IdentityStore,
    readonly settings: TokenSettings,
    private readonly options: TokenServiceOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Loads keys, creating or rotating the signing key when due. Instances starting together
   * agree: the first to rotate adds the key, the others find it fresh and load it.
   */
  async init(): Promise<void> {
    await this.load();
    const active = this.activeKey();
    const dueBefore = this.now() - this.settings.keyRotationDays * 86_400_000;
    if (!active || active.createdAt <= dueBefore) {
      const added = await this.identity.rotateSigningKey(await this.newKey(), { unlessActiveAfter: dueBefore });
      await this.load();
      if (added) this.options.onKeysChanged?.();
    }
    await this.identity.deleteSigningKeysRetiredBefore(this.now() - this.maxLifetimeMs());
  }

  /** Starts signing with a fresh key; older keys only verify from now on. Resolves its kid. */
  async rotate(): Promise<string> {
    const key = await this.newKey();
    await this.identity.rotateSigningKey(key);
    await this.load();
    this.options.onKeysChanged?.();
    return key.kid;
  }

  private async newKey(): Promise<SigningKeyRow> {
    const { privateKey, publicKey } = await generateKeyPair(algorithm, { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const privateJwk = await exportJWK(privateKey);
    return {
      kid,
      privateJwk: JSON.stringify({ ...privateJwk, kid, alg: algorithm }),
      publicJwk: JSON.stringify({ ...publicJwk, kid, alg: algorithm, use: 'sig' }),
      createdAt: this.now(),
      retiredAt: null,
    };
  }

  /** Re-reads the key set (another instance rotated). */
  async reload(): Promise<void> {
    await this.load();
  }

  /** Public keys for verifiers (JWKS). */
  jwks(): { keys: JWK[] } {
    return { keys: this.keys.map((k) => k.publicJwk) };
  }

  async issue(use: TokenUse, principal: Principal, access: AccessEntry[] = []): Promise<{ token: string; expiresIn: number; issuedAt: Date }> {
    if (principal.kind === 'anonymous' && use !== 'access') throw new Error('only access tokens can be anonymous');
    const key = this.activeKey() ?? (await this.load(), this.activeKey());
    if (!key?.privateKey) throw new Error('no signing key');
    const ttl = use === 'access' ? this.settings.accessTtlSeconds : use === 'refresh' ? this.settings.refreshTtlSeconds : this.settings.sessionTtlSeconds;
    const issuedAt = Math.floor(this.now() / 1000);
    const payload: JWTPayload = { token_use: use, principal: principal.kind === 'anonymous' ? { kind: 'anonymous' } : { kind: principal.kind, id: principal.id } };
    if (use === 'access') payload.access = access;
    const token = await new SignJWT(payload)
      .setProtectedHeader({ alg: algorithm, kid: key.kid, typ: 'JWT' })
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.service)
      .setSubject(principal.kind === 'anonymous' ? '' : principal.name)
      .setIssuedAt(issuedAt)
      .setNotBefore(issuedAt - 1)
      .setExpirationTime(issuedAt + ttl)
      .setJti(randomUUID())
      .sign(key.privateKey);
    return { token, expiresIn: ttl, issuedAt: new Date(issuedAt * 1000) };
  }

  /** Signs a small opaque payload (e.g. an OIDC login in progress) for a browser cookie. */
  async signState(data: Record<string, unknown>, ttlSeconds: number): Promise<string> {
    const key = this.activeKey();
    if (!key?.privateKey) throw new Error('no signing key');
    const now = Math.floor(this.now() / 1000);
    return new SignJWT({ token_use: 'state', data })
      .setProtectedHeader({ alg: algorithm, kid: key.kid, typ: 'JWT' })
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.service)
      .setIssuedAt(now)
      .setExpirationTime(now + ttlSeconds)
      .sign(key.privateKey);
  }

  async verifyState(token: string): Promise<Record<string, unknown>> {
    try {
      const { payload } = await jwtVerify(token, (header) => this.keyFor(header.kid), {
        algorithms: [algorithm],
        issuer: this.settings.issuer,
        audience: this.settings.service,
        currentDate: new Date(this.now()),
      });
      if (payload.token_use !== 'state' || typeof payload.data !== 'object' || payload.data === null) throw new Error('not a state token');
      return payload.data as Record<string, unknown>;
    } catch (err) {
      throw new BerthError('UNAUTHORIZED', { message: `invalid or expired login state: ${(err as Error).message}` });
    }
  }

  /** Verifies signature (ES256 only, known kid), issuer, audience, time window and use. */
  async verify(token: string, use: TokenUse): Promise<VerifiedToken> {
    const key = createHash('sha256').update(token).digest('base64url');
    const known = this.verified.get(key);
    const verified = known && known.until > this.now() ? known.token : await this.verifyUncached(token, key);
    if (verified.use !== use) throw new BerthError('UNAUTHORIZED', { message: `invalid token: not a ${use} token` });
    return verified;
  }

  private async verifyUncached(token: string, key: string): Promise<VerifiedToken> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, (header) => this.keyFor(header.kid), {
        algorithms: [algorithm],
        issuer: this.settings.issuer,
        audience: this.settings.service,
        clockTolerance,
        currentDate: new Date(this.now()),
        requiredClaims: ['exp', 'nbf', 'iat'],
      }));
    } catch (err) {
      throw new BerthError('UNAUTHORIZED', { message: `invalid token: ${(err as Error).message}` });
    }
    const use = payload.token_use;
    if (use !== 'access' && use !== 'refresh' && use !== 'session') throw new BerthError('UNAUTHORIZED', { message: 'invalid token: no token use' });
    const principal = payload.principal as { kind?: unknown; id?: unknown } | undefined;
    const access = Array.isArray(payload.access) ? (payload.access as AccessEntry[]) : [];
    const expiresAt = (payload.exp ?? 0) * 1000;
    let verified: VerifiedToken;
    if (principal?.kind === 'anonymous' && use === 'access') verified = { use, subject: { kind: 'anonymous' }, access, expiresAt };
    else if (principal && (principal.kind === 'user' || principal.kind === 'robot') && typeof principal.id === 'number') {
      verified = { use, subject: { kind: principal.kind, id: principal.id, name: String(payload.sub ?? '') }, access, expiresAt };
    } else throw new BerthError('UNAUTHORIZED', { message: 'invalid token: no principal' });
    // Valid until the moment jwtVerify itself would call it expired.
    this.verified.set(key, { token: Object.freeze(verified), until: ((payload.exp ?? 0) + clockTolerance) * 1000 });
    return verified;
  }

  private async keyFor(kid: string | undefined): Promise<CryptoKey> {
    if (!kid) throw new Error('token has no kid');
    let key = this.keys.find((k) => k.kid === kid);
    // Another instance may have rotated: look again, at most every 10 s.
    if (!key && this.now() - this.lastLoad > 10_000) {
      await this.load();
      key = this.keys.find((k) => k.kid === kid);
    }
    if (!key) throw new Error(`unknown key ${kid}`);
    if (key.retiredAt !== null && key.retiredAt + this.maxLifetimeMs() < this.now()) throw new Error(`key ${kid} is retired`);
    return key.publicKey;
  }

  private activeKey(): KeyEntry | undefined {
    return this.keys.find((k) => k.retiredAt === null && k.privateKey);
  }

  private maxLifetimeMs(): number {
    return Math.max(this.settings.accessTtlSeconds, this.settings.refreshTtlSeconds, this.settings.sessionTtlSeconds) * 1000;
  }

  private async load(): Promise<void> {
    const rows = await this.identity.listSigningKeys();
    const keys: KeyEntry[] = [];
    for (const row of rows) {
      const publicJwk = JSON.parse(row.publicJwk) as JWK;
      keys.push({
        kid: row.kid,
        publicKey: (await importJWK(publicJwk, algorithm)) as CryptoKey,
        privateKey: row.retiredAt === null ? ((await importJWK(JSON.parse(row.privateJwk) as JWK, algorithm)) as CryptoKey) : undefined,
        publicJwk,
        createdAt: row.createdAt,
        retiredAt: row.retiredAt,
      });
    }
    this.keys = keys;
    this.lastLoad = this.now();
  }
}
