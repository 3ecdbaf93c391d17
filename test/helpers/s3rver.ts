import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3BlobStoreOptions } from '../../src/adapters/storage/s3-blob-store.js';

/** s3rver's built-in account: it checks the access key id (not SigV4 signatures). */
const accessKeyId = 'S3RVER';

export interface TestS3 {
  endpoint: string;
  bucket: string;
  /** A secret no log line may contain (s3rver accepts any secret for its key id). */
  secretAccessKey: string;
  /** Driver options on this server under a fresh random prefix. */
  storeOptions(overrides?: Partial<S3BlobStoreOptions>): S3BlobStoreOptions;
  /** Berth settings (dotted keys, as startTestBerth takes them) for this server and `prefix`. */
  settings(prefix: string): Record<string, unknown>;
  stop(): Promise<void>;
}

/** A real S3 API server (s3rver) on a loopback port, with one empty bucket, in a temp directory. */
export async function startS3rver(bucket = 'berth-test'): Promise<TestS3> {
  const script = fileURLToPath(new URL('./s3rver-process.mjs', import.meta.url));
  createRequire(import.meta.url).resolve('s3rver'); // a clear error when the package is missing
  const directory = await mkdtemp(join(tmpdir(), 'berth-s3rver-'));
  const child: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', script, directory, bucket], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let port: number;
  try {
    port = await readPort(child, 15_000);
  } catch (err) {
    child.kill('SIGKILL');
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const secretAccessKey = `s3-secret-${randomBytes(12).toString('hex')}`;
  return {
    endpoint,
    bucket,
    secretAccessKey,
    storeOptions(overrides = {}) {
      return {
        bucket,
        prefix: `t-${randomBytes(6).toString('hex')}`,
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId, secretAccessKey },
        ...overrides,
      };
    },
    settings(prefix) {
      return {
        'storage.driver': 's3',
        'storage.s3.endpoint': endpoint,
        'storage.s3.bucket': bucket,
        'storage.s3.prefix': prefix,
        'storage.s3.forcePathStyle': true,
        'storage.s3.accessKeyId': accessKeyId,
        'storage.s3.secretAccessKey': secretAccessKey,
      };
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** The port the child prints as its first line, or the reason it never did. */
function readPort(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
      const line = stdout.split('\n', 2);
      if (line.length < 2) return;
      clearTimeout(timer);
      try {
        resolve((JSON.parse(line[0]!) as { port: number }).port);
      } catch {
        reject(new Error(`s3rver printed ${line[0]}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with code ${code}: ${stderr.trim()}`));
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Starts s3rver for a test file, or warns (loudly) why S3 tests are skipped and resolves undefined. */
export async function startS3rverOrWarn(suite: string): Promise<TestS3 | undefined> {
  try {
    return await startS3rver();
  } catch (err) {
    console.warn(`SKIPPING ${suite}: s3rver (test S3 server) could not start: ${(err as Error).message}`);
    return undefined;
  }
}
