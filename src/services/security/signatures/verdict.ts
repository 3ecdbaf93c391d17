/** The signature formats Berth recognises; `unknown` when the bytes are not recognisable as any of them. */
export type SignatureFormat = 'cosign' | 'sigstore-bundle' | 'notation';

/**
 * Why a signature did not verify, as a stable code callers and tests match on
 * (`detail` carries the human-readable explanation, which may change).
 */
export type SignatureFailure =
  /** The cryptographic signature (or the transparency-log promise, or a certificate chain link) is wrong. */
  | 'bad-signature'
  /** The signature is valid but names another artifact than the subject. */
  | 'digest-mismatch'
  /** No configured key or trust anchor vouches for the signer, or the signer's certificate is unfit for code signing. */
  | 'untrusted-key'
  /** The certificate chains to a trusted root but names an identity nobody trusted. */
  | 'untrusted-identity'
  /** A certificate in the chain was not valid at the time that counts (signing time, log time or now). */
  | 'certificate-expired'
  /** The signer's own expiry (Notation `io.cncf.notary.expiry`) has passed. */
  | 'signature-expired'
  /** The bytes do not parse as the format they claim, or exceed Berth's size limits. */
  | 'malformed'
  /** A well-formed signature using something Berth does not verify (plugins, an unknown critical header, a signing scheme, an algorithm). */
  | 'unsupported'
  /** Nothing is configured that could verify this format. */
  | 'no-trust-configured';

/** The outcome for one signature: one per cosign signature layer, one per Notation or Sigstore-bundle manifest. */
export interface SignatureVerdict {
  format: SignatureFormat | 'unknown';
  /** Digest of the signature artifact's manifest. */
  signatureDigest: string;
  /** Digest of the layer holding the signature (cosign has one signature per layer). */
  layerDigest?: string;
  verified: boolean;
  reason?: SignatureFailure;
  /** Human-readable explanation of `reason`; not stable. */
  detail?: string;
  /** Who signed: a key fingerprint (hex SHA-256 of the SPKI DER), or the certificate's SAN or subject DN. */
  signer?: string;
  /** OIDC issuer of a keyless signer. */
  issuer?: string;
  /** When it was signed, ISO 8601: the transparency log's time, or the signer's claimed signing time. */
  signedAt?: string;
}

export class VerificationFailure extends Error {
  constructor(
    readonly reason: SignatureFailure,
    message: string,
    readonly signer?: string,
  ) {
    super(message);
    this.name = 'VerificationFailure';
  }
}

/** Throwing inside a verifier is how a step fails; the entry point turns it into a verdict. */
export function fail(reason: SignatureFailure, detail: string, signer?: string): never {
  throw new VerificationFailure(reason, detail, signer);
}
