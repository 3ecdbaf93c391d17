import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { pssOf, cpuSecondsOf, startBerth } from './systems.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);

const opts = new Command()
  .name('bench:scan')
  .description(
    'Vulnerability scanning cost: one image of --mib MiB of random (incompressible) layers scanned while the summed PSS of every Berth process is sampled; then --images images sharing a base layer scanned together',
  )
  .option('--mib <n>', 'MiB of layers in the large image', '1024')
  .option('--layer-mib <n>', 'MiB per layer', '128')
  .option('--images <n>', 'images that share one base layer', '100')
  .parse()
  .opts<{ mib: string; layerMib: string; images: string }>();

const layerMib = Number(opts.layerMib);
const layerCount = Math.max(1, Math.ceil(Number(opts.mib) / layerMib));
const sharedImages = Number(opts.images);
const work = await mkdtemp(join(tmpdir(), 'bench-scan-'));
const berth = await startBerth(root, { dataDir: join(work, 'data'), workers: 1 });
const auth = `Basic ${Buffer.from(`${berth.credentials!.username}:${berth.credentials!.password}`).toString('base64')}`;
const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

async function pushBlob(name: string, body: Buffer | string): Promise<{ digest: string; size: number }> {
  const digest = typeof body === 'string' ? await fileDigest(body) : sha256(body);
  const size = typeof body === 'string' ? (await stat(body)).size : body.length;
  const res = await fetch(`${berth.url}/v2/${name}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    body: typeof body === 'string' ? (createReadStream(body) as unknown as ReadableStream) : body,
    headers: { authorization: auth, 'content-type': 'application/octet-stream', 'content-length': String(size) },
    duplex: 'half',
  } as RequestInit);
  if (res.status !== 201) throw new Error(`push ${digest}: ${res.status} ${await res.text()}`);
  return { digest, size };
}

async function pushImage(name: string, tag: string, layers: Array<{ digest: string; size: number }>): Promise<void> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, tag }));
  const configBlob = await pushBlob(name, config);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...configBlob },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })),
  });
  const res = await fetch(`${berth.url}/v2/${name}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { authorization: auth, 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
  if (res.status !== 201) throw new Error(`manifest ${name}:${tag}: ${res.status}`);
}

/** A gzip layer of `files` (path → bytes), made by tar from a directory. */
async function layer(label: string, files: Record<string, Buffer | string>): Promise<string> {
  const dir = join(work, label);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  const out = join(work, `${label}.tar.gz`);
  await run('tar', ['--sort=name', '--mtime=@0', '-I', 'gzip -1', '-C', dir, '-cf', out, '.']);
  await rm(dir, { recursive: true, force: true });
  return out;
}

async function scan(name: string, tag: string): Promise<{ packages: number; durationMs: number; status: string }> {
  const res = await fetch(`${berth.url}/api/v1/projects/library/repositories/${name}/artifacts/${tag}/scan`, { method: 'POST', headers: { authorization: auth } });
  if (res.status !== 200) throw new Error(`scan ${name}:${tag}: ${res.status} ${await res.text()}`);
  return (await res.json()) as { packages: number; durationMs: number; status: string };
}

const dpkgStatus = Array.from({ length: 120 }, (_, i) => `Package: pkg${i}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.${i}-1\n`).join('\n');

try {
  process.stdout.write(`${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}); Node.js ${process.version}; Berth with 1 worker\n`);
  // Scans run when this asks, not on push: the first scan of each image reads its layers.
  const policy = await fetch(`${berth.url}/api/v1/projects/library/security-policy`, { method: 'PUT', body: JSON.stringify({ scanOnPush: false }), headers: { authorization: auth, 'content-type': 'application/json' } });
  if (policy.status !== 200) throw new Error(`security policy: ${policy.status}`);
  // 1. A large image: random files (nothing for gzip to squeeze), a dpkg database in the first layer.
  const layers = [];
  for (let i = 0; i < layerCount; i++) {
    const files: Record<string, Buffer | string> = {};
    for (let f = 0; f < layerMib / 16; f++) files[`data/layer${i}/file${f}.bin`] = randomBytes(16 * 2 ** 20);
    if (i === 0) Object.assign(files, { 'etc/os-release': 'ID=debian\nVERSION_ID="12"\n', 'var/lib/dpkg/status': dpkgStatus });
    layers.push(await pushBlob('library/large', await layer(`large-${i}`, files)));
  }
  const total = layers.reduce((n, l) => n + l.size, 0);
  await pushImage('library/large', 'v1', layers);
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const pids = berth.pids();
  const idle = pssOf(pids);
  let peak = idle;
  const sampler = setInterval(() => (peak = Math.max(peak, pssOf(berth.pids()))), 100);
  const cpuBefore = cpuSecondsOf(pids);
  const started = performance.now();
  const large = await scan('large', 'v1');
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const cpu = cpuSecondsOf(berth.pids()) - cpuBefore;
  process.stdout.write(
    `large image: ${layerCount} layers, ${mib(total)} MiB compressed; scan ${seconds.toFixed(1)} s (${(total / 2 ** 20 / seconds).toFixed(0)} MiB/s), ${cpu.toFixed(1)} CPU s; ` +
      `summed PSS idle ${mib(idle)} MiB, peak during the scan ${mib(peak)} MiB (+${mib(peak - idle)}); ${large.packages} packages, ${large.status}\n`,
  );

  // 2. Images sharing one base layer: its bytes are read once, whatever the number of images.
  const base = await pushBlob('library/shared', await layer('base', { 'etc/os-release': 'ID=debian\nVERSION_ID="12"\n', 'var/lib/dpkg/status': dpkgStatus, 'usr/share/blob.bin': randomBytes(64 * 2 ** 20) }));
  for (let i = 0; i < sharedImages; i++) await pushImage('library/shared', `v${i}`, [base, await pushBlob('library/shared', await layer(`app-${i}`, { [`app/${i}.txt`]: `image ${i}\n` }))]);
  const one = performance.now();
  await scan('shared', 'v0');
  const first = (performance.now() - one) / 1000;
  const rest = performance.now();
  for (let i = 1; i < sharedImages; i += 10) await Promise.all(Array.from({ length: Math.min(10, sharedImages - i) }, (_, j) => scan('shared', `v${i + j}`)));
  const others = (performance.now() - rest) / 1000;
  process.stdout.write(
    `${sharedImages} images sharing a ${mib(base.size)} MiB base layer: the first scan ${first.toFixed(2)} s, the other ${sharedImages - 1} together ${others.toFixed(2)} s (${((others / (sharedImages - 1)) * 1000).toFixed(0)} ms each: the base layer is not read again)\n`,
  );
} finally {
  await berth.stop();
  await rm(work, { recursive: true, force: true });
}
