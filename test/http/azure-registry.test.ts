import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { startAzuriteOrWarn } from '../helpers/azurite.js';
import { startTestBerth } from '../helpers/berth.js';
import { RegistryClient, randomBlob } from '../helpers/oci.js';
import { createTempDatabase, pgUnavailableReason } from '../helpers/pg.js';
import { objectStoreRegistrySuite } from './object-store-registry.js';

const MiB = 1024 * 1024;
const azurite = await startAzuriteOrWarn('registry-on-Azure tests');
const pgSkip = azurite ? await pgUnavailableReason() : undefined;
if (pgSkip) console.warn(`SKIPPING the two-instance Azure test: ${pgSkip}`);

afterAll(async () => {
  await azurite?.stop();
});

describe.skipIf(!azurite)('registry on Azure Blob Storage (Azurite)', () => {
  objectStoreRegistrySuite('azure', () => ({
    // 1 MiB blocks (the smallest the schema allows): the 6 MiB chunked layer and the restart
    // test's 2 MiB PATCH span several blocks each.
    settings: (prefix) => ({ ...azurite!.settings(prefix), 'storage.azure.blockSizeBytes': MiB }),
    redirectSettings: (expiresSeconds) => ({ 'storage.azure.redirect.enabled': true, 'storage.azure.redirect.expiresSeconds': expiresSeconds }),
    async namesUnder(prefix) {
      const names: string[] = [];
      for await (const item of azurite!.containerClient().listBlobsFlat({ prefix: `${prefix}/` })) names.push(item.name);
      return names;
    },
    expectRedirect(location, expiresSeconds) {
      expect(`${location.origin}${location.pathname}`.startsWith(`${azurite!.endpoint}/${azurite!.container}/`)).toBe(true);
      // A read-only service SAS on the one blob, expiring `expiresSeconds` from now (to the second).
      expect(location.searchParams.get('sp')).toBe('r');
      expect(location.searchParams.get('sr')).toBe('b');
      const remaining = Date.parse(location.searchParams.get('se')!) - Date.now();
      expect(remaining).toBeGreaterThan((expiresSeconds - 10) * 1000);
      expect(remaining).toBeLessThanOrEqual(expiresSeconds * 1000);
    },
    secret: azurite!.accountKey,
  }));

  it.skipIf(pgSkip !== undefined)('lets a second instance (same PostgreSQL, same container) finish an upload the first began', async () => {
    const database = await createTempDatabase();
    const settings = { ...azurite!.settings(`pair-${randomBytes(4).toString('hex')}`), 'storage.azure.blockSizeBytes': MiB };
    const [a, b] = [await startTestBerth({ databaseUrl: database.url, settings }), await startTestBerth({ databaseUrl: database.url, settings })];
    try {
      const [clientA, clientB] = [new RegistryClient(a.url), new RegistryClient(b.url)];
      const name = 'library/shared';
      const blob = randomBlob(3 * MiB + 11);
      const location = await clientA.startUpload(name);
      const first = await clientA.fetch(location, {
        method: 'PATCH',
        body: blob.data.subarray(0, 2 * MiB),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${2 * MiB - 1}` },
      });
      expect(first.status).toBe(202);
      // B never saw this upload: its offset and hash come from the database and the container.
      const status = await clientB.fetch(location);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe(`0-${2 * MiB - 1}`);
      const rest = await clientB.fetch(`${location}?digest=${blob.digest}`, {
        method: 'PUT',
        body: blob.data.subarray(2 * MiB),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${2 * MiB}-${blob.data.length - 1}` },
      });
      expect(rest.status).toBe(201);
      const pulled = await clientA.fetch(`/v2/${name}/blobs/${blob.digest}`);
      expect(pulled.status).toBe(200);
      expect(Buffer.from(await pulled.arrayBuffer()).equals(blob.data)).toBe(true);
    } finally {
      await a.stop();
      await b.stop();
      await database.drop();
    }
  });
});
