/** What a P2P provider says of a preheat job. */
export interface PreheatJob {
  id: string;
  state: 'PENDING' | 'SUCCESS' | 'FAILURE';
  /** Why it failed, as the provider says it. */
  message?: string;
}

export interface PreheatRequest {
  /** The image's manifest URL on this registry (`https://berth/v2/<repo>/manifests/<tag>`). */
  url: string;
  username: string;
  password: string;
  scope: 'single_seed_peer' | 'all_seed_peers' | 'all_peers';
  clusterIds: number[] | null;
}

export class PreheatProviderError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'PreheatProviderError';
  }
}

/** A P2P distribution system's API (Dragonfly's manager open API), through the outbound-request policy. */
export interface PreheatProvider {
  /** Checks the address and the credentials; throws PreheatProviderError saying what is wrong. */
  ping(): Promise<void>;
  createJob(request: PreheatRequest): Promise<PreheatJob>;
  getJob(id: string): Promise<PreheatJob>;
}
