import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { configKeys, loadConfig } from '../../src/config/load.js';

const MiB = 1024 * 1024;
const example = (name: string) => fileURLToPath(new URL(`../../docs/examples/${name}`, import.meta.url));

describe('storage configuration', () => {
  it('defaults the S3 section to safe values that do nothing until driver is s3', () => {
    const config = loadConfig({ env: {} });
    expect(config.storage.driver).toBe('filesystem');
    expect(config.storage.s3).toEqual({
      region: 'us-east-1',
      prefix: '',
      forcePathStyle: false,
      serverSideEncryption: 'none',
      partSizeBytes: 16 * MiB,
      redirect: { enabled: false, expiresSeconds: 900 },
    });
  });

  it('refuses driver s3 without a bucket, naming storage.s3.bucket', () => {
    expect(() => loadConfig({ env: { BERTH_STORAGE_DRIVER: 's3' } })).toThrow(/storage\.s3\.bucket: storage\.driver s3 needs storage\.s3\.bucket/);
    const config = loadConfig({ env: { BERTH_STORAGE_DRIVER: 's3', BERTH_STORAGE_S3_BUCKET: 'blobs' } });
    expect(config.storage.s3.bucket).toBe('blobs');
  });

  it('refuses half a credential pair, a session token alone and a KMS key without SSE-KMS', () => {
    expect(() => loadConfig({ env: { BERTH_STORAGE_S3_ACCESS_KEY_ID: 'AKIA' } })).toThrow(/storage\.s3\.accessKeyId .*: storage\.s3\.accessKeyId and storage\.s3\.secretAccessKey go together/);
    expect(() => loadConfig({ env: { BERTH_STORAGE_S3_SESSION_TOKEN: 'tok' } })).toThrow(/storage\.s3\.sessionToken/);
    expect(() => loadConfig({ env: { BERTH_STORAGE_S3_KMS_KEY_ID: 'alias/berth' } })).toThrow(/storage\.s3\.kmsKeyId needs .*aws:kms/);
    expect(loadConfig({ env: { BERTH_STORAGE_S3_KMS_KEY_ID: 'alias/berth', BERTH_STORAGE_S3_SERVER_SIDE_ENCRYPTION: 'aws:kms' } }).storage.s3.kmsKeyId).toBe(
      'alias/berth',
    );
  });

  it('keeps S3 limits: parts of 5 MiB to 5 GiB, presigned URLs of at most 7 days', () => {
    expect(() => loadConfig({ env: { BERTH_STORAGE_S3_PART_SIZE_BYTES: String(5 * MiB - 1) } })).toThrow(/storage\.s3\.partSizeBytes/);
    expect(() => loadConfig({ env: { BERTH_STORAGE_S3_REDIRECT_EXPIRES_SECONDS: '604801' } })).toThrow(/storage\.s3\.redirect\.expiresSeconds/);
    expect(() => loadConfig({ env: { BERTH_STORAGE_S3_ENDPOINT: 'ftp://x' } })).toThrow(/storage\.s3\.endpoint/);
    expect(() => loadConfig({ env: { BERTH_STORAGE_S3_PREFIX: 'a b' } })).toThrow(/storage\.s3\.prefix/);
  });

  it('derives an environment variable for every S3 setting', () => {
    const envs = configKeys().map((k) => k.env);
    for (const name of ['ENDPOINT', 'REGION', 'BUCKET', 'PREFIX', 'FORCE_PATH_STYLE', 'ACCESS_KEY_ID', 'SECRET_ACCESS_KEY', 'SESSION_TOKEN', 'REDIRECT_ENABLED', 'REDIRECT_CDN_BASE_URL']) {
      expect(envs).toContain(`BERTH_STORAGE_S3_${name}`);
    }
    for (const key of configKeys().filter((k) => k.path[0] === 'storage')) expect(key.description, key.path.join('.')).not.toBe('');
  });

  it('loads the example configurations in docs/examples', () => {
    const s3 = loadConfig({ file: example('s3.yaml'), env: {} });
    expect(s3.storage.driver).toBe('s3');
    expect(s3.storage.s3).toMatchObject({ bucket: 'example-berth-blobs', region: 'eu-west-1', redirect: { enabled: true } });
    const fs = loadConfig({ file: example('filesystem.yaml'), env: {} });
    expect(fs.storage).toMatchObject({ driver: 'filesystem', filesystem: { root: '/var/lib/berth/storage' } });
  });
});

