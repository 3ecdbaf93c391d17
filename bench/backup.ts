import { execFile } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { startBerth } from './systems.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);

const opts = new Command()
  .name('bench:backup')
  .description('berth backup and berth restore throughput: a registry holding --mib MiB of random layers, backed up (tar, directory, incremental directory) while the server runs, then restored')
  .option('--mib <n>', 'MiB of layers in all', '1024')
  .option('--layer-mib <n>', 'MiB per layer (one layer per image)', '32')
  .parse()
  .opts<{ mib: string; layerMib: string }>();

const layerBytes = Number(opts.layerMib) * 1024 * 1024;
const images = Math.ceil(Number(opts.mib) / Number(opts.layerMib));
const work = await mkdtemp(join(tmpdir(), 'bench-backup-'));
const berth = await startBerth(root, { dataDir: join(work, 'data'), workers: 1 });
const auth = `Basic ${Buffer.from(`${berth.credentials!.username}:${berth.credentials!.password}`).toString('base64')}`;
const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function push(name: string, data: Buffer, type: string): Promise<string> {
  const digest = sha256(data);
  const res = await fetch(`${berth.url}/v2/${name}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: data, headers: { authorization: auth, 'content-type': type } });
  if (res.status !== 201) throw new Error(`push ${digest}: ${res.status}`);
  return digest;
}

try {
  for (let i = 0; i < images; i++) {
    const layer = randomBytes(layerBytes);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, n: i }));
    const layerDigest = await push('library/bench', layer, 'application/octet-stream');
    const configDigest = await push('library/bench', config, 'application/octet-stream');
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
    });
    const res = await fetch(`${berth.url}/v2/library/bench/manifests/v${i}`, { method: 'PUT', body: manifest, headers: { authorization: auth, 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
    if (res.status !== 201) throw new Error(`manifest: ${res.status}`);
  }
  const total = images * layerBytes;
  const cli = join(root, 'dist', 'cli', 'main.js');
  const timed = async (label: string, args: string[]) => {
    const started = performance.now();
    const { stdout } = await run(process.execPath, [cli, ...args, '--json'], { maxBuffer: 64 * 1024 * 1024 });
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(`${label.padEnd(44)} ${seconds.toFixed(1).padStart(6)} s  ${(total / 1024 / 1024 / seconds).toFixed(0).padStart(5)} MiB/s\n`);
    return JSON.parse(stdout) as unknown;
  };
  process.stdout.write(`${images} images, ${(total / 1024 / 1024).toFixed(0)} MiB of layers; ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}); server running\n`);
  const data = ['--data-dir', join(work, 'data')];
  await timed('backup to a .tar', ['backup', join(work, 'backup.tar'), ...data]);
  await timed('backup to a directory', ['backup', join(work, 'full'), ...data]);
  await timed('backup to a directory --since (no change)', ['backup', join(work, 'next'), '--since', join(work, 'full'), ...data]);
  await berth.stop();
  await timed('restore from the .tar (every digest checked)', ['restore', join(work, 'backup.tar'), '--data-dir', join(work, 'restored-tar')]);
  await timed('restore from the directory', ['restore', join(work, 'full'), '--data-dir', join(work, 'restored-dir')]);
} finally {
  await berth.stop().catch(() => undefined);
  await rm(work, { recursive: true, force: true });
}
