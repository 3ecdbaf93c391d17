import { BerthError } from '../../domain/errors.js';
import { ScannerMime, type ScannerMetadata } from '../../domain/vulns/harbor-report.js';
import { MediaType } from '../../domain/media-types.js';
import { ScannerAdapterError, type ScannerAdapter } from '../../ports/scanner-adapter.js';
import type { ScannerAuth, ScannerRow, ScannerStore } from '../../ports/scanner-store.js';
import { SecretKeyError, type SecretBox } from '../../ports/secrets.js';
import { builtInScanner } from './scan-service.js';

export interface ScannerInput {
  name: string;
  description?: string | null;
  url: string;
  auth?: ScannerAuth;
  /** `user:password` (basic), a token (bearer) or the API key; write-only. */
  credential?: string | null;
  skipCertVerify?: boolean;
  enabled?: boolean;
  isDefault?: boolean;
}

export interface ScannerRegistrationsOptions {
  box: SecretBox;
  /** Refuses a URL the outbound policy refuses now (throws BAD_REQUEST "… blocked by policy"). */
  checkUrl: (url: string) => Promise<void>;
  /** A client of the scanner, its credential opened. */
  connect: (scanner: ScannerRow, credential: string | null) => ScannerAdapter;
  now?: () => number;
}

/** A registered scanner ready to scan: its name (recorded in reports) and its client. */
export interface ChosenScanner {
  name: string;
  adapter: ScannerAdapter;
}

export interface PingResult {
  ok: boolean;
  message: string;
  metadata?: ScannerMetadata;
}

/**
 * How long the default scanner, once read, is used without reading it again: every scan of a
 * push asks for it. A change made in this process applies at once; one made by another
 * process or instance within this time.
 */
export const defaultScannerTtlMs = 5_000;

/** What Berth hands a scanner, and the report it asks for. */
const consumed = [MediaType.ociManifest, MediaType.dockerManifest];
const produced = [ScannerMime.vulnReport, ScannerMime.harborReport];

/**
 * External scanners (Harbor's pluggable scanner API v1.1, docs/scanners.md): registered by
 * system administrators, their credentials sealed, their URLs checked with the outbound policy.
 * At most one is the default, used instead of the built-in scanner when a scan names none.
 */
export class ScannerRegistrations {
  private readonly now: () => number;
  /** The default scanner's last read, and when it started. */
  private defaultRead?: { at: number; scanner: Promise<ScannerRow | undefined> };

