#!/usr/bin/env node
// Builds only when a source changed since the last build, so `npm start` on an existing build
// starts the server at once. `--write` records the sources' fingerprint (run after a build).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stampFile = join(root, 'dist', '.sources-fingerprint');
/** What the build reads: the compilers' inputs and settings. */
const inputs = ['src', 'web', 'bench', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'tsconfig.bench.json', 'rolldown.config.mjs'];
const skipped = new Set(['node_modules', 'dist']);

function* files(path) {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return;
  if (!stat.isDirectory()) {
    yield `${relative(root, path)} ${stat.size} ${stat.mtimeMs}`;
    return;
  }
  for (const entry of readdirSync(path).sort()) {
    if (!skipped.has(entry)) yield* files(join(path, entry));
  }
}

function fingerprint() {
  const hash = createHash('sha256');
  for (const input of inputs) for (const line of files(join(root, input))) hash.update(`${line}\n`);
  return hash.digest('hex');
}

if (process.argv.includes('--write')) {
  writeFileSync(stampFile, `${fingerprint()}\n`);
} else {
  const outputs = ['dist/cli/main.js', 'dist-bench/run.js', 'web/dist/index.html'];
  const built = outputs.every((output) => existsSync(join(root, output))) && existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === fingerprint();
  if (!built) {
    const result = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
    process.exit(result.status ?? 1);
  }
}
