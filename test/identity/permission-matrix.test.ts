import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient } from '../helpers/api.js';
import { RegistryClient, randomImage, type Image } from '../helpers/oci.js';

/**
 * Acceptance: for each role × action, over /v2 and /api, the exact outcome. The expectations
 * are written out here by hand (Harbor's published matrix), not derived from Berth's table.
 */
type Who = 'system-admin' | 'admin' | 'maintainer' | 'developer' | 'guest' | 'limited-guest' | 'non-member' | 'anonymous';
type Action = 'pull' | 'push' | 'delete' | 'manage-members' | 'manage-robots' | 'delete-project' | 'read-audit';

const Y = 'allowed';
const matrix: Record<Who, Record<Action, 'allowed' | 403 | 401>> = {
  'system-admin': { pull: Y, push: Y, delete: Y, 'manage-members': Y, 'manage-robots': Y, 'delete-project': Y, 'read-audit': Y },
  admin: { pull: Y, push: Y, delete: Y, 'manage-members': Y, 'manage-robots': Y, 'delete-project': Y, 'read-audit': Y },
  maintainer: { pull: Y, push: Y, delete: Y, 'manage-members': 403, 'manage-robots': Y, 'delete-project': 403, 'read-audit': Y },
  developer: { pull: Y, push: Y, delete: 403, 'manage-members': 403, 'manage-robots': 403, 'delete-project': 403, 'read-audit': Y },
  guest: { pull: Y, push: 403, delete: 403, 'manage-members': 403, 'manage-robots': 403, 'delete-project': 403, 'read-audit': Y },
  'limited-guest': { pull: Y, push: 403, delete: 403, 'manage-members': 403, 'manage-robots': 403, 'delete-project': 403, 'read-audit': 403 },
  'non-member': { pull: 403, push: 403, delete: 403, 'manage-members': 403, 'manage-robots': 403, 'delete-project': 403, 'read-audit': 403 },
  anonymous: { pull: 401, push: 401, delete: 401, 'manage-members': 401, 'manage-robots': 401, 'delete-project': 401, 'read-audit': 401 },
};

const roles = ['admin', 'maintainer', 'developer', 'guest', 'limited-guest'] as const;
const password = 'Matrix-Passw0rd';

