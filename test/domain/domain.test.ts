import { describe, expect, it } from 'vitest';
import { BerthError } from '../../src/domain/errors.js';
import { parseDigest, tryParseDigest } from '../../src/domain/digest.js';
import { isValidRepositoryName, isValidTag } from '../../src/domain/names.js';
import { parseManifest, requiredReferences } from '../../src/domain/manifest.js';

const hex64 = 'a'.repeat(64);

describe('digests', () => {
  it('accepts sha256 and sha512 of the right length, lowercase hex', () => {
    expect(tryParseDigest(`sha256:${hex64}`)?.algorithm).toBe('sha256');
    expect(tryParseDigest(`sha512:${'b'.repeat(128)}`)?.algorithm).toBe('sha512');
  });
  it.each([`sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(63)}`, 'sha256:zz', `sha384:${'a'.repeat(96)}`, `SHA256:${hex64}`, '', 'sha256'])(
    'refuses %s with DIGEST_INVALID',
    (value) => {
      expect(() => parseDigest(value)).toThrow(BerthError);
      try {
        parseDigest(value);
      } catch (err) {
        expect((err as BerthError).code).toBe('DIGEST_INVALID');
      }
    },
  );
});

describe('names and tags', () => {
  it.each(['a', 'library/alpine', 'a/b/c', 'my-org/my_app', 'x.y/z__w', 'a--b'])('accepts the name %s', (name) => {
    expect(isValidRepositoryName(name)).toBe(true);
  });
  it.each(['', 'A', 'a/', '/a', 'a//b', '../x', 'a/../b', 'a_', '-a', 'a___b', 'a'.repeat(256)])('refuses the name %s', (name) => {
    expect(isValidRepositoryName(name)).toBe(false);
  });
  it.each(['latest', 'v1.2.3', 'A_b-c.d', '_x', 'a'.repeat(128)])('accepts the tag %s', (tag) => {
    expect(isValidTag(tag)).toBe(true);
  });
  it.each(['', '.x', '-x', 'a'.repeat(129), 'a/b', 'a:b'])('refuses the tag %s', (tag) => {
    expect(isValidTag(tag)).toBe(false);
  });
});

describe('manifest parsing', () => {
  const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${hex64}`, size: 10 };
  const layer = (n: string, extra = {}) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${n.repeat(64)}`, size: 5, ...extra });

  it('reads an OCI image manifest and what it needs to exist', () => {
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [layer('b'), layer('c')] }));
    const parsed = parseManifest(body, 'application/vnd.oci.image.manifest.v1+json');
    expect(parsed.kind).toBe('image');
    expect(parsed.artifactType).toBe(config.mediaType);
    expect(requiredReferences(parsed)).toEqual({ blobs: [config.digest, `sha256:${'b'.repeat(64)}`, `sha256:${'c'.repeat(64)}`], manifests: [] });
  });

  it('does not require foreign layers with URLs to exist', () => {
    const foreign = layer('d', { mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', urls: ['https://example.com/l'] });
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', config, layers: [foreign] }));
    expect(requiredReferences(parseManifest(body, undefined)).blobs).toEqual([config.digest]);
  });

  it('infers the type from the body when Content-Type is generic', () => {
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
    expect(parseManifest(index, 'application/json').mediaType).toBe('application/vnd.oci.image.index.v1+json');
  });

  it('refuses Docker schema 1', () => {
    const body = Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] }));
    expect(() => parseManifest(body, 'application/vnd.docker.distribution.manifest.v1+prettyjws')).toThrow(/schema 1/);
  });

  it('refuses an unsupported media type, naming the supported ones', () => {
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/x-custom' }));
    try {
      parseManifest(body, 'application/x-custom');
      expect.unreachable();
    } catch (err) {
      expect((err as BerthError).code).toBe('MANIFEST_INVALID');
      expect((err as BerthError).detail).toEqual({ supported: expect.arrayContaining(['application/vnd.oci.image.index.v1+json']) });
    }
  });
});
