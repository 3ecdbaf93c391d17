import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { blobStream, ociManifest, randomBlobSpec, sha256, type BlobSpec } from './content.js';
import { RegistryHttp, expectStatus } from './http.js';
import { cpuSecondsOf, pssOf, startBerth, type RunningSystem } from './systems.js';

const exec = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const program = new Command()
  .option('--images <n>', 'images in the source', '40')
  .option('--layers <n>', 'layers per image', '5')
  .option('--layer-mib <n>', 'MiB per layer', '5')
  .option('--proxy-layer-mib <n>', 'MiB of the layer a proxied first pull fetches', '200')
  .option('--out <file>', 'where to write the JSON results', '')
  .parse();
const opts = program.opts<{ images: string; layers: string; layerMib: string; proxyLayerMib: string; out: string }>();

/** Peak summed PSS of `pids()` while `work` runs, sampled every 200 ms. */
async function measured<T>(pids: () => number[], work: () => Promise<T>): Promise<{ result: T; seconds: number; cpu: number; peakPss: number }> {
  let peakPss = pssOf(pids());
  const timer = setInterval(() => (peakPss = Math.max(peakPss, pssOf(pids()))), 200);
  const cpuBefore = cpuSecondsOf(pids());
  const started = process.hrtime.bigint();
  try {
    const result = await work();
    return { result, seconds: Number(process.hrtime.bigint() - started) / 1e9, cpu: cpuSecondsOf(pids()) - cpuBefore, peakPss };
  } finally {
    clearInterval(timer);
  }
}

async function pushImage(http: RegistryHttp, repository: string, tag: string, layers: BlobSpec[]): Promise<void> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) }, label: `${repository}:${tag}` }));
  const scope = `repository:${repository}:pull,push`;
  const upload = async (digest: string, size: number, body: Buffer | (() => ReturnType<typeof blobStream>)) =>
    expectStatus(await http.send('POST', `/v2/${repository}/blobs/uploads/?digest=${digest}`, scope, { body, headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) } }), 201, `push ${digest}`);
  await upload(sha256(config), config.length, config);
  for (const layer of layers) await upload(layer.digest, layer.size, () => blobStream(layer));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: ociManifest,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: l.digest, size: l.size })),
    }),
  );
  expectStatus(await http.send('PUT', `/v2/${repository}/manifests/${tag}`, scope, { body: manifest, headers: { 'content-type': ociManifest } }), 201, `push ${repository}:${tag}`);
}

