import { BerthError } from '../../domain/errors.js';
import { clientKey } from '../../domain/address-ranges.js';
import type { LoginFailureStore } from '../../ports/login-failure-store.js';

export interface LoginThrottlePolicy {
  /** Failures for one account from one address before that address waits. */
  attempts: number;
  /** The first wait; doubles with every further failure. */
  delayMs: number;
  maxDelayMs: number;
  /** Failures from one address over all accounts before it waits (password spraying). */
  sourceAttempts: number;
  /** Failures older than this are forgotten. */
  forgetMs: number;
}

/** Every account from one address: the password-spraying counter. */
const anyAccount = '*';

/**
 * Login back-off that an attacker cannot turn against the user (docs/security.md, "Login
 * back-off"). Failures count per account *and* client address: once an address has failed
 * `attempts` times for an account it waits, then twice as long after each further failure,
 * while the same account from any other address is untouched. An address failing across many
 * accounts waits too. Waiting attempts are refused before any password is checked, so they
 * cost the server nothing and tell the guesser nothing.
 */
export class LoginThrottle {
  constructor(
    private readonly store: LoginFailureStore,
    private readonly policy: LoginThrottlePolicy,
    private readonly hooks: { now?: () => number; onRefused?: () => void } = {},
  ) {}

  private now(): number {
    return (this.hooks.now ?? Date.now)();
  }

  /**
   * Refuses (TOOMANYREQUESTS, with Retry-After) when this address must wait for this account;
   * resolves whether it has failures on record (so a success knows to clear them).
   */
  async check(account: string, address: string): Promise<boolean> {
    const source = clientKey(address);
    const rows = await this.store.get([
      { account, source },
      { account: anyAccount, source },
    ]);
    const now = this.now();
    const until = Math.max(0, ...rows.map((r) => r.blockedUntil ?? 0));
    if (until > now) {
      this.hooks.onRefused?.();
      const seconds = Math.ceil((until - now) / 1000);
      throw new BerthError('TOOMANYREQUESTS', {
        message: `too many failed logins from this address; try again in ${seconds} s (other addresses are not affected)`,
        headers: { 'Retry-After': String(seconds) },
      });
    }
    return rows.some((r) => r.account === account && r.failures > 0);
  }

  /** Counts a failed login (wrong password or unknown name) for the account and for the address. */
  async failed(account: string, address: string): Promise<void> {
    const source = clientKey(address);
    const now = this.now();
    const forgetBefore = now - this.policy.forgetMs;
    await this.store.recordFailure(account, source, now, forgetBefore, (failures) => this.blockedUntil(failures, this.policy.attempts, now));
    await this.store.recordFailure(anyAccount, source, now, forgetBefore, (failures) => this.blockedUntil(failures, this.policy.sourceAttempts, now));
  }

  /** A successful login forgets that address's failures for the account. */
  async succeeded(account: string, address: string): Promise<void> {
    await this.store.clear(account, clientKey(address));
  }

  /** Lets every address try this account again at once (an administrator's unlock). */
  unlock(account: string): Promise<number> {
    return this.store.clearAccount(account);
  }

  /** Accounts some address is waiting for now. */
  blockedAccounts(): Promise<string[]> {
    return this.store.blockedAccounts(this.now());
  }

  /** Drops failures older than the policy remembers (housekeeping). */
  prune(): Promise<number> {
    return this.store.prune(this.now() - this.policy.forgetMs);
  }

  /** The wait after the `failures`-th failure: none before `free`, then delay × 2^(failures − free), capped. */
  private blockedUntil(failures: number, free: number, now: number): number | null {
    if (failures < free) return null;
    const delay = Math.min(this.policy.maxDelayMs, this.policy.delayMs * 2 ** Math.min(failures - free, 40));
    return now + delay;
  }
}
