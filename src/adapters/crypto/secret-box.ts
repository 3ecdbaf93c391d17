import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { SecretKeyError, type SecretBox } from '../../ports/secrets.js';

interface Key {
  id: string;
  bytes: Buffer;
}

const version = 'v1';

/** An AES-256 key from the configured text (any length of at least 32 characters), and its short id. */
function deriveKey(text: string): Key {
  const bytes = Buffer.from(hkdfSync('sha256', Buffer.from(text, 'utf8'), Buffer.from('berth-secret-box'), Buffer.from('aes-256-gcm'), 32));
  return { id: createHash('sha256').update(bytes).digest('hex').slice(0, 12), bytes };
}

/**
 * AES-256-GCM with a random 96-bit nonce per secret: `v1:<key id>:<nonce>:<tag>:<ciphertext>`
 * (base64url). The key id lets a rotation keep old keys for reading while everything is
 * sealed again with the new one.
 */
export class AesSecretBox implements SecretBox {
  private readonly current: Key;
  private readonly keys = new Map<string, Key>();

  constructor(currentKey: string, previousKeys: readonly string[] = []) {
    this.current = deriveKey(currentKey);
    for (const key of [this.current, ...previousKeys.map(deriveKey)]) if (!this.keys.has(key.id)) this.keys.set(key.id, key);
  }

  get keyId(): string {
    return this.current.id;
  }

  seal(plaintext: string): string {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.current.bytes, nonce);
    cipher.setAAD(Buffer.from(`${version}:${this.current.id}`));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [version, this.current.id, nonce.toString('base64url'), cipher.getAuthTag().toString('base64url'), ciphertext.toString('base64url')].join(':');
  }

  open(sealed: string): string {
    const parts = sealed.split(':');
    if (parts.length !== 5 || parts[0] !== version) throw new SecretKeyError('a stored secret is not in a form Berth wrote');
    const [, id, nonce, tag, ciphertext] = parts as [string, string, string, string, string];
    const key = this.keys.get(id);
    if (!key) {
      throw new SecretKeyError(
        `a stored secret was encrypted with key ${id}, which this instance does not have: set secrets.encryptionKey (and secrets.previousKeys) to the same values on every instance`,
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.bytes, Buffer.from(nonce, 'base64url'));
      decipher.setAAD(Buffer.from(`${version}:${id}`));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretKeyError(`a stored secret (key ${id}) does not decrypt: it was altered`);
    }
  }

  stale(sealed: string): boolean {
    return sealed.split(':')[1] !== this.current.id;
  }
}
