import type { ImageIndexRecord } from '../../src/ports/image-index-store.js';

/**
 * The record the indexer writes for an image of `platform` (linux/amd64 unless given), indexed
 * now, with no packages, labels, annotations or creation time: what tests that fill the image
 * index through its store (instead of waiting for the indexer) put for each image they push.
 */
export function indexedImage(fields: Pick<ImageIndexRecord, 'digest' | 'configDigest' | 'layers' | 'compressedBytes' | 'uncompressedBytes' | 'os'> & { platform?: string }): ImageIndexRecord {
  const { digest, configDigest, platform = 'linux/amd64', layers, compressedBytes, uncompressedBytes, os } = fields;
  return { digest, status: 'indexed', configDigest, platform, layers, compressedBytes, uncompressedBytes, os, packages: [], labels: {}, annotations: {}, createdAt: null, indexedAt: Date.now() };
}