async function api<T>(system: RunningSystem, method: string, path: string, body?: unknown): Promise<T> {
  const auth = `Basic ${Buffer.from(`${system.credentials!.username}:${system.credentials!.password}`).toString('base64')}`;
  const res = await fetch(`${system.url}/api/v1${path}`, { method, headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (res.status === 204 ? undefined : await res.json()) as T;
}

async function main(): Promise<void> {
  const images = Number(opts.images);
  const layersPer = Number(opts.layers);
  const layerBytes = Number(opts.layerMib) * 1024 * 1024;
  const totalBytes = images * layersPer * layerBytes;
  const env = { BERTH_OUTBOUND_REPLICATION_ALLOW_CIDRS: '127.0.0.0/8', BERTH_OUTBOUND_PROXY_CACHE_ALLOW_CIDRS: '127.0.0.0/8', BERTH_JOBS_POLL_INTERVAL_MS: '100' };
  const source = await startBerth(root, { env });
  const target = await startBerth(root, { env });
  const work = await mkdtemp(join(tmpdir(), 'bench-replication-'));
  try {
    process.stderr.write(`pushing ${images} images of ${layersPer} × ${opts.layerMib} MiB (${(totalBytes / 2 ** 30).toFixed(2)} GiB) to the source\n`);
    const pusher = new RegistryHttp(source.url, source.credentials, 4);
    for (let i = 0; i < images; i += 4) {
      await Promise.all(
        Array.from({ length: Math.min(4, images - i) }, (_v, k) => pushImage(pusher, `library/img${i + k}`, 'v1', Array.from({ length: layersPer }, () => randomBlobSpec(layerBytes)))),
      );
    }
    await api(target, 'POST', '/projects', { name: 'mirror', public: false });
    await api(target, 'POST', '/projects', { name: 'sync', public: false });
    const endpoint = await api<{ id: number }>(target, 'POST', '/registries', { name: 'source', kind: 'berth', url: source.url, username: source.credentials!.username, secret: source.credentials!.password });
    const rule = await api<{ id: number }>(target, 'POST', '/replication/policies', { name: 'all', endpointId: endpoint.id, direction: 'pull', repositories: 'library/**', destinationNamespace: 'mirror', flatten: 1 });
    const both = () => [...source.pids(), ...target.pids()];

    process.stderr.write('Berth replication (pull rule)\n');
    const berthRun = await measured(both, async () => {
      const started = await api<{ id: number }>(target, 'POST', '/replication/executions', { policyId: rule.id });
      for (;;) {
        const execution = await api<{ status: string; bytes: number; tasks: Record<string, number> }>(target, 'GET', `/replication/executions/${started.id}`);
        if (execution.status !== 'queued' && execution.status !== 'running') return execution;
        await new Promise((r) => setTimeout(r, 200));
      }
    });
    if (berthRun.result.status !== 'succeeded') throw new Error(`replication ${berthRun.result.status}`);

    process.stderr.write('skopeo sync (the same images, registry to registry)\n');
    const creds = (s: RunningSystem) => `${s.credentials!.username}:${s.credentials!.password}`;
    const skopeoPids = () => both();
    const skopeoRun = await measured(skopeoPids, async () => {
      for (let i = 0; i < images; i++) {
        await exec('skopeo', ['sync', '--src', 'docker', '--dest', 'docker', '--src-tls-verify=false', '--dest-tls-verify=false', '--src-creds', creds(source), '--dest-creds', creds(target), `${new URL(source.url).host}/library/img${i}`, `${new URL(target.url).host}/sync`], { maxBuffer: 16 * 1024 * 1024 });
      }
    });

    process.stderr.write(`proxied first pull of a ${opts.proxyLayerMib} MiB layer, beside skopeo copy of the same image\n`);
    const big = randomBlobSpec(Number(opts.proxyLayerMib) * 1024 * 1024);
    await pushImage(pusher, 'library/big', 'v1', [big]);
    await api(target, 'POST', '/projects', { name: 'hub', public: false });
    await api(target, 'PUT', '/projects/hub/proxy-cache', { proxyCache: { endpointId: endpoint.id, ttlSeconds: 300 } });
    const puller = new RegistryHttp(target.url, target.credentials, 4);
    const proxyRun = await measured(both, async () => {
      const manifest = await puller.send('GET', '/v2/hub/library/big/manifests/v1', 'repository:hub/library/big:pull', { headers: { accept: ociManifest } });
      expectStatus(manifest, 200, 'proxied manifest');
      const layer = await puller.send('GET', `/v2/hub/library/big/blobs/${big.digest}`, 'repository:hub/library/big:pull', { hashBody: true });
      if (layer.digest !== big.digest) throw new Error('the proxied layer does not verify');
      return layer.bytes;
    });
    const skopeoCopy = await measured(both, async () =>
      exec('skopeo', ['copy', '--src-tls-verify=false', '--src-creds', creds(source), `docker://${new URL(source.url).host}/library/big:v1`, `dir:${join(work, 'big')}`], { maxBuffer: 16 * 1024 * 1024 }),
    );

    const mbps = (bytes: number, seconds: number) => bytes / 1e6 / seconds;
    const results = {
      machine: `${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node.js ${process.version}`,
      data: { images, layersPerImage: layersPer, layerBytes, totalBytes },
      berthReplication: { seconds: berthRun.seconds, mbPerSecond: mbps(totalBytes, berthRun.seconds), cpuSeconds: berthRun.cpu, peakPssBothBerths: berthRun.peakPss, bytes: berthRun.result.bytes },
      skopeoSync: { seconds: skopeoRun.seconds, mbPerSecond: mbps(totalBytes, skopeoRun.seconds), berthCpuSeconds: skopeoRun.cpu, peakPssBothBerths: skopeoRun.peakPss },
      proxiedFirstPull: { bytes: big.size, seconds: proxyRun.seconds, mbPerSecond: mbps(big.size, proxyRun.seconds), cpuSeconds: proxyRun.cpu, peakPssBothBerths: proxyRun.peakPss },
      skopeoCopyToDir: { bytes: big.size, seconds: skopeoCopy.seconds, mbPerSecond: mbps(big.size, skopeoCopy.seconds), sourceCpuSeconds: skopeoCopy.cpu },
    };
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    if (opts.out) {
      mkdirSync(dirname(opts.out), { recursive: true });
      writeFileSync(opts.out, `${JSON.stringify(results, null, 2)}\n`);
    }
  } finally {
    await source.stop();
    await target.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
