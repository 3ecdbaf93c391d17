import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** Mounts a small tmpfs at `dir` (to fill it up); resolves why it cannot when not root or not allowed. */
export async function mountTmpfs(dir: string, size: string): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  try {
    await exec('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
    return undefined;
  } catch (err) {
    return `cannot mount tmpfs: ${(err as Error).message.split('\n')[0]}`;
  }
}

export async function unmount(dir: string): Promise<void> {
  await exec('umount', [dir]).catch(() => undefined);
}
