import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient } from '../helpers/api.js';
import { RegistryClient, randomImage } from '../helpers/oci.js';

describe('management API /api/v1', () => {
  let berth: TestBerth;
  let admin: ApiClient;

  beforeAll(async () => {
    berth = await startTestBerth();
    admin = new ApiClient(berth.url);
  });
  afterAll(async () => {
    await berth?.stop();
  });

  it('serves an OpenAPI 3.1 document describing every route, with request schemas', async () => {
    const doc = (await (await fetch(`${berth.url}/api/v1/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown> } }> } }>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/users', '/api/v1/projects/{project}/members', '/api/v1/projects/{project}/robots', '/api/v1/audit-logs', '/api/v1/projects/{project}/repositories/{repository}/artifacts']),
    );
    const createUser = doc.paths['/api/v1/users']!.post!.requestBody!.content['application/json']!.schema;
    expect(Object.keys(createUser.properties).sort()).toEqual(['displayName', 'email', 'isAdmin', 'password', 'username']);
  });

  it('creates users under the password policy, paginates and filters them', async () => {
    const weak = await admin.call('POST', '/users', { username: 'weak', password: 'short' });
    expect(weak.status).toBe(400);
    expect(((await weak.json()) as { code: string; title: string }).title).toMatch(/at least 8 characters.*an uppercase letter.*a digit/);
    for (const name of ['u-a', 'u-b', 'u-c']) await admin.createUser(name, 'Good-Passw0rd');
    const dup = await admin.call('POST', '/users', { username: 'u-a', password: 'Good-Passw0rd' });
    expect(dup.status).toBe(409);

    const page = await admin.call('GET', '/users?page=1&page_size=2&q=username=~u-&sort=-username');
    expect(page.headers.get('x-total-count')).toBe('3');
    expect(page.headers.get('link')).toBe('</api/v1/users?page=2&page_size=2&q=username%3D%7Eu-&sort=-username>; rel="next"');
    const body = (await page.json()) as { items: Array<{ username: string }>; total: number };
    expect(body.items.map((u) => u.username)).toEqual(['u-c', 'u-b']);
    expect(body.total).toBe(3);
  });

  it('answers invalid input with a problem document naming the field', async () => {
    const res = await admin.call('POST', '/projects', { name: 42 });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = (await res.json()) as { code: string; title: string; status: number };
    expect(problem.code).toBe('BAD_REQUEST');
    expect(problem.status).toBe(400);
    expect(problem.title).toMatch(/^invalid body: name:/);
  });

  it('refuses to delete or demote the last administrator', async () => {
    const me = await admin.ok<{ id: number }>('GET', '/users/current');
    expect((await admin.call('DELETE', `/users/${me.id}`)).status).toBe(409);
    expect((await admin.call('PATCH', `/users/${me.id}`, { isAdmin: false })).status).toBe(409);
  });

  it('lets a user change their own password, proving the old one', async () => {
    await admin.createUser('changer', 'First-Passw0rd');
    const self = new ApiClient(berth.url, { username: 'changer', password: 'First-Passw0rd' });
    expect((await self.call('PUT', '/users/current/password', { oldPassword: 'nope', newPassword: 'Second-Passw0rd' })).status).toBe(400);
    expect((await self.call('PUT', '/users/current/password', { oldPassword: 'First-Passw0rd', newPassword: 'Second-Passw0rd' })).status).toBe(204);
    expect((await new ApiClient(berth.url, { username: 'changer', password: 'Second-Passw0rd' }).call('GET', '/users/current')).status).toBe(200);
    expect((await self.call('GET', '/users/current')).status).toBe(401);
  });

  it('lists repositories and artifacts with tags, tags and untags, and deletes artifacts and repositories', async () => {
    await admin.createProject('shop');
    const registry = new RegistryClient(berth.url);
    const image = await registry.pushImage('shop/web/frontend', 'v1', randomImage(2, 1000));
    await registry.pushImage('shop/api', 'v1');

    const repos = await admin.ok<{ items: Array<{ name: string; artifactCount: number; tagCount: number }> }>('GET', '/projects/shop/repositories');
    expect(repos.items.map((r) => [r.name, r.artifactCount, r.tagCount])).toEqual([
      ['shop/api', 1, 1],
      ['shop/web/frontend', 1, 1],
    ]);
    const filtered = await admin.ok<{ items: Array<{ name: string }> }>('GET', '/projects/shop/repositories?q=name=~front');
    expect(filtered.items.map((r) => r.name)).toEqual(['shop/web/frontend']);

    const repo = encodeURIComponent('web/frontend');
    await admin.ok('POST', `/projects/shop/repositories/${repo}/artifacts/v1/tags`, { name: 'stable' });
    const artifacts = await admin.ok<{ items: Array<{ digest: string; tags: string[] }> }>('GET', `/projects/shop/repositories/${repo}/artifacts`);
    expect(artifacts.items).toEqual([expect.objectContaining({ digest: image.digest, tags: ['stable', 'v1'] })]);

    const detail = await admin.ok<{ layers: Array<{ digest: string; size: number }>; config: { digest: string }; totalSize: number; pullCommand: string; platform: unknown }>(
      'GET',
      `/projects/shop/repositories/${repo}/artifacts/${image.digest}`,
    );
    expect(detail.layers.map((l) => [l.digest, l.size])).toEqual(image.layers.map((l) => [l.digest, 1000]));
    expect(detail.config.digest).toBe(image.config.digest);
    expect(detail.totalSize).toBe(image.manifest.length + image.config.data.length + 2000);
    expect(detail.platform).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(detail.pullCommand).toBe(`podman pull 127.0.0.1:${berth.port}/shop/web/frontend:stable`);

    expect((await admin.call('DELETE', `/projects/shop/repositories/${repo}/tags/stable`)).status).toBe(204);
    expect((await admin.call('DELETE', `/projects/shop/repositories/${repo}/artifacts/${image.digest}`)).status).toBe(204);
    expect((await registry.fetch(`/v2/shop/web/frontend/manifests/v1`)).status).toBe(404);

    expect((await admin.call('DELETE', '/projects/shop')).status).toBe(409);
    expect((await admin.call('DELETE', `/projects/shop/repositories/${repo}`)).status).toBe(204);
    expect((await admin.call('DELETE', '/projects/shop/repositories/api')).status).toBe(204);
    expect((await admin.call('DELETE', '/projects/shop')).status).toBe(204);
  });

  it('ends the upload sessions of a deleted repository and removes their bytes', async () => {
    await admin.createProject('ups');
    const registry = new RegistryClient(berth.url);
    await registry.pushImage('ups/app', 'v1');
    const location = await registry.startUpload('ups/app');
    const id = /\/uploads\/([0-9a-f-]+)/.exec(location)![1]!;
    const patch = () => registry.fetch(location, { method: 'PATCH', body: Buffer.alloc(1000, 7), headers: { 'Content-Type': 'application/octet-stream' } });
    expect((await patch()).status).toBe(202);
    const sessionDirs = async () => (await readdir(berth.dataDir, { recursive: true, withFileTypes: true })).filter((e) => e.isDirectory() && e.name === id);
    expect(await sessionDirs()).toHaveLength(1);
    expect((await admin.call('DELETE', '/projects/ups/repositories/app')).status).toBe(204);
    expect(await sessionDirs()).toHaveLength(0);
    const after = await patch();
    expect(after.status).toBe(404);
    expect(((await after.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('BLOB_UPLOAD_UNKNOWN');
  });

  it('records pushes, pulls, deletes and API mutations in the audit log, and exports it as JSON lines', async () => {
    await admin.createProject('audited');
    const registry = new RegistryClient(berth.url);
    const image = await registry.pushImage('audited/app', 'v1');
    await registry.fetch('/v2/audited/app/manifests/v1');
    await registry.fetch(`/v2/audited/app/manifests/${image.digest}`, { method: 'DELETE' });
    const log = await admin.ok<{ items: Array<{ actor: string; action: string; resource: string; result: string; sourceIp: string; detail: unknown }> }>(
      'GET',
      '/projects/audited/audit-logs?page_size=100',
    );
    expect(log.items.map((e) => [e.actor, e.action, e.resource, e.result])).toEqual([
      ['admin', 'delete', `audited/app@${image.digest}`, 'success'],
      ['admin', 'pull', 'audited/app:v1', 'success'],
      ['admin', 'push', 'audited/app:v1', 'success'],
      ['admin', 'project.create', 'audited', 'success'],
    ]);
    expect(log.items[2]!.detail).toEqual({ digest: image.digest });
    expect(log.items[0]!.sourceIp).toBe('127.0.0.1');

    const exported = await admin.call('GET', '/audit-logs/export?action=push');
    expect(exported.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = (await exported.text()).trim().split('\n').map((l) => JSON.parse(l) as { action: string; resource: string });
    expect(lines.every((l) => l.action === 'push')).toBe(true);
    expect(lines.map((l) => l.resource)).toContain('audited/app:v1');
  });

  it('logs in to the console with a password and a session cookie, and out again', async () => {
    const bad = await fetch(`${berth.url}/api/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'nope' }) });
    expect(bad.status).toBe(401);
    const res = await fetch(`${berth.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'Admin-Passw0rd' }),
    });
    expect(res.status).toBe(200);
    const cookie = res.headers.getSetCookie()[0]!;
    expect(cookie).toMatch(/^berth_session=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=28800$/);
    const session = cookie.split(';')[0]!;
    expect((await fetch(`${berth.url}/api/v1/users/current`, { headers: { Cookie: session } })).status).toBe(200);
    // A session cookie is not a registry credential.
    expect((await fetch(`${berth.url}/v2/`, { headers: { Cookie: session } })).status).toBe(401);
    const out = await fetch(`${berth.url}/api/v1/auth/logout`, { method: 'POST' });
    expect(out.headers.getSetCookie()[0]).toMatch(/^berth_session=; .*Max-Age=0/);
  });

  it('decides authorization in one module: no other source file reads the role matrix', async () => {
    const root = join(import.meta.dirname, '..', '..', 'src');
    const offenders: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) await walk(path);
        else if (entry.name.endsWith('.ts')) {
          const text = await readFile(path, 'utf8');
          if (/\b(rolePermissions|publicProjectPermissions|roleRank)\b/.test(text) && !path.endsWith('domain/permissions.ts') && !path.endsWith('services/access/authorizer.ts')) {
            offenders.push(path);
          }
        }
      }
    };
    await walk(root);
    expect(offenders).toEqual([]);
  });
});
