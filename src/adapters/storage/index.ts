import type { ResolvedConfig } from '../../config/load.js';
import type { BlobStore } from '../../ports/blob-store.js';
import type { AzureBlobStore } from './azure-blob-store.js';
import { FsBlobStore } from './fs-blob-store.js';

export type { AzureBlobStore, AzureBlobStoreOptions } from './azure-blob-store.js';
export { FsBlobStore } from './fs-blob-store.js';
export type { S3BlobStore, S3BlobStoreOptions } from './s3-blob-store.js';

/**
 * The BlobStore `storage.driver` names, ready to use (close it on shutdown). The cloud drivers
 * are loaded only when chosen: their SDKs add about 15 MiB to every process otherwise.
 */
export async function createBlobStore(storage: ResolvedConfig['storage']): Promise<BlobStore> {
  if (storage.driver === 'filesystem') return new FsBlobStore(storage.filesystem.root).init();
  if (storage.driver === 'azure') return createAzureBlobStore(storage.azure);
  const { S3BlobStore } = await import('./s3-blob-store.js');
  const s3 = storage.s3;
  // The schema refuses driver s3 without a bucket; this guards callers that skip it.
  if (!s3.bucket) throw new Error('storage.driver s3 needs storage.s3.bucket');
  return new S3BlobStore({
    bucket: s3.bucket,
    prefix: s3.prefix,
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: s3.forcePathStyle,
    credentials:
      s3.accessKeyId && s3.secretAccessKey ? { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, sessionToken: s3.sessionToken } : undefined,
    serverSideEncryption: s3.serverSideEncryption,
    kmsKeyId: s3.kmsKeyId,
    partSizeBytes: s3.partSizeBytes,
    redirect: s3.redirect,
  });
}

async function createAzureBlobStore(azure: ResolvedConfig['storage']['azure']): Promise<AzureBlobStore> {
  // The schema refuses driver azure without a container; this guards callers that skip it.
  if (!azure.container) throw new Error('storage.driver azure needs storage.azure.container');
  const { AzureBlobStore } = await import('./azure-blob-store.js');
  return new AzureBlobStore({
    container: azure.container,
    prefix: azure.prefix,
    connectionString: azure.connectionString,
    accountName: azure.accountName,
    accountKey: azure.accountKey,
    sasToken: azure.sasToken,
    endpoint: azure.endpoint,
    blockSizeBytes: azure.blockSizeBytes,
    redirect: azure.redirect,
  });
}
