import { createPublicKey, verify, type KeyObject } from 'node:crypto';

/** Configured PEM public keys; ones that do not parse are dropped (the config schema reports them). */
export function publicKeysFromPem(pems: readonly string[]): KeyObject[] {
  const keys: KeyObject[] = [];
  for (const pem of pems) {
    try {
      keys.push(createPublicKey(pem));
    } catch {
      // skipped: see above
    }
  }
  return keys;
}

/**
 * Verifies a signature the way Sigstore clients make them: ECDSA (ASN.1 DER signature, the
 * hash sized to the curve: P-256/SHA-256 is cosign's default), RSA PKCS#1 v1.5 over SHA-256,
 * Ed25519 over the message itself.
 */
export function verifySigstoreSignature(key: KeyObject, message: Buffer, signature: Buffer): boolean {
  try {
    switch (key.asymmetricKeyType) {
      case 'ec':
        return verify(ecdsaHash(key), message, { key, dsaEncoding: 'der' }, signature);
      case 'rsa':
        return verify('sha256', message, key, signature);
      case 'ed25519':
        return verify(null, message, key, signature);
      default:
        return false;
    }
  } catch {
    return false;
  }
}

export function sameKey(a: KeyObject, b: KeyObject): boolean {
  return a.export({ type: 'spki', format: 'der' }).equals(b.export({ type: 'spki', format: 'der' }));
}

function ecdsaHash(key: KeyObject): string {
  switch (key.asymmetricKeyDetails?.namedCurve) {
    case 'secp384r1':
      return 'sha384';
    case 'secp521r1':
      return 'sha512';
    default:
      return 'sha256';
  }
}
