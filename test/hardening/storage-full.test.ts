import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineMatrix, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { checkConsistency } from '../helpers/consistency.js';
import { RegistryClient, errorCode, randomBlob, randomImage, sha256 } from '../helpers/oci.js';
import { S3QuotaProxy } from '../helpers/s3-quota-proxy.js';
import { startS3rver, type TestS3 } from '../helpers/s3rver.js';
import { mountTmpfs, unmount } from '../helpers/tmpfs.js';

const MiB = 1024 * 1024;

/**
 * The storage filling up in the middle of a chunked upload: a clear 5xx with a code, the
 * session kept at its last good offset, no partial blob anywhere, and the same session
 * finishing once space is freed; what was stored before still pulls byte for byte.
 */
async function fillAndRecover(berth: TestBerth, fill: () => Promise<void>, free: () => Promise<void>, expected: { status: number; code: string }): Promise<void> {
  const client = new RegistryClient(berth.url);
  const kept = await client.pushImage('full/kept', 'v1', randomImage(1, 2 * MiB));
  await fill();

  const first = randomBlob(2 * MiB);
  const second = randomBlob(8 * MiB);
  const whole = Buffer.concat([first.data, second.data]);
  const digest = sha256(whole);
  const location = await client.startUpload('full/big');
  const one = await client.fetch(location, { method: 'PATCH', body: first.data, headers: { 'Content-Range': `0-${first.data.length - 1}` } });
  expect(one.status).toBe(202);
  const next = one.headers.get('location')!;
  const refused = await client.fetch(next, { method: 'PATCH', body: second.data, headers: { 'Content-Range': `${first.data.length}-${whole.length - 1}` } });
  expect(refused.status, await refused.clone().text()).toBe(expected.status);
  expect(await errorCode(refused)).toBe(expected.code);
  // The session is where it was before the chunk, ready to take it again.
  const status = await client.fetch(next);
  expect(status.status).toBe(204);
  expect(status.headers.get('range')).toBe(`0-${first.data.length - 1}`);
  // No blob, partial or whole, under the digest.
  expect((await client.fetch(`/v2/full/big/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);

  await free();
  const again = await client.fetch(next, { method: 'PATCH', body: second.data, headers: { 'Content-Range': `${first.data.length}-${whole.length - 1}` } });
  expect(again.status).toBe(202);
  const done = await client.fetch(`${again.headers.get('location')!}${again.headers.get('location')!.includes('?') ? '&' : '?'}digest=${digest}`, { method: 'PUT' });
  expect(done.status).toBe(201);
  const pulled = Buffer.from(await (await client.fetch(`/v2/full/big/blobs/${digest}`)).arrayBuffer());
  expect(sha256(pulled)).toBe(digest);
  for (const blob of [kept.config, ...kept.layers]) {
    const get = Buffer.from(await (await client.fetch(`/v2/full/kept/blobs/${blob.digest}`)).arrayBuffer());
    expect(get.equals(blob.data)).toBe(true);
  }
  expect(await checkConsistency(berth)).toEqual({ problems: [] });
}

const engines = await engineMatrix();

for (const { engine, skip: engineSkip } of engines) {
  describe.skipIf(engineSkip !== undefined)(`the disk filling up on ${engine}`, () => {
    let berth: TestBerth;
    let storage: string;
    let skip: string | undefined;

    beforeAll(async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'berth-diskfull-'));
      storage = join(dataDir, 'storage');
      await mkdir(storage);
      skip = await mountTmpfs(storage, '16m');
      if (skip) console.warn(`SKIPPING disk-full test: ${skip}`);
      berth = await startTestBerth({ engine, dataDir });
    });
    afterAll(async () => {
      await berth?.stop();
      if (!skip) await unmount(storage);
      await rm(berth.dataDir, { recursive: true, force: true });
    });

    it('refuses the chunk with 507 INSUFFICIENT_STORAGE, keeps the session, and finishes it once space is freed', async (ctx) => {
      if (skip) ctx.skip();
      const filler = join(storage, 'filler');
      await fillAndRecover(
        berth,
        () => writeFile(filler, Buffer.alloc(6 * MiB)),
        () => rm(filler),
        { status: 507, code: 'INSUFFICIENT_STORAGE' },
      );
    });
  });
}

describe('the bucket filling up (s3rver behind a quota, answering as MinIO does)', () => {
  let berth: TestBerth;
  let s3: TestS3;
  let quota: S3QuotaProxy;

  beforeAll(async () => {
    s3 = await startS3rver('full');
    quota = new S3QuotaProxy(new URL(s3.endpoint));
    await quota.start();
    // 5 MiB parts (S3's smallest): the chunk that does not fit fails on one part, not on all.
    berth = await startTestBerth({ settings: { ...s3.settings('berth'), 'storage.s3.endpoint': quota.endpoint, 'storage.s3.partSizeBytes': 5 * MiB } });
  });
  afterAll(async () => {
    await berth?.stop();
    await quota?.stop();
    await s3?.stop();
  });

  it('refuses the chunk with 507 INSUFFICIENT_STORAGE, keeps the session, and finishes it once space is freed', async () => {
    await fillAndRecover(
      berth,
      async () => quota.fill(3 * MiB),
      async () => quota.free(),
      { status: 507, code: 'INSUFFICIENT_STORAGE' },
    );
  });

  it('answers 503 UNAVAILABLE with Retry-After, not a database error, while the store cannot be reached', async () => {
    const client = new RegistryClient(berth.url);
    const image = await client.pushImage('away/app', 'v1');
    await quota.stop();
    const pull = await client.fetch(`/v2/away/app/blobs/${image.layers[0]!.digest}`);
    expect(pull.status).toBe(503);
    expect(pull.headers.get('retry-after')).toBe('1');
    expect(await pull.json()).toEqual({ errors: [{ code: 'UNAVAILABLE', message: 'the storage is unavailable; retry shortly' }] });
    await quota.start();
  });
});
