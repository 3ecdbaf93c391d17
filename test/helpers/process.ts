import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cliPath = join(root, 'dist', 'cli', 'main.js');

export interface BerthProcess {
  proc: ChildProcess;
  pid: number;
  url: string;
  port: number;
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs a built `berth` command (gc, scrub, …) to its end as a process of its own; `onLine` sees
 * each line it writes to stderr (its progress) and may kill it with SIGKILL; `input` is piped to
 * its stdin (a --password-stdin secret).
 */
export function runBerthCommand(
  args: string[],
  onLine: (line: string, kill: () => void) => void = () => undefined,
  options: { input?: string } = {},
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [cliPath, ...args], { stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (options.input !== undefined) proc.stdin!.end(options.input);
    let stdout = '';
    let stderr = '';
    proc.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
      for (const line of c.toString().split('\n')) if (line) onLine(line, () => proc.kill('SIGKILL'));
    });
    proc.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/**
 * Runs the built `berth serve` as a real child process (for kill -9, SIGTERM and RSS tests);
 * `cli` runs another build (an older Berth, for upgrade tests).
 */
export async function spawnBerth(args: string[], env: Record<string, string> = {}, cli = cliPath): Promise<BerthProcess> {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run "npm run build" first (npm test does)`);
  // One process unless a test asks for a cluster: kill -9 and RSS tests measure that process.
  const workers = args.includes('--workers') ? [] : ['--workers', '1'];
  const proc = spawn(process.execPath, [cli, 'serve', '--host', '127.0.0.1', ...workers, ...args], {
    env: { ...process.env, BERTH_BANNER: '0', BERTH_ADMIN_PASSWORD: 'Admin-Passw0rd', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const listening = new Promise<string>((resolve, reject) => {
    let buffer = '';
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output.push(text);
      buffer += text;
      for (const line of buffer.split('\n')) {
        if (!line.includes('berth is listening')) continue;
        try {
          resolve((JSON.parse(line) as { listen: string }).listen);
        } catch {
          // partial line; wait for more
        }
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (c: Buffer) => output.push(c.toString('utf8')));
    proc.once('exit', (code) => reject(new Error(`berth exited with ${code} before listening:\n${output.join('')}`)));
    setTimeout(() => reject(new Error(`berth did not start within 30 s:\n${output.join('')}`)), 30_000).unref();
  });
  const url = await listening;
  return { proc, pid: proc.pid!, url, port: Number(new URL(url).port), output, exited };
}

/** Resident memory of a process in bytes: current (VmRSS) and peak (VmHWM), from /proc. */
export async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}
