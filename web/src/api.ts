/** The management API as the console uses it: same-origin, session cookie, problem errors. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`/api/v1${path}`, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) {
    const problem = (await res.json().catch(() => ({}))) as { code?: string; title?: string };
    throw new ApiError(res.status, problem.code ?? 'ERROR', problem.title ?? res.statusText);
  }
  return (res.status === 204 ? undefined : await res.json()) as T;
}

export interface Page<T> {
  items: T[];
  total: number;
}

export function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') search.set(k, String(v));
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** A repository name inside its project, as the API's {repository} path segment wants it. */
export function repoSegment(project: string, repository: string): string {
  const inner = repository.startsWith(`${project}/`) ? repository.slice(project.length + 1) : repository;
  return encodeURIComponent(inner);
}

export interface User {
  id: number;
  username: string;
  email: string | null;
  displayName: string | null;
  source: 'local' | 'ldap' | 'oidc';
  isAdmin: boolean;
  disabled: boolean;
  /** Some client address waits before it may try this account again (administrators' views). */
  locked?: boolean;
  createdAt: string;
  lastLoginAt: string | null;
  preferences: { language?: 'en' | 'zh-CN'; theme?: 'light' | 'dark' | 'system' };
}

export type Role = 'admin' | 'maintainer' | 'developer' | 'guest' | 'limited-guest';

export interface Project {
  id: number;
  name: string;
  public: boolean;
  createdAt: string;
  createdBy: string | null;
  repositoryCount?: number;
  currentUserRole?: Role | null;
}

export interface Repository {
  name: string;
  project: string;
  artifactCount: number;
  tagCount: number;
  createdAt: string;
  updatedAt: string;
}

export type ReferrerKind = 'signature' | 'sbom' | 'attestation' | 'other';

export interface ArtifactPlatform {
  digest: string;
  os: string;
  architecture: string;
  variant?: string;
  size: number;
}

