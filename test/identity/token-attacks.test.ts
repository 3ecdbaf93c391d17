import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, generateKeyPair, importJWK, type JWK } from 'jose';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient, basic } from '../helpers/api.js';
import { RegistryClient } from '../helpers/oci.js';

const password = 'Token-Passw0rd';
const accept = { Accept: 'application/vnd.oci.image.manifest.v1+json' };

describe('token attacks are refused', () => {
  let berth: TestBerth;
  let admin: ApiClient;
  let userId: number;

  beforeAll(async () => {
    berth = await startTestBerth();
    admin = new ApiClient(berth.url);
    userId = (await admin.createUser('tokenuser', password)).id;
    await admin.createProject('alpha');
    await admin.createProject('beta');
    await admin.addMember('alpha', 'tokenuser', 'developer');
    const registry = new RegistryClient(berth.url);
    await registry.pushImage('alpha/app', 'v1');
    await registry.pushImage('beta/app', 'v1');
  });
  afterAll(async () => {
    await berth?.stop();
  });

  async function token(credentials: string | null, scope: string): Promise<string> {
    const res = await fetch(`${berth.url}/service/token?service=berth&scope=${encodeURIComponent(scope)}`, {
      headers: credentials ? { Authorization: credentials } : {},
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { token: string }).token;
  }

  const pull = (path: string, bearer: string) => fetch(`${berth.url}${path}`, { headers: { ...accept, Authorization: `Bearer ${bearer}` } });

  function parts(jwt: string): { header: Record<string, unknown>; payload: Record<string, unknown>; signature: string } {
    const [h, p, s] = jwt.split('.');
    return {
      header: JSON.parse(Buffer.from(h!, 'base64url').toString()) as Record<string, unknown>,
      payload: JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>,
      signature: s!,
    };
  }
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  /** Signs with Berth's real current key, so only the claim under test is wrong. */
  async function forge(payload: Record<string, unknown>): Promise<string> {
    const [key] = await berth.api.identity.listSigningKeys();
    const jwk = JSON.parse(key!.privateJwk) as JWK;
    return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: key!.kid, typ: 'JWT' }).sign(await importJWK(jwk, 'ES256'));
  }

  async function expectRefused(res: Response, code = 'UNAUTHORIZED') {
    expect(res.status).toBe(code === 'DENIED' ? 403 : 401);
    expect(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe(code);
  }

  it('accepts a genuine token for what it grants (the control case)', async () => {
    const good = await token(basic('tokenuser', password), 'repository:alpha/app:pull');
    expect((await pull('/v2/alpha/app/manifests/v1', good)).status).toBe(200);
  });

  it('refuses alg: none', async () => {
    const good = parts(await token(basic('tokenuser', password), 'repository:alpha/app:pull'));
    const unsigned = `${b64({ ...good.header, alg: 'none' })}.${b64(good.payload)}.`;
    await expectRefused(await pull('/v2/alpha/app/manifests/v1', unsigned));
  });

  it('refuses a token signed with another key under the same kid', async () => {
    const good = parts(await token(basic('tokenuser', password), 'repository:alpha/app:pull'));
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT(good.payload).setProtectedHeader({ alg: 'ES256', kid: good.header.kid as string }).sign(privateKey);
    await expectRefused(await pull('/v2/alpha/app/manifests/v1', forged));
  });

  it('refuses an HS256 token using the public key as a secret', async () => {
    const good = parts(await token(basic('tokenuser', password), 'repository:alpha/app:pull'));
    const jwks = (await (await fetch(`${berth.url}/service/keys`)).json()) as { keys: JWK[] };
    const secret = new TextEncoder().encode(JSON.stringify(jwks.keys[0]));
    const forged = await new SignJWT(good.payload).setProtectedHeader({ alg: 'HS256', kid: good.header.kid as string }).sign(secret);
    await expectRefused(await pull('/v2/alpha/app/manifests/v1', forged));
  });

  it('refuses a tampered payload', async () => {
    const good = await token(basic('tokenuser', password), 'repository:alpha/app:pull');
    const { payload } = parts(good);
    const [h, , s] = good.split('.');
    const tampered = `${h}.${b64({ ...payload, access: [{ type: 'repository', name: 'beta/app', actions: ['pull'] }] })}.${s}`;
    await expectRefused(await pull('/v2/beta/app/manifests/v1', tampered));
  });

  it('refuses expired, not-yet-valid, wrong-audience and wrong-issuer tokens', async () => {
    const now = Math.floor(Date.now() / 1000);
    const base = {
      iss: 'berth-token-issuer',
      aud: 'berth',
      sub: 'tokenuser',
      iat: now,
      nbf: now - 1,
      exp: now + 300,
      token_use: 'access',
      principal: { kind: 'user', id: userId },
      access: [{ type: 'repository', name: 'alpha/app', actions: ['pull'] }],
    };
    // The forging works: the same claims, correct, are accepted.
    expect((await pull('/v2/alpha/app/manifests/v1', await forge(base))).status).toBe(200);
    for (const wrong of [
      { exp: now - 120, iat: now - 600, nbf: now - 600 },
      { nbf: now + 600, iat: now + 600, exp: now + 900 },
      { aud: 'someone-else' },
      { iss: 'evil-issuer' },
      { token_use: 'refresh' },
      { token_use: 'session' },
    ]) {
      await expectRefused(await pull('/v2/alpha/app/manifests/v1', await forge({ ...base, ...wrong })));
    }
  });

  it('refuses scope escalation: a token for repository A used on B, or for pull used to push', async () => {
    const alphaOnly = await token(basic('tokenuser', password), 'repository:alpha/app:pull');
    // tokenuser could never read beta: denied outright.
    await expectRefused(await pull('/v2/beta/app/manifests/v1', alphaOnly), 'DENIED');
    // tokenuser may push to alpha, but this token only grants pull: challenge for a better token.
    const push = await fetch(`${berth.url}/v2/alpha/app/blobs/uploads/`, { method: 'POST', headers: { Authorization: `Bearer ${alphaOnly}` } });
    expect(push.status).toBe(401);
    expect(push.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    // And asking the token service for beta yields no grant for it.
    const asked = parts(await token(basic('tokenuser', password), 'repository:beta/app:pull,push repository:alpha/app:*'));
    expect(asked.payload.access).toEqual([{ type: 'repository', name: 'alpha/app', actions: ['pull', 'push'] }]);
  });

  it("refuses a robot's token and password once it is disabled or expired", async () => {
    const robot = await admin.createRobot('alpha', 'ci', ['pull']);
    const robotToken = await token(basic(robot.name, robot.secret), 'repository:alpha/app:pull');
    expect((await pull('/v2/alpha/app/manifests/v1', robotToken)).status).toBe(200);
    await admin.ok('PATCH', `/projects/alpha/robots/${robot.id}`, { disabled: true });
    await expectRefused(await pull('/v2/alpha/app/manifests/v1', robotToken));
    const basicRes = await fetch(`${berth.url}/v2/alpha/app/manifests/v1`, { headers: { ...accept, Authorization: basic(robot.name, robot.secret) } });
    expect(basicRes.status).toBe(401);

    // Long enough to be used before it expires on a busy machine (scrypt verifies its secret), then waited out.
    const expiresAt = Date.now() + 5000;
    const shortLived = await admin.createRobot('alpha', 'brief', ['pull'], { expiresAt: new Date(expiresAt).toISOString() });
    const briefToken = await token(basic(shortLived.name, shortLived.secret), 'repository:alpha/app:pull');
    expect((await pull('/v2/alpha/app/manifests/v1', briefToken)).status).toBe(200);
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now()) + 2100));
    await expectRefused(await pull('/v2/alpha/app/manifests/v1', briefToken));
    const tokenRes = await fetch(`${berth.url}/service/token?service=berth&scope=repository:alpha/app:pull`, { headers: { Authorization: basic(shortLived.name, shortLived.secret) } });
    expect(tokenRes.status).toBe(401);
  });

  it("refuses a deleted user's still-unexpired access and refresh tokens", async () => {
    const { id } = await admin.createUser('leaver', password);
    await admin.addMember('alpha', 'leaver', 'guest');
    const access = await token(basic('leaver', password), 'repository:alpha/app:pull');
    const login = await fetch(`${berth.url}/service/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: 'leaver', password, service: 'berth', client_id: 'test', access_type: 'offline' }),
    });
    const refresh = ((await login.json()) as { refresh_token: string }).refresh_token;
    expect((await pull('/v2/alpha/app/manifests/v1', access)).status).toBe(200);

    await admin.ok('DELETE', `/users/${id}`);
    await expectRefused(await pull('/v2/alpha/app/manifests/v1', access));
    const refreshed = await fetch(`${berth.url}/service/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, service: 'berth', client_id: 'test', scope: 'repository:alpha/app:pull' }),
    });
    expect(refreshed.status).toBe(401);
  });

  it('refuses a refresh token presented as an access token', async () => {
    const login = await fetch(`${berth.url}/service/token?service=berth&offline_token=true&scope=repository:alpha/app:pull`, {
      headers: { Authorization: basic('tokenuser', password) },
    });
    const { refresh_token: refresh } = (await login.json()) as { refresh_token: string };
    await expectRefused(await pull('/v2/alpha/app/manifests/v1', refresh));
  });

  it('keeps accepting tokens signed before a key rotation, and signs new ones with the new key', async () => {
    const before = await token(basic('tokenuser', password), 'repository:alpha/app:pull');
    const { kid } = await admin.ok<{ kid: string }>('POST', '/system/signing-keys/rotate');
    const after = await token(basic('tokenuser', password), 'repository:alpha/app:pull');
    expect(parts(after).header.kid).toBe(kid);
    expect(parts(before).header.kid).not.toBe(kid);
    expect((await pull('/v2/alpha/app/manifests/v1', before)).status).toBe(200);
    expect((await pull('/v2/alpha/app/manifests/v1', after)).status).toBe(200);
  });

  it('makes an address wait after 5 failed logins for an account, even with the right password', async () => {
    await admin.createUser('victim', password);
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${berth.url}/service/token?service=berth`, { headers: { Authorization: basic('victim', `wrong-${i}`) } });
      expect(res.status).toBe(401);
    }
    const waiting = await fetch(`${berth.url}/service/token?service=berth`, { headers: { Authorization: basic('victim', password) } });
    expect(waiting.status).toBe(429);
    expect(Number(waiting.headers.get('retry-after'))).toBe(30);
    expect(((await waiting.json()) as { errors: Array<{ code: string; message: string }> }).errors[0]).toEqual({
      code: 'TOOMANYREQUESTS',
      message: 'too many failed logins from this address; try again in 30 s (other addresses are not affected)',
    });
    const failures = await admin.ok<{ items: Array<{ actor: string; result: string }> }>('GET', '/audit-logs?action=login&actor=victim&page_size=100');
    expect(failures.items.filter((e) => e.result === 'failure')).toHaveLength(6);
    const listed = await admin.ok<{ items: Array<{ username: string; locked?: boolean }> }>('GET', '/users?q=username=victim');
    expect(listed.items).toEqual([expect.objectContaining({ username: 'victim', locked: true })]);
  });
});
