import type { HarborReport, ScannerMetadata } from '../domain/vulns/harbor-report.js';

/** An external scanner that failed, said no, or answered what the spec does not allow; `message` says which. */
export class ScannerAdapterError extends Error {
  constructor(
    message: string,
    /** The scanner's HTTP status, when it answered. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ScannerAdapterError';
  }
}

/** ScanRequest of Harbor's pluggable scanner API v1.1: where to pull the artifact, and with what. */
export interface ScannerScanRequest {
  registry: { url: string; authorization?: string };
  artifact: { repository: string; digest: string; tag?: string; mime_type: string };
}

export type ScannerReportPoll = { state: 'running'; retryAfterMs?: number } | { state: 'done'; report: HarborReport };

/** A scanner adapter's API (`<url>/api/v1/...`), through the outbound-request policy ('scanner'). */
export interface ScannerAdapter {
  metadata(): Promise<ScannerMetadata>;
  /** Accepts the scan; resolves the scan request id. */
  scan(request: ScannerScanRequest): Promise<string>;
  /** The report, or that it is still being made (302 with Refresh-After / Retry-After). */
  report(id: string): Promise<ScannerReportPoll>;
}