export interface Artifact {
  digest: string;
  mediaType: string;
  artifactType: string | null;
  size: number;
  /** Every distinct blob: manifest, platform manifests, configs, layers. */
  totalSize: number;
  tags: string[];
  subject: string | null;
  pushedAt: string;
  annotations: Record<string, string> | null;
  /** An index's platforms (not listed as artifacts of their own); empty for an image. */
  platforms: ArtifactPlatform[];
  referrers: Array<{ digest: string; artifactType: string | null; mediaType: string; size: number; kind: ReferrerKind }>;
  pullCount: number;
  lastPulledAt: string | null;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface ArtifactDetail extends Artifact {
  repository: string;
  pullCommand: string;
  config: Descriptor | null;
  layers: Descriptor[];
  manifests: Array<Descriptor & { platform: { os: string; architecture: string; variant?: string } | null }>;
  history: Array<{ created: string | null; createdBy: string | null; emptyLayer: boolean }>;
  platform: { os: string | null; architecture: string | null } | null;
}

export interface Member {
  id: number;
  principalType: 'user' | 'group';
  principalId: number;
  principalName: string;
  role: Role;
  createdAt: string;
}

export interface Robot {
  id: number;
  name: string;
  project: string | null;
  description: string | null;
  permissions: Array<{ project: string; actions: Array<'pull' | 'push' | 'delete'> }>;
  expiresAt: string | null;
  disabled: boolean;
  createdAt: string;
  createdBy: string | null;
}

export interface Webhook {
  id: number;
  name: string;
  url: string;
  eventTypes: string[];
  format: 'harbor' | 'cloudevents';
  hasAuthHeader: boolean;
  hasSecret: boolean;
  enabled: boolean;
  createdAt: string;
}

export interface Delivery {
  id: number;
  eventType: string;
  status: 'pending' | 'succeeded' | 'retrying' | 'failed';
  attempts: number;
  responseCode: number | null;
  latencyMs: number | null;
  lastError: string | null;
  createdAt: string;
}

export interface AuditEntry {
  id: number;
  time: string;
  actor: string;
  actorType: string;
  action: string;
  resourceType: string;
  resource: string;
  project: string | null;
  sourceIp: string | null;
  result: 'success' | 'failure';
}

export interface SystemInfo {
  version: string;
  authentication: { local: boolean; ldap: boolean; oidc: boolean };
  tokenService: string;
}

export interface Job {
  id: number;
  type: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  attempts: number;
  maxAttempts: number;
  runAt: string;
  lastError: string | null;
  createdAt: string;
  finishedAt: string | null;
}

/** Status of a background run (garbage collection, retention, scrub). */
export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'interrupted';

/** Names a rule applies to: those the glob matches, or (`exclude`) every other one. */
export interface Selector {
  pattern: string;
  exclude?: boolean;
}

export const keepKinds = ['latestPushed', 'latestPulled', 'pushedWithinDays', 'pulledWithinDays', 'always', 'highestSemver'] as const;
export type KeepKind = (typeof keepKinds)[number];

export interface RetentionRule {
  repositories: Selector;
  tags: Selector;
  untagged: boolean;
  /** A count (latest…, highestSemver) or days (…WithinDays); none for `always`. */
  keep: { kind: KeepKind; value?: number };
  disabled?: boolean;
}

export interface RetentionPolicy {
  rules: RetentionRule[];
  /** Cron (UTC); empty: on demand only. */
  schedule: string;
}

export interface RetentionRun {
  id: number;
  status: Exclude<RunStatus, 'interrupted'>;
  dryRun: boolean;
  triggeredBy: string;
  kept: number;
  deleted: number;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface RetentionDecision {
  repository: string;
  digest: string;
  tags: string[];
  action: 'keep' | 'delete';
  reason: string;
}

export interface RetentionRunDetail extends RetentionRun {
  /** Null until the run ends. */
  report: RetentionDecision[] | null;
}

export interface ImmutabilityRule {
  repositories: Selector;
  tags: Selector;
  disabled?: boolean;
}

/** Storage bytes and artifacts; null: unlimited. */
export interface QuotaLimits {
  storageBytes: number | null;
  artifacts: number | null;
}

export interface ProjectQuota {
  project: string;
  limits: QuotaLimits;
  usage: { storageBytes: number; artifacts: number };
}

export interface ScrubRun {
  id: number;
  status: RunStatus;
  triggeredBy: string;
  /** The run that stopped midway and this one continued. */
  resumedFrom: number | null;
  objectsChecked: number;
  bytesChecked: number;
  corrupt: number;
  missing: number;
  released: number;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface QuarantinedObject {
  digest: string;
  size: number;
  kind: 'corrupt' | 'missing';
  quarantinedAt: string;
  /** Manifests that need the object, with their tags. */
  dependents: Array<{ repository: string; digest: string; tags: string[] }>;
}

export type RegistryKind = 'docker-hub' | 'ghcr' | 'quay' | 'gcr' | 'artifact-registry' | 'ecr' | 'acr' | 'harbor' | 'berth' | 'oci';

export interface RegistryEndpoint {
  id: number;
  name: string;
  kind: RegistryKind;
  kindLabel: string;
  url: string;
  description: string;
  username: string | null;
  hasSecret: boolean;
  insecure: boolean;
  caCertificate: string | null;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

export interface ConnectionCheck {
  ok: boolean;
  failure?: string;
  message: string;
  status?: number;
  latencyMs: number;
}

export interface ReplicationRule {
  id: number;
  name: string;
  description: string;
  endpointId: number;
  direction: 'pull' | 'push';
  repositories: string;
  tags: string;
  destinationNamespace: string | null;
  flatten: number;
  trigger: 'manual' | 'cron' | 'event';
  cron: string | null;
  copyReferrers: boolean;
  bandwidthKiB: number | null;
  replicateDeletion: boolean;
  artifactTypes: string[] | null;
  labels: string[] | null;
  enabled: boolean;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

export type ExecutionStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'stopping' | 'stopped';

export interface ReplicationExecution {
  id: number;
  ruleId: number;
  status: ExecutionStatus;
  trigger: string;
  retryOf: number | null;
  tasks: { pending: number; succeeded: number; failed: number; skipped: number };
  bytes: number;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface ReplicationTask {
  id: number;
  source: string;
  destination: string;
  reference: string;
  operation: 'copy' | 'delete';
  status: 'pending' | 'succeeded' | 'failed' | 'skipped';
  digest: string | null;
  bytes: number;
  manifests: number;
  blobs: number;
  error: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface ProxyCacheInfo {
  proxyCache: { endpointId: number; ttlSeconds: number } | null;
  health: { lastSuccessAt: string | null; lastFailureAt: string | null; lastFailure: { failure: string; message: string } | null; staleServed: number } | null;
}

export interface PreheatProvider {
  id: number;
  name: string;
  vendor: 'dragonfly';
  url: string;
  authMode: 'none' | 'basic' | 'oauth';
  username: string | null;
  hasSecret: boolean;
  insecure: boolean;
  enabled: boolean;
  createdBy: string;
  createdAt: string;
}

export interface PreheatPolicy {
  id: number;
  name: string;
  providerId: number;
  repositories: string;
  tags: string;
  trigger: 'manual' | 'cron' | 'event';
  cron: string | null;
  scope: 'single_seed_peer' | 'all_seed_peers' | 'all_peers';
  clusterIds: number[] | null;
  enabled: boolean;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

export interface PreheatExecution {
  id: number;
  policyId: number;
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  trigger: string;
  tasks: { pending: number; running: number; succeeded: number; failed: number };
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface PreheatTask {
  id: number;
  repository: string;
  tag: string;
  digest: string | null;
  jobId: string | null;
  status: 'pending' | 'running' | 'succeeded' | 'failed';
  message: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

/** Severities of findings, lowest first, as the scanner rates them (docs/vulnerabilities.md). */
export const severities = ['UNKNOWN', 'NONE', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export type Severity = (typeof severities)[number];

export interface Finding {
  /** The CVE when an advisory names one, else the advisory id. */
  id: string;
  advisories: string[];
  aliases: string[];
  severity: Severity;
  cvss?: { score: number; vector: string };
  summary: string;
  package: { name: string; version: string; type: string; purl: string };
  ecosystem: string;
  fixedVersion?: string;
  /** On the project's allowlist: shown, not held against the image. */
  allowlisted?: boolean;
}

export interface VulnerabilityReport {
  digest: string;
  status: 'succeeded' | 'failed';
  scanner: string;
  dbVersion: number;
  /** Matched against the newest import of the vulnerability database. */
  current: boolean;
  packages: number;
  summary: Partial<Record<Severity, number>>;
  findings: Finding[];
  error?: string;
  durationMs: number;
  scannedAt: string;
}

export interface InstalledPackage {
  name: string;
  version: string;
  type: string;
  purl: string;
  license?: string;
  source?: string;
  foundIn: string;
}

export interface PackageInventory {
  digest: string;
  os: { id: string; versionId?: string; prettyName?: string; codename?: string } | null;
  packages: InstalledPackage[];
}

export type PolicySeverity = 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL';

export interface SecurityPolicy {
  scanOnPush: boolean;
  /** Attach Berth's SBOMs to each image pushed, as referrers. */
  sbomOnPush: boolean;
  /** Refuse pulls of images with a finding of this severity or higher; null: off. */
  preventVulnerable: PolicySeverity | null;
  preventUnscanned: boolean;
  /** Refuse pulls of images without a signature the trusted signers verify. */
  preventUnsigned: boolean;
  /** Trusted signers (docs/signatures.md); edited through the API. */
  trust: { cosign?: { publicKeys?: string[]; keyless?: { identities?: unknown[] } }; notation?: { trustStore?: string[] } } | null;
  allowlist: Array<{ id: string; expiresAt?: string }>;
  /** Full robot names (robot$project+name) the pull policies never refuse. */
  exemptRobots: string[];
}

export interface VulnerabilityDatabase {
  version: number;
  advisories: number;
  /** Affected-package entries per OSV ecosystem. */
  ecosystems: Record<string, number>;
  lastImport?: { id: number; source: string; added: number; updated: number; unchanged: number; rejected: number; importedBy: string | null; importedAt: string };
}

/** Stable codes for why a signature did not verify (docs/signatures.md, "Reason codes"). */
export const signatureReasons = [
  'bad-signature',
  'digest-mismatch',
  'untrusted-key',
  'untrusted-identity',
  'certificate-expired',
  'signature-expired',
  'malformed',
  'unsupported',
  'no-trust-configured',
] as const;
export type SignatureReason = (typeof signatureReasons)[number];

export interface Signature {
  format: 'cosign' | 'sigstore-bundle' | 'notation' | 'unknown';
  /** cosign's `sha256-<hex>.sig` tag, or an OCI 1.1 referrer. */
  source: 'tag' | 'referrer';
  /** The signature artifact's manifest. */
  signatureDigest: string;
  layerDigest?: string;
  verified: boolean;
  /** A stable code (signatureReasons, or one a newer server added). */
  reason?: string;
  /** The reason in words; not stable. */
  detail?: string;
  /** Key fingerprint (hex SHA-256 of the SPKI), or the certificate's SAN or subject. */
  signer?: string;
  issuer?: string;
  signedAt?: string;
}

export interface SignatureStatus {
  digest: string;
  /** Some signature verified against the project's trusted signers. */
  verified: boolean;
  /** No verified signature of its own: the signed index of the repository that lists it. */
  verifiedThrough?: string;
  signatures: Signature[];
}

export interface Sbom {
  format: 'spdx' | 'cyclonedx' | 'syft' | 'other';
  mediaType: string;
  source: 'berth' | 'referrer' | 'cosign-attestation' | 'buildkit-attestation';
  /** The manifest holding it (a referrer, cosign's .att image, a BuildKit attestation manifest). */
  manifestDigest: string;
  /** The document (a DSSE envelope or in-toto statement for attestations), at /v2/<repository>/blobs/<digest>. */
  blobDigest: string;
  size: number;
  predicateType?: string;
  created?: string;
}

/** What "Attach SBOMs" did per format; `created: false` when Berth had attached it before. */
export interface AttachedSbom {
  format: 'spdx' | 'cyclonedx';
  digest: string;
  created: boolean;
}

/** An image's layers beside its history, wasted space and base (docs/insights.md, "Layers, history, wasted space and base image"). */
export interface ImageInsights {
  repository: string;
  digest: string;
  /** Lowest first. */
  layers: Array<{ index: number; digest: string; mediaType: string; compressedSize: number; uncompressedSize: number; files: number; createdBy: string | null; created: string | null }>;
  history: Array<{ index: number; created: string | null; createdBy: string | null; comment: string | null; emptyLayer: boolean; layer: number | null }>;
  /** The non-empty steps are not as many as the layers: no step is matched to a layer. */
  historyMismatch: boolean;
  totalCompressed: number;
  totalUncompressed: number;
  wasted: { bytes: number; files: number; largest: Array<{ path: string; bytes: number; layer: number; replacedIn: number }> };
  /** 0–1: 1 − wasted bytes / bytes of all regular files. */
  efficiency: number;
  base?: { repository: string; tag?: string; digest: string; layers: number; matchedBy: 'layers' | 'annotation' };
}

/** Severities of best-practice lint findings, worst first. */
export const lintSeverities = ['error', 'warning', 'info'] as const;
export type LintSeverity = (typeof lintSeverities)[number];

export interface LintRule {
  id: string;
  severity: LintSeverity;
  title: string;
  explanation: string;
  fix: string;
}

export interface LintFinding {
  rule: string;
  severity: LintSeverity;
  title: string;
  /** What was found, with its evidence (never a secret's value). */
  message: string;
  fix: string;
  path?: string;
  layer?: number;
  variable?: string;
}

export interface LintReport {
  repository: string;
  digest: string;
  tags: string[];
  layers: number;
  packages: number;
  disabledRules: string[];
  summary: Record<LintSeverity, number>;
  findings: LintFinding[];
  /** Findings left out per rule (at most 25 per rule and image). */
  omitted: Record<string, number>;
}

export interface LintPolicy {
  disabledRules: string[];
}

export interface LintSummary {
  project: string;
  images: number;
  truncated: boolean;
  skipped: number;
  failed: Array<{ repository: string; digest: string; error: string }>;
  disabledRules: string[];
  rules: Array<{ id: string; severity: LintSeverity; title: string; images: number; findings: number }>;
}
