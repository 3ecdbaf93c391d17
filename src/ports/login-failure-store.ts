/** Failed logins of one account from one client address (`account` '*': every account from it). */
export interface LoginFailureRow {
  account: string;
  source: string;
  failures: number;
  /** Attempts from this address for this account are refused until then. */
  blockedUntil: number | null;
  updatedAt: number;
}

/**
 * The login back-off's memory, shared by every process and instance on the database, so a
 * guesser gains nothing by landing on another worker.
 */
export interface LoginFailureStore {
  /** The rows of these (account, source) pairs that exist. */
  get(keys: Array<{ account: string; source: string }>): Promise<LoginFailureRow[]>;
  /**
   * Counts one more failure (starting again from 1 when the last one is older than
   * `forgetBefore`) and sets `blockedUntil` to what `block(failures)` says, in one transaction.
   */
  recordFailure(account: string, source: string, now: number, forgetBefore: number, block: (failures: number) => number | null): Promise<LoginFailureRow>;
  /** Forgets the failures of an account from one address (a successful login from it). */
  clear(account: string, source: string): Promise<void>;
  /** Forgets every failure of an account (an administrator unlocking it); resolves how many addresses it had. */
  clearAccount(account: string): Promise<number>;
  /** Accounts some address currently has to wait for. */
  blockedAccounts(now: number): Promise<string[]>;
  /** Removes rows not updated since `before`. */
  prune(before: number): Promise<number>;
}
