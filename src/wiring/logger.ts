import { pino, type Logger } from 'pino';

/** Never log credentials, whatever a request carries. */
const redactedPaths = ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.secret', '*.token'];

/**
 * JSON lines with Elastic Common Schema field names (@timestamp, log.level, message,
 * service.name, http.*, url.path, client.ip…), so ELK and Elastic ingest them as they are;
 * credentials redacted.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { 'service.name': 'berth', 'process.pid': process.pid },
    messageKey: 'message',
    errorKey: 'error',
    timestamp: () => `,"@timestamp":"${new Date().toISOString()}"`,
    formatters: { level: (label) => ({ 'log.level': label }) },
    redact: redactedPaths,
  });
}

/** Whether pino knows `level` (the schema's `log.level` allows the same). */
export function isLogLevel(level: unknown): level is string {
  return typeof level === 'string' && (level === 'silent' || Object.hasOwn(pino.levels.values, level));
}
