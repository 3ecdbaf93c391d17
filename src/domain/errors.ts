/**
 * The one table of every error Berth can answer with.
 *
 * Each entry has a stable key (what code throws and tests assert on), the wire code
 * (the OCI distribution-spec code on /v2, or a management-API code on /api), the HTTP
 * status and a default message. Several keys may share a wire code when the spec asks
 * for one code with different statuses (e.g. BLOB_UPLOAD_INVALID with 416 for a chunk
 * out of order).
 */
export const errorTable = {
  // OCI dist-spec: "Error Codes"
  BLOB_UNKNOWN: { code: 'BLOB_UNKNOWN', status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { code: 'BLOB_UPLOAD_INVALID', status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { code: 'BLOB_UPLOAD_UNKNOWN', status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { code: 'DIGEST_INVALID', status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { code: 'MANIFEST_BLOB_UNKNOWN', status: 400, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { code: 'MANIFEST_INVALID', status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { code: 'MANIFEST_UNKNOWN', status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { code: 'NAME_INVALID', status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { code: 'NAME_UNKNOWN', status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { code: 'SIZE_INVALID', status: 400, message: 'provided length did not match content length' },
  UNAUTHORIZED: { code: 'UNAUTHORIZED', status: 401, message: 'authentication required' },
  DENIED: { code: 'DENIED', status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { code: 'UNSUPPORTED', status: 405, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { code: 'TOOMANYREQUESTS', status: 429, message: 'too many requests' },
  // Same wire codes as above, with the statuses the spec names for these cases.
  RANGE_INVALID: { code: 'BLOB_UPLOAD_INVALID', status: 416, message: 'requested range is not satisfiable' },
  UPLOAD_RANGE_INVALID: { code: 'BLOB_UPLOAD_INVALID', status: 416, message: 'chunk does not start at the end of the upload' },
  MANIFEST_TOO_LARGE: { code: 'MANIFEST_INVALID', status: 413, message: 'manifest too large' },
  BLOB_TOO_LARGE: { code: 'SIZE_INVALID', status: 413, message: 'blob too large' },
  TAG_INVALID: { code: 'TAG_INVALID', status: 400, message: 'manifest tag did not match the tag grammar' },
  PAGINATION_INVALID: { code: 'PAGINATION_NUMBER_INVALID', status: 400, message: 'invalid number of results requested' },
  UNAVAILABLE: { code: 'UNAVAILABLE', status: 503, message: 'service unavailable' },
  INSUFFICIENT_STORAGE: { code: 'INSUFFICIENT_STORAGE', status: 507, message: 'the registry has no storage space left' },
  // Management API (/api/v1), answered as RFC 9457 problem JSON.
  BAD_REQUEST: { code: 'BAD_REQUEST', status: 400, message: 'the request is invalid' },
  NOT_FOUND: { code: 'NOT_FOUND', status: 404, message: 'not found' },
  METHOD_NOT_ALLOWED: { code: 'METHOD_NOT_ALLOWED', status: 405, message: 'method not allowed' },
  CONFLICT: { code: 'CONFLICT', status: 409, message: 'the resource already exists or was changed' },
  PAYLOAD_TOO_LARGE: { code: 'PAYLOAD_TOO_LARGE', status: 413, message: 'request body too large' },
  // A layer the scanner could not read to its end (truncated, not a tar, hostile); detail.reason says which.
  LAYER_UNREADABLE: { code: 'LAYER_UNREADABLE', status: 422, message: 'the layer could not be read' },
  // Scanning an artifact that is not a container image (a signature, an SBOM, a Helm chart).
  NOT_SCANNABLE: { code: 'NOT_SCANNABLE', status: 422, message: 'the artifact is not a container image and has nothing to scan' },
  // A file tree asked of an image the index has not read yet (issue 17: indexed on push, shortly after).
  IMAGE_NOT_INDEXED: { code: 'IMAGE_NOT_INDEXED', status: 409, message: 'the image is not indexed yet' },
  INTERNAL: { code: 'INTERNAL_ERROR', status: 500, message: 'internal server error' },
} as const satisfies Record<string, { code: string; status: number; message: string }>;

export type ErrorKey = keyof typeof errorTable;

export class BerthError extends Error {
  readonly key: ErrorKey;
  readonly code: string;
  readonly status: number;
  readonly detail: unknown;
  /** Response headers the error needs (e.g. Range on a 416 for an upload). */
  readonly headers: Record<string, string>;

  constructor(key: ErrorKey, options: { message?: string; detail?: unknown; headers?: Record<string, string>; cause?: unknown } = {}) {
    const entry = errorTable[key];
    super(options.message ?? entry.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BerthError';
    this.key = key;
    this.code = entry.code;
    this.status = entry.status;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }
}

export function berthError(key: ErrorKey, message?: string, detail?: unknown): BerthError {
  return new BerthError(key, { message, detail });
}

export function isBerthError(err: unknown): err is BerthError {
  return err instanceof BerthError;
}
