export * from './blob-store.js';
export * from './metadata-store.js';
export * from './identity-store.js';
export * from './audit-store.js';
export * from './event-store.js';
export * from './job-store.js';
export * from './webhook-store.js';
export * from './invalidation-bus.js';
