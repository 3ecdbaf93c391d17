import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, migrate, type Database } from '../../src/adapters/db/connect.js';
import { KyselyIdentityStore } from '../../src/adapters/db/kysely-identity-store.js';
import { Authorizer } from '../../src/services/access/authorizer.js';
import type { Principal } from '../../src/services/identity/principal.js';
import type { RobotPermission } from '../../src/ports/identity-store.js';
import { engineMatrix } from '../helpers/berth.js';
import { createTempDatabase, type TempDatabase } from '../helpers/pg.js';

// The search scope (issue 17: search results respect permissions exactly as pulls do) is the
// set of projects projectActions grants `pull` in: checked here against hand-written
// expectations, and against projectActions itself for every principal and every project.

const engines = await engineMatrix();

describe.each(engines)('Authorizer.searchScope on $engine', ({ engine, skip }) => {
  let dir: string;
  let temp: TempDatabase | undefined;
  let database: Database;
  let identity: KyselyIdentityStore;
  let authorizer: Authorizer;
  const principals: Record<string, Principal> = {};
  const projectNames = ['open-a', 'open-b', 'private-direct', 'private-group', 'private-guest', 'private-none', 'robot-home'];

  beforeAll(async () => {
    if (skip) return;
    dir = await mkdtemp(join(tmpdir(), 'berth-scope-'));
    if (engine === 'postgres') temp = await createTempDatabase();
    database = connect({ url: temp?.url ?? `sqlite:${join(dir, 'meta.db')}` });
    await migrate(database);
    identity = new KyselyIdentityStore(database);
    authorizer = new Authorizer(identity, { projectCreation: 'everyone' });
    const now = Date.now();
    const ids: Record<string, number> = {};
    for (const name of projectNames) ids[name] = (await identity.createProject({ name, public: name.startsWith('open-'), createdBy: 'admin' }, now)).id;
    const user = (username: string, isAdmin = false) =>
      identity.createUser({ username, email: null, displayName: null, passwordHash: null, source: 'local', externalId: null, isAdmin }, now);
    const alice = await user('alice');
    const bob = await user('bob');
    const root = await user('root', true);
    const group = await identity.createGroup({ name: 'team', source: 'local', externalId: null }, now);
    await identity.addMember({ projectId: ids['private-direct']!, principalType: 'user', principalId: alice.id, role: 'developer' }, now);
    await identity.addMember({ projectId: ids['private-group']!, principalType: 'group', principalId: group.id, role: 'maintainer' }, now);
    await identity.addMember({ projectId: ids['private-guest']!, principalType: 'user', principalId: alice.id, role: 'limited-guest' }, now);
    // A group alice is not in holds a role in private-none: it must not reach her.
    const other = await identity.createGroup({ name: 'others', source: 'local', externalId: null }, now);
    await identity.addMember({ projectId: ids['private-none']!, principalType: 'group', principalId: other.id, role: 'admin' }, now);
    const robot = (name: string, projectId: number | null, permissions: RobotPermission[]): Principal => ({ kind: 'robot', id: 1, name, projectId, permissions });
    Object.assign(principals, {
      anonymous: { kind: 'anonymous' },
      alice: { kind: 'user', id: alice.id, name: 'alice', isAdmin: false, groupIds: [group.id], source: 'local' },
      aliceWithoutGroup: { kind: 'user', id: alice.id, name: 'alice', isAdmin: false, groupIds: [], source: 'local' },
      bob: { kind: 'user', id: bob.id, name: 'bob', isAdmin: false, groupIds: [], source: 'local' },
      root: { kind: 'user', id: root.id, name: 'root', isAdmin: true, groupIds: [], source: 'local' },
      projectRobot: robot('robot$robot-home+ci', ids['robot-home']!, [{ project: 'robot-home', actions: ['pull'] }]),
      pushOnlyRobot: robot('robot$robot-home+push', ids['robot-home']!, [{ project: 'robot-home', actions: ['push'] }]),
      systemRobot: robot('robot$everything', null, [{ project: '*', actions: ['pull'] }]),
      systemRobotPushOnly: robot('robot$pusher', null, [{ project: '*', actions: ['push'] }]),
      // '*' counts only for system robots; a missing project grants nothing.
      starInProjectRobot: robot('robot$robot-home+star', ids['robot-home']!, [{ project: '*', actions: ['pull'] }]),
      twoProjectRobot: robot('robot$two', null, [
        { project: 'private-none', actions: ['pull', 'push'] },
        { project: 'no-such-project', actions: ['pull'] },
      ]),
    });
  });
  afterAll(async () => {
    await database?.db.destroy();
    await temp?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.skipIf(Boolean(skip))('is every project for a system admin, and the pullable ones for everyone else', async () => {
    const scopes: Record<string, unknown> = {};
    for (const [who, principal] of Object.entries(principals)) scopes[who] = await authorizer.searchScope(principal);
    const open = ['open-a', 'open-b'];
    expect(scopes).toEqual({
      anonymous: { projects: open },
      alice: { projects: [...open, 'private-direct', 'private-group', 'private-guest'] },
      aliceWithoutGroup: { projects: [...open, 'private-direct', 'private-guest'] },
      bob: { projects: open },
      root: 'all',
      projectRobot: { projects: [...open, 'robot-home'] },
      pushOnlyRobot: { projects: open },
      systemRobot: { projects: [...projectNames].sort() },
      systemRobotPushOnly: { projects: open },
      starInProjectRobot: { projects: open },
      twoProjectRobot: { projects: [...open, 'private-none'] },
    });
  });

  it.skipIf(Boolean(skip))('names exactly the projects projectActions grants pull in', async () => {
    for (const [who, principal] of Object.entries(principals)) {
      const scope = await authorizer.searchScope(principal);
      for (const project of [...projectNames, 'no-such-project']) {
        const inScope = scope === 'all' ? true : scope.projects.includes(project);
        // A system admin's 'all' covers a missing project too: there is nothing in it to find.
        const pullable = (await authorizer.can(principal, 'pull', project)) || (scope === 'all' && project === 'no-such-project');
        expect({ who, project, inScope }).toEqual({ who, project, inScope: pullable });
      }
    }
  });

  it.skipIf(Boolean(skip))('follows a project turned public or private once the change is announced, and within the cache time otherwise', async () => {
    let now = 1_000_000;
    const timed = new Authorizer(identity, { projectCreation: 'everyone', now: () => now });
    const row = (await identity.getProject('private-none'))!;
    expect(await timed.searchScope(principals.bob!)).toEqual({ projects: ['open-a', 'open-b'] });
    await identity.updateProject(row.id, { public: true }, Date.now());
    // A change made here (ProjectService's onChange) or heard from another instance invalidates.
    timed.invalidate();
    expect(await timed.searchScope(principals.bob!)).toEqual({ projects: ['open-a', 'open-b', 'private-none'] });
    await identity.updateProject(row.id, { public: false }, Date.now());
    // Unannounced (a change no instance was told of): the list stands for at most its 2 seconds.
    expect(await timed.searchScope(principals.anonymous!)).toEqual({ projects: ['open-a', 'open-b', 'private-none'] });
    now += 2_001;
    expect(await timed.searchScope(principals.anonymous!)).toEqual({ projects: ['open-a', 'open-b'] });
  });
});
