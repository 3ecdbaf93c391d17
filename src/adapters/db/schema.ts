import type { Generated } from 'kysely';

/** The one Kysely schema both engines share. Times are epoch milliseconds. */
export interface Schema {
  repository: RepositoryTable;
  blob: BlobTable;
  repository_blob: RepositoryBlobTable;
  upload: UploadTable;
  manifest: ManifestTable;
  manifest_reference: ManifestReferenceTable;
  tag: TagTable;
  user_account: UserAccountTable;
  user_group: UserGroupTable;
  group_member: GroupMemberTable;
  project: ProjectTable;
  project_member: ProjectMemberTable;
  robot: RobotTable;
  signing_key: SigningKeyTable;
  audit_log: AuditLogTable;
  event_outbox: EventOutboxTable;
  event_cursor: EventCursorTable;
  webhook: WebhookTable;
  webhook_delivery: WebhookDeliveryTable;
  job: JobTable;
  schedule: ScheduleTable;
  login_failure: LoginFailureTable;
  blob_pin: BlobPinTable;
  gc_run: GcRunTable;
  scrub_run: ScrubRunTable;
  lifecycle_lock: { name: string };
  project_policy: ProjectPolicyTable;
  project_blob: { project: string; digest: string; refs: number; size: number };
  project_usage: { project: string; bytes: number; artifacts: number };
  retention_run: RetentionRunTable;
  rate_counter: RateCounterTable;
  system_setting: SystemSettingTable;
  registry_endpoint: RegistryEndpointTable;
  replication_rule: ReplicationRuleTable;
  replication_execution: ReplicationExecutionTable;
  replication_task: ReplicationTaskTable;
  lease: LeaseTable;
  preheat_provider: PreheatProviderTable;
  preheat_policy: PreheatPolicyTable;
  preheat_execution: PreheatExecutionTable;
  preheat_task: PreheatTaskTable;
  vuln_advisory: VulnAdvisoryTable;
  vuln_affected: VulnAffectedTable;
  vuln_alias: { alias: string; advisory_id: string };
  vuln_import: VulnImportTable;
  scan_report: ScanReportTable;
  scanner_registration: ScannerRegistrationTable;
  scanner_adapter_scan: ScannerAdapterScanTable;
  layer_index: LayerIndexTable;
  layer_entry: LayerEntryTable;
  image_index: ImageIndexTable;
  image_layer: ImageLayerTable;
  image_package: ImagePackageTable;
  image_label: ImageLabelTable;
  scan_finding: ScanFindingTable;
  base_tag_move: BaseTagMoveTable;
}

/** A base's tag that moved to another digest (rebuild hints); `done` once its rebuild events are written. */
export interface BaseTagMoveTable {
  id: Generated<number>;
  repository: string;
  tag: string;
  previous_digest: string;
  digest: string;
  operator: string;
  moved_at: number;
  done: number;
  /** JSON: the previous image's layers (a list per platform), set when done. */
  previous_layers: string | null;
  /** 'move' (a tag moved: tag, previous_digest, digest) or 'scan' (the image `digest` was scanned; tag and previous_digest empty). */
  kind: Generated<string>;
}

/** One layer's index record (ports/image-index-store.ts LayerIndexRecord). */
export interface LayerIndexTable {
  digest: string;
  /** 'indexed' or 'failed'. */
  status: string;
  entries: number;
  files: number;
  file_bytes: number;
  uncompressed_bytes: number;
  truncated: number;
  error: string | null;
  indexed_at: number;
}

/** One entry of a layer's tar, by directory and name (no leading slash; the root is ''). */
export interface LayerEntryTable {
  layer_digest: string;
  parent: string;
  /** '' for an opaque-directory marker (then `parent` is the directory). */
  name: string;
  type: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  link_target: string | null;
}

/** One image's index record; packages, labels and layers are also rows of their own tables for search. */
export interface ImageIndexTable {
  digest: string;
  status: string;
  error: string | null;
  config_digest: string;
  platform: string;
  layer_count: number;
  compressed_bytes: number;
  uncompressed_bytes: number;
  os_id: string | null;
  os_version: string | null;
  /** JSON: OperatingSystem. */
  os: string | null;
  /** JSON: Package[]. */
  packages: string;
  /** JSON: the config's labels and the manifest's annotations. */
  labels: string;
  annotations: string;
  created_at: number | null;
  /** JSON: StoredLint. */
  lint: string | null;
  indexed_at: number;
  /** The indexer's format that made the record (ImageIndexRecord.format). */
  format: Generated<number>;
}

