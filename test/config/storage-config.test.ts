import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
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
