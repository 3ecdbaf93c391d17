import type { Readable } from 'node:stream';

/**
 * Features that make requests to other hosts. Each has its own allowlist, so allowing a
 * webhook receiver on the internal network does not open it to proxy-cache upstreams.
 */
export const outboundFeatures = ['webhook', 'replication', 'proxyCache', 'scanner', 'oidc', 'preheat'] as const;
export type OutboundFeature = (typeof outboundFeatures)[number];

/** How a connection checks the server's certificate, beyond the system's trust store. */
export interface OutboundTls {
  /** PEM certificates trusted besides the system's (a private CA). */
  ca?: string;
  /** No verification at all (a self-signed certificate nobody will fix). */
  insecure?: boolean;
}

export interface OutboundRequest {
  method?: string;
  headers?: Record<string, string>;
  /** A stream is sent once: a redirect answering it is returned, not followed. */
  body?: string | Buffer | Readable;
  /** Connect plus response headers, per hop; default from `outbound.timeoutMs`. */
  timeoutMs?: number;
  /** Redirects followed (each checked like the first request); 0 returns the 3xx itself. */
  maxRedirects?: number;
  signal?: AbortSignal;
  tls?: OutboundTls;
}

export interface OutboundResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Where the answer came from, after redirects. */
  url: string;
  /** The body as a stream (the caller must read or `discard()` it). */
  body: Readable;
  /** Reads the body as text, refusing one longer than `maxBytes` (default `outbound.maxResponseBytes`). */
  text(maxBytes?: number): Promise<string>;
  /** Reads and drops the body, at most `maxBytes` of it (the connection closes past that). */
  discard(maxBytes?: number): Promise<void>;
}

/**
 * The one way Berth talks to other hosts (DESIGN.md, "Outbound requests"): http and https
 * only; every connection's resolved address checked against the policy (loopback, private,
 * link-local, unique-local, multicast, unspecified and their IPv4-mapped forms refused unless
 * allowlisted for the feature), on redirects too; time and size limits on what is read.
 */
export interface Outbound {
  request(feature: OutboundFeature, url: string, request?: OutboundRequest): Promise<OutboundResponse>;
  /**
   * Checks a URL before it is stored (a webhook, an endpoint): scheme, and the addresses its
   * host resolves to now. Throws OutboundBlockedError; a name that does not resolve passes
   * (it is checked again at every connection).
   */
  check(feature: OutboundFeature, url: string): Promise<void>;
  /** A WHATWG `fetch` bound to the policy of `feature`, for libraries that take one (OIDC). */
  fetchFor(feature: OutboundFeature): typeof fetch;
  close(): Promise<void>;
}

/** A request refused by the outbound policy; `message` names the address class and the setting that allows it. */
export class OutboundBlockedError extends Error {
  readonly code = 'OUTBOUND_BLOCKED';

  constructor(
    message: string,
    readonly feature: OutboundFeature,
    /** The address refused (for the log; never shown to the requester beyond "blocked by policy"). */
    readonly address?: string,
  ) {
    super(message);
    this.name = 'OutboundBlockedError';
  }
}

/** Whether `err` (or what it wraps, as fetch's TypeError does) is a policy refusal. */
export function blockedByPolicy(err: unknown): OutboundBlockedError | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof OutboundBlockedError) return e;
  }
  return undefined;
}