describe('permission matrix over /v2 and /api', () => {
  let berth: TestBerth;
  let admin: ApiClient;

  beforeAll(async () => {
    berth = await startTestBerth();
    admin = new ApiClient(berth.url);
    await admin.createUser('sysadmin2', password, { isAdmin: true });
    await admin.createUser('outsider', password);
    for (const role of roles) await admin.createUser(`user-${role}`, password);
  });
  afterAll(async () => {
    await berth?.stop();
  });

  function credentialsOf(who: Who): { username: string; password: string } | null {
    if (who === 'anonymous') return null;
    if (who === 'system-admin') return { username: 'sysadmin2', password };
    if (who === 'non-member') return { username: 'outsider', password };
    return { username: `user-${who}`, password };
  }

  /** A private project per caller, with the caller as a member in the role under test and one image. */
  async function projectFor(who: Who): Promise<{ project: string; image: Image }> {
    const project = `matrix-${who}`;
    await admin.createProject(project, false);
    if ((roles as readonly string[]).includes(who)) await admin.addMember(project, `user-${who}`, who);
    const image = await new RegistryClient(berth.url).pushImage(`${project}/app`, 'v1');
    return { project, image };
  }

  const whos = Object.keys(matrix) as Who[];
  for (const who of whos) {
    it(`${who}: pull, push, delete, manage members, manage robots, delete project, read audit`, async () => {
      const { project, image } = await projectFor(who);
      const client = new RegistryClient(berth.url, credentialsOf(who));
      const api = new ApiClient(berth.url, credentialsOf(who));
      const outcome = (status: number, allowed: number[]) => (allowed.includes(status) ? Y : status);

      const pull = await client.fetch(`/v2/${project}/app/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
      const other = randomImage(1, 256);
      const blobPush = await client.pushBlob(`${project}/app`, other.config);
      const del = await client.fetch(`/v2/${project}/app/manifests/${image.digest}`, { method: 'DELETE' });
      const members = await api.call('POST', `/projects/${project}/members`, { type: 'user', name: 'outsider', role: 'guest' });
      const robots = await api.call('POST', `/projects/${project}/robots`, { name: 'ci', permissions: [{ project, actions: ['pull'] }] });
      const audit = await api.call('GET', `/projects/${project}/audit-logs`);
      // Delete-project needs an empty project: run it on a sibling with the same membership.
      const empty = `${project}-empty`;
      await admin.createProject(empty, false);
      if ((roles as readonly string[]).includes(who)) await admin.addMember(empty, `user-${who}`, who);
      const deleteProject = await api.call('DELETE', `/projects/${empty}`);

      const observed: Record<Action, 'allowed' | number> = {
        pull: outcome(pull.status, [200]),
        push: outcome(blobPush.status, [201]),
        delete: outcome(del.status, [202]),
        'manage-members': outcome(members.status, [201]),
        'manage-robots': outcome(robots.status, [201]),
        'delete-project': outcome(deleteProject.status, [204]),
        'read-audit': outcome(audit.status, [200]),
      };
      expect(observed).toEqual(matrix[who]);

      // Refusals carry the right code: DENIED on /v2, a problem document on /api.
      if (matrix[who].push === 403) expect(((await blobPush.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('DENIED');
      if (matrix[who].push === 401) {
        expect(blobPush.headers.get('www-authenticate')).toBe(
          `Bearer realm="${berth.url}/service/token",service="berth",scope="repository:${project}/app:pull,push"`,
        );
      }
      if (matrix[who]['manage-members'] !== Y) {
        expect(members.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(((await members.json()) as { code: string }).code).toBe(matrix[who]['manage-members'] === 401 ? 'UNAUTHORIZED' : 'DENIED');
      }
    });
  }

  it('lets anonymous callers pull from a public project, but not push', async () => {
    await admin.createProject('open', true);
    const image = await new RegistryClient(berth.url).pushImage('open/app', 'v1');
    const anon = new RegistryClient(berth.url, null);
    const pull = await anon.fetch('/v2/open/app/manifests/v1', { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(pull.status).toBe(200);
    expect(pull.headers.get('docker-content-digest')).toBe(image.digest);
    const push = await anon.pushBlob('open/app', randomImage(1).config);
    expect(push.status).toBe(401);
  });

  it("lists in _catalog only the repositories the caller may see", async () => {
    const outsider = new RegistryClient(berth.url, { username: 'outsider', password });
    const names = ((await (await outsider.fetch('/v2/_catalog?n=1000')).json()) as { repositories: string[] }).repositories;
    // outsider was added as guest to the projects whose admins could manage members, and sees public ones.
    const expected = ['matrix-admin/app', 'matrix-system-admin/app', 'open/app'];
    expect(names).toEqual(expected);
    const all = ((await (await new RegistryClient(berth.url).fetch('/v2/_catalog?n=1000')).json()) as { repositories: string[] }).repositories;
    expect(all.length).toBeGreaterThan(expected.length);
    const anon = await new RegistryClient(berth.url, null).fetch('/v2/_catalog');
    expect(anon.status).toBe(401);
  });

  it('creates the project of a first push for a user who may create projects, making them its admin', async () => {
    const alice = new RegistryClient(berth.url, { username: 'outsider', password });
    await alice.pushImage('outsider-home/app', 'v1');
    const members = await admin.ok<{ items: Array<{ principalName: string; role: string }> }>('GET', '/projects/outsider-home/members');
    expect(members.items).toEqual([expect.objectContaining({ principalName: 'outsider', role: 'admin' })]);
    const project = await admin.ok<{ public: boolean }>('GET', '/projects/outsider-home');
    expect(project.public).toBe(false);
  });
});
