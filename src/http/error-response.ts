import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { BerthError, type ErrorKey } from '../domain/errors.js';
import { StoreFullError, StoreUnavailableError } from '../ports/blob-store.js';

/** Turns anything thrown into the one error vocabulary: BerthError, or INTERNAL for the unexpected. */
export function toBerthError(err: unknown): BerthError {
  if (err instanceof BerthError) return err;
  const infrastructure = infrastructureError(err);
  if (infrastructure) return infrastructure;
  const fastifyError = err as Partial<FastifyError>;
  const key = fastifyErrorKeys[fastifyError.code ?? ''];
  if (key) return new BerthError(key, { message: fastifyError.message });
  if (fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500 && fastifyError.message) {
    return new BerthError('BAD_REQUEST', { message: fastifyError.message });
  }
  return new BerthError('INTERNAL', { cause: err });
}

// Node errno codes and PostgreSQL SQLSTATEs that mean "the database is gone for now".
const unavailableCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006', 'SQLITE_BUSY']);

/**
 * Failures of the machinery underneath, as clients should see them: a full disk is 507 (the
 * upload was rolled back; retrying later may work), a database that went away is 503 with
 * Retry-After, so clients back off instead of giving up.
 */
function infrastructureError(err: unknown): BerthError | undefined {
  const code = (err as { code?: unknown })?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT' || err instanceof StoreFullError) {
    return new BerthError('INSUFFICIENT_STORAGE', { message: 'storage is full: the upload was rolled back', cause: err });
  }
  if (err instanceof StoreUnavailableError) {
    return new BerthError('UNAVAILABLE', { message: 'the storage is unavailable; retry shortly', headers: { 'Retry-After': '1' }, cause: err });
  }
  const message = (err as Error)?.message ?? '';
  // The client hung up mid-body: nobody will read the answer, and it is not the server's fault.
  if (message === 'aborted' || code === 'ERR_STREAM_PREMATURE_CLOSE') {
    return new BerthError('BAD_REQUEST', { message: 'the client closed the connection before the request body ended', cause: err });
  }
  if ((typeof code === 'string' && unavailableCodes.has(code)) || /Connection terminated|connection timeout|Client has encountered a connection error/i.test(message)) {
    return new BerthError('UNAVAILABLE', { message: 'the metadata database is unavailable; retry shortly', headers: { 'Retry-After': '1' }, cause: err });
  }
  return undefined;
}

const fastifyErrorKeys: Record<string, ErrorKey> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_VALIDATION: 'BAD_REQUEST',
};

/** OCI dist-spec "Error Codes": `{"errors":[{code,message,detail}]}`. */
export function ociErrorBody(err: BerthError): string {
  const entry: { code: string; message: string; detail?: unknown } = { code: err.code, message: err.message };
  if (err.detail !== undefined) entry.detail = err.detail;
  return JSON.stringify({ errors: [entry] });
}

/** A request no route answers (404): Fastify's own and the management API's router say the same. */
export function endpointNotFound(method: string, url: string): BerthError {
  return new BerthError('NOT_FOUND', { message: `no such endpoint: ${method} ${url.split('?', 1)[0]!.slice(0, 200)}` });
}

/** RFC 9457 problem details, for the management API. */
export function problemBody(err: BerthError, instance: string): string {
  const body: Record<string, unknown> = {
    type: `https://berth.dev/problems/${err.code.toLowerCase().replace(/_/g, '-')}`,
    title: err.message,
    status: err.status,
    code: err.code,
    instance,
  };
  if (err.detail !== undefined) body.detail = typeof err.detail === 'string' ? err.detail : JSON.stringify(err.detail);
  return JSON.stringify(body);
}

export function sendError(request: FastifyRequest, reply: FastifyReply, thrown: unknown): FastifyReply {
  const err = toBerthError(thrown);
  if (err.status >= 500) request.log.error({ err: err.cause ?? err }, 'request failed');
  reply.code(err.status).headers(err.headers);
  if (!request.raw.complete) {
    // The client is still sending a body nobody will read (e.g. a chunk refused midway):
    // discard the rest and end the connection after this answer, so the client sees the
    // error instead of blocking on a full socket.
    reply.header('Connection', 'close');
    request.raw.resume();
  }
  if (request.url.startsWith('/api/')) {
    return reply.type('application/problem+json').send(problemBody(err, request.url.split('?', 1)[0]!));
  }
  return reply.type('application/json').send(ociErrorBody(err));
}
