import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { Command } from 'commander';
import { debianFiles, mib, startBigImageBench } from './big-image.js';
import { pssOf, cpuSecondsOf } from './systems.js';

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
const bench = await startBigImageBench('bench-scan-');
const { berth, auth, pushBlob, pushImage, layer } = bench;

async function scan(name: string, tag: string): Promise<{ packages: number; durationMs: number; status: string }> {
  const res = await fetch(`${berth.url}/api/v1/projects/library/repositories/${name}/artifacts/${tag}/scan`, { method: 'POST', headers: { authorization: auth } });
  if (res.status !== 200) throw new Error(`scan ${name}:${tag}: ${res.status} ${await res.text()}`);
  return (await res.json()) as { packages: number; durationMs: number; status: string };
}

try {
  process.stdout.write(`${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}); Node.js ${process.version}; Berth with 1 worker\n`);
  // Scans run when this asks, not on push: the first scan of each image reads its layers.
  await bench.noScanOnPush();
  // 1. A large image: random files (nothing for gzip to squeeze), a dpkg database in the first layer.
  const layers = [];
  for (let i = 0; i < layerCount; i++) {
    const files: Record<string, Buffer | string> = {};
    for (let f = 0; f < layerMib / 16; f++) files[`data/layer${i}/file${f}.bin`] = randomBytes(16 * 2 ** 20);
    if (i === 0) Object.assign(files, debianFiles);
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
  const base = await pushBlob('library/shared', await layer('base', { ...debianFiles, 'usr/share/blob.bin': randomBytes(64 * 2 ** 20) }));
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
  await bench.stop();
}