/** An image's layer at `position` (0 = lowest) with its chain id (domain/layer-chain.ts). */
export interface ImageLayerTable {
  image_digest: string;
  position: number;
  layer_digest: string;
  chain_id: string;
  /** 1 on the image's last layer. Rows written before it existed, or by an older Berth during an upgrade, say 0: the queries that use it check the image's layer count as well. */
  top: Generated<number>;
}

export interface ImagePackageTable {
  image_digest: string;
  type: string;
  name: string;
  version: string;
  source: string | null;
  /** The source package's version (the binary's when the inventory gives none), set with `source`. */
  source_version: string | null;
}

export interface ImageLabelTable {
  image_digest: string;
  /** 'label' (config) or 'annotation' (manifest). */
  origin: string;
  key: string;
  value: string;
}

/** One vulnerability id, advisory or alias of a finding of a manifest's latest scan report. */
export interface ScanFindingTable {
  digest: string;
  vuln_id: string;
  /** The finding's own id (Finding.id). */
  finding_id: string;
  severity: string;
  package: string;
}

/** An external scanner (Harbor's pluggable scanner API). */
export interface ScannerRegistrationTable {
  id: Generated<number>;
  name: string;
  description: string | null;
  url: string;
  /** none, basic, bearer or api-key (X-ScannerAdapter-API-Key). */
  auth: string;
  credential_sealed: string | null;
  skip_cert_verify: Generated<number>;
  enabled: Generated<number>;
  is_default: Generated<number>;
  created_by: string;
  created_at: number;
  updated_at: number;
}

/** A scan request Berth's scanner-adapter endpoint accepted. */
export interface ScannerAdapterScanTable {
  id: string;
  repository: string;
  digest: string;
  /** running, succeeded or failed. */
  status: string;
  /** JSON: the Harbor vulnerability report. */
  report: string | null;
  error: string | null;
  created_at: number;
  updated_at: number;
}

export interface VulnAdvisoryTable {
  id: string;
  modified: string;
  published: string | null;
  withdrawn: string | null;
  /** JSON list. */
  aliases: string;
  summary: string;
  severity: string;
  cvss_score: number | null;
  cvss_vector: string | null;
  /** JSON list of reference URLs. */
  refs: string;
  imported_at: number;
}

export interface VulnAffectedTable {
  advisory_id: string;
  ecosystem: string;
  name: string;
  /** JSON: AffectedRange[]. */
  ranges: string;
  /** JSON: string[]. */
  versions: string;
  severity: string | null;
}

export interface VulnImportTable {
  id: Generated<number>;
  source: string;
  added: number;
  updated: number;
  unchanged: number;
  rejected: number;
  imported_by: string | null;
  imported_at: number;
}

export interface ScanReportTable {
  digest: string;
  /** 'succeeded' or 'failed'. */
  status: string;
  /** The vuln_import id the findings were matched against (0: no advisories imported yet). */
  db_version: number;
  scanner: string;
  packages: number;
  /** JSON: findings counted per severity. */
  summary: string;
  /** JSON: Finding[]. */
  findings: string;
  error: string | null;
  duration_ms: number;
  scanned_at: number;
}

export interface PreheatProviderTable {
  id: Generated<number>;
  name: string;
  url: string;
  /** none, basic or oauth (a Dragonfly personal access token as Bearer). */
  auth_mode: string;
  username: string | null;
  secret_sealed: string | null;
  insecure: Generated<number>;
  enabled: Generated<number>;
  created_by: string;
  created_at: number;
  updated_at: number;
}

export interface PreheatPolicyTable {
  id: Generated<number>;
  project_id: number;
  name: string;
  provider_id: number;
  repositories: string;
  tags: string;
  trigger: string;
  cron: string | null;
  scope: string;
  /** JSON list of Dragonfly scheduler cluster ids; null: all. */
  cluster_ids: string | null;
  enabled: Generated<number>;
  created_by: string;
  created_at: number;
  updated_at: number;
}

