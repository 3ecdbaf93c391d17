/**
 * A configuration that cannot be used, with a message naming the key, where its value came from
 * and what is allowed. In a module of its own, so that what only reports it (the CLI's output,
 * the cluster primary) does not load the schema and its validator.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
