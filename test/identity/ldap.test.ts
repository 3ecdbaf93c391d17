import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient, basic } from '../helpers/api.js';
import { ContainerTools, missingTools } from '../helpers/clients.js';
import { writeOciLayout } from '../helpers/oci-layout.js';
import { ldapBase, ldapRoot, slapdUnavailable, startSlapd, type Slapd } from '../helpers/slapd.js';

const slapdMissing = slapdUnavailable();
if (slapdMissing) console.warn(`SKIPPING LDAP tests: ${slapdMissing}`);
const toolsMissing = await missingTools(['skopeo', 'podman', 'tar']);
const skip = slapdMissing ?? (toolsMissing.length > 0 ? `${toolsMissing.join(', ')} missing` : undefined);

const alice = { uid: 'alice', password: 'Alice-Ldap-Passw0rd', mail: 'alice@berth.test', groups: ['devs'] };
const boss = { uid: 'boss', password: 'Boss-Ldap-Passw0rd', mail: 'boss@berth.test', groups: ['registry-admins'] };

describe.skipIf(skip !== undefined)(`LDAP users against a real slapd${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let slapd: Slapd;
  let berth: TestBerth;
  let host: string;
  let work: string;
  let tools: ContainerTools;
  let admin: ApiClient;

  beforeAll(async () => {
    slapd = await startSlapd([alice, boss]);
    berth = await startTestBerth({
      settings: {
        'auth.ldap.enabled': true,
        'auth.ldap.url': slapd.url,
        'auth.ldap.bindDn': ldapRoot.dn,
        'auth.ldap.bindPassword': ldapRoot.password,
        'auth.ldap.baseDn': `ou=people,${ldapBase}`,
        'auth.ldap.userFilter': '(&(objectClass=inetOrgPerson)(uid={username}))',
        'auth.ldap.groupBaseDn': `ou=groups,${ldapBase}`,
        'auth.ldap.groupFilter': '(&(objectClass=groupOfNames)(member={dn}))',
        'auth.ldap.adminGroupDn': `cn=registry-admins,ou=groups,${ldapBase}`,
      },
    });
    host = `127.0.0.1:${berth.port}`;
    work = await mkdtemp(join(tmpdir(), 'berth-ldap-'));
    tools = new ContainerTools(work);
    admin = new ApiClient(berth.url);
    await admin.createProject('ldapteam', false);
  });
  afterAll(async () => {
    await berth?.stop();
    await slapd?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('logs an LDAP user in, mirrors the user and its groups, and refuses a wrong password', async () => {
    const wrong = await fetch(`${berth.url}/service/token?service=berth`, { headers: { Authorization: basic('alice', 'Wrong-Passw0rd1') } });
    expect(wrong.status).toBe(401);
    const noUser = await fetch(`${berth.url}/service/token?service=berth`, { headers: { Authorization: basic('mallory', alice.password) } });
    expect(noUser.status).toBe(401);
    // An LDAP filter injection must not match someone else.
    const injected = await fetch(`${berth.url}/service/token?service=berth`, { headers: { Authorization: basic('*)(uid=*', alice.password) } });
    expect(injected.status).toBe(401);

    const ok = await fetch(`${berth.url}/service/token?service=berth`, { headers: { Authorization: basic('alice', alice.password) } });
    expect(ok.status).toBe(200);
    const users = await admin.ok<{ items: Array<{ username: string; source: string; email: string; isAdmin: boolean }> }>('GET', '/users?q=username=alice');
    expect(users.items).toEqual([expect.objectContaining({ username: 'alice', source: 'ldap', email: 'alice@berth.test', isAdmin: false })]);
    const groups = await admin.ok<{ items: Array<{ name: string; source: string; externalId: string }> }>('GET', '/groups?q=source=ldap');
    expect(groups.items).toEqual([expect.objectContaining({ name: 'devs', source: 'ldap', externalId: `cn=devs,ou=groups,${ldapBase}` })]);
  });

  it('gives an LDAP group a project role, so its members push and pull with skopeo and podman', async () => {
    await admin.ok('POST', '/projects/ldapteam/members', { type: 'group', name: 'devs', role: 'developer' });
    const layout = await writeOciLayout(join(work, 'layout'), 'v1', [{ architecture: 'amd64', files: { 'ldap.txt': 'pushed by alice\n' } }]);
    await tools.skopeo(['login', '--tls-verify=false', '--username', 'alice', '--password', alice.password, host]);
    await tools.skopeo(['copy', '--all', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, `docker://${host}/ldapteam/app:v1`]);
    await tools.podman(['login', '--tls-verify=false', '--username', 'alice', '--password', alice.password, host]);
    await tools.podman(['pull', '--tls-verify=false', `${host}/ldapteam/app:v1`]);
    const inspect = JSON.parse(await tools.podman(['image', 'inspect', `${host}/ldapteam/app:v1`])) as Array<{ RepoDigests: string[] }>;
    expect(inspect[0]!.RepoDigests).toContain(`${host}/ldapteam/app@${layout.images[0]!.manifestDigest}`);
  });

  it('makes members of the configured LDAP admin group system administrators', async () => {
    const me = await new ApiClient(berth.url, { username: 'boss', password: boss.password }).ok<{ username: string; isAdmin: boolean; source: string }>('GET', '/users/current');
    expect(me).toMatchObject({ username: 'boss', isAdmin: true, source: 'ldap' });
  });

  it('does not log LDAP passwords', () => {
    const logs = berth.logs.join('');
    for (const secret of [alice.password, boss.password, ldapRoot.password]) expect(logs).not.toContain(secret);
  });
});
