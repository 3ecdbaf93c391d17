import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../src/adapters/storage/index.js';
import { startTestBerth } from '../helpers/berth.js';
import { OCI_MANIFEST, RegistryClient, randomBlob, randomImage, sha256, type Image } from '../helpers/oci.js';
import { cliPath } from '../helpers/process.js';
import { startS3rverOrWarn } from '../helpers/s3rver.js';
import { until } from '../helpers/wait.js';

const exec = promisify(execFile);
const s3 = await startS3rverOrWarn('migrate-storage tests');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI to completion (no terminal: stdout and stderr are pipes). */
async function berth(args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [cliPath, ...args], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number | null; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** `--set` arguments naming the S3 destination under `prefix`. */
function s3Flags(prefix: string): string[] {
  return Object.entries(s3!.settings(prefix)).flatMap(([key, value]) => ['--set', `${key}=${String(value)}`]);
}

describe.skipIf(!s3)('berth migrate-storage (filesystem → S3 on s3rver)', () => {
  let dataDir: string;
  let root: string;
  let bucket: S3Client;
  const images: Array<{ name: string; image: Image }> = [];
  let sourceDigests: string[] = [];

  /** Every key under `prefix/` in the bucket. */
  async function keys(prefix: string): Promise<string[]> {
    const found: string[] = [];
    let token: string | undefined;
    for (let page = 0; page < 100; page++) {
      const listed = await bucket.send(new ListObjectsV2Command({ Bucket: s3!.bucket, Prefix: `${prefix}/`, ContinuationToken: token }));
      found.push(...(listed.Contents ?? []).map((o) => o.Key!));
      if (!listed.IsTruncated) return found;
      token = listed.NextContinuationToken;
    }
    throw new Error('listing did not end');
  }

  const blobKeys = async (prefix: string) => (await keys(prefix)).filter((k) => k.startsWith(`${prefix}/blobs/`));

  beforeAll(async () => {
    bucket = new S3Client({ endpoint: s3!.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: s3!.secretAccessKey } });
    // A filesystem deployment (SQLite + local storage) with a few images pushed.
    dataDir = await mkdtemp(join(tmpdir(), 'berth-migrate-'));
    root = join(dataDir, 'storage');
    const source = await startTestBerth({ dataDir });
    try {
      const client = new RegistryClient(source.url);
      for (let i = 0; i < 4; i++) {
        const name = `library/app${i}`;
        images.push({ name, image: await client.pushImage(name, 'v1', randomImage(3, 256 * 1024 + i)) });
      }
      const big = randomImage(1, 6 * 1024 * 1024 + 5);
      images.push({ name: 'library/big', image: await client.pushImage('library/big', 'v1', big) });
    } finally {
      await source.stop();
    }
    for await (const digest of new FsBlobStore(root).list()) sourceDigests.push(digest);
    sourceDigests = sourceDigests.sort();
  });
  afterAll(async () => {
    bucket?.destroy();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    await s3?.stop();
  });

  it('counts what it would copy in a dry run and writes nothing', async () => {
    const prefix = `dry-${randomBytes(4).toString('hex')}`;
    const run = await berth(['migrate-storage', '--data-dir', dataDir, '--dry-run', ...s3Flags(prefix)]);
    expect(run.code).toBe(0);
    // 5 manifests, 5 configs, 13 layers.
    expect(sourceDigests).toHaveLength(23);
    expect(run.stdout).toContain(`dry run: 23 blobs`);
    expect(run.stdout).toContain('would copy: 23 blobs');
    expect(run.stdout).toContain('failed:  0 blobs');
    expect(await keys(prefix)).toEqual([]);
  });

  it('copies every blob with its digest verified, is resumable, and Berth on S3 serves the same images', async () => {
    const prefix = `full-${randomBytes(4).toString('hex')}`;
    const run = await berth(['migrate-storage', '--from', root, '--data-dir', dataDir, '--every', '5', ...s3Flags(prefix)]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/copied: {2}23 blobs, /);
    expect(run.stdout).toContain('skipped: 0 blobs');
    expect(run.stdout).toContain('failed:  0 blobs');
    // Not a terminal: plain lines, one every 5 blobs, no bar redrawing.
    expect(run.stderr).not.toContain('\r');
    expect(run.stderr).toContain('migrate-storage: 23 blobs, ');
    expect(run.stderr.split('\n').filter((l) => /^migrate-storage: \d+\/23 blobs/.test(l)).map((l) => l.split(' ')[1])).toEqual(['5/23', '10/23', '15/23', '20/23']);
    const stored = (await blobKeys(prefix)).map((k) => k.split('/').slice(-2).join('/'));
    expect(stored.sort()).toEqual(sourceDigests.map((d) => `${d.slice(7, 9)}/${d.slice(7)}`).sort());
    expect(await keys(prefix).then((all) => all.filter((k) => k.includes('/uploads/')))).toEqual([]);

    const again = await berth(['migrate-storage', '--from', root, '--data-dir', dataDir, '--json', ...s3Flags(prefix)]);
    expect(again.code).toBe(0);
    // --json: the result as one document, for scripts.
    const result = JSON.parse(again.stdout) as Record<string, unknown>;
    expect(result).toMatchObject({ totalBlobs: 23, copiedBlobs: 0, skippedBlobs: 23, failedBlobs: 0, failures: [], aborted: false, dryRun: false });

    // The same database, now on S3: every image pulls back byte for byte.
    const onS3 = await startTestBerth({ dataDir, settings: s3!.settings(prefix) });
    try {
      const client = new RegistryClient(onS3.url);
      for (const { name, image } of images) {
        const manifest = await client.fetch(`/v2/${name}/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
        expect(manifest.status).toBe(200);
        expect(manifest.headers.get('docker-content-digest')).toBe(image.digest);
        expect(sha256(Buffer.from(await manifest.arrayBuffer()))).toBe(image.digest);
        for (const blob of [image.config, ...image.layers]) {
          const res = await client.fetch(`/v2/${name}/blobs/${blob.digest}`);
          expect(res.status).toBe(200);
          expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(blob.digest);
        }
      }
    } finally {
      await onS3.stop();
    }
  });

  it('refuses a source blob whose bytes do not match its name, and copies the rest', async () => {
    const prefix = `corrupt-${randomBytes(4).toString('hex')}`;
    const tampered = await mkdtemp(join(tmpdir(), 'berth-migrate-corrupt-'));
    try {
      const good = randomBlob(1000);
      const claimed = randomBlob(1000).digest; // a name these bytes do not hash to
      for (const [digest, data] of [[good.digest, good.data], [claimed, good.data]] as const) {
        const dir = join(tampered, 'blobs', 'sha256', digest.slice(7, 9));
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, digest.slice(7)), data);
      }
      const run = await berth(['migrate-storage', '--from', tampered, '--data-dir', dataDir, ...s3Flags(prefix)]);
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/copied: {2}1 blobs, /);
      expect(run.stdout).toContain('failed:  1 blobs');
      expect(run.stdout).toContain(`${claimed}: the source's bytes do not match their digest`);
      expect(run.stdout).toContain('Run the same command again to retry');
      expect((await blobKeys(prefix)).map((k) => k.split('/').pop())).toEqual([good.digest.slice(7)]);
      expect((await keys(prefix)).filter((k) => k.includes('/uploads/'))).toEqual([]);
    } finally {
      await rm(tampered, { recursive: true, force: true });
    }
  });

  it('picks up where a killed run stopped', async () => {
    const prefix = `resume-${randomBytes(4).toString('hex')}`;
    const child = spawn(process.execPath, [cliPath, 'migrate-storage', '--data-dir', dataDir, '--concurrency', '1', '--every', '1', ...s3Flags(prefix)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await until(() => stderr.includes('migrate-storage: 3/23 blobs') || child.exitCode !== null, 60_000, 'three blobs copied');
    child.kill('SIGKILL');
    await exited;
    const before = (await blobKeys(prefix)).length;
    expect(before).toBeGreaterThanOrEqual(3);
    expect(before).toBeLessThan(23);

    const rest = await berth(['migrate-storage', '--data-dir', dataDir, ...s3Flags(prefix)]);
    expect(rest.code).toBe(0);
    expect(rest.stdout).toContain(`skipped: ${before} blobs`);
    expect(rest.stdout).toMatch(new RegExp(`copied: {2}${23 - before} blobs, `));
    expect((await blobKeys(prefix)).length).toBe(23);
    // The session the killed run left behind was cleared when that blob was copied again.
    expect((await keys(prefix)).filter((k) => k.includes('/uploads/'))).toEqual([]);
  });

  it('stops at once, copying nothing, when the destination cannot be reached or is the source', async () => {
    const unreachable = await berth(['migrate-storage', '--data-dir', dataDir, ...s3Flags('x'), '--set', 'storage.s3.endpoint=http://127.0.0.1:1']);
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toContain('berth: the destination storage s3://berth-test/x cannot be used: the storage is unavailable: the S3 store at http://127.0.0.1:1 cannot be reached (ECONNREFUSED)');
    const same = await berth(['migrate-storage', '--data-dir', dataDir]);
    expect(same.code).toBe(2);
    expect(same.stderr).toContain(`berth: the destination is the source (${root})`);
    const empty = await mkdtemp(join(tmpdir(), 'berth-migrate-empty-'));
    try {
      const notRoot = await berth(['migrate-storage', '--from', empty, ...s3Flags('x')]);
      expect(notRoot.code).toBe(2);
      expect(notRoot.stderr).toContain(`berth: ${empty} has no blobs/ directory`);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('draws a progress bar on a terminal', async () => {
    const prefix = `tty-${randomBytes(4).toString('hex')}`;
    const command = [process.execPath, cliPath, 'migrate-storage', '--data-dir', dataDir, ...s3Flags(prefix)].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    // util-linux script(1) gives the command a pseudo-terminal.
    const { stdout } = await exec('script', ['-qec', command, '/dev/null'], { timeout: 120_000, env: { ...process.env, COLUMNS: '120' } });
    expect(stdout).toContain('\r\x1b[2K[');
    expect(stdout).toMatch(/\[#{10,}\] 100% {2}\S+ MiB \/ \S+ MiB {2}23\/23 blobs {2}\S+ \S+\/s {2}ETA/);
    expect(stdout).toMatch(/copied: {2}23 blobs, /);
  });
});
