import { randomBytes, scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashSecret, verifySecret } from '../../src/services/identity/password.js';

describe('password hashing', () => {
  it('stores new secrets as scrypt N=2^13, r=8, p=10 (8 MiB per run) with a 16-byte salt', async () => {
    const stored = await hashSecret('Alice-Passw0rd');
    const [scheme, n, r, p, salt, key] = stored.split('$');
    expect([scheme, n, r, p]).toEqual(['scrypt', '8192', '8', '10']);
    expect(Buffer.from(salt!, 'base64')).toHaveLength(16);
    expect(Buffer.from(key!, 'base64')).toHaveLength(32);
    expect(128 * Number(n) * Number(r)).toBe(8 * 1024 * 1024);
    expect(await verifySecret('Alice-Passw0rd', stored)).toBe(true);
    expect(await verifySecret('Alice-Passw0rd!', stored)).toBe(false);
    expect(await hashSecret('Alice-Passw0rd')).not.toBe(stored);
  });

  it('verifies hashes stored with the earlier parameters (N=2^15, r=8, p=1) by their own parameters', async () => {
    const salt = randomBytes(16);
    const key = scryptSync('Old-Passw0rd', salt, 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
    const stored = ['scrypt', 2 ** 15, 8, 1, salt.toString('base64'), key.toString('base64')].join('$');
    expect(await verifySecret('Old-Passw0rd', stored)).toBe(true);
    expect(await verifySecret('old-Passw0rd', stored)).toBe(false);
  });

  it('refuses what is not a scrypt hash', async () => {
    for (const stored of [null, '', 'bcrypt$x', 'scrypt$8192$8$10$c2FsdA==']) expect(await verifySecret('x', stored)).toBe(false);
  });
});