  constructor(
    private readonly store: ScannerStore,
    private readonly options: ScannerRegistrationsOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  list(): Promise<ScannerRow[]> {
    return this.store.list();
  }

  async get(id: number): Promise<ScannerRow> {
    const scanner = await this.store.get(id);
    if (!scanner) throw new BerthError('NOT_FOUND', { message: `scanner ${id} not found` });
    return scanner;
  }

  async create(input: ScannerInput, actor: string): Promise<ScannerRow> {
    const url = scannerUrl(input.url);
    const auth = input.auth ?? 'none';
    checkCredential(auth, input.credential ?? null);
    checkDefault(input.enabled ?? true, input.isDefault ?? false);
    reserved(input.name);
    await this.options.checkUrl(url);
    const now = this.now();
    const created = await this.store.create({
      name: input.name,
      description: input.description ?? null,
      url,
      auth,
      credentialSealed: auth !== 'none' && input.credential ? this.options.box.seal(input.credential) : null,
      skipCertVerify: input.skipCertVerify ?? false,
      enabled: input.enabled ?? true,
      isDefault: input.isDefault ?? false,
      createdBy: actor,
      createdAt: now,
      updatedAt: now,
    });
    // After the write: a read that started before it must not be kept.
    this.defaultRead = undefined;
    return created;
  }

  async update(id: number, patch: Partial<ScannerInput>): Promise<ScannerRow> {
    const current = await this.get(id);
    const url = patch.url === undefined ? undefined : scannerUrl(patch.url);
    const auth = patch.auth ?? current.auth;
    if (patch.name !== undefined) reserved(patch.name);
    // A credential given replaces the stored one; `auth: none` drops it.
    const credential = auth === 'none' ? null : patch.credential;
    if (patch.credential !== undefined || patch.auth !== undefined) checkCredential(auth, credential === undefined ? (current.credentialSealed === null ? null : 'stored') : credential);
    checkDefault(patch.enabled ?? current.enabled, patch.isDefault ?? current.isDefault);
    if (url !== undefined) await this.options.checkUrl(url);
    const updated = await this.store.update(id, {
      name: patch.name,
      description: patch.description,
      url,
      auth: patch.auth,
      credentialSealed: credential === undefined ? undefined : credential ? this.options.box.seal(credential) : null,
      skipCertVerify: patch.skipCertVerify,
      enabled: patch.enabled,
      isDefault: patch.isDefault,
      updatedAt: this.now(),
    });
    this.defaultRead = undefined;
    return updated!;
  }

  async delete(id: number): Promise<ScannerRow> {
    const scanner = await this.get(id);
    await this.store.delete(id);
    this.defaultRead = undefined;
    return scanner;
  }

  /** Asks the scanner for its metadata, and says whether it scans images into the report Berth reads. */
  async ping(id: number): Promise<PingResult> {
    const scanner = await this.get(id);
    let metadata: ScannerMetadata;
    try {
      metadata = await this.client(scanner).metadata();
    } catch (err) {
      if (err instanceof ScannerAdapterError) return { ok: false, message: err.message };
      throw err;
    }
    const capable = metadata.capabilities.some((c) => c.consumes_mime_types.some((t) => consumed.includes(t as (typeof consumed)[number])) && c.produces_mime_types.some((t) => produced.includes(t as (typeof produced)[number])));
    const who = [metadata.scanner.name, metadata.scanner.version].filter(Boolean).join(' ');
    return capable
      ? { ok: true, message: `${who} answered: it scans image manifests into vulnerability reports`, metadata }
      : { ok: false, message: `${who} answered, but no capability consumes image manifests and produces ${ScannerMime.vulnReport}`, metadata };
  }

  /**
   * The scanner a scan uses: the one named (`berth` is the built-in scanner), else the default
   * external scanner; undefined means the built-in scanner.
   */
  async choose(name?: string): Promise<ChosenScanner | undefined> {
    if (name === builtInScanner) return undefined;
    if (name !== undefined) {
      const named = await this.store.byName(name);
      if (!named) throw new BerthError('NOT_FOUND', { message: `no scanner named ${name} is registered (${builtInScanner} is the built-in scanner)` });
      if (!named.enabled) throw new BerthError('CONFLICT', { message: `scanner ${name} is disabled` });
      return { name: named.name, adapter: this.client(named) };
    }
    const chosen = await this.defaultScanner();
    return chosen?.enabled ? { name: chosen.name, adapter: this.client(chosen) } : undefined;
  }

  /** The default external scanner, read at most every defaultScannerTtlMs (a failed read is not kept). */
  private defaultScanner(): Promise<ScannerRow | undefined> {
    const now = this.now();
    if (!this.defaultRead || now - this.defaultRead.at >= defaultScannerTtlMs) {
      const read = this.store.defaultScanner();
      const entry = { at: now, scanner: read };
      this.defaultRead = entry;
      read.catch(() => {
        if (this.defaultRead === entry) this.defaultRead = undefined;
      });
    }
    return this.defaultRead.scanner;
  }

  private client(scanner: ScannerRow): ScannerAdapter {
    let credential: string | null = null;
    try {
      credential = scanner.credentialSealed === null ? null : this.options.box.open(scanner.credentialSealed);
    } catch (err) {
      if (err instanceof SecretKeyError) throw new BerthError('UNAVAILABLE', { message: `the credential of scanner ${scanner.name} cannot be read: ${err.message}` });
      throw err;
    }
    return this.options.connect(scanner, credential);
  }
}

/** A scanner's base URL: http(s), no credentials, query or fragment. */
function scannerUrl(given: string): string {
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    throw new BerthError('BAD_REQUEST', { message: `scanner url is not a URL: ${given.slice(0, 200)}` });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new BerthError('BAD_REQUEST', { message: 'scanner url must be http or https' });
  if (url.username || url.password || url.search || url.hash) throw new BerthError('BAD_REQUEST', { message: 'scanner url must not hold credentials, a query or a fragment' });
  return url.href.replace(/\/+$/, '');
}

function checkCredential(auth: ScannerAuth, credential: string | null): void {
  if (auth === 'none') return;
  if (!credential) throw new BerthError('BAD_REQUEST', { message: `auth ${auth} needs a credential` });
  if (auth === 'basic' && credential !== 'stored' && !credential.includes(':')) throw new BerthError('BAD_REQUEST', { message: 'a basic credential is user:password' });
}

function checkDefault(enabled: boolean, isDefault: boolean): void {
  if (isDefault && !enabled) throw new BerthError('BAD_REQUEST', { message: 'a disabled scanner cannot be the default' });
}

function reserved(name: string): void {
  if (name === builtInScanner) throw new BerthError('BAD_REQUEST', { message: `${builtInScanner} is the built-in scanner's name` });
}
