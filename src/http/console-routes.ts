import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** web/dist, whether running from src/ (tests) or dist/ (npm start): both are two levels down. */
export const consoleRoot = fileURLToPath(new URL('../../web/dist/', import.meta.url));

const apiPrefixes = ['/v2', '/api/', '/service/', '/metrics', '/healthz', '/readyz'];

// The console needs nothing from elsewhere: no inline scripts, no third-party origins.
const securityHeaders = {
  'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
};

/**
 * The web console: the Vite build in web/dist served at /. Returns the fallback the app's
 * not-found handler uses, so every other browser path (client-side routes such as
 * /projects/team-a) gets index.html.
 */
export async function installConsole(app: FastifyInstance): Promise<(request: FastifyRequest, reply: FastifyReply) => FastifyReply | Promise<FastifyReply>> {
  const built = existsSync(`${consoleRoot}index.html`);
  if (built) {
    await app.register(fastifyStatic, {
      root: consoleRoot,
      wildcard: false,
      index: false,
      maxAge: '1h',
      setHeaders: (res, path) => {
        for (const [k, v] of Object.entries(securityHeaders)) res.setHeader(k, v);
        // Hashed asset names never change content: cache them for good.
        if (path.includes('/assets/')) res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
      },
    });
  }
  const sendIndex = (_request: FastifyRequest, reply: FastifyReply) => {
    if (!built) {
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The Berth console is not built. Run `npm run build` (npm install does it) and restart.\nThe registry API is at /v2/ and the management API at /api/v1/.\n');
    }
    reply.headers({ ...securityHeaders, 'Cache-Control': 'no-cache' });
    return reply.sendFile('index.html', { cacheControl: false });
  };
  app.get('/', sendIndex);
  return sendIndex;
}

/** Whether an unmatched request is a browser navigation the console should answer. */
export function isConsolePath(request: FastifyRequest): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  const path = request.url.split('?', 1)[0]!;
  return !apiPrefixes.some((prefix) => path === prefix || path.startsWith(prefix));
}
