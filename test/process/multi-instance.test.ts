import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCredentials } from '../helpers/berth.js';
import { ContainerTools, missingTools } from '../helpers/clients.js';
import { freePort, httpsRequest, nginxUnavailableReason, startNginx, type TestNginx } from '../helpers/nginx.js';
import { RegistryClient, randomBlob, sha256 } from '../helpers/oci.js';
import { writeOciLayout, type WrittenLayout } from '../helpers/oci-layout.js';
import { createTempDatabase, pgUnavailableReason, type TempDatabase } from '../helpers/pg.js';
import { spawnBerth, type BerthProcess } from '../helpers/process.js';
import { startS3rverOrWarn, type TestS3 } from '../helpers/s3rver.js';
import { until } from '../helpers/wait.js';

// Scale-out: two `berth serve` processes sharing one PostgreSQL database and one bucket, behind
// Debian's nginx doing TLS and round robin, driven by real skopeo and podman.
const reasons = [nginxUnavailableReason(), await pgUnavailableReason(), ...(await missingTools(['skopeo', 'podman', 'openssl', 'tar'])).map((t) => `${t} is missing`)].filter(
  (r): r is string => r !== undefined,
);
const s3: TestS3 | undefined = reasons.length === 0 ? await startS3rverOrWarn('multi-instance tests') : undefined;
if (reasons.length > 0) console.warn(`SKIPPING multi-instance tests: ${reasons.join('; ')}`);
const skip = reasons.length > 0 || !s3;

const manifestTypes =
  'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json';