export interface PreheatExecutionTable {
  id: Generated<number>;
  policy_id: number;
  status: string;
  trigger: string;
  planned: Generated<number>;
  error: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

export interface PreheatTaskTable {
  id: Generated<number>;
  execution_id: number;
  repository: string;
  tag: string;
  digest: string | null;
  /** The provider's job id. */
  job_id: string | null;
  /** pending, running, succeeded, failed. */
  status: string;
  message: string | null;
  started_at: number | null;
  finished_at: number | null;
}

export interface ReplicationRuleTable {
  id: Generated<number>;
  name: string;
  description: Generated<string>;
  endpoint_id: number;
  /** 'pull' (from the endpoint into Berth) or 'push'. */
  direction: string;
  /** Glob over repository names of the source. */
  repositories: string;
  /** Glob over tags. */
  tags: string;
  destination_namespace: string | null;
  /** Leading path segments dropped from the source name: 0 none, -1 all but the last. */
  flatten: number;
  /** 'manual', 'cron' or 'event'. */
  trigger: string;
  cron: string | null;
  copy_referrers: number;
  /** KiB/s an execution may move; null: unlimited. */
  bandwidth_kib: number | null;
  /** 1: a delete here is replicated (event-triggered push rules). */
  replicate_deletion: Generated<number>;
  /** JSON list of artifact types a task must have ('image', 'index', or a media type); null: any. */
  artifact_types: string | null;
  /** JSON list of `key` or `key=value` the artifact's labels must all have; null: any. */
  labels: string | null;
  enabled: number;
  created_by: string;
  created_at: number;
  updated_at: number;
}

export interface ReplicationExecutionTable {
  id: Generated<number>;
  rule_id: number;
  /** queued, running, succeeded, failed, stopping, stopped. */
  status: string;
  trigger: string;
  /** 1 once its tasks are written. */
  planned: number;
  retry_of: number | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

export interface ReplicationTaskTable {
  id: Generated<number>;
  execution_id: number;
  source: string;
  destination: string;
  reference: string;
  /** 'copy' or 'delete' (a deletion replicated). */
  operation: Generated<string>;
  /** pending, succeeded, failed, skipped. */
  status: string;
  digest: string | null;
  bytes: Generated<number>;
  manifests: Generated<number>;
  blobs: Generated<number>;
  error: string | null;
  started_at: number | null;
  finished_at: number | null;
}

export interface RegistryEndpointTable {
  id: Generated<number>;
  name: string;
  kind: string;
  url: string;
  description: Generated<string>;
  username: string | null;
  /** SecretBox.seal of the password or token. */
  secret_sealed: string | null;
  /** 1: TLS certificates are not verified. */
  insecure: Generated<number>;
  /** PEM certificates trusted for this endpoint besides the system's. */
  ca_certificate: string | null;
  created_by: string;
  created_at: number;
  updated_at: number;
}

export interface ProjectPolicyTable {
  project_id: number;
  /** 'retention' or 'immutability'. */
  name: string;
  value: string;
  updated_at: number;
  updated_by: string | null;
}

export interface RetentionRunTable {
  id: Generated<number>;
  project_id: number;
  status: string;
  dry_run: number;
  triggered_by: string;
  kept: Generated<number>;
  deleted: Generated<number>;
  /** JSON: each artifact's decision (the first few thousand). */
  report: string | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

/** Keeps a blob from being collected while an upload or manifest push writes its bytes. */
export interface BlobPinTable {
  digest: string;
  token: string;
  until: number;
}

export interface GcRunTable {
  id: Generated<number>;
  status: string;
  dry_run: number;
  /** JSON of the run's options. */
  options: string;
  triggered_by: string;
  phase: string | null;
  manifests_deleted: Generated<number>;
  links_deleted: Generated<number>;
  blobs_deleted: Generated<number>;
  bytes_freed: Generated<number>;
  uploads_expired: Generated<number>;
  error: string | null;
  /** JSON: a dry run's list of manifests that would go. */
  preview: string | null;
  lease_owner: string | null;
  lease_until: number | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

export interface ScrubRunTable {
  id: Generated<number>;
  status: string;
  triggered_by: string;
  /** The interrupted run this one continued from. */
  resumed_from: number | null;
  /** The last digest checked: a run taken over, or one continuing an interrupted run, goes on after it. */
  cursor: string | null;
  objects_checked: Generated<number>;
  bytes_checked: Generated<number>;
  corrupt: Generated<number>;
  missing: Generated<number>;
  /** Quarantined objects found intact again (repaired behind Berth's back) and released. */
  released: Generated<number>;
  /** JSON: the problems found (the first thousand), each with what depends on it. */
  report: string | null;
  error: string | null;
  lease_owner: string | null;
  lease_until: number | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

export interface LoginFailureTable {
  account: string;
  source: string;
  failures: number;
  blocked_until: number | null;
  updated_at: number;
}

/** A named lease (ports/lease-store.ts). */
export interface LeaseTable {
  name: string;
  owner: string;
  until: number;
}

export interface RateCounterTable {
  key: string;
  window_start: number;
  count: number;
}

export interface SystemSettingTable {
  name: string;
  /** JSON. */
  value: string;
  updated_at: number;
  updated_by: string | null;
}

export interface RepositoryTable {
  id: Generated<number>;
  name: string;
  created_at: number;
  tag_version: Generated<number>;
}

export interface BlobTable {
  digest: string;
  size: number;
  created_at: number;
  /** Last pushed, linked or looked up: garbage collection's grace period counts from here. */
  touched_at: Generated<number>;
  /** 1 while garbage collection deletes it: every push path treats it as absent. */
  deleting: Generated<number>;
  /** 'corrupt' or 'missing' when a scrub found its stored bytes so: never served until pushed again. */
  quarantine: string | null;
  quarantined_at: number | null;
}

export interface RepositoryBlobTable {
  repository_id: number;
  digest: string;
  created_at: number;
}

export interface UploadTable {
  id: string;
  repository_id: number;
  received: number;
  started_at: number;
  updated_at: number;
}

export interface ManifestTable {
  repository_id: number;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  subject_digest: string | null;
  config_digest: string | null;
  size: number;
  /** JSON text of the manifest's annotations (needed for referrers descriptors). */
  annotations: string | null;
  created_at: number;
  /** Last pushed (again): untagged manifests are collected only once this is older than the grace period. */
  touched_at: Generated<number>;
  /** Last pulled (by GET), or null. */
  pulled_at: number | null;
  /** Pulls (by GET) since migration 0018. */
  pull_count: Generated<number>;
}

export interface ManifestReferenceTable {
  repository_id: number;
  parent_digest: string;
  child_digest: string;
  kind: 'blob' | 'manifest';
}

export interface TagTable {
  repository_id: number;
  name: string;
  manifest_digest: string;
  updated_at: number;
}

/** Booleans are 0/1 integers on both engines. */
export interface UserAccountTable {
  id: Generated<number>;
  username: string;
  email: string | null;
  display_name: string | null;
  password_hash: string | null;
  source: 'local' | 'ldap' | 'oidc';
  external_id: string | null;
  is_admin: number;
  disabled: number;
  cli_secret_hash: string | null;
  created_at: number;
  updated_at: number;
  last_login_at: number | null;
  preferences: string | null;
}

export interface UserGroupTable {
  id: Generated<number>;
  name: string;
  source: 'local' | 'ldap' | 'oidc';
  external_id: string | null;
  created_at: number;
}

export interface GroupMemberTable {
  group_id: number;
  user_id: number;
}

export interface ProjectTable {
  id: Generated<number>;
  name: string;
  public: number;
  created_at: number;
  created_by: string | null;
  updated_at: number;
  pull_limit: number | null;
  api_limit: number | null;
  /** null: unlimited. */
  quota_bytes: number | null;
  quota_artifacts: number | null;
}

export interface ProjectMemberTable {
  id: Generated<number>;
  project_id: number;
  principal_type: 'user' | 'group';
  principal_id: number;
  role: string;
  created_at: number;
}

export interface RobotTable {
  id: Generated<number>;
  name: string;
  project_id: number | null;
  description: string | null;
  secret_hash: string;
  /** JSON array of { project, actions }. */
  permissions: string;
  expires_at: number | null;
  disabled: number;
  created_at: number;
  created_by: string | null;
  updated_at: number;
  pull_limit: number | null;
  api_limit: number | null;
}

export interface SigningKeyTable {
  kid: string;
  private_jwk: string;
  public_jwk: string;
  created_at: number;
  retired_at: number | null;
}

export interface AuditLogTable {
  id: Generated<number>;
  time: number;
  actor: string;
  actor_type: string;
  action: string;
  resource_type: string;
  resource: string;
  project: string | null;
  source_ip: string | null;
  result: string;
  detail: string | null;
  request_id: string | null;
}

/** Transactional outbox: written in the same transaction as the change it describes. */
export interface EventOutboxTable {
  id: Generated<number>;
  type: string;
  project: string | null;
  repository: string | null;
  /** JSON text of the event's data. */
  payload: string;
  created_at: number;
}

/** How far each consumer of the outbox has read. */
export interface EventCursorTable {
  consumer: string;
  last_id: number;
  updated_at: number;
}

export interface WebhookTable {
  id: Generated<number>;
  project_id: number;
  name: string;
  url: string;
  /** JSON array of event types. */
  event_types: string;
  format: string;
  auth_header: string | null;
  secret: string | null;
  enabled: number;
  created_at: number;
  updated_at: number;
}

export interface WebhookDeliveryTable {
  id: Generated<number>;
  webhook_id: number;
  event_id: number | null;
  event_type: string;
  status: string;
  attempts: number;
  response_code: number | null;
  latency_ms: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

export interface JobTable {
  id: Generated<number>;
  type: string;
  payload: string;
  status: string;
  /** Jobs with the same key run one at a time, in id order (webhook deliveries per repository). */
  ordering_key: string | null;
  attempts: number;
  max_attempts: number;
  run_at: number;
  locked_by: string | null;
  locked_until: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

export interface ScheduleTable {
  name: string;
  cron: string;
  job_type: string;
  payload: string;
  next_run_at: number;
  last_run_at: number | null;
}
