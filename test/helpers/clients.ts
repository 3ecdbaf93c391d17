import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** The Debian container tools that are missing here (tests that need them skip, loudly). */
export async function missingTools(tools: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const tool of tools) {
    try {
      await exec('sh', ['-c', `command -v ${tool}`]);
    } catch {
      missing.push(tool);
    }
  }
  if (missing.length > 0) console.warn(`SKIPPING tests that need ${missing.join(', ')} (Debian: apt-get install -y ${missing.join(' ')})`);
  return missing;
}

/**
 * Runs skopeo/podman/buildah with a private auth file and image store under `work`, so tests
 * never touch the machine's own credentials or images.
 */
export class ContainerTools {
  readonly env: Record<string, string>;
  readonly storage: string[];

  constructor(readonly work: string) {
    this.env = { REGISTRY_AUTH_FILE: join(work, 'auth.json') };
    this.storage = ['--root', join(work, 'storage'), '--runroot', join(work, 'run'), '--storage-driver', 'vfs'];
  }

  async run(tool: string, args: string[], timeout = 120_000): Promise<string> {
    try {
      const { stdout } = await exec(tool, args, { timeout, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ...this.env } });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string };
      throw new Error(`${tool} ${args.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}${e.stdout ?? ''}`);
    }
  }

  podman(args: string[]): Promise<string> {
    return this.run('podman', [...this.storage, ...args]);
  }

  buildah(args: string[]): Promise<string> {
    return this.run('buildah', [...this.storage, ...args]);
  }

  skopeo(args: string[]): Promise<string> {
    return this.run('skopeo', args);
  }
}
