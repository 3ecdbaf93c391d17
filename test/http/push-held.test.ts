import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/adapters/db/connect.js';
import { engineMatrix, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { checkConsistency } from '../helpers/consistency.js';
import { OCI_MANIFEST, RegistryClient, randomImage, type Image } from '../helpers/oci.js';

const engines = await engineMatrix();

for (const { engine, skip } of engines) {
  describe.skipIf(skip !== undefined)(`a push of a manifest the repository holds, on ${engine}`, () => {
    let berth: TestBerth;
    let registry: RegistryClient;
    let a: Image;
    let b: Image;

    beforeAll(async () => {
      berth = await startTestBerth({ engine });
      registry = new RegistryClient(berth.url);
      a = await registry.pushImage('held/app', 'v1', randomImage(1, 512));
      b = await registry.pushImage('held/app', 'v2', randomImage(1, 512));
    });
    afterAll(async () => {
      await berth?.stop();
    });

    // The stored file of A's manifest, taken away behind Berth's back: whether a push writes it shows.
    const storedFile = () => join(berth.dataDir, 'storage', 'blobs', 'sha256', a.digest.slice(7, 9), a.digest.slice(7));
    const stored = () => readFile(storedFile()).then((bytes) => bytes.equals(a.manifest), () => 'absent');

    const pushEvents = async () => {
      const database = connect({ url: berth.config.database.url, poolSize: 1 });
      try {
        const rows = await database.db.selectFrom('event_outbox').select('payload').where('type', '=', 'push').orderBy('id').execute();
        return rows.map((r) => JSON.parse(r.payload) as { digest: string; tag?: string; previousDigest?: string; created: boolean });
      } finally {
        await database.db.destroy();
      }
    };

    it('moves a tag to it and records the push, writing nothing to storage', async () => {
      await rm(storedFile());
      const moved = await registry.pushManifest('held/app', 'v2', a.manifest);
      expect([moved.status, moved.headers.get('docker-content-digest')]).toEqual([201, a.digest]);
      const byDigest = await registry.pushManifest('held/app', a.digest, a.manifest);
      expect([byDigest.status, byDigest.headers.get('docker-content-digest')]).toEqual([201, a.digest]);
      expect(await stored()).toBe('absent');
      await writeFile(storedFile(), a.manifest);

      const pulled = await registry.fetch('/v2/held/app/manifests/v2', { headers: { Accept: OCI_MANIFEST } });
      expect([pulled.headers.get('docker-content-digest'), Buffer.from(await pulled.arrayBuffer()).equals(a.manifest)]).toEqual([a.digest, true]);
      expect((await pushEvents()).map((e) => [e.digest, e.tag, e.previousDigest, e.created])).toEqual([
        [a.digest, 'v1', undefined, true],
        [b.digest, 'v2', undefined, true],
        [a.digest, 'v2', b.digest, false],
        [a.digest, undefined, undefined, false],
      ]);
      expect(await checkConsistency(berth)).toEqual({ problems: [] });
    });

    it('writes a manifest the repository does not hold yet, although another repository holds it', async () => {
      for (const blob of [a.config, ...a.layers]) expect((await registry.pushBlob('held/copy', blob)).status).toBe(201);
      await rm(storedFile());
      expect((await registry.pushManifest('held/copy', 'v1', a.manifest)).status).toBe(201);
      expect(await stored()).toBe(true);
      expect((await pushEvents()).at(-1)).toMatchObject({ digest: a.digest, tag: 'v1', created: true });
      expect(await checkConsistency(berth)).toEqual({ problems: [] });
    });
  });
}
