import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect } from 'vitest';
import { startS3rverOrWarn } from '../helpers/s3rver.js';
import { objectStoreRegistrySuite } from './object-store-registry.js';

const s3 = await startS3rverOrWarn('registry-on-S3 tests');

afterAll(async () => {
  await s3?.stop();
});

describe.skipIf(!s3)('registry on S3 storage (s3rver)', () => {
  objectStoreRegistrySuite('s3', () => ({
    settings: (prefix) => s3!.settings(prefix),
    redirectSettings: (expiresSeconds) => ({ 'storage.s3.redirect.enabled': true, 'storage.s3.redirect.expiresSeconds': expiresSeconds }),
    async namesUnder(prefix) {
      const bucket = new S3Client({ endpoint: s3!.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: s3!.secretAccessKey } });
      try {
        const listed = await bucket.send(new ListObjectsV2Command({ Bucket: s3!.bucket, Prefix: `${prefix}/` }));
        return (listed.Contents ?? []).map((o) => o.Key!);
      } finally {
        bucket.destroy();
      }
    },
    expectRedirect(location, expiresSeconds) {
      expect(location.href.startsWith(`${s3!.endpoint}/${s3!.bucket}/`)).toBe(true);
      expect(location.searchParams.get('X-Amz-Expires')).toBe(String(expiresSeconds));
    },
    secret: s3!.secretAccessKey,
  }));
});
