import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminCredentials, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient } from '../helpers/api.js';
import { ContainerTools, missingTools } from '../helpers/clients.js';
import { writeOciLayout } from '../helpers/oci-layout.js';
import { osv } from '../helpers/osv.js';
import { importOsv } from '../../src/services/security/vulndb-import.js';
import { generateKeyPairSync } from 'node:crypto';
import { pushCosignSignature } from '../helpers/cosign.js';
import { RegistryClient } from '../helpers/oci.js';

const missing = await missingTools(['skopeo', 'podman', 'tar']);

/** What skopeo and podman print when a project's pull policy refuses an image (docs/vulnerabilities.md). */
describe.skipIf(missing.length > 0)(`pull policies through skopeo and podman${missing.length ? ` (skipped: ${missing.join(', ')} missing)` : ''}`, () => {
  let berth: TestBerth;
  let work: string;
  let host: string;
  let tools: ContainerTools;
  let admin: ApiClient;

  beforeAll(async () => {
    berth = await startTestBerth();
    host = `127.0.0.1:${berth.port}`;
    work = await mkdtemp(join(tmpdir(), 'berth-policy-'));
    tools = new ContainerTools(work);
    admin = new ApiClient(berth.url);
    await tools.skopeo(['login', '--tls-verify=false', '--username', adminCredentials.username, '--password', adminCredentials.password, host]);
    await admin.createProject('guarded');
    const layout = await writeOciLayout(join(work, 'layout'), 'v1', [
      {
        architecture: 'amd64',
        files: {
          'etc/os-release': 'ID=debian\nVERSION_ID="12"\n',
          'var/lib/dpkg/status': 'Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: 3.0.11-1~deb12u1\n',
        },
      },
    ]);
    await tools.skopeo(['copy', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, `docker://${host}/guarded/app:v1`]);
    const records = join(work, 'osv');
    await mkdir(records);
    await writeFile(join(records, 'DSA-5532-1.json'), JSON.stringify(osv('DSA-5532-1', 'Debian:12', 'openssl', '3.0.11-1~deb12u2', { aliases: ['CVE-2023-5363'], severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N' }] })));
    await importOsv(berth.api.security.vulns, records, 'test');
    await admin.ok('POST', '/projects/guarded/repositories/app/artifacts/v1/scan');
    await admin.ok('PUT', '/projects/guarded/security-policy', { preventVulnerable: 'HIGH' });
  });
  afterAll(async () => {
    await berth?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const refusal = /refused by the project's prevent-vulnerable policy: it has 1 vulnerability of severity high or higher: CVE-2023-5363 \(high, libssl3 3\.0\.11-1~deb12u1\)/;

  it('skopeo copy fails, printing the policy and the reason', async () => {
    await expect(tools.skopeo(['copy', '--src-tls-verify=false', `docker://${host}/guarded/app:v1`, `oci:${join(work, 'out')}:v1`])).rejects.toThrow(refusal);
  });

  it('skopeo copies a cosign-signed image from a project that refuses unsigned ones, and refuses an unsigned one with the policy named', async () => {
    const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await admin.createProject('attested');
    const layout = await writeOciLayout(join(work, 'signed-layout'), 'v1', [{ architecture: 'amd64', files: { 'hello.txt': 'signed\n' } }, { architecture: 'arm64', files: { 'hello.txt': 'signed too\n' } }]);
    await tools.skopeo(['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, `docker://${host}/attested/app:signed`]);
    const other = await writeOciLayout(join(work, 'unsigned-layout'), 'v1', [{ architecture: 'amd64', files: { 'hello.txt': 'nobody signed this\n' } }]);
    await tools.skopeo(['copy', '--dest-tls-verify=false', `oci:${other.dir}:v1`, `docker://${host}/attested/app:unsigned`]);
    // cosign signs the index a multi-platform tag names; skopeo then fetches a platform manifest by digest.
    await pushCosignSignature(new RegistryClient(berth.url), 'attested/app', layout.indexDigest, keys.privateKey);
    await admin.ok('PUT', '/projects/attested/security-policy', { preventUnsigned: true, trust: { cosign: { publicKeys: [keys.publicKey.export({ type: 'spki', format: 'pem' }).toString()] } } });
    await tools.skopeo(['copy', '--src-tls-verify=false', `docker://${host}/attested/app:signed`, `oci:${join(work, 'signed-out')}:v1`]);
    await expect(tools.skopeo(['copy', '--src-tls-verify=false', `docker://${host}/attested/app:unsigned`, `oci:${join(work, 'unsigned-out')}:v1`])).rejects.toThrow(
      /refused by the project's prevent-unsigned policy: it has no signature/,
    );
  });

  it('podman pull fails, printing the policy and the reason; an allowlisted CVE lets it through', async () => {
    await expect(tools.podman(['pull', '--tls-verify=false', `${host}/guarded/app:v1`])).rejects.toThrow(refusal);
    await admin.ok('PUT', '/projects/guarded/security-policy', { preventVulnerable: 'HIGH', allowlist: [{ id: 'CVE-2023-5363' }] });
    const pulled = await tools.podman(['pull', '--tls-verify=false', `${host}/guarded/app:v1`]);
    expect(pulled.trim()).toMatch(/^[0-9a-f]{64}$/);
  });
});
