import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OCI_MANIFEST } from './oci.js';

/** What the stand-in was asked to preheat, and what the credentials it got could do on Berth. */
export interface RecordedJob {
  id: number;
  authorization: string | undefined;
  body: { type: string; args: { type: string; url: string; username: string; password: string; scope: string }; scheduler_cluster_ids?: number[] };
  /** Status of a GET of the manifest URL with the credentials given (as Dragonfly's seed peer would). */
  pullStatus: number;
  /** Status of starting an upload with them (they must not allow pushes). */
  pushStatus: number;
  polls: number;
}

/**
 * A stand-in for Dragonfly's manager, made from its documented open API (d7y.io, "Open API:
 * preheat"): `POST /oapi/v1/jobs` with a Bearer personal access token makes a job that is
 * PENDING on its first poll and SUCCESS after (FAILURE, with a message, for a URL naming
 * `fail`); `GET /oapi/v1/jobs/{id}` tells its `state`; a wrong token gets 401.
 */
export class StandInDragonfly {
  readonly jobs: RecordedJob[] = [];
  private server: Server | undefined;
  url = '';

  constructor(private readonly token: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req).then(({ status, body }) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body: unknown }> {
    if (req.headers.authorization !== `Bearer ${this.token}`) return { status: 401, body: { message: 'invalid personal access token' } };
    const url = new URL(req.url ?? '/', this.url);
    if (req.method === 'GET' && url.pathname === '/oapi/v1/jobs') return { status: 200, body: this.jobs.map((j) => ({ id: j.id, type: 'preheat', state: 'SUCCESS' })) };
    if (req.method === 'POST' && url.pathname === '/oapi/v1/jobs') {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as RecordedJob['body'];
      const basic = `Basic ${Buffer.from(`${body.args.username}:${body.args.password}`).toString('base64')}`;
      const pullStatus = (await fetch(body.args.url, { headers: { authorization: basic, accept: OCI_MANIFEST } })).status;
      const repository = new URL(body.args.url).pathname.split('/manifests/')[0]!.slice('/v2/'.length);
      const pushStatus = (await fetch(new URL(`/v2/${repository}/blobs/uploads/`, body.args.url), { method: 'POST', headers: { authorization: basic } })).status;
      const job: RecordedJob = { id: this.jobs.length + 1, authorization: req.headers.authorization, body, pullStatus, pushStatus, polls: 0 };
      this.jobs.push(job);
      return { status: 200, body: { id: job.id, task_id: `group_${job.id}`, type: 'preheat', state: 'PENDING', args: body.args } };
    }
    const match = /^\/oapi\/v1\/jobs\/(\d+)$/.exec(url.pathname);
    const job = match && this.jobs.find((j) => j.id === Number(match[1]));
    if (req.method === 'GET' && job) {
      job.polls++;
      const failed = job.body.args.url.includes('fail');
      // Dragonfly reports the job's machinery states on the way (RECEIVED, STARTED) before it settles.
      const state = job.polls < 2 ? (['PENDING', 'RECEIVED', 'STARTED'] as const)[job.id % 3]! : failed ? 'FAILURE' : 'SUCCESS';
      return { status: 200, body: { id: job.id, type: 'preheat', state, result: failed && state === 'FAILURE' ? { error_message: 'seed peer could not download the image' } : null } };
    }
    return { status: 404, body: { message: 'not found' } };
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

