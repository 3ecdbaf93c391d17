import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3BlobStoreOptions } from '../../src/adapters/storage/s3-blob-store.js';
import { startEmulator, startOrWarn, type EmulatorProcess } from './emulator-process.js';

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
export async function startS3rver(bucket = 'berth-test', options: { directory?: string } = {}): Promise<TestS3> {
  const script = fileURLToPath(new URL('./s3rver-process.mjs', import.meta.url));
  createRequire(import.meta.url).resolve('s3rver'); // a clear error when the package is missing
  // A directory of the caller's (a small tmpfs, to fill the "bucket"), or a fresh temp one.
  const directory = options.directory ?? (await mkdtemp(join(tmpdir(), 'berth-s3rver-')));
  let server: EmulatorProcess;
  try {
    server = await startEmulator('s3rver', ['--openssl-legacy-provider', script, directory, bucket], process.env, firstLinePort, 15_000);
  } catch (err) {
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  const { port } = server;
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
      await server.stop();
      if (!options.directory) await rm(directory, { recursive: true, force: true });
    },
  };
}

/** The port s3rver-process.mjs prints as JSON on its first line. */
function firstLinePort(stdout: string): number | undefined {
  const lines = stdout.split('\n', 2);
  return lines.length < 2 ? undefined : (JSON.parse(lines[0]!) as { port: number }).port;
}

/** Starts s3rver for a test file, or warns (loudly) why its tests are skipped and resolves undefined. */
export function startS3rverOrWarn(suite: string): Promise<TestS3 | undefined> {
  return startOrWarn(suite, 's3rver (test S3 server)', () => startS3rver());
}
