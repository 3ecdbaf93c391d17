export * from './rules.js';
export * from './facts.js';
export * from './secrets.js';
export * from './files.js';
export * from './bases.js';
export * from './lint.js';
