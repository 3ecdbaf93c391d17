import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminCredentials, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient } from '../helpers/api.js';
import { ContainerTools, missingTools } from '../helpers/clients.js';
import { writeOciLayout } from '../helpers/oci-layout.js';

const missing = await missingTools(['skopeo', 'podman', 'tar']);
const password = 'Client-Passw0rd';

describe.skipIf(missing.length > 0)(`podman and skopeo log in as users and robots${missing.length ? ` (skipped: ${missing.join(', ')} missing)` : ''}`, () => {
  let berth: TestBerth;
  let host: string;
  let work: string;
  let tools: ContainerTools;
  let robot: { name: string; secret: string };

  beforeAll(async () => {
    berth = await startTestBerth();
    host = `127.0.0.1:${berth.port}`;
    work = await mkdtemp(join(tmpdir(), 'berth-logins-'));
    tools = new ContainerTools(work);
    const admin = new ApiClient(berth.url);
    await admin.createProject('team', false);
    await admin.createUser('dev1', password);
    await admin.addMember('team', 'dev1', 'developer');
    robot = await admin.createRobot('team', 'ci', ['pull', 'push']);
    const layout = await writeOciLayout(join(work, 'layout'), 'v1', [{ architecture: 'amd64', files: { 'base.txt': 'base image\n' } }]);
    await tools.skopeo(['copy', '--all', '--dest-tls-verify=false', '--dest-creds', `${adminCredentials.username}:${adminCredentials.password}`, `oci:${layout.dir}:v1`, `docker://${host}/library/base:v1`]);
  });
  afterAll(async () => {
    await berth?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pulls anonymously from the public library project, and is refused on a private one', async () => {
    const raw = await tools.skopeo(['inspect', '--raw', '--no-creds', '--tls-verify=false', `docker://${host}/library/base:v1`]);
    expect(JSON.parse(raw).mediaType).toBe('application/vnd.oci.image.index.v1+json');
    await expect(tools.skopeo(['inspect', '--raw', '--no-creds', '--tls-verify=false', `docker://${host}/team/app:v1`])).rejects.toThrow(
      /unauthorized|authentication required|requested access to the resource is denied/i,
    );
  });

  it('logs in as a local user with podman, pulls, and pushes into the project where it is a developer', async () => {
    await tools.podman(['login', '--tls-verify=false', '--username', 'dev1', '--password', password, host]);
    await tools.podman(['pull', '--tls-verify=false', `${host}/library/base:v1`]);
    await tools.podman(['tag', `${host}/library/base:v1`, `${host}/team/app:v1`]);
    await tools.podman(['push', '--tls-verify=false', `${host}/team/app:v1`]);
    const tags = JSON.parse(await tools.skopeo(['list-tags', '--tls-verify=false', `docker://${host}/team/app`])) as { Tags: string[] };
    expect(tags.Tags).toEqual(['v1']);
    // A developer may not push into the public library project.
    await tools.podman(['tag', `${host}/library/base:v1`, `${host}/library/mine:v1`]);
    await expect(tools.podman(['push', '--tls-verify=false', `${host}/library/mine:v1`])).rejects.toThrow(/denied|unauthorized/i);
    await tools.podman(['logout', host]);
  });

  it('logs in as a project robot with skopeo and copies within its project only', async () => {
    await tools.skopeo(['login', '--tls-verify=false', '--username', robot.name, '--password', robot.secret, host]);
    await tools.skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${host}/team/app:v1`, `docker://${host}/team/app:robot`]);
    const tags = JSON.parse(await tools.skopeo(['list-tags', '--tls-verify=false', `docker://${host}/team/app`])) as { Tags: string[] };
    expect(tags.Tags).toEqual(['robot', 'v1']);
    await expect(
      tools.skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${host}/team/app:v1`, `docker://${host}/library/robot:v1`]),
    ).rejects.toThrow(/denied|unauthorized/i);
    await tools.skopeo(['logout', host]);
  });

  it('refuses a wrong password at login', async () => {
    await expect(tools.podman(['login', '--tls-verify=false', '--username', 'dev1', '--password', 'Wrong-Passw0rd', host])).rejects.toThrow(
      /invalid username\/password/,
    );
  });

  it('never writes a password or secret used in this run to the log', () => {
    const logs = berth.logs.join('');
    expect(logs.length).toBeGreaterThan(1000);
    for (const secret of [password, robot.secret, adminCredentials.password, 'Wrong-Passw0rd']) expect(logs).not.toContain(secret);
    // Basic credentials would appear base64-encoded in a logged header.
    expect(logs).not.toContain(Buffer.from(`dev1:${password}`).toString('base64'));
  });
});
