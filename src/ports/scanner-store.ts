/** How Berth authenticates to an external scanner, as Harbor's scanner registrations offer. */
export const scannerAuthModes = ['none', 'basic', 'bearer', 'api-key'] as const;
export type ScannerAuth = (typeof scannerAuthModes)[number];

/** An external scanner speaking Harbor's pluggable scanner API v1.1 (docs/scanners.md). */
export interface ScannerRow {
  id: number;
  name: string;
  description: string | null;
  /** The adapter's base URL; the API is under `<url>/api/v1`. */
  url: string;
  auth: ScannerAuth;
  /** `user:password` (basic), a token (bearer) or the key (api-key), sealed with the SecretBox. */
  credentialSealed: string | null;
  skipCertVerify: boolean;
  enabled: boolean;
  /** Scans without a scanner named use this one instead of the built-in scanner. */
  isDefault: boolean;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
}

export type NewScanner = Omit<ScannerRow, 'id'>;

export interface ScannerStore {
  list(): Promise<ScannerRow[]>;
  get(id: number): Promise<ScannerRow | undefined>;
  byName(name: string): Promise<ScannerRow | undefined>;
  /** The default scanner, when one is registered. */
  defaultScanner(): Promise<ScannerRow | undefined>;
  /** Throws CONFLICT when the name is taken; `isDefault` takes the mark from any other, in one transaction. */
  create(scanner: NewScanner): Promise<ScannerRow>;
  /** As create for the name and the default mark. */
  update(id: number, patch: Partial<NewScanner>): Promise<ScannerRow | undefined>;
  delete(id: number): Promise<boolean>;
}

export type AdapterScanStatus = 'running' | 'succeeded' | 'failed';

/** A scan request Berth's own scanner-adapter endpoint accepted (Berth as Harbor's scanner). */
export interface AdapterScanRow {
  id: string;
  repository: string;
  digest: string;
  status: AdapterScanStatus;
  /** The Harbor vulnerability report, once succeeded. */
  report: unknown;
  error: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface AdapterScanStore {
  create(row: Pick<AdapterScanRow, 'id' | 'repository' | 'digest' | 'createdAt'>): Promise<void>;
  get(id: string): Promise<AdapterScanRow | undefined>;
  finish(id: string, outcome: { status: 'succeeded'; report: unknown } | { status: 'failed'; error: string }, now: number): Promise<void>;
  /** Removes requests made before `before`; returns how many. */
  prune(before: number): Promise<number>;
}
