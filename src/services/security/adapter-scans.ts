import { randomUUID } from 'node:crypto';
import { BerthError } from '../../domain/errors.js';
import { MediaType } from '../../domain/media-types.js';
import { ScannerMime, toHarborReport, type HarborReport, type ScannerMetadata } from '../../domain/vulns/harbor-report.js';
import type { ScannerScanRequest } from '../../ports/scanner-adapter.js';
import type { AdapterScanStore } from '../../ports/scanner-store.js';
import { UpstreamError, type UpstreamCredentials, type UpstreamRegistry } from '../../ports/upstream-registry.js';
import type { VulnStore } from '../../ports/vuln-store.js';
import type { InventoryService } from './inventory-service.js';
import type { RemoteLayers } from './remote-layers.js';
import type { ScanService } from './scan-service.js';

/** A scan request refused as the spec says: 400 (malformed) or 422 (a field not acceptable). */
export class ScanRequestRefused extends Error {
  constructor(
    readonly status: 400 | 422,
    message: string,
  ) {
    super(message);
    this.name = 'ScanRequestRefused';
  }
}

export interface AdapterScansOptions {
  store: AdapterScanStore;
  scans: ScanService;
  vulns: VulnStore;
  /** The inventory over `layers` (its summaries shared by every request, by digest). */
  inventory: InventoryService;
  layers: RemoteLayers;
  /** A client of the registry a request names, through the outbound policy ('scanner'). */
  connect: (url: string, credentials: UpstreamCredentials | undefined) => UpstreamRegistry;
  /** Throws a message saying the URL is blocked by policy, or resolves. */
  checkUrl: (url: string) => Promise<void>;
  version: string;
  onError?: (err: unknown) => void;
  /** A request still running after this is reported failed (the instance running it stopped). */
  abandonedAfterMs?: number;
  now?: () => number;
}

export type AdapterReport = { state: 'running' } | { state: 'failed'; error: string } | { state: 'done'; report: HarborReport };

const consumed = [MediaType.ociManifest, MediaType.dockerManifest];
/** Requests are kept this long for their reports to be read. */
const keepMs = 24 * 3600_000;

/**
 * Berth's scanner served through Harbor's pluggable scanner API v1.1 (docs/scanners.md): a
 * request names a registry, credentials and an artifact; the artifact's manifest and layers are
 * pulled from there (the outbound policy's 'scanner' feature), its layers streamed into the
 * same walker and inventory as local scans, matched against the imported advisories, and the
 * findings kept as a Harbor report. Requests live in the database so any instance answers their
 * report; the instance that accepted one runs it.
 */
export class AdapterScans {
  private readonly now: () => number;

  constructor(private readonly options: AdapterScansOptions) {
    this.now = options.now ?? Date.now;
  }

  async metadata(): Promise<ScannerMetadata> {
    const status = await this.options.vulns.status();
    return {
      scanner: { name: 'Berth', vendor: 'Berth', version: this.options.version },
      capabilities: [{ consumes_mime_types: [...consumed], produces_mime_types: [ScannerMime.vulnReport, ScannerMime.harborReport] }],
      properties: {
        'harbor.scanner-adapter/scanner-type': 'os-package-vulnerability',
        'harbor.scanner-adapter/vulnerability-database-updated-at': status.lastImport ? new Date(status.lastImport.importedAt).toISOString() : '',
        'dev.berth/vulnerability-database-version': String(status.version),
      },
    };
  }

  /** Accepts a scan request (the scan runs in the background here); resolves its id. */
  async accept(body: unknown): Promise<string> {
    const request = validRequest(body);
    try {
      await this.options.checkUrl(request.registry.url);
    } catch (err) {
      throw new ScanRequestRefused(422, `registry.url ${(err as Error).message}`);
    }
    const id = randomUUID();
    const now = this.now();
    await this.options.store.prune(now - keepMs);
    await this.options.store.create({ id, repository: request.artifact.repository, digest: request.artifact.digest, createdAt: now });
    void this.run(id, request).catch((err: unknown) => this.options.onError?.(err));
    return id;
  }

