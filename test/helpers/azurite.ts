import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlobServiceClient, StorageSharedKeyCredential, type ContainerClient } from '@azure/storage-blob';
import type { AzureBlobStoreOptions } from '../../src/adapters/storage/azure-blob-store.js';
import { startEmulator, startOrWarn, type EmulatorProcess } from './emulator-process.js';

export interface TestAzurite {
  /** Blob service URL of the account: http://127.0.0.1:<port>/<account>. */
  endpoint: string;
  accountName: string;
  /** A fresh random key: Azurite verifies Shared Key and SAS signatures with it, and no log line may contain it. */
  accountKey: string;
  /** The container this run created, empty at start. */
  container: string;
  connectionString: string;
  /** The container, for tests that look at what the driver stored. */
  containerClient(): ContainerClient;
  /** Driver options on this emulator under a fresh random prefix. */
  storeOptions(overrides?: Partial<AzureBlobStoreOptions>): AzureBlobStoreOptions;
  /** Berth settings (dotted keys, as startTestBerth takes them) for this emulator and `prefix`. */
  settings(prefix: string): Record<string, unknown>;
  stop(): Promise<void>;
}

/**
 * Azurite's blob service on a free loopback port, with one account of a random name and key and
 * one fresh container, storing in a temp directory (not in memory: the memory tests move
 * hundreds of MiB). --skipApiVersionCheck because @azure/storage-blob speaks a newer service
 * version than Azurite 3.35 lists; --disableTelemetry so nothing leaves the machine.
 */
export async function startAzurite(): Promise<TestAzurite> {
  const script = fileURLToPath(new URL('./azurite-process.mjs', import.meta.url));
  createRequire(import.meta.url).resolve('azurite/dist/src/blob/main.js'); // a clear error when the package is missing
  const directory = await mkdtemp(join(tmpdir(), 'berth-azurite-'));
  const accountName = `berth${randomBytes(5).toString('hex')}`;
  const accountKey = randomBytes(64).toString('base64');
  const args = ['--blobHost', '127.0.0.1', '--blobPort', '0', '--location', directory, '--disableTelemetry', '--skipApiVersionCheck', '--silent'];
  const env = { ...process.env, AZURITE_ACCOUNTS: `${accountName}:${accountKey}` };
  let server: EmulatorProcess;
  try {
    server = await startEmulator('Azurite', [script, ...args], env, listeningPort, 20_000);
  } catch (err) {
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  const endpoint = `http://127.0.0.1:${server.port}/${accountName}`;
  const container = `berth-${randomBytes(6).toString('hex')}`;
  const service = new BlobServiceClient(endpoint, new StorageSharedKeyCredential(accountName, accountKey));
  const stop = async () => {
    await server.stop();
    await rm(directory, { recursive: true, force: true });
  };
  try {
    await service.getContainerClient(container).create();
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    endpoint,
    accountName,
    accountKey,
    container,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${accountName};AccountKey=${accountKey};BlobEndpoint=${endpoint};`,
    containerClient: () => service.getContainerClient(container),
    storeOptions(overrides = {}) {
      return { container, prefix: `t-${randomBytes(6).toString('hex')}`, endpoint, accountName, accountKey, ...overrides };
    },
    settings(prefix) {
      return {
        'storage.driver': 'azure',
        'storage.azure.endpoint': endpoint,
        'storage.azure.accountName': accountName,
        'storage.azure.accountKey': accountKey,
        'storage.azure.container': container,
        'storage.azure.prefix': prefix,
      };
    },
    stop,
  };
}

/** The port in Azurite's "successfully listens on http://127.0.0.1:<port>" line. */
function listeningPort(stdout: string): number | undefined {
  const match = /successfully listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
  return match ? Number(match[1]) : undefined;
}

/** Starts Azurite for a test file, or warns (loudly) why its tests are skipped and resolves undefined. */
export function startAzuriteOrWarn(suite: string): Promise<TestAzurite | undefined> {
  return startOrWarn(suite, 'Azurite (Azure Storage emulator)', () => startAzurite());
}
