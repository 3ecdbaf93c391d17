import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { BerthError } from '../../domain/errors.js';

/**
 * Each scrypt run holds 128·N·r bytes (8 MiB at the defaults below, 32 MiB for hashes stored
 * with N=2^15) on a libuv thread. Two at a time bound that memory per process however many
 * logins arrive at once (a burst of `docker login`s, or someone guessing passwords), and keep
 * two libuv threads free for file I/O; further runs wait their turn.
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

// scrypt with N=2^13, r=8, p=10: one of the configurations OWASP's Password Storage Cheat
// Sheet lists as equal to its minimum (N=2^17, r=8, p=1; also 2^14/5, 2^15/3, 2^16/2). This
// one needs the least memory, 8 MiB per run, so a login does not add a 32-128 MiB spike to a
// worker that is serving pulls; it costs ~120 ms of one core here. Hashes stored with other
// parameters (Berth before 2026-12: N=2^15, r=8, p=1) verify with their own.
const defaults = { N: 2 ** 13, r: 8, p: 10, keylen: 32 };

/** `scrypt$N$r$p$<salt b64>$<hash b64>` */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(secret, salt, defaults.keylen, { N: defaults.N, r: defaults.r, p: defaults.p, maxmem: 64 * 1024 * 1024 });
  return ['scrypt', defaults.N, defaults.r, defaults.p, salt.toString('base64'), key.toString('base64')].join('$');
}

/** The parts of `scrypt$N$r$p$<salt b64>$<hash b64>`; undefined for anything else. */
function parseHash(stored: string | null): { N: number; r: number; p: number; salt: Buffer; key: Buffer } | undefined {
  if (!stored) return undefined;
  const [scheme, n, r, p, saltB64, keyB64] = stored.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || !saltB64 || !keyB64) return undefined;
  return { N: Number(n), r: Number(r), p: Number(p), salt: Buffer.from(saltB64, 'base64'), key: Buffer.from(keyB64, 'base64') };
}

export async function verifySecret(secret: string, stored: string | null): Promise<boolean> {
  const hash = parseHash(stored);
  if (!hash) return false;
  const key = await scrypt(secret, hash.salt, hash.key.length, { N: hash.N, r: hash.r, p: hash.p, maxmem: 256 * 1024 * 1024 });
  return key.length === hash.key.length && timingSafeEqual(key, hash.key);
}

/** Whether a stored hash uses today's parameters; one that does not is replaced at the next successful login. */
export function isCurrentHash(stored: string | null): boolean {
  const hash = parseHash(stored);
  return hash !== undefined && hash.N === defaults.N && hash.r === defaults.r && hash.p === defaults.p && hash.key.length === defaults.keylen;
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