  /** The report of request `id`; undefined when there is none. */
  async report(id: string): Promise<AdapterReport | undefined> {
    const row = await this.options.store.get(id);
    if (!row) return undefined;
    if (row.status === 'succeeded') return { state: 'done', report: row.report as HarborReport };
    if (row.status === 'failed') return { state: 'failed', error: row.error ?? 'the scan failed' };
    if (this.now() - row.createdAt > (this.options.abandonedAfterMs ?? 30 * 60_000)) return { state: 'failed', error: 'the scan was abandoned: the instance running it stopped; send the request again' };
    return { state: 'running' };
  }

  private async run(id: string, request: ScannerScanRequest): Promise<void> {
    const { repository, digest } = request.artifact;
    const registry = this.options.connect(request.registry.url, credentialsOf(request.registry.authorization));
    const session = this.options.layers.session(registry, repository);
    try {
      const source = {
        manifest: async (repo: string, reference: string) => {
          const manifest = await registry.getManifest(repo, reference);
          if (!manifest) throw new BerthError('MANIFEST_UNKNOWN', { message: `the registry has no manifest ${reference} in ${repo}` });
          return manifest;
        },
        inventory: (_repo: string, layers: ReadonlyArray<{ digest: string }>) => this.options.inventory.ofImage(session.key, layers),
      };
      const { findings } = await this.options.scans.match(source, repository, digest);
      const report = toHarborReport(findings, { generatedAt: this.now(), artifact: request.artifact, scanner: { name: 'Berth', vendor: 'Berth', version: this.options.version } });
      await this.options.store.finish(id, { status: 'succeeded', report }, this.now());
    } catch (err) {
      const known = err instanceof BerthError ? `${err.code}: ${err.message}` : err instanceof UpstreamError ? `pulling ${repository}@${digest}: ${err.message}` : undefined;
      if (!known) this.options.onError?.(err);
      await this.options.store.finish(id, { status: 'failed', error: (known ?? 'internal error while scanning (see the server log)').slice(0, 2000) }, this.now());
    } finally {
      session.close();
    }
  }
}

function validRequest(body: unknown): ScannerScanRequest {
  if (typeof body !== 'object' || body === null) throw new ScanRequestRefused(400, 'the body is not a ScanRequest JSON object');
  const { registry, artifact } = body as { registry?: { url?: unknown; authorization?: unknown }; artifact?: { repository?: unknown; digest?: unknown; tag?: unknown; mime_type?: unknown } };
  if (typeof registry?.url !== 'string' || typeof artifact?.repository !== 'string' || typeof artifact.digest !== 'string') throw new ScanRequestRefused(400, 'registry.url, artifact.repository and artifact.digest are required strings');
  let url: URL;
  try {
    url = new URL(registry.url);
  } catch {
    throw new ScanRequestRefused(422, 'registry.url is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ScanRequestRefused(422, 'registry.url must be http or https');
  if (registry.authorization !== undefined && registry.authorization !== '' && (typeof registry.authorization !== 'string' || !/^Basic [A-Za-z0-9+/=]+$/.test(registry.authorization))) {
    throw new ScanRequestRefused(422, 'registry.authorization must be Basic credentials');
  }
  if (!/^[a-z0-9]+(?:[._/-][a-z0-9]+)*$/.test(artifact.repository) || artifact.repository.length > 255) throw new ScanRequestRefused(422, 'artifact.repository is not a repository name');
  if (!/^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$/.test(artifact.digest)) throw new ScanRequestRefused(422, 'artifact.digest is not a digest');
  const mimeType = typeof artifact.mime_type === 'string' ? artifact.mime_type : MediaType.ociManifest;
  if (!consumed.includes(mimeType as (typeof consumed)[number])) throw new ScanRequestRefused(422, `artifact.mime_type ${mimeType.slice(0, 100)} is not one this scanner consumes (${consumed.join(', ')})`);
  return {
    registry: { url: url.href.replace(/\/+$/, ''), ...(typeof registry.authorization === 'string' && registry.authorization ? { authorization: registry.authorization } : {}) },
    artifact: { repository: artifact.repository, digest: artifact.digest, mime_type: mimeType, ...(typeof artifact.tag === 'string' ? { tag: artifact.tag } : {}) },
  };
}

function credentialsOf(authorization: string | undefined): UpstreamCredentials | undefined {
  if (!authorization) return undefined;
  const decoded = Buffer.from(authorization.slice('Basic '.length), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { username: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}