describe('Azure storage configuration', () => {
  const key = Buffer.alloc(64, 7).toString('base64');
  const azure = (env: Record<string, string>) => loadConfig({ env: { BERTH_STORAGE_DRIVER: 'azure', BERTH_STORAGE_AZURE_CONTAINER: 'blobs', ...env } });

  it('defaults the Azure section to values that do nothing until driver is azure', () => {
    expect(loadConfig({ env: {} }).storage.azure).toEqual({
      prefix: '',
      blockSizeBytes: 16 * MiB,
      redirect: { enabled: false, expiresSeconds: 900 },
    });
  });

  it('takes an account name and key, a connection string, or a SAS token', () => {
    expect(azure({ BERTH_STORAGE_AZURE_ACCOUNT_NAME: 'berthprod', BERTH_STORAGE_AZURE_ACCOUNT_KEY: key }).storage.azure).toMatchObject({
      accountName: 'berthprod',
      accountKey: key,
      container: 'blobs',
    });
    const cs = `DefaultEndpointsProtocol=https;AccountName=berthprod;AccountKey=${key};EndpointSuffix=core.windows.net`;
    expect(azure({ BERTH_STORAGE_AZURE_CONNECTION_STRING: cs }).storage.azure.connectionString).toBe(cs);
    expect(azure({ BERTH_STORAGE_AZURE_SAS_TOKEN: 'sv=2024-11-04&sp=racwdl&sig=abc', BERTH_STORAGE_AZURE_ACCOUNT_NAME: 'berthprod' }).storage.azure.sasToken).toBe(
      'sv=2024-11-04&sp=racwdl&sig=abc',
    );
  });

  it('refuses driver azure without a container or without credentials, naming the keys', () => {
    expect(() => loadConfig({ env: { BERTH_STORAGE_DRIVER: 'azure', BERTH_STORAGE_AZURE_CONNECTION_STRING: 'UseDevelopmentStorage=true' } })).toThrow(
      /storage\.azure\.container: storage\.driver azure needs storage\.azure\.container/,
    );
    expect(() => azure({})).toThrow(/storage\.azure .*: storage\.driver azure needs credentials: storage\.azure\.connectionString, storage\.azure\.accountKey \(with accountName\) or storage\.azure\.sasToken/);
    // Not the driver: no credentials needed.
    expect(loadConfig({ env: { BERTH_STORAGE_AZURE_CONTAINER: 'blobs' } }).storage.driver).toBe('filesystem');
  });

  it('refuses credentials that contradict each other or lack their other half', () => {
    expect(() => azure({ BERTH_STORAGE_AZURE_CONNECTION_STRING: 'UseDevelopmentStorage=true', BERTH_STORAGE_AZURE_ACCOUNT_NAME: 'berthprod' })).toThrow(
      /storage\.azure\.connectionString .*: storage\.azure\.connectionString names the account, its key or SAS and the endpoint; leave out accountName, accountKey, sasToken and endpoint/,
    );
    expect(() => azure({ BERTH_STORAGE_AZURE_ACCOUNT_KEY: key })).toThrow(/storage\.azure\.accountName: storage\.azure\.accountKey needs storage\.azure\.accountName/);
    expect(() => azure({ BERTH_STORAGE_AZURE_ACCOUNT_NAME: 'berthprod', BERTH_STORAGE_AZURE_ACCOUNT_KEY: key, BERTH_STORAGE_AZURE_SAS_TOKEN: 'sig=x' })).toThrow(
      /storage\.azure\.sasToken .*: give storage\.azure\.accountKey or storage\.azure\.sasToken, not both/,
    );
    expect(() => azure({ BERTH_STORAGE_AZURE_SAS_TOKEN: 'sig=x' })).toThrow(/storage\.azure\.endpoint: storage\.azure\.sasToken needs storage\.azure\.endpoint or storage\.azure\.accountName/);
  });

  it('refuses redirects it could not sign: a SAS token needs a CDN base URL', () => {
    const sas = { BERTH_STORAGE_AZURE_SAS_TOKEN: 'sig=x', BERTH_STORAGE_AZURE_ACCOUNT_NAME: 'berthprod', BERTH_STORAGE_AZURE_REDIRECT_ENABLED: 'true' };
    expect(() => azure(sas)).toThrow(/storage\.azure\.redirect\.enabled .*: storage\.azure\.redirect needs an account key to sign SAS URLs/);
    expect(azure({ ...sas, BERTH_STORAGE_AZURE_REDIRECT_CDN_BASE_URL: 'https://cdn.example.com' }).storage.azure.redirect).toEqual({
      enabled: true,
      expiresSeconds: 900,
      cdnBaseUrl: 'https://cdn.example.com',
    });
    const cs = `DefaultEndpointsProtocol=https;AccountName=berthprod;AccountKey=${key}`;
    expect(azure({ BERTH_STORAGE_AZURE_CONNECTION_STRING: cs, BERTH_STORAGE_AZURE_REDIRECT_ENABLED: 'true' }).storage.azure.redirect.enabled).toBe(true);
  });

  it('keeps Azure naming rules and limits: containers, accounts, keys, blocks of 1 to 4000 MiB, SAS of at most 7 days', () => {
    const signed = { BERTH_STORAGE_AZURE_ACCOUNT_NAME: 'berthprod', BERTH_STORAGE_AZURE_ACCOUNT_KEY: key };
    for (const bad of ['ab', 'Blobs', 'my--blobs', '-blobs', 'blobs-', 'a'.repeat(64)]) {
      expect(() => azure({ ...signed, BERTH_STORAGE_AZURE_CONTAINER: bad }), bad).toThrow(/storage\.azure\.container .*must be 3 to 63 lowercase letters/);
    }
    expect(azure({ ...signed, BERTH_STORAGE_AZURE_CONTAINER: 'my-blobs-2' }).storage.azure.container).toBe('my-blobs-2');
    expect(() => azure({ ...signed, BERTH_STORAGE_AZURE_ACCOUNT_NAME: 'Berth_Prod' })).toThrow(/storage\.azure\.accountName .*3 to 24 lowercase letters and digits/);
    expect(() => azure({ ...signed, BERTH_STORAGE_AZURE_ACCOUNT_KEY: 'not a key!' })).toThrow(/storage\.azure\.accountKey .*must be a base64 account key/);
    expect(() => azure({ ...signed, BERTH_STORAGE_AZURE_BLOCK_SIZE_BYTES: String(MiB - 1) })).toThrow(/storage\.azure\.blockSizeBytes/);
    expect(() => azure({ ...signed, BERTH_STORAGE_AZURE_BLOCK_SIZE_BYTES: String(4000 * MiB + 1) })).toThrow(/storage\.azure\.blockSizeBytes/);
    expect(azure({ ...signed, BERTH_STORAGE_AZURE_BLOCK_SIZE_BYTES: String(4000 * MiB) }).storage.azure.blockSizeBytes).toBe(4000 * MiB);
    expect(() => azure({ ...signed, BERTH_STORAGE_AZURE_REDIRECT_EXPIRES_SECONDS: '604801' })).toThrow(/storage\.azure\.redirect\.expiresSeconds/);
    expect(() => azure({ ...signed, BERTH_STORAGE_AZURE_ENDPOINT: 'ftp://x' })).toThrow(/storage\.azure\.endpoint/);
    expect(() => azure({ ...signed, BERTH_STORAGE_AZURE_PREFIX: 'a b' })).toThrow(/storage\.azure\.prefix/);
  });

  it('never echoes a refused secret in the error', () => {
    const secret = 'not-base64-but-secret!';
    let message = '';
    try {
      azure({ BERTH_STORAGE_AZURE_ACCOUNT_NAME: 'berthprod', BERTH_STORAGE_AZURE_ACCOUNT_KEY: secret });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/storage\.azure\.accountKey/);
    expect(message).not.toContain(secret);
  });

  it('derives an environment variable for every Azure setting', () => {
    const envs = configKeys().map((k) => k.env);
    for (const name of [
      'ACCOUNT_NAME',
      'ACCOUNT_KEY',
      'CONNECTION_STRING',
      'SAS_TOKEN',
      'ENDPOINT',
      'CONTAINER',
      'PREFIX',
      'BLOCK_SIZE_BYTES',
      'REDIRECT_ENABLED',
      'REDIRECT_EXPIRES_SECONDS',
      'REDIRECT_CDN_BASE_URL',
    ]) {
      expect(envs).toContain(`BERTH_STORAGE_AZURE_${name}`);
    }
  });

  it('loads docs/examples/azure.yaml', () => {
    const config = loadConfig({ file: example('azure.yaml'), env: { BERTH_STORAGE_AZURE_ACCOUNT_KEY: key } });
    expect(config.storage.driver).toBe('azure');
    expect(config.storage.azure).toMatchObject({ accountName: 'exampleberth', container: 'berth-blobs', prefix: 'berth/', redirect: { enabled: true, expiresSeconds: 900 } });
  });

  it('prints Azure secrets as *** in `berth config show`', async () => {
    const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'config', 'show'], {
      env: {
        ...process.env,
        BERTH_STORAGE_DRIVER: 'azure',
        BERTH_STORAGE_AZURE_CONTAINER: 'blobs',
        BERTH_STORAGE_AZURE_ACCOUNT_NAME: 'berthprod',
        BERTH_STORAGE_AZURE_ACCOUNT_KEY: key,
        BERTH_STORAGE_AZURE_REDIRECT_CDN_BASE_URL: 'https://cdn.example.com',
      },
    });
    const shown = (JSON.parse(stdout) as { storage: { azure: Record<string, unknown> } }).storage.azure;
    expect(shown).toMatchObject({ accountName: 'berthprod', accountKey: '***', container: 'blobs' });
    expect(stdout).not.toContain(key);
  });
});

