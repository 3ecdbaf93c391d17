import { spawn, type ChildProcess } from 'node:child_process';

export interface EmulatorProcess {
  port: number;
  /** Closes the child's stdin (its wrapper script exits on that), SIGKILL if it lingers. */
  stop(): Promise<void>;
}

/**
 * Runs a test server (s3rver, Azurite) as `node <script> ...args` and resolves once `portOf` finds
 * the port it listens on in what it printed. The wrapper scripts exit when their stdin closes, so
 * a test run that dies leaves no server behind.
 */
export async function startEmulator(
  name: string,
  nodeArgs: string[],
  env: NodeJS.ProcessEnv,
  portOf: (stdout: string) => number | undefined,
  timeoutMs: number,
): Promise<EmulatorProcess> {
  const child: ChildProcess = spawn(process.execPath, nodeArgs, { stdio: ['pipe', 'pipe', 'pipe'], env });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.stdin!.end();
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(killer);
  };
  try {
    return { port: await readPort(child, name, portOf, timeoutMs), stop };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

function readPort(child: ChildProcess, name: string, portOf: (stdout: string) => number | undefined, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let found = false;
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${timeoutMs} ms: ${stdout.trim()} ${stderr.trim()}`)), timeoutMs);
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout!.on('data', (c: Buffer) => {
      if (found) return; // keep draining, so a chatty server never blocks on a full pipe
      stdout += c.toString();
      let port: number | undefined;
      try {
        port = portOf(stdout);
      } catch (err) {
        clearTimeout(timer);
        reject(new Error(`${name} printed ${stdout.trim()}: ${(err as Error).message}`));
        return;
      }
      if (port === undefined) return;
      found = true;
      clearTimeout(timer);
      resolve(port);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code}: ${stdout.trim()} ${stderr.trim()}`));
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Starts a test server for a test file, or warns (loudly) why its tests are skipped and resolves undefined. */
export async function startOrWarn<T>(suite: string, server: string, start: () => Promise<T>): Promise<T | undefined> {
  try {
    return await start();
  } catch (err) {
    console.warn(`SKIPPING ${suite}: ${server} could not start: ${(err as Error).message}`);
    return undefined;
  }
}
