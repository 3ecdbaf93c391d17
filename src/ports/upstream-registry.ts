import type { Readable } from 'node:stream';

/** Why a request to another registry failed, as a user can act on it. */
export const upstreamFailures = ['blocked', 'dns', 'connect', 'tls', 'timeout', 'unauthorized', 'forbidden', 'not-found', 'rate-limited', 'unavailable', 'protocol'] as const;
export type UpstreamFailure = (typeof upstreamFailures)[number];

/** A request to another registry that failed; `message` says what to check, never echoes credentials. */
export class UpstreamError extends Error {
  constructor(
    readonly failure: UpstreamFailure,
    message: string,
    /** The upstream's HTTP status, when it answered. */
    readonly status?: number,
    /** Seconds the upstream asked to wait (429, 503). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

export interface UpstreamCredentials {
  username: string;
  secret: string;
}

export interface UpstreamManifest {
  digest: string;
  mediaType: string;
  body: Buffer;
}

export interface UpstreamDescriptor {
  digest: string;
  mediaType: string;
  size: number;
}

/**
 * The OCI distribution API of another registry (Docker Hub, GHCR, Quay, ECR, ACR, Harbor,
 * CNCF distribution, another Berth), as replication and the proxy cache use it. Requests go
 * through the outbound-request policy; authentication (Basic, or Docker's bearer tokens from
 * the realm a 401 names) is the client's business. Repository names are the upstream's own.
 */
export interface UpstreamRegistry {
  /** `GET /v2/` with the credentials: throws UpstreamError saying what is wrong. */
  ping(): Promise<void>;
  /** The manifest's descriptor by tag or digest (HEAD), undefined when the upstream has none. */
  headManifest(repository: string, reference: string): Promise<UpstreamDescriptor | undefined>;
  getManifest(repository: string, reference: string): Promise<UpstreamManifest | undefined>;
  hasBlob(repository: string, digest: string): Promise<boolean>;
  /** The blob as a stream the caller must consume or destroy; undefined when absent. */
  getBlob(repository: string, digest: string): Promise<{ size: number; body: Readable } | undefined>;
  /** Every repository the credentials may see (`/v2/_catalog`, paged); Docker Hub and others refuse it. */
  listRepositories(): Promise<string[]>;
  /** Every tag, following the upstream's pages. */
  listTags(repository: string): Promise<string[]>;
  /** Manifests whose subject is `digest` (the referrers API, or the tag schema `sha256-<hex>` where the upstream lacks it). */
  referrers(repository: string, digest: string): Promise<UpstreamDescriptor[]>;
  /** Links a blob the upstream has in `from` into `repository`; false when it would not (then upload). */
  mountBlob(repository: string, digest: string, from: string): Promise<boolean>;
  /** Uploads a blob of `size` bytes from a stream (one monolithic PUT). */
  putBlob(repository: string, digest: string, size: number, body: Readable): Promise<void>;
  /**
   * Pushes a manifest. Resolves `subjectIndexed`: false when the manifest has a subject and the
   * registry did not say it indexed it (no `OCI-Subject` header: no referrers API), so the
   * pusher keeps the `sha256-<hex>` tag schema index up to date instead (OCI dist-spec 1.1).
   */
  putManifest(repository: string, reference: string, manifest: { mediaType: string; body: Buffer }): Promise<{ subjectIndexed: boolean }>;
  deleteManifest(repository: string, reference: string): Promise<void>;
}
