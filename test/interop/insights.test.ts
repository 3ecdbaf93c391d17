import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminCredentials, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient } from '../helpers/api.js';
import { ContainerTools, missingTools } from '../helpers/clients.js';

/**
 * Base-image detection and wasted space on images buildah builds: a base from a tiny root
 * filesystem made of files, pushed to Berth, then `buildah from` that image as pulled from Berth,
 * a layer that deletes and overwrites base files and adds one, pushed again. Running containers
 * fails on these machines, so the layer is changed through `buildah mount` and `buildah copy`.
 */
const missing = await missingTools(['buildah']);
const notRoot = process.getuid?.() !== 0;
if (notRoot) console.warn('SKIPPING the insights interop test: buildah with the vfs driver needs root here');

interface Insights {
  digest: string;
  layers: Array<{ digest: string; compressedSize: number; files: number }>;
  wasted: { bytes: number; files: number; largest: Array<{ path: string; bytes: number; layer: number; replacedIn: number }> };
  efficiency: number;
  base?: { repository: string; tag?: string; digest: string; layers: number; matchedBy: string };
}

describe.skipIf(missing.length > 0 || notRoot)('image insights of images built with buildah', () => {
  let berth: TestBerth;
  let work: string;
  let tools: ContainerTools;
  let admin: ApiClient;

  beforeAll(async () => {
    berth = await startTestBerth();
    admin = new ApiClient(berth.url);
    work = await mkdtemp(join(tmpdir(), 'berth-insights-'));
    tools = new ContainerTools(work);
    await writeFile(tools.env.REGISTRY_AUTH_FILE!, '{}');
  }, 60_000);
  afterAll(async () => {
    await berth?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('names the base an image was built FROM, counts what its layer deleted, and finds no base for an unrelated image', async () => {
    const host = `127.0.0.1:${berth.port}`;
    const creds = `${adminCredentials.username}:${adminCredentials.password}`;
    const push = (image: string, target: string) => tools.buildah(['push', '--tls-verify=false', '--creds', creds, image, `docker://${host}/${target}`]);
    const insights = (repository: string, reference: string) => admin.ok<Insights>('GET', `/projects/library/repositories/${repository}/artifacts/${reference}/insights`);

    // A tiny root filesystem of plain files.
    const rootfs = join(work, 'rootfs');
    await mkdir(join(rootfs, 'etc'), { recursive: true });
    await mkdir(join(rootfs, 'usr/share/big'), { recursive: true });
    await writeFile(join(rootfs, 'etc/os-release'), 'ID=tiny\nVERSION_ID="1"\n');
    await writeFile(join(rootfs, 'etc/motd'), 'hello\n');
    await writeFile(join(rootfs, 'usr/share/big/blob.bin'), Buffer.alloc(40_000, 7));
    const base = (await tools.buildah(['from', 'scratch'])).trim();
    await tools.buildah(['copy', base, `${rootfs}/.`, '/']);
    await tools.buildah(['commit', '-q', base, 'localhost/ins/tiny:1']);
    await push('localhost/ins/tiny:1', 'library/ins-base:1');
    const baseReport = await insights('ins-base', '1');
    expect(baseReport.base).toBeUndefined();
    expect(baseReport.layers).toHaveLength(1);

    // Built FROM the base as Berth serves it: delete the big file, overwrite motd, add the app.
    const app = (await tools.buildah(['from', '--tls-verify=false', '--creds', creds, `docker://${host}/library/ins-base:1`])).trim();
    const appRoot = (await tools.buildah(['mount', app])).trim();
    await rm(join(appRoot, 'usr/share/big/blob.bin'));
    await writeFile(join(appRoot, 'etc/motd'), 'hello from the app\n');
    await tools.buildah(['umount', app]);
    await writeFile(join(work, 'app.sh'), '#!/bin/sh\necho app\n');
    await tools.buildah(['copy', app, join(work, 'app.sh'), '/app/app.sh']);
    await tools.buildah(['commit', '-q', app, 'localhost/ins/app:1']);
    await push('localhost/ins/app:1', 'library/ins-app:1');

    const report = await insights('ins-app', '1');
    expect(report.layers).toHaveLength(2);
    expect(report.layers[0]!.digest).toBe(baseReport.layers[0]!.digest);
    expect(report.base).toMatchObject({ repository: 'library/ins-base', digest: baseReport.digest, layers: 1 });
    // buildah writes the base.* annotations: with them pointing elsewhere, the layers alone find the same base.
    expect(report.base!.matchedBy).toBe('annotation');
    const relabelled = (await tools.buildah(['from', 'localhost/ins/app:1'])).trim();
    await tools.buildah(['config', '--annotation', 'org.opencontainers.image.base.name=registry.example.com/elsewhere/tiny:9', '--annotation', `org.opencontainers.image.base.digest=sha256:${'0'.repeat(64)}`, relabelled]);
    await tools.buildah(['commit', '-q', relabelled, 'localhost/ins/app:2']);
    await push('localhost/ins/app:2', 'library/ins-app:2');
    const byLayers = await insights('ins-app', '2');
    expect(byLayers.base).toMatchObject({ repository: 'library/ins-app', tag: '1', digest: report.digest, layers: 2, matchedBy: 'layers' });
    expect(report.wasted.largest.map((w) => [w.path, w.bytes, w.layer, w.replacedIn])).toEqual([
      ['/usr/share/big/blob.bin', 40_000, 0, 1],
      ['/etc/motd', 6, 0, 1],
    ]);
    expect(report.wasted).toMatchObject({ bytes: 40_006, files: 2 });

    // Unrelated: the same kind of tiny root, other bytes.
    await writeFile(join(rootfs, 'etc/motd'), 'another image\n');
    const other = (await tools.buildah(['from', 'scratch'])).trim();
    await tools.buildah(['copy', other, `${rootfs}/.`, '/']);
    await tools.buildah(['commit', '-q', other, 'localhost/ins/other:1']);
    const second = (await tools.buildah(['from', 'localhost/ins/other:1'])).trim();
    await tools.buildah(['copy', second, join(work, 'app.sh'), '/app/app.sh']);
    await tools.buildah(['commit', '-q', second, 'localhost/ins/other:2']);
    await push('localhost/ins/other:2', 'library/ins-other:2');
    const unrelated = await insights('ins-other', '2');
    expect(unrelated.layers).toHaveLength(2);
    expect(unrelated.base).toBeUndefined();
  }, 600_000);
});
