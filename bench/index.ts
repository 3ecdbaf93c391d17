import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { debianFiles, mib, startBigImageBench } from './big-image.js';
import { cpuSecondsOf, MemorySampler, pssOf, rssOf } from './systems.js';

const opts = new Command()
  .name('bench:index')
  .description(
    'Image indexing cost (issue 17, must show 5): one image of --mib MiB of random (incompressible) layers, each with --files small files beside large ones, indexed on push (its entries stored, its inventory and lint) while the summed PSS and the largest RSS of the Berth process tree are sampled; then a second image on the same layers',
  )
  .option('--mib <n>', 'MiB of layers in the image', '1024')
  .option('--layer-mib <n>', 'MiB per layer', '128')
  .option('--files <n>', 'small (4 KiB) files per layer', '10000')
  .option('--timeout <s>', 'seconds to wait for the index', '1800')
  .parse()
  .opts<{ mib: string; layerMib: string; files: string; timeout: string }>();

const layerMib = Number(opts.layerMib);
const layerCount = Math.max(1, Math.ceil(Number(opts.mib) / layerMib));
const smallFiles = Number(opts.files);
const bench = await startBigImageBench('bench-index-');
const { berth, work, auth, pushBlob, pushImage } = bench;

/** A gzip layer made by tar from a directory: `small` 4 KiB files in 100 directories, and large random files up to `bytes`. */
async function layer(label: string, bytes: number, small: number, extra: Record<string, string> = {}): Promise<string> {
  const dir = join(work, label);
  for (let d = 0; d < Math.min(100, small); d++) await mkdir(join(dir, 'srv', label, `d${d}`), { recursive: true });
  for (let f = 0; f < small; f++) await writeFile(join(dir, 'srv', label, `d${f % 100}`, `f${f}.txt`), randomBytes(4096));
  let left = bytes - small * 4096;
  await mkdir(join(dir, 'data', label), { recursive: true });
  for (let f = 0; left > 0; f++, left -= 16 * 2 ** 20) await writeFile(join(dir, 'data', label, `blob${f}.bin`), randomBytes(Math.min(left, 16 * 2 ** 20)));
  return bench.layer(label, extra);
}

/** Waits until the image's file tree answers (the index has read it: 409 IMAGE_NOT_INDEXED before); resolves its root listing. */
async function indexed(name: string, tag: string): Promise<{ entries: unknown[] }> {
  const deadline = performance.now() + Number(opts.timeout) * 1000;
  for (;;) {
    const res = await fetch(`${berth.url}/api/v1/projects/library/repositories/${name}/artifacts/${tag}/files?path=/`, { headers: { authorization: auth } });
    if (res.status === 200) return (await res.json()) as { entries: unknown[] };
    if (res.status !== 409) throw new Error(`files of ${name}:${tag}: ${res.status} ${await res.text()}`);
    if (performance.now() > deadline) throw new Error(`${name}:${tag} not indexed after ${opts.timeout} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

try {
  process.stdout.write(`${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}); Node.js ${process.version}; Berth with 1 worker, SQLite + filesystem\n`);
  // Pushes are indexed, not scanned: the figures are the index's alone.
  await bench.noScanOnPush();
  const layers = [];
  for (let i = 0; i < layerCount; i++) {
    const extra: Record<string, string> = i === 0 ? debianFiles : {};
    layers.push(await pushBlob('library/large', await layer(`l${i}`, layerMib * 2 ** 20, smallFiles, extra)));
  }
  const total = layers.reduce((n, l) => n + l.size, 0);
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const pids = berth.pids();
  const idle = pssOf(pids);
  const idleRss = Math.max(...pids.map((pid) => rssOf(pid)));
  const sampler = new MemorySampler(berth);
  sampler.start(100);
  const cpuBefore = cpuSecondsOf(pids);
  const started = performance.now();
  await pushImage('library/large', 'v1', layers, { User: '1000' });
  const listing = await indexed('large', 'v1');
  const seconds = (performance.now() - started) / 1000;
  const { peakRssBytes, peakPssBytes } = sampler.stop();
  const cpu = cpuSecondsOf(berth.pids()) - cpuBefore;
  process.stdout.write(
    `image: ${layerCount} layers, ${mib(total)} MiB compressed, ${layerCount * (smallFiles + Math.ceil((layerMib * 2 ** 20 - smallFiles * 4096) / (16 * 2 ** 20)))} files; ` +
      `push to indexed ${seconds.toFixed(1)} s (${(total / 2 ** 20 / seconds).toFixed(0)} MiB/s), ${cpu.toFixed(1)} CPU s; ` +
      `summed PSS idle ${mib(idle)} MiB, peak ${mib(peakPssBytes)} MiB (+${mib(peakPssBytes - idle)}); largest RSS idle ${mib(idleRss)} MiB, peak ${mib(peakRssBytes)} MiB; root lists ${listing.entries.length} entries\n`,
  );

  // The same layers under one more: only the new layer is read.
  const app = await pushBlob('library/large', await layer('app', 2 ** 20, 100));
  const again = performance.now();
  await pushImage('library/large', 'v2', [...layers, app], { User: '1000' });
  await indexed('large', 'v2');
  process.stdout.write(`a second image on the same ${layerCount} layers plus a 1 MiB one: push to indexed ${((performance.now() - again) / 1000).toFixed(2)} s (the shared layers are not read again)\n`);
} finally {
  await bench.stop();
}
