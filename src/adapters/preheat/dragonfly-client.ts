import { blockedByPolicy, type Outbound, type OutboundResponse } from '../../ports/outbound.js';
import { PreheatProviderError, type PreheatJob, type PreheatProvider, type PreheatRequest } from '../../ports/preheat-provider.js';
import { transportFailure } from '../upstream/registry-client.js';

export interface DragonflyOptions {
  outbound: Outbound;
  /** The manager's address (`http://dragonfly-manager:8080`). */
  url: string;
  authMode: 'none' | 'basic' | 'oauth';
  username?: string | null;
  /** Password (basic) or personal access token (oauth). */
  secret?: string | null;
  insecure?: boolean;
}


/**
 * Dragonfly's manager open API (d7y.io, "Open API: preheat"): `POST /oapi/v1/jobs` with
 * `{type: "preheat", args: {type: "image", url, username, password, scope}, scheduler_cluster_ids}`
 * makes a job, `GET /oapi/v1/jobs/{id}` tells its `state` (PENDING, SUCCESS, FAILURE). A personal
 * access token goes as `Authorization: Bearer`. Requests go through the outbound policy ('preheat').
 */
export class DragonflyClient implements PreheatProvider {
  private readonly base: URL;

  constructor(private readonly options: DragonflyOptions) {
    this.base = new URL(options.url.endsWith('/') ? options.url : `${options.url}/`);
  }

  async ping(): Promise<void> {
    // Listing jobs needs the token the preheat calls need: a cheap check of both address and credentials.
    const response = await this.send('GET', 'oapi/v1/jobs?page=1&per_page=1');
    await this.expect(response, [200], 'GET /oapi/v1/jobs');
    await response.discard();
  }

  async createJob(request: PreheatRequest): Promise<PreheatJob> {
    const body = {
      type: 'preheat',
      args: { type: 'image', url: request.url, username: request.username, password: request.password, scope: request.scope },
      ...(request.clusterIds ? { scheduler_cluster_ids: request.clusterIds } : {}),
    };
    const response = await this.send('POST', 'oapi/v1/jobs', body);
    await this.expect(response, [200, 201], 'POST /oapi/v1/jobs');
    return this.job(await response.text());
  }

  async getJob(id: string): Promise<PreheatJob> {
    const response = await this.send('GET', `oapi/v1/jobs/${encodeURIComponent(id)}`);
    await this.expect(response, [200], `GET /oapi/v1/jobs/${id}`);
    return this.job(await response.text());
  }

  private job(text: string): PreheatJob {
    let job: { id?: unknown; state?: unknown; status?: unknown; result?: unknown };
    try {
      job = JSON.parse(text) as typeof job;
    } catch {
      throw new PreheatProviderError('the provider answered something that is not JSON: is this a Dragonfly manager?');
    }
    // Dragonfly 2.1+ says `state`; older managers said `status`.
    const state = typeof job.state === 'string' ? job.state : job.status;
    if ((typeof job.id !== 'number' && typeof job.id !== 'string') || typeof state !== 'string') {
      throw new PreheatProviderError('the provider answered a job without an id or a state');
    }
    const result = job.result as { error_message?: unknown; message?: unknown } | null | undefined;
    const message = typeof result?.error_message === 'string' ? result.error_message : typeof result?.message === 'string' ? result.message : undefined;
    // Dragonfly's machinery has more states on the way (RECEIVED, STARTED, RETRY): all of them are still running.
    const settled = state === 'SUCCESS' || state === 'FAILURE' ? state : 'PENDING';
    return { id: String(job.id), state: settled, ...(message ? { message } : {}) };
  }

  private async send(method: string, path: string, body?: unknown): Promise<OutboundResponse> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const { authMode, username, secret } = this.options;
    if (authMode === 'oauth' && secret) headers.authorization = `Bearer ${secret}`;
    if (authMode === 'basic' && username && secret) headers.authorization = `Basic ${Buffer.from(`${username}:${secret}`).toString('base64')}`;
    const url = new URL(path, this.base).href;
    try {
      return await this.options.outbound.request('preheat', url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        tls: this.options.insecure ? { insecure: true } : undefined,
      });
    } catch (err) {
      if (blockedByPolicy(err)) throw new PreheatProviderError(blockedByPolicy(err)!.message);
      throw new PreheatProviderError(transportFailure(err, this.base.host).message);
    }
  }

  private async expect(response: OutboundResponse, ok: number[], what: string): Promise<void> {
    if (ok.includes(response.status)) return;
    const detail = (await response.text(4096).catch(() => '')).slice(0, 300);
    await response.discard().catch(() => undefined);
    const why =
      response.status === 401 || response.status === 403
        ? 'the provider refused the credentials (check the personal access token and its scopes)'
        : response.status === 404
          ? 'not found: is the URL a Dragonfly manager (2.1 or later, with the open API)?'
          : `the provider answered ${response.status}`;
    throw new PreheatProviderError(`${what}: ${why}${detail ? `: ${detail}` : ''}`, response.status);
  }
}
