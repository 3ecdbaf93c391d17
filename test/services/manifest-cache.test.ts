import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, migrate } from '../../src/adapters/db/connect.js';
import { KyselyMetadataStore } from '../../src/adapters/db/kysely-metadata-store.js';
import { FsBlobStore } from '../../src/adapters/storage/index.js';
import { ManifestService } from '../../src/services/registry/manifest-service.js';
import { sha256 } from '../helpers/oci.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/**
 * A small manifest arrives as a slice of Node's shared 8 KiB buffer pool (request bodies and
 * file reads both are). The manifest cache keeps thousands of them; each must hold only its
 * own bytes, or every cached manifest keeps a whole pool chunk alive.
 */
describe('manifest content cache', () => {
  let dir: string;
  let meta: KyselyMetadataStore;
  let store: FsBlobStore;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-manifest-cache-'));
    const database = connect({ url: `sqlite:${join(dir, 'berth.db')}` });
    await migrate(database);
    meta = new KyselyMetadataStore(database);
    store = await new FsBlobStore(join(dir, 'storage')).init();
  });
  afterAll(async () => {
    await meta?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const service = () => new ManifestService(meta, store, { maxManifestBytes: 4 * 1024 * 1024 });
  const index = (n: number) => JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], annotations: { n: String(n) } });

  it('keeps a pushed manifest in memory of exactly its size', async () => {
    const body = Buffer.from(index(1));
    expect(body.buffer.byteLength).toBe(Buffer.poolSize);
    const manifests = service();
    await manifests.put('cache/one', 'v1', body, OCI_INDEX);
    const served = await manifests.get('cache/one', 'v1', [OCI_INDEX]);
    expect(served.body.toString()).toBe(index(1));
    expect(served.body.buffer.byteLength).toBe(served.body.length);
  });

  it('keeps a manifest read back from storage in memory of exactly its size', async () => {
    await service().put('cache/two', 'v1', Buffer.from(index(2)), OCI_INDEX);
    const cold = service();
    const served = await cold.get('cache/two', 'v1', [OCI_INDEX]);
    expect(served.body.toString()).toBe(index(2));
    expect(served.body.buffer.byteLength).toBe(served.body.length);
    const again = await cold.get('cache/two', 'v1', [OCI_INDEX]);
    expect(again.body).toBe(served.body);
  });

  it('hands a pushed manifest to its job once, for its own repository only, and nothing for a refused push', async () => {
    const manifests = service();
    const body = Buffer.from(index(3));
    const digest = sha256(body);
    await manifests.put('cache/handed', 'v1', body, OCI_INDEX);
    expect(manifests.takePushed('cache/other', digest)).toBeUndefined();
    const handed = manifests.takePushed('cache/handed', digest);
    expect(handed).toEqual({ digest, mediaType: OCI_INDEX, size: body.length, body });
    expect(manifests.takePushed('cache/handed', digest)).toBeUndefined();
    // Pushed again under another tag (the repository holds it: only the tag is written): handed over again.
    await manifests.put('cache/handed', 'v2', body, OCI_INDEX);
    expect(manifests.takePushed('cache/handed', digest)?.body.toString()).toBe(index(3));
    // Refused (it names a manifest the repository lacks): nothing.
    const missing = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_INDEX, digest: `sha256:${'0'.repeat(64)}`, size: 2 }] }));
    await expect(manifests.put('cache/handed', 'v3', missing, OCI_INDEX)).rejects.toMatchObject({ key: 'MANIFEST_BLOB_UNKNOWN' });
    expect(manifests.takePushed('cache/handed', sha256(missing))).toBeUndefined();
  });
});
