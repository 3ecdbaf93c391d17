import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ScannerMime } from '../../domain/vulns/harbor-report.js';
import { ScanRequestRefused, type AdapterScans } from '../../services/security/adapter-scans.js';

export interface ScannerAdapterApiOptions {
  adapter: AdapterScans;
  /** security.scannerAdapter.apiKey */
  apiKey: string;
}

/** Seconds a caller is asked to wait before asking for a report again. */
const refreshAfterSeconds = 2;

/** The spec's ErrorResponse. */
function fail(reply: FastifyReply, status: number, message: string): FastifyReply {
  return json(reply.code(status), ScannerMime.error, { error: { message } });
}

/** JSON under the spec's media type, exactly as written (a Buffer: Fastify would quote the version and add a charset to a string's). */
function json(reply: FastifyReply, type: string, body: unknown): FastifyReply {
  return reply.header('content-type', type).send(Buffer.from(JSON.stringify(body)));
}

function sameKey(given: string, key: string): boolean {
  const hash = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(hash(given), hash(key));
}

/**
 * Harbor's pluggable scanner API v1.1 served by Berth (docs/scanners.md), under
 * /scanner-adapter/api/v1: `GET /metadata`, `POST /scan` (202 {id}), `GET /scan/{id}/report`
 * (302 with Refresh-After and Retry-After while running, 200 with the report, 500 with the
 * reason when it failed). Callers send the configured key as `Authorization: Bearer` or
 * `X-ScannerAdapter-API-Key`. Registered only when security.scannerAdapter.enabled.
 */
export async function scannerAdapterApi(app: FastifyInstance, options: ScannerAdapterApiOptions): Promise<void> {
  const { adapter, apiKey } = options;
  app.addContentTypeParser(/^application\/vnd\.scanner\.adapter\.scan\.request\+json/, { parseAs: 'string', bodyLimit: 64 * 1024 }, (_request, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(Object.assign(new Error('the body is not JSON'), { statusCode: 400 }), undefined);
    }
  });
  app.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) request.log.error({ err }, 'scanner adapter request failed');
    return fail(reply, status, status === 500 ? 'internal error (see the server log)' : err.message);
  });
  app.addHook('onRequest', async (request, reply) => {
    const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    const header = request.headers['x-scanneradapter-api-key'];
    const given = bearer ?? (typeof header === 'string' ? header : undefined);
    if (given === undefined || !sameKey(given, apiKey)) return fail(reply, 401, 'a valid API key is required (Authorization: Bearer <key> or X-ScannerAdapter-API-Key)');
  });

  app.get('/metadata', async (_request, reply) => json(reply, ScannerMime.metadata, await adapter.metadata()));

  app.post('/scan', async (request, reply) => {
    try {
      const id = await adapter.accept(request.body);
      return json(reply.code(202), ScannerMime.scanResponse, { id });
    } catch (err) {
      if (err instanceof ScanRequestRefused) return fail(reply, err.status, err.message);
      throw err;
    }
  });

  app.get<{ Params: { id: string } }>('/scan/:id/report', async (request, reply) => {
    const accept = request.headers.accept ?? '';
    const type = accept.includes('application/vnd.scanner.adapter.vuln.report.harbor+json')
      ? ScannerMime.harborReport
      : accept === '' || accept.includes('application/vnd.security.vulnerability.report') || accept.includes('*/*') || accept.includes('application/json')
        ? ScannerMime.vulnReport
        : undefined;
    if (!type) return fail(reply, 400, `this scanner produces ${ScannerMime.vulnReport} and ${ScannerMime.harborReport} only`);
    const found = await adapter.report(request.params.id);
    if (!found) return fail(reply, 404, `no scan request ${request.params.id.slice(0, 100)}`);
    if (found.state === 'running') return reply.code(302).header('Refresh-After', String(refreshAfterSeconds)).header('Retry-After', String(refreshAfterSeconds)).send();
    if (found.state === 'failed') return fail(reply, 500, found.error);
    return json(reply, type, found.report);
  });
}
