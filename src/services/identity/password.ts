import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { BerthError } from '../../domain/errors.js';

/**
 * Each scrypt run holds 128·N·r bytes (32 MiB at the defaults) on a libuv thread. Two at a
 * time bounds that memory at 64 MiB per process however many logins arrive at once (a burst
 * of `docker login`s, or someone guessing passwords), and keeps two libuv threads free for
 * file I/O; further runs wait their turn.
 */
const maxConcurrentHashes = 2;
let running = 0;
const waiting: Array<() => void> = [];

async function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  if (running >= maxConcurrentHashes) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await new Promise((resolve, reject) => scryptCallback(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));
  } finally {
    running--;
    waiting.shift()?.();
  }
}

// scrypt with N=2^15, r=8, p=1 (OWASP's minimum is N=2^17 with r=8 for interactive logins when
// memory allows; 2^15 keeps a login near 50 ms on a small server). Parameters are stored in
// the hash, so they can be raised later without invalidating existing passwords.
const defaults = { N: 2 ** 15, r: 8, p: 1, keylen: 32 };

/** `scrypt$N$r$p$<salt b64>$<hash b64>` */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(secret, salt, defaults.keylen, { N: defaults.N, r: defaults.r, p: defaults.p, maxmem: 64 * 1024 * 1024 });
  return ['scrypt', defaults.N, defaults.r, defaults.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifySecret(secret: string, stored: string | null): Promise<boolean> {
  if (!stored) return false;
  const [scheme, n, r, p, saltB64, keyB64] = stored.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || !saltB64 || !keyB64) return false;
  const expected = Buffer.from(keyB64, 'base64');
  const key = await scrypt(secret, Buffer.from(saltB64, 'base64'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: 256 * 1024 * 1024,
  });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

export interface PasswordPolicy {
  minLength: number;
}

/** Harbor's rule: at least `minLength` characters with an uppercase letter, a lowercase letter and a digit. */
export function assertPasswordPolicy(password: string, policy: PasswordPolicy): void {
  const problems: string[] = [];
  if (password.length < policy.minLength) problems.push(`at least ${policy.minLength} characters`);
  if (password.length > 256) problems.push('at most 256 characters');
  if (!/[A-Z]/.test(password)) problems.push('an uppercase letter');
  if (!/[a-z]/.test(password)) problems.push('a lowercase letter');
  if (!/[0-9]/.test(password)) problems.push('a digit');
  if (problems.length > 0) {
    throw new BerthError('BAD_REQUEST', { message: `password must have ${problems.join(', ')}`, detail: { rule: 'password-policy' } });
  }
}

/** A random secret for robots, CLI secrets and generated admin passwords (meets the password policy). */
export function generateSecret(length = 32): string {
  for (;;) {
    const candidate = randomBytes(length).toString('base64url').slice(0, length);
    if (/[A-Z]/.test(candidate) && /[a-z]/.test(candidate) && /[0-9]/.test(candidate)) return candidate;
  }
}
