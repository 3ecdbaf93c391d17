import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { adminCredentials, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient } from '../helpers/api.js';
import { ContainerTools, missingTools } from '../helpers/clients.js';

const exec = promisify(execFile);

/**
 * A Debian 12 minbase root filesystem from Debian's mirror (debootstrap, about 40 s), kept
 * between runs. Running containers fails on these machines, so packages are changed by chroot
 * into buildah's mounted container, and what dpkg itself says is installed is the expectation.
 */
const rootfsCache = '/var/tmp/berth-inventory-rootfs';
const mirror = process.env.DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';

const missing = await missingTools(['debootstrap', 'buildah', 'chroot']);
const notRoot = process.getuid?.() !== 0;
if (notRoot) console.warn('SKIPPING the inventory interop test: debootstrap and chroot need root');

async function debianRootfs(): Promise<string> {
  if (existsSync(join(rootfsCache, 'var/lib/dpkg/status'))) return rootfsCache;
  const building = `${rootfsCache}.${process.pid}`;
  await rm(building, { recursive: true, force: true });
  await exec('debootstrap', ['--variant=minbase', 'bookworm', building, mirror], { timeout: 600_000, maxBuffer: 64 * 2 ** 20 });
  try {
    await rename(building, rootfsCache);
  } catch (err) {
    // Another run on this machine (a second checkout's suite) finished its copy first: that one serves.
    if (!existsSync(join(rootfsCache, 'var/lib/dpkg/status'))) throw err;
    await rm(building, { recursive: true, force: true });
  }
  return rootfsCache;
}

/** `Package Version` of every package dpkg calls installed in the root at `root`, sorted as JavaScript sorts. */
async function installed(root: string): Promise<string[]> {
  const { stdout } = await exec('chroot', [root, 'dpkg-query', '-W', '-f', '${db:Status-Abbrev} ${Package} ${Version}\\n']);
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('ii '))
    .map((line) => line.slice(3).trim().replace(/\s+/, ' '))
    .sort();
}

describe.skipIf(missing.length > 0 || notRoot)('package inventory of images built with buildah', () => {
  let berth: TestBerth;
  let work: string;
  let tools: ContainerTools;
  let admin: ApiClient;

  beforeAll(async () => {
    berth = await startTestBerth();
    admin = new ApiClient(berth.url);
    work = await mkdtemp(join(tmpdir(), 'berth-inventory-'));
    tools = new ContainerTools(work);
    await writeFile(tools.env.REGISTRY_AUTH_FILE!, '{}');
  }, 60_000);
  afterAll(async () => {
    await berth?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('lists exactly what dpkg lists, and no package a later layer purged', async () => {
    const rootfs = await debianRootfs();
    const host = `127.0.0.1:${berth.port}`;
    const push = (image: string, tag: string) =>
      tools.buildah(['push', '--tls-verify=false', '--creds', `${adminCredentials.username}:${adminCredentials.password}`, image, `docker://${host}/library/debian-inv:${tag}`]);

    const base = (await tools.buildah(['from', 'scratch'])).trim();
    const baseRoot = (await tools.buildah(['mount', base])).trim();
    await exec('cp', ['-a', `${rootfs}/.`, `${baseRoot}/`]);
    const baseExpected = await installed(baseRoot);
    await tools.buildah(['commit', '-q', base, 'localhost/inv/debian:base']);
    await push('localhost/inv/debian:base', 'base');

    // A second layer: hostname purged (dpkg rewrites its status file in this layer).
    const purged = (await tools.buildah(['from', 'localhost/inv/debian:base'])).trim();
    const purgedRoot = (await tools.buildah(['mount', purged])).trim();
    await exec('chroot', [purgedRoot, 'dpkg', '--purge', '--force-depends', '--force-remove-essential', 'hostname']);
    const purgedExpected = await installed(purgedRoot);
    await tools.buildah(['commit', '-q', purged, 'localhost/inv/debian:purged']);
    await push('localhost/inv/debian:purged', 'purged');

    expect(baseExpected.length).toBeGreaterThan(50);
    expect(baseExpected.some((p) => p.startsWith('hostname '))).toBe(true);
    expect(purgedExpected).toEqual(baseExpected.filter((p) => !p.startsWith('hostname ')));

    for (const [tag, expected] of [
      ['base', baseExpected],
      ['purged', purgedExpected],
    ] as const) {
      const body = await admin.ok<{ os: { id: string; versionId: string }; packages: Array<{ name: string; version: string; purl: string }> }>(
        'GET',
        `/projects/library/repositories/debian-inv/artifacts/${tag}/packages`,
      );
      expect(body.os).toMatchObject({ id: 'debian', versionId: '12' });
      expect(body.packages.map((p) => `${p.name} ${p.version}`).sort()).toEqual(expected);
      for (const p of body.packages) expect(p.purl).toMatch(/^pkg:deb\/debian\/[^@]+@[^?]+\?arch=[a-z0-9]+&distro=debian-12$/);
    }
  }, 900_000);
});
