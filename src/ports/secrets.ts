/**
 * Encryption of secrets Berth must be able to read back (registry endpoints' credentials), so
 * a copy of the database alone does not hold them in clear (docs/replication.md, "Credentials").
 */
export interface SecretBox {
  /** Encrypts with the current key; the result names the key. */
  seal(plaintext: string): string;
  /** Decrypts with whichever configured key sealed it; throws SecretKeyError when none did. */
  open(sealed: string): string;
  /** Whether `sealed` was made with a key other than the current one (to be sealed again). */
  stale(sealed: string): boolean;
}

/** A secret sealed with a key this process does not have, or altered. */
export class SecretKeyError extends Error {
  readonly code = 'SECRET_KEY';
}
