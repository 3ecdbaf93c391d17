import type { z } from 'zod';
import { harborReportSchema, scannerMetadataSchema, ScannerMime } from '../../domain/vulns/harbor-report.js';
import { blockedByPolicy, type Outbound, type OutboundResponse } from '../../ports/outbound.js';
import { ScannerAdapterError, type ScannerAdapter, type ScannerReportPoll, type ScannerScanRequest } from '../../ports/scanner-adapter.js';
import type { ScannerAuth } from '../../ports/scanner-store.js';
import { transportFailure } from '../upstream/registry-client.js';

export interface HarborScannerClientOptions {
  outbound: Outbound;
  /** The adapter's base URL; the API is under `<url>/api/v1`. */
  url: string;
  auth: ScannerAuth;
  /** `user:password` (basic), a token (bearer) or an API key. */
  credential?: string | null;
  skipCertVerify?: boolean;
}

/** Largest report read (a big image's report with descriptions runs to a few MiB). */
const maxReportBytes = 64 * 2 ** 20;

/**
 * Harbor's pluggable scanner API v1.1 (goharbor/pluggable-scanner-spec, scanner-adapter-openapi-v1.1):
 * `GET /api/v1/metadata`, `POST /api/v1/scan` (202 with the request id), `GET
 * /api/v1/scan/{id}/report` (302 with `Refresh-After` while running, 200 with the report).
 * Requests go through the outbound policy ('scanner') with `outbound.request`, which can skip
 * certificate checks per registration and hands back a 302 instead of following it.
 */
export class HarborScannerClient implements ScannerAdapter {
  private readonly base: URL;

  constructor(private readonly options: HarborScannerClientOptions) {
    this.base = new URL(options.url.endsWith('/') ? options.url : `${options.url}/`);
  }

  async metadata() {
    const response = await this.send('GET', 'api/v1/metadata', { accept: `${ScannerMime.metadata}, application/json` });
    await this.expect(response, [200], 'GET /api/v1/metadata');
    return this.parse(await response.text(), scannerMetadataSchema, 'GET /api/v1/metadata');
  }

  async scan(request: ScannerScanRequest): Promise<string> {
    const response = await this.send('POST', 'api/v1/scan', { accept: `${ScannerMime.scanResponse}, application/json`, 'content-type': ScannerMime.scanRequest }, JSON.stringify(request));
    await this.expect(response, [200, 201, 202], 'POST /api/v1/scan');
    const body = (await this.json(await response.text(), 'POST /api/v1/scan')) as { id?: unknown };
    if (typeof body.id !== 'string' || body.id === '') throw new ScannerAdapterError('POST /api/v1/scan: the scanner answered without a scan request id');
    return body.id;
  }

  async report(id: string): Promise<ScannerReportPoll> {
    const what = `GET /api/v1/scan/${id}/report`;
    const response = await this.send('GET', `api/v1/scan/${encodeURIComponent(id)}/report`, { accept: ScannerMime.vulnReport });
    if (response.status === 302) {
      await response.discard();
      return { state: 'running', retryAfterMs: retryAfterMs(response) };
    }
    await this.expect(response, [200], what);
    return { state: 'done', report: this.parse(await response.text(maxReportBytes), harborReportSchema, what) };
  }

  private async send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<OutboundResponse> {
    const { auth, credential } = this.options;
    const all = { ...headers };
    if (credential && auth === 'basic') all.authorization = `Basic ${Buffer.from(credential).toString('base64')}`;
    if (credential && auth === 'bearer') all.authorization = `Bearer ${credential}`;
    if (credential && auth === 'api-key') all['x-scanneradapter-api-key'] = credential;
    try {
      return await this.options.outbound.request('scanner', new URL(path, this.base).href, { method, headers: all, body, maxRedirects: 0, tls: this.options.skipCertVerify ? { insecure: true } : undefined });
    } catch (err) {
      const blocked = blockedByPolicy(err);
      if (blocked) throw new ScannerAdapterError(`scanner url blocked by policy: ${blocked.message}`);
      throw new ScannerAdapterError(transportFailure(err, this.base.host).message);
    }
  }

  private async expect(response: OutboundResponse, ok: number[], what: string): Promise<void> {
    if (ok.includes(response.status)) return;
    const text = (await response.text(4096).catch(() => '')).slice(0, 2000);
    await response.discard().catch(() => undefined);
    // The spec's ErrorResponse: {"error": {"message": "..."}}.
    let said = text.slice(0, 300);
    try {
      const message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
      if (typeof message === 'string') said = message.slice(0, 500);
    } catch {
      // Not JSON: the text itself.
    }
    const why =
      response.status === 401 || response.status === 403
        ? 'the scanner refused the credentials'
        : response.status === 404
          ? 'not found: is the URL a scanner adapter (Harbor pluggable scanner API v1.1)?'
          : `the scanner answered ${response.status}`;
    throw new ScannerAdapterError(`${what}: ${why}${said ? `: ${said}` : ''}`, response.status);
  }

  private json(text: string, what: string): unknown {
    try {
      return JSON.parse(text);
    } catch {
      throw new ScannerAdapterError(`${what}: the scanner answered something that is not JSON`);
    }
  }

  private parse<T extends z.ZodType>(text: string, schema: T, what: string): z.infer<T> {
    const parsed = schema.safeParse(this.json(text, what));
    if (!parsed.success) throw new ScannerAdapterError(`${what}: the answer does not follow the scanner API: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ').slice(0, 300)}`);
    return parsed.data;
  }
}

/** Refresh-After (the spec's name) or Retry-After, in seconds or as an HTTP date. */
function retryAfterMs(response: OutboundResponse): number | undefined {
  for (const name of ['refresh-after', 'retry-after']) {
    const raw = response.headers[name];
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (!value) continue;
    if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
    const at = Date.parse(value);
    if (!Number.isNaN(at)) return Math.max(0, at - Date.now());
  }
  return undefined;
}