describe.skipIf(skip)('two Berth instances behind nginx (PostgreSQL + S3)', () => {
  let database: TempDatabase;
  let work: string;
  let nginx: TestNginx;
  let tools: ContainerTools;
  let bucket: S3Client;
  const prefix = `multi-${randomBytes(4).toString('hex')}`;
  const instances: BerthProcess[] = [];
  const ports: number[] = [];

  function instanceArgs(port: number, index: number): string[] {
    const settings = { ...s3!.settings(prefix), 'server.trustProxy': true };
    return [
      '--port', String(port),
      '--data-dir', join(work, `instance-${index}`),
      '--database-url', database.url,
      ...Object.entries(settings).flatMap(([key, value]) => ['--set', `${key}=${String(value)}`]),
    ];
  }

  /** The manifest digest an instance answers for `name:reference`, asked directly (not through nginx). */
  async function digestOn(instance: BerthProcess, name: string, reference: string): Promise<string | null> {
    const res = await new RegistryClient(instance.url).fetch(`/v2/${name}/manifests/${reference}`, { method: 'HEAD', headers: { Accept: manifestTypes } });
    return res.status === 200 ? res.headers.get('docker-content-digest') : null;
  }

  async function layout(name: string, images: Array<{ architecture: string; files: Record<string, string | Buffer> }>): Promise<WrittenLayout> {
    return writeOciLayout(join(work, 'layouts', name), 'v1', images);
  }

  beforeAll(async () => {
    database = await createTempDatabase();
    work = await mkdtemp(join(tmpdir(), 'berth-multi-'));
    tools = new ContainerTools(work);
    await mkdir(join(work, 'pulled'));
    bucket = new S3Client({ endpoint: s3!.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: s3!.secretAccessKey } });
    ports.push(await freePort(), await freePort());
    // Both at once on an empty database, as a Deployment's replicas start.
    const started = await Promise.allSettled(ports.map((port, i) => spawnBerth(instanceArgs(port, i))));
    for (const result of started) if (result.status === 'fulfilled') instances.push(result.value);
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    nginx = await startNginx(ports);
    await tools.skopeo(['login', '--tls-verify=false', '--username', adminCredentials.username, '--password', adminCredentials.password, nginx.host]);
  });
  afterAll(async () => {
    for (const instance of instances) {
      if (instance.proc.exitCode === null && instance.proc.signalCode === null) instance.proc.kill('SIGKILL');
      await instance.exited;
    }
    await nginx?.stop();
    bucket?.destroy();
    await s3?.stop();
    await database?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('serves one registry through nginx: TLS, forwarded host and scheme, requests spread over both instances', async () => {
    for (const instance of instances) {
      const ready = JSON.parse((await (await fetch(`${instance.url}/readyz`)).text())) as { status: string; checks: Record<string, string> };
      expect(ready).toEqual({ status: 'ready', checks: { database: 'ok', storage: 'ok', invalidation: 'ok' } });
    }
    const challenge = await httpsRequest(`${nginx.url}/v2/`, nginx.certificate);
    expect(challenge.status).toBe(401);
    // Built from X-Forwarded-Proto/-Host: the URL the client used, not the instance's own.
    expect(challenge.headers['www-authenticate']).toBe(`Bearer realm="https://${nginx.host}/service/token",service="berth"`);
    for (let i = 0; i < 6; i++) expect((await httpsRequest(`${nginx.url}/healthz`, nginx.certificate)).status).toBe(200);
    const upstreams = new Set((await nginx.accessLog()).filter((l) => l.startsWith('GET /healthz ')).map((l) => l.split(' ')[3]));
    expect(upstreams).toEqual(new Set(ports.map((p) => `127.0.0.1:${p}`)));
  });

  it('skopeo pushes and pulls six multi-arch images through nginx with every digest kept', async () => {
    const layouts = await Promise.all(
      [0, 1, 2, 3, 4, 5].map((i) =>
        layout(`image${i}`, [
          { architecture: 'amd64', files: { 'hello.txt': `image ${i} on amd64\n` } },
          { architecture: 'arm64', files: { 'hello.txt': `image ${i} on arm64\n` } },
        ]),
      ),
    );
    // Three pushes at a time.
    for (let first = 0; first < layouts.length; first += 3) {
      await Promise.all(
        layouts
          .slice(first, first + 3)
          .map((l, j) => tools.skopeo(['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${l.dir}:v1`, `docker://${nginx.host}/scale/image${first + j}:v1`])),
      );
    }
    for (const [i, l] of layouts.entries()) {
      // Both instances answer the same, from the shared database.
      for (const instance of instances) expect(await digestOn(instance, `scale/image${i}`, 'v1')).toBe(l.indexDigest);
      const out = join(work, 'pulled', `image${i}`);
      await tools.skopeo(['copy', '--all', '--preserve-digests', '--src-tls-verify=false', `docker://${nginx.host}/scale/image${i}:v1`, `oci:${out}:v1`]);
      const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
      expect(index.manifests.map((m) => m.digest)).toEqual([l.indexDigest]);
      for (const image of l.images) {
        expect(sha256(await readFile(join(out, 'blobs', 'sha256', image.layerDigest.slice(7))))).toBe(image.layerDigest);
        expect(sha256(await readFile(join(out, 'blobs', 'sha256', image.manifestDigest.slice(7))))).toBe(image.manifestDigest);
      }
    }
  }, 240_000);

  it('podman pulls, pushes under a new name and pulls again through nginx, digests agreeing', async () => {
    const source = `${nginx.host}/scale/image0:v1`;
    const target = `${nginx.host}/scale/podman:v1`;
    await tools.podman(['pull', '--tls-verify=false', '--arch', 'amd64', source]);
    await tools.podman(['tag', source, target]);
    const digestFile = join(work, 'podman.digest');
    await tools.podman(['push', '--tls-verify=false', '--digestfile', digestFile, target]);
    const pushed = (await readFile(digestFile, 'utf8')).trim();
    expect(pushed).toMatch(/^sha256:[0-9a-f]{64}$/);
    for (const instance of instances) expect(await digestOn(instance, 'scale/podman', 'v1')).toBe(pushed);
    await tools.podman(['rmi', '--all', '--force']);
    await tools.podman(['pull', '--tls-verify=false', target]);
    const inspected = JSON.parse(await tools.podman(['image', 'inspect', target])) as Array<{ RepoDigests: string[] }>;
    expect(inspected[0]!.RepoDigests).toContain(`${nginx.host}/scale/podman@${pushed}`);
  }, 240_000);

  it('continues a chunked upload on whichever instance the next PATCH reaches', async () => {
    const [a, b] = instances.map((i) => new RegistryClient(i.url)) as [RegistryClient, RegistryClient];
    const blob = randomBlob(5 * 1024 * 1024 + 17);
    const piece = 1024 * 1024;
    const location = await a.startUpload('scale/hopping');
    const hops: RegistryClient[] = [];
    for (let offset = 0, n = 0; offset < blob.data.length; offset += piece, n++) {
      const client = n % 2 === 0 ? b : a;
      hops.push(client);
      const end = Math.min(offset + piece, blob.data.length) - 1;
      const patch = await client.fetch(location, {
        method: 'PATCH',
        body: blob.data.subarray(offset, end + 1),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${end}` },
      });
      expect(patch.status).toBe(202);
      expect(patch.headers.get('range')).toBe(`0-${end}`);
      // The other instance knows where the upload stands.
      const other = client === a ? b : a;
      const status = await other.fetch(location);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe(`0-${end}`);
    }
    expect(hops.map((h) => (h === a ? 'A' : 'B')).join('')).toBe('BABABA');
    const put = await a.fetch(`${location}?digest=${blob.digest}`, { method: 'PUT' });
    expect(put.status).toBe(201);
    expect(put.headers.get('docker-content-digest')).toBe(blob.digest);
    for (const client of [a, b]) {
      const res = await client.fetch(`/v2/scale/hopping/blobs/${blob.digest}`);
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(blob.digest);
    }
    const viaNginx = await httpsRequest(`${nginx.url}/v2/scale/hopping/blobs/${blob.digest}`, nginx.certificate, { headers: { Authorization: a.authorization! } });
    expect(viaNginx.status).toBe(200);
    expect(sha256(viaNginx.body)).toBe(blob.digest);
  }, 120_000);

  it('survives kill -9 of an instance mid-push: the retry succeeds on the other, and no partial blob is ever served', async () => {
    // Three platforms with a 40 MiB incompressible layer each: uploads are in flight for a while.
    const big = await layout(
      'big',
      ['amd64', 'arm64', 'ppc64le'].map((architecture) => ({ architecture, files: { 'random.bin': randomBytes(40 * 1024 * 1024) } })),
    );
    const copy = () =>
      tools.skopeo(['copy', '--all', '--preserve-digests', '--retry-times', '3', '--dest-tls-verify=false', `oci:${big.dir}:v1`, `docker://${nginx.host}/scale/big:v1`]);
    const first = copy().then(
      () => undefined,
      (err: Error) => err,
    );

    // Kill the instance that is receiving an upload body right now: one that has had an upload
    // request in flight for 150 ms (starting a session takes a few ms; a 40 MiB PATCH, a second).
    let victim: BerthProcess | undefined;
    const busySince = new Map<BerthProcess, number>();
    await until(
      async () => {
        for (const instance of instances) {
          const metrics = await (await fetch(`${instance.url}/metrics`)).text();
          const now = performance.now();
          if (Number(/^berth_uploads_in_flight (\d+)/m.exec(metrics)?.[1] ?? 0) === 0) busySince.delete(instance);
          else if (!busySince.has(instance)) busySince.set(instance, now);
          else if (now - busySince.get(instance)! >= 150) victim = instance;
        }
        return victim !== undefined;
      },
      60_000,
      'an upload in flight',
      20,
    );
    victim!.proc.kill('SIGKILL');
    expect(await victim!.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const survivor = instances.find((i) => i !== victim)!;

    // skopeo retries by itself; should it give up, running the push again must succeed.
    const failure = await first;
    if (failure) {
      console.warn(`first push failed after its retries; pushing again. ${failure.message}`);
      await copy();
    }

    // nginx saw the instance go away in the middle of a request (not merely refuse later connections).
    const victimAddress = `127.0.0.1:${victim!.port}`;
    const cut = (await nginx.errorLog()).split('\n').filter((l) => l.includes(`upstream: "http://${victimAddress}`));
    expect(cut.filter((l) => /prematurely closed|Connection reset by peer|Broken pipe/.test(l)).length).toBeGreaterThan(0);
    console.log(`kill -9 of ${victimAddress} mid-push: ${failure ? 'skopeo gave up, the re-run succeeded' : "skopeo's own retry succeeded"}; nginx logged:\n${cut.map((l) => l.replace(/^.*\[error\] \S+ /, '  ')).join('\n')}`);

    // Idempotent requests never reach the dead instance's socket: nginx moves them on.
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await httpsRequest(`${nginx.url}/v2/`, nginx.certificate)).status);
    expect(statuses).toEqual(Array(10).fill(401));

    // Every blob the registry knows is whole: served by the survivor and stored in the bucket.
    expect(await digestOn(survivor, 'scale/big', 'v1')).toBe(big.indexDigest);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    let rows: Array<{ digest: string; size: number }>;
    try {
      rows = (await client.query<{ digest: string; size: string }>('select digest, size from blob')).rows.map((r) => ({ digest: r.digest, size: Number(r.size) }));
    } finally {
      await client.end();
    }
    for (const image of big.images) expect(rows.map((r) => r.digest)).toContain(image.layerDigest);
    const survivorClient = new RegistryClient(survivor.url);
    const repositories = ['scale/big', 'scale/hopping', 'scale/podman', ...[0, 1, 2, 3, 4, 5].map((i) => `scale/image${i}`)];
    let served = 0;
    for (const { digest, size } of rows) {
      for (const name of repositories) {
        const res = await survivorClient.fetch(`/v2/${name}/blobs/${digest}`);
        if (res.status === 404) {
          await res.arrayBuffer();
          continue;
        }
        expect(res.status).toBe(200);
        const body = Buffer.from(await res.arrayBuffer());
        expect(body.length).toBe(size);
        expect(sha256(body)).toBe(digest);
        served++;
        break;
      }
    }
    expect(served).toBe(rows.length);
    const listed = await bucket.send(new ListObjectsV2Command({ Bucket: s3!.bucket, Prefix: `${prefix}/blobs/` }));
    const keys = (listed.Contents ?? []).map((o) => o.Key!);
    expect(keys.length).toBe(rows.length);
    for (const key of keys) {
      const object = await bucket.send(new GetObjectCommand({ Bucket: s3!.bucket, Key: key }));
      expect(sha256(Buffer.from(await object.Body!.transformToByteArray()))).toBe(`sha256:${key.split('/').pop()}`);
    }

    // And the whole image comes back out through nginx.
    const out = join(work, 'pulled', 'big');
    await tools.skopeo(['copy', '--all', '--preserve-digests', '--src-tls-verify=false', `docker://${nginx.host}/scale/big:v1`, `oci:${out}:v1`]);
    for (const image of big.images) expect(sha256(await readFile(join(out, 'blobs', 'sha256', image.layerDigest.slice(7))))).toBe(image.layerDigest);

    // The killed instance comes back on its port and serves the same registry.
    const index = instances.indexOf(victim!);
    instances[index] = await spawnBerth(instanceArgs(victim!.port, index));
    expect(await digestOn(instances[index]!, 'scale/big', 'v1')).toBe(big.indexDigest);
  }, 600_000);
});
