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
const inputs = ['src', 'web', 'bench', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'tsconfig.bench.json', 'rolldown.config.mjs', 'scripts'];
const skipped = new Set(['node_modules', 'dist']);
/** Written by runs, not read by the build: a bench run must not make the next start rebuild. */
const skippedPaths = new Set([join('bench', 'results')]);

function* files(path) {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return;
  if (!stat.isDirectory()) {
    yield `${relative(root, path)} ${stat.size} ${stat.mtimeMs}`;
    return;
  }
  for (const entry of readdirSync(path).sort()) {
    if (!skipped.has(entry) && !skippedPaths.has(relative(root, join(path, entry)))) yield* files(join(path, entry));
  }
}

function fingerprint() {
  const hash = createHash('sha256');
  for (const input of inputs) for (const line of files(join(root, input))) hash.update(`${line}\n`);
  return hash.digest('hex');
}

/** Runs `npm run build` unless the outputs exist and the sources are those of the last build; returns the build's exit status (0 when none was needed). */
export function buildIfStale() {
  const outputs = ['dist/cli/main.js', 'dist-bench/run.js', 'web/dist/index.html'];
  const built = outputs.every((output) => existsSync(join(root, output))) && existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === fingerprint();
  if (built) return 0;
  return spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' }).status ?? 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--write')) writeFileSync(stampFile, `${fingerprint()}\n`);
  else process.exit(buildIfStale());
}
