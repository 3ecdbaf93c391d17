export { Registry, type RegistryOptions } from './registry.js';
export { rangeHeaders, type UploadState, type ChunkInput } from './upload-service.js';
export type { BlobContent } from './blob-service.js';
export type { ManifestContent, PushedManifest } from './manifest-service.js';
export type { PageRequest, PageResult } from './catalog-service.js';
export { HashingStream } from './hashing-stream.js';
