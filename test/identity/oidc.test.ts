import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient } from '../helpers/api.js';
import { ContainerTools, missingTools } from '../helpers/clients.js';
import { writeOciLayout } from '../helpers/oci-layout.js';
import { CookieJar, freePort, startOidcProvider, type TestOidcProvider } from '../helpers/oidc-provider.js';

const toolsMissing = await missingTools(['skopeo', 'podman', 'tar']);
const clientSecret = 'Oidc-Client-Secret-1';

describe('OIDC login against a real OpenID Connect provider', () => {
  let provider: TestOidcProvider;
  let berth: TestBerth;
  let work: string;

  beforeAll(async () => {
    const port = await freePort();
    provider = await startOidcProvider({
      clientId: 'berth',
      clientSecret,
      redirectUri: `http://127.0.0.1:${port}/api/v1/auth/oidc/callback`,
      accounts: [
        { sub: 'carol-1', preferred_username: 'carol', email: 'carol@berth.test', name: 'Carol', groups: ['oidc-devs'] },
        { sub: 'olga-2', preferred_username: 'olga', email: 'olga@berth.test', name: 'Olga', groups: ['oidc-devs', 'berth-admins'] },
      ],
    });
    berth = await startTestBerth({
      settings: {
        'server.port': port,
        'auth.oidc.enabled': true,
        'auth.oidc.issuer': provider.issuer,
        'auth.oidc.clientId': 'berth',
        'auth.oidc.clientSecret': clientSecret,
        'auth.oidc.adminGroup': 'berth-admins',
        'auth.oidc.allowInsecureHttp': true,
        // The provider runs on loopback: allowed for OIDC only, as an operator would for an internal provider.
        'outbound.oidc.allowCidrs': ['127.0.0.1/32'],
      },
    });
    work = await mkdtemp(join(tmpdir(), 'berth-oidc-'));
  });
  afterAll(async () => {
    await berth?.stop();
    await provider?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /**
   * Plays the browser: Berth's login redirect, the provider's login and consent forms
   * (oidc-provider's development interactions), the callback, the session cookie.
   */
  async function browserLogin(account: string): Promise<{ jar: CookieJar; landing: string }> {
    const jar = new CookieJar();
    let url = `${berth.url}/api/v1/auth/oidc/login?returnTo=/projects`;
    let method = 'GET';
    let body: URLSearchParams | undefined;
    for (let hop = 0; hop < 20; hop++) {
      const res = await fetch(url, {
        method,
        body,
        redirect: 'manual',
        headers: { Cookie: jar.header(url), ...(body ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}) },
      });
      jar.store(url, res);
      method = 'GET';
      body = undefined;
      if (res.status >= 300 && res.status < 400) {
        const next = new URL(res.headers.get('location')!, url).href;
        if (next.startsWith(berth.url) && !next.includes('/api/v1/auth/oidc/')) return { jar, landing: next.slice(berth.url.length) };
        url = next;
        continue;
      }
      const html = await res.text();
      expect(res.status, html.slice(0, 500)).toBe(200);
      // The provider's interaction page: log in, then consent.
      method = 'POST';
      body = html.includes('name="prompt" value="login"')
        ? new URLSearchParams({ prompt: 'login', login: account, password: 'any' })
        : new URLSearchParams({ prompt: 'consent' });
    }
    throw new Error('too many redirects');
  }

  it('logs a user in with the authorization code flow and PKCE, and sets a session', async () => {
    const { jar, landing } = await browserLogin('carol-1');
    expect(landing).toBe('/projects');
    const host = new URL(berth.url).host;
    const session = jar.get(host, 'berth_session');
    expect(session).toBeDefined();
    const me = await fetch(`${berth.url}/api/v1/users/current`, { headers: { Cookie: `berth_session=${session}` } });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ username: 'carol', source: 'oidc', email: 'carol@berth.test', isAdmin: false });
    const groups = await new ApiClient(berth.url).ok<{ items: Array<{ name: string; source: string }> }>('GET', '/groups?q=source=oidc');
    expect(groups.items.map((g) => g.name)).toEqual(['oidc-devs']);
  });

  it('makes members of the configured admin group system administrators', async () => {
    const { jar } = await browserLogin('olga-2');
    const session = jar.get(new URL(berth.url).host, 'berth_session');
    const me = await fetch(`${berth.url}/api/v1/users/current`, { headers: { Cookie: `berth_session=${session}` } });
    expect(await me.json()).toMatchObject({ username: 'olga', isAdmin: true });
  });

  it('reaches an internal provider only when the address is allowed for OIDC', async () => {
    const unallowed = await startTestBerth({
      settings: { 'auth.oidc.enabled': true, 'auth.oidc.issuer': provider.issuer, 'auth.oidc.clientId': 'berth', 'auth.oidc.allowInsecureHttp': true, 'outbound.webhook.allowCidrs': ['127.0.0.1/32'] },
    });
    try {
      const res = await fetch(`${unallowed.url}/api/v1/auth/oidc/login`, { redirect: 'manual' });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { title: string }).title).toBe(
        'the OIDC provider cannot be reached: blocked by policy: 127.0.0.1 is a loopback address, which oidc requests may not reach; an administrator can allow it with the setting outbound.oidc.allowCidrs (or outbound.allowCidrs for every feature)',
      );
    } finally {
      await unallowed.stop();
    }
  });

  it('refuses a callback without the login state cookie (CSRF), or with a forged state', async () => {
    const res = await fetch(`${berth.url}/api/v1/auth/oidc/callback?code=abc&state=xyz`, { redirect: 'manual' });
    expect(res.status).toBe(401);
    const forged = await fetch(`${berth.url}/api/v1/auth/oidc/callback?code=abc&state=xyz`, { redirect: 'manual', headers: { Cookie: 'berth_oidc=not-a-token' } });
    expect(forged.status).toBe(401);
  });

  it.skipIf(toolsMissing.length > 0)('lets an OIDC user docker-login with a CLI secret and push where its group is a member', async () => {
    const { jar } = await browserLogin('carol-1');
    const session = jar.get(new URL(berth.url).host, 'berth_session')!;
    const secretRes = await fetch(`${berth.url}/api/v1/users/current/cli-secret`, { method: 'POST', headers: { Cookie: `berth_session=${session}` } });
    expect(secretRes.status).toBe(200);
    const { secret } = (await secretRes.json()) as { secret: string };

    const admin = new ApiClient(berth.url);
    await admin.createProject('oidcteam', false);
    await admin.ok('POST', '/projects/oidcteam/members', { type: 'group', name: 'oidc-devs', role: 'developer' });

    const tools = new ContainerTools(work);
    const host = `127.0.0.1:${berth.port}`;
    await tools.podman(['login', '--tls-verify=false', '--username', 'carol', '--password', secret, host]);
    const layout = await writeOciLayout(join(work, 'layout'), 'v1', [{ architecture: 'amd64', files: { 'o.txt': 'oidc\n' } }]);
    await tools.skopeo(['copy', '--all', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, `docker://${host}/oidcteam/app:v1`]);
    await tools.podman(['pull', '--tls-verify=false', `${host}/oidcteam/app:v1`]);
    // The console password flow is not open to OIDC users' CLI secrets' absence: a wrong secret fails.
    await expect(tools.podman(['login', '--tls-verify=false', '--username', 'carol', '--password', 'Not-The-Secret-1', host])).rejects.toThrow(
      /invalid username\/password/,
    );
    expect(berth.logs.join('')).not.toContain(secret);
    expect(berth.logs.join('')).not.toContain(clientSecret);
  });
});
