/** Another registry Berth replicates with or proxies (docs/replication.md). */
export interface EndpointRow {
  id: number;
  name: string;
  kind: string;
  url: string;
  description: string;
  username: string | null;
  /** The password or token, sealed (SecretBox); never in clear here. */
  secretSealed: string | null;
  /** TLS certificates are not verified (Harbor's "Verify Remote Cert" off). */
  insecure: boolean;
  /** PEM certificates trusted for this endpoint besides the system's (a private CA). */
  caCertificate: string | null;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
}

export type NewEndpoint = Omit<EndpointRow, 'id'>;
export type EndpointPatch = Partial<Omit<EndpointRow, 'id' | 'createdBy' | 'createdAt'>>;

export interface EndpointStore {
  list(): Promise<EndpointRow[]>;
  get(id: number): Promise<EndpointRow | undefined>;
  /** Throws CONFLICT (BerthError) when the name is taken. */
  create(endpoint: NewEndpoint): Promise<EndpointRow>;
  update(id: number, patch: EndpointPatch): Promise<EndpointRow | undefined>;
  delete(id: number): Promise<boolean>;
}
