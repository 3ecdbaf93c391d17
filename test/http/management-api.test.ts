import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../helpers/api.js';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { RegistryClient } from '../helpers/oci.js';

// The management API's routes load with its first request (src/http/api/index.ts), and its own
// router (api-router.ts) must route as Fastify did when each route was registered with it.
describe('the management API, loaded with its first request', () => {
  let berth: TestBerth;
  let admin: ApiClient;

  beforeAll(async () => {
    berth = await startTestBerth();
    admin = new ApiClient(berth.url);
  });
  afterAll(async () => {
    await berth?.stop();
  });

  it('answers the requests that arrive together before it has loaded, each as its route does', async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, () => admin.call('GET', '/users/current')));
    expect(answers.map((r) => r.status)).toEqual(Array(8).fill(200));
    const users = await Promise.all(answers.map(async (r) => ((await r.json()) as { username: string }).username));
    expect(users).toEqual(Array(8).fill('admin'));
  });

  it("matches paths as Fastify's router does: an encoded / within a parameter, HEAD as GET, parameters up to 1,024 characters", async () => {
    await admin.createProject('routing');
    await new RegistryClient(berth.url, { username: 'admin', password: 'Admin-Passw0rd' }).pushImage('routing/team/app', 'v1');

    const get = await admin.call('GET', '/projects/routing/repositories/team%2Fapp');
    expect(get.status).toBe(200);
    expect(((await get.json()) as { name: string }).name).toBe('routing/team/app');

    const head = await admin.call('HEAD', '/projects/routing/repositories/team%2Fapp');
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');

    // Within the router's limit the route answers (its schema allows 255 characters); past it no route matches.
    const long = await admin.call('GET', `/projects/routing/repositories/${'a'.repeat(1024)}`);
    expect(long.status).toBe(400);
    expect(((await long.json()) as { title: string }).title).toMatch(/^invalid path: repository:/);
    const tooLong = await admin.call('GET', `/projects/routing/repositories/${'a'.repeat(1025)}`);
    expect(tooLong.status).toBe(404);
  });

  it('answers a path or a method no route has with a 404 problem naming the endpoint', async () => {
    for (const [method, path, named] of [
      ['GET', '/no-such-thing?page=2', 'GET /api/v1/no-such-thing'],
      ['PATCH', '/audit-logs', 'PATCH /api/v1/audit-logs'],
      ['DELETE', '/users/current/', 'DELETE /api/v1/users/current/'],
    ] as const) {
      const res = await admin.call(method, path);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const problem = (await res.json()) as { code: string; title: string };
      expect(problem).toMatchObject({ code: 'NOT_FOUND', title: `no such endpoint: ${named}` });
    }
  });

  it("names each request's route in the metrics as Fastify named it, not by the wildcard that reaches the router", async () => {
    await admin.ok('GET', '/projects/routing');
    const metrics = await (await fetch(`${berth.url}/metrics`)).text();
    expect(metrics).toMatch(/^berth_http_requests_total\{route="\/api\/v1\/projects\/:project",method="GET",status="200"\} [1-9]/m);
    expect(metrics).toMatch(/^berth_http_requests_total\{route="\/api\/v1\/users\/current",method="GET",status="200"\} 8$/m);
    expect(metrics).not.toContain('route="/api/v1/*"');
    // The three refused paths of the test before, as Fastify's 404 counted them.
    expect(metrics).toMatch(/^berth_http_requests_total\{route="unmatched",method="PATCH",status="404"\} 1$/m);
  });
});
