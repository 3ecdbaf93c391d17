import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBerth, type TestBerth } from '../../helpers/berth.js';
import { ApiClient } from '../../helpers/api.js';
import { imageIndex, imageManifest, jsonBlob, sha256, RegistryClient, type Blob } from '../../helpers/oci.js';
import { gzipTarOf, tarOf, type TarItem } from '../../helpers/layer-tar.js';

const blob = (data: Buffer): Blob => ({ data, digest: sha256(data) });

describe('package inventory through the API', () => {
  let berth: TestBerth;
  let admin: ApiClient;
  let registry: RegistryClient;

  beforeAll(async () => {
    berth = await startTestBerth();
    admin = new ApiClient(berth.url);
    registry = new RegistryClient(berth.url);
  });
  afterAll(async () => {
    await berth?.stop();
  });

  /** Pushes an image of `layers` (gzip tars) as library/<name>:v1; resolves its manifest digest. */
  async function push(name: string, layers: TarItem[][]): Promise<string> {
    const config = jsonBlob({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    const blobs = layers.map((items) => blob(gzipTarOf(items)));
    for (const b of [config, ...blobs]) expect((await registry.pushBlob(`library/${name}`, b)).status).toBe(201);
    const manifest = imageManifest(config, blobs);
    expect((await registry.pushManifest(`library/${name}`, 'v1', manifest)).status).toBe(201);
    return sha256(manifest);
  }

  it('lists an image’s packages, from the database as its top layer left it', async () => {
    const base: TarItem[] = [
      { path: 'etc/os-release', content: 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n' },
      { path: 'var/lib/dpkg/status', content: 'Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b2\n\nPackage: curl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 7.88.1-10+deb12u5\n' },
    ];
    const app: TarItem[] = [{ path: 'var/lib/dpkg/status', content: 'Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b2\n' }, { path: 'app/run.sh', content: '#!/bin/sh\n' }];
    const first = await push('inv-a', [base, app]);
    const body = await admin.ok<{ digest: string; os: unknown; packages: Array<{ name: string; version: string; purl: string }> }>('GET', '/projects/library/repositories/inv-a/artifacts/v1/packages');
    expect(body.digest).toBe(first);
    expect(body.os).toEqual({ id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' });
    expect(body.packages.map((p) => `${p.name} ${p.version} ${p.purl}`)).toEqual(['bash 5.2.15-2+b2 pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12']);

    const spdx = await admin.call('GET', '/projects/library/repositories/inv-a/artifacts/v1/sbom');
    expect(spdx.status).toBe(200);
    expect(spdx.headers.get('content-type')).toMatch(/^application\/spdx\+json/);
    const spdxDoc = (await spdx.json()) as { spdxVersion: string; packages: Array<{ name: string; versionInfo: string }> };
    expect(spdxDoc.spdxVersion).toBe('SPDX-2.3');
    expect(spdxDoc.packages.map((p) => `${p.name} ${p.versionInfo}`)).toEqual([`127.0.0.1:${berth.port}/library/inv-a ${first}`, 'debian 12', 'bash 5.2.15-2+b2']);
    const cdx = await admin.call('GET', '/projects/library/repositories/inv-a/artifacts/v1/sbom?format=cyclonedx');
    expect(cdx.headers.get('content-type')).toMatch(/^application\/vnd\.cyclonedx\+json/);
    const cdxDoc = (await cdx.json()) as { specVersion: string; components: Array<{ name: string; version: string }> };
    expect(cdxDoc.specVersion).toBe('1.5');
    expect(cdxDoc.components.map((c) => `${c.name} ${c.version}`)).toEqual(['debian 12', 'bash 5.2.15-2+b2']);
    expect((await admin.call('GET', '/projects/library/repositories/inv-a/artifacts/v1/sbom?format=xml')).status).toBe(400);

    const second = await push('inv-b', [base]);
    const other = await admin.ok<{ digest: string; packages: Array<{ name: string }> }>('GET', `/projects/library/repositories/inv-b/artifacts/${second}/packages`);
    expect(other.packages.map((p) => p.name)).toEqual(['bash', 'curl']);
  });

  it('answers LAYER_UNREADABLE for a hostile layer, and keeps serving', async () => {
    const config = jsonBlob({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    const hostile = blob(tarOf([{ path: '../../../etc/cron.d/evil', content: '* * * * * root sh\n' }]));
    for (const b of [config, hostile]) expect((await registry.pushBlob('library/inv-bad', b)).status).toBe(201);
    expect((await registry.pushManifest('library/inv-bad', 'v1', imageManifest(config, [hostile]))).status).toBe(201);
    const res = await admin.call('GET', '/projects/library/repositories/inv-bad/artifacts/v1/packages');
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await res.json()) as { code: string; detail?: unknown; reason?: string };
    expect(JSON.stringify(problem)).toContain('path-outside-root');
    expect((await registry.fetch('/v2/library/inv-bad/manifests/v1', { method: 'HEAD' })).status).toBe(200);
  });

  it('refuses an index, naming its manifests, and an unknown artifact', async () => {
    const digest = await push('inv-idx', [[{ path: 'x', content: 'y' }]]);
    const index = imageIndex([{ image: { digest, manifest: Buffer.from('') }, architecture: 'amd64' }]);
    expect((await registry.pushManifest('library/inv-idx', 'multi', index, 'application/vnd.oci.image.index.v1+json')).status).toBe(201);
    const res = await admin.call('GET', '/projects/library/repositories/inv-idx/artifacts/multi/packages');
    expect(res.status).toBe(400);
    expect(await res.text()).toContain(digest);
    expect((await admin.call('GET', '/projects/library/repositories/inv-idx/artifacts/nope/packages')).status).toBe(404);
  });

  it('needs read access to the project', async () => {
    await admin.createProject('inv-private');
    const anonymous = new ApiClient(berth.url, null);
    expect((await anonymous.call('GET', '/projects/inv-private/repositories/x/artifacts/v1/packages')).status).toBe(401);
  });
});
