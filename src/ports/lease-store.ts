/**
 * Named leases shared by every process and instance on the database: one holder at a time,
 * for a time, so work that must happen once (a proxy cache's first fetch of an image) happens
 * once however the requests for it are spread over workers and instances.
 */
export interface LeaseStore {
  /** Takes `name` for `owner` until `until`: when free, expired, or held by `owner` already. True when taken. */
  acquire(name: string, owner: string, until: number, now: number): Promise<boolean>;
  /** Gives `name` back, if `owner` still holds it. */
  release(name: string, owner: string): Promise<void>;
}
