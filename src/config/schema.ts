import { z } from 'zod';

const MiB = 1024 * 1024;

/**
 * Every setting Berth has, with its default and what is allowed: the one zod schema that
 * validates the YAML file, BERTH_* environment variables and command-line flags alike.
 * docs/config.md is generated from it (`berth config docs`).
 */
export const configSchema = z.strictObject({
  dataDir: z.string().min(1).default('./data').describe('Directory for the embedded database and filesystem storage.'),
  server: z
    .strictObject({
      host: z.string().min(1).default('0.0.0.0').describe('Address to listen on (`::` for all IPv6 and IPv4, `127.0.0.1` for loopback only).'),
      port: z.number().int().min(0).max(65535).default(5000).describe('TCP port to listen on (0 picks a free port).'),
      publicUrl: z
        .url({ protocol: /^https?$/ })
        .optional()
        .describe('URL clients reach Berth at, when behind a proxy (used in printed URLs). Default: http://localhost:<port>.'),
      shutdownTimeoutMs: z
        .number()
        .int()
        .min(0)
        .default(30_000)
        .describe('On SIGTERM/SIGINT, how long in-flight requests may take to finish before the process exits anyway.'),
      keepAliveTimeoutMs: z.number().int().min(0).default(65_000).describe('How long an idle keep-alive connection stays open.'),
      workers: z
        .number()
        .int()
        .min(0)
        .max(256)
        .default(0)
        .describe('Processes serving requests on the one port (Node cluster); 0 means one per CPU core, 1 runs in a single process.'),
      trustProxy: z
        .boolean()
        .default(false)
        .describe('Trust X-Forwarded-For/-Proto/-Host from a reverse proxy (client IPs in the audit log, URLs in auth challenges).'),
    })
    .prefault({}),
  database: z
    .strictObject({
      url: z
        .string()
        .regex(/^(sqlite:|postgres:\/\/|postgresql:\/\/)/, 'must start with sqlite:, postgres:// or postgresql://')
        .optional()
        .describe('Metadata database: `sqlite:<path>` or `postgres://user:pass@host:5432/db`. Default: `sqlite:<dataDir>/berth.db`.'),
      poolSize: z.number().int().min(1).max(1000).default(10).describe('PostgreSQL connections per process.'),
    })
    .prefault({}),
  storage: z
    .strictObject({
      driver: z
        .enum(['filesystem', 's3'])
        .default('filesystem')
        .describe('Where blob bytes live: `filesystem` (one machine) or `s3` (any S3 API store; what several instances share). See docs/storage.md.'),
      filesystem: z
        .strictObject({
          root: z.string().min(1).optional().describe('Directory for blobs and upload sessions. Default: `<dataDir>/storage`.'),
        })
        .prefault({}),
      s3: z
        .strictObject({
          endpoint: z
            .url({ protocol: /^https?$/ })
            .optional()
            .describe('S3 API endpoint for MinIO, Ceph RGW and other S3-compatible stores. Default: AWS S3 in `region`.'),
          region: z.string().min(1).default('us-east-1').describe('Region of the bucket (signs requests; any value for most S3-compatible stores).'),
          bucket: z.string().min(1).optional().describe('Bucket for blobs and upload sessions; required when `storage.driver` is `s3`.'),
          prefix: z
            .string()
            .regex(/^[A-Za-z0-9._\-/]*$/, 'may contain only letters, digits, ".", "_", "-" and "/"')
            .default('')
            .describe('Key prefix inside the bucket (e.g. `berth/`), so a bucket can hold other things too.'),
          forcePathStyle: z
            .boolean()
            .default(false)
            .describe('Address the bucket as `<endpoint>/<bucket>` instead of `<bucket>.<endpoint>` (MinIO, Ceph and most self-hosted stores).'),
          accessKeyId: z
            .string()
            .min(1)
            .optional()
            .describe('Access key. Unset: the AWS SDK default chain (AWS_* environment, shared config files, instance or task role).'),
          secretAccessKey: z.string().min(1).optional().describe('Secret key, with `accessKeyId` (never logged; prefer the environment variable).'),
          sessionToken: z.string().min(1).optional().describe('Session token of temporary credentials, with `accessKeyId`.'),
          serverSideEncryption: z
            .enum(['none', 'AES256', 'aws:kms'])
            .default('none')
            .describe('Encryption S3 applies to new objects: `AES256` (SSE-S3) or `aws:kms` (SSE-KMS); `none` leaves the bucket default.'),
          kmsKeyId: z.string().min(1).optional().describe('KMS key for `aws:kms` (id, ARN or alias). Unset: the account’s aws/s3 key.'),
          partSizeBytes: z
            .number()
            .int()
            .min(5 * MiB)
            .max(5 * 1024 * MiB)
            .default(16 * MiB)
            .describe(
              'Multipart part size, 5 MiB to 5 GiB (S3 limits); memory per upload in flight. One request body may hold up to 10,000 parts (156 GiB at 16 MiB).',
            ),
          redirect: z
            .strictObject({
              enabled: z
                .boolean()
                .default(false)
                .describe('Answer blob GETs with a 307 redirect to S3 (presigned URL) or the CDN, so bytes bypass Berth.'),
              expiresSeconds: z
                .number()
                .int()
                .min(1)
                .max(604_800)
                .default(900)
                .describe('Lifetime of presigned URLs (SigV4 allows at most 7 days).'),
              cdnBaseUrl: z
                .url({ protocol: /^https?$/ })
                .optional()
                .describe('Redirect to `<cdnBaseUrl>/<object key>` instead of a presigned URL (a CDN in front of the bucket).'),
            })
            .prefault({}),
        })
        .prefault({}),
    })
    .superRefine((storage, ctx) => {
      const s3 = storage.s3;
      if (storage.driver === 's3' && !s3.bucket) {
        ctx.addIssue({ code: 'custom', path: ['s3', 'bucket'], message: 'storage.driver s3 needs storage.s3.bucket' });
      }
      if ((s3.accessKeyId === undefined) !== (s3.secretAccessKey === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['s3', 'accessKeyId'], message: 'storage.s3.accessKeyId and storage.s3.secretAccessKey go together' });
      }
      if (s3.sessionToken !== undefined && s3.accessKeyId === undefined) {
        ctx.addIssue({ code: 'custom', path: ['s3', 'sessionToken'], message: 'storage.s3.sessionToken needs storage.s3.accessKeyId and storage.s3.secretAccessKey' });
      }
      if (s3.kmsKeyId !== undefined && s3.serverSideEncryption !== 'aws:kms') {
        ctx.addIssue({ code: 'custom', path: ['s3', 'kmsKeyId'], message: 'storage.s3.kmsKeyId needs storage.s3.serverSideEncryption aws:kms' });
      }
    })
    .prefault({}),
  registry: z
    .strictObject({
      maxManifestBytes: z
        .number()
        .int()
        .min(1024)
        .max(64 * MiB)
        .default(4 * MiB)
        .describe('Largest manifest accepted (OCI dist-spec suggests 4 MiB); larger pushes get 413 MANIFEST_INVALID.'),
      maxBlobBytes: z.number().int().min(1).optional().describe('Largest blob accepted; unset means no limit.'),
      automaticMount: z
        .boolean()
        .default(false)
        .describe('Mount a blob named by `?mount=` without `from=` when any repository has it (OCI dist-spec 1.1 automatic content discovery).'),
      manifestCacheBytes: z.number().int().min(0).default(64 * MiB).describe('Memory for manifest content (immutable by digest).'),
      catalogPageSize: z.number().int().min(1).default(1000).describe('Entries per `_catalog` page when the client gives no `n`.'),
      maxPageSize: z.number().int().min(1).default(10_000).describe('Most entries one tags/list or `_catalog` page returns.'),
      uploadTtlHours: z
        .number()
        .min(1)
        .default(24)
        .describe('Upload sessions idle this long are removed with their bytes.'),
    })
    .prefault({}),
  auth: z
    .strictObject({
      service: z.string().min(1).default('berth').describe('Token service name (`service=` in WWW-Authenticate challenges, audience of tokens).'),
      issuer: z.string().min(1).default('berth-token-issuer').describe('Issuer (`iss`) of the JWTs Berth signs.'),
      tokenTtlSeconds: z.number().int().min(30).max(3600).default(300).describe('Lifetime of registry access tokens.'),
      refreshTokenTtlSeconds: z
        .number()
        .int()
        .min(300)
        .default(7 * 86_400)
        .describe('Lifetime of refresh tokens (what `docker login` stores); revoked at once when the account is deleted or disabled.'),
      sessionTtlSeconds: z.number().int().min(300).default(8 * 3600).describe('Lifetime of a console session.'),
      keyRotationDays: z.number().min(1).default(30).describe('Token signing keys (ES256) rotate this often; old keys verify until their tokens expire.'),
      initialAdminPassword: z
        .string()
        .min(1)
        .optional()
        .describe('Password of the first `admin` on a fresh install (also BERTH_ADMIN_PASSWORD). Default: generated and printed once.'),
      passwordMinLength: z.number().int().min(8).max(128).default(8).describe('Shortest local password; passwords also need an upper- and lowercase letter and a digit.'),
      lockoutAttempts: z.number().int().min(1).default(5).describe('Failed logins in a row that lock an account.'),
      lockoutSeconds: z.number().int().min(1).default(300).describe('How long a locked account stays locked.'),
      projectCreation: z.enum(['everyone', 'admin']).default('everyone').describe('Who may create projects (and so push into a new project).'),
      ldap: z
        .strictObject({
          enabled: z.boolean().default(false).describe('Log users in against an LDAP directory.'),
          url: z.string().regex(/^ldaps?:\/\//, 'must start with ldap:// or ldaps://').default('ldap://127.0.0.1:389').describe('Directory URL.'),
          bindDn: z.string().optional().describe('Service account that searches for users (omit for anonymous search).'),
          bindPassword: z.string().optional().describe('Password of the service account.'),
          baseDn: z.string().default('').describe('Where users are searched.'),
          userFilter: z.string().default('(uid={username})').describe('Filter finding a user; {username} is replaced (escaped).'),
          usernameAttribute: z.string().default('uid').describe('Attribute holding the login name.'),
          emailAttribute: z.string().default('mail').describe('Attribute holding the e-mail address.'),
          displayNameAttribute: z.string().default('cn').describe('Attribute holding the display name.'),
          groupBaseDn: z.string().optional().describe('Where groups are searched (omit to ignore groups).'),
          groupFilter: z.string().default('(member={dn})').describe('Filter finding the groups of a user; {dn} and {username} are replaced.'),
          groupNameAttribute: z.string().default('cn').describe('Attribute holding a group name.'),
          adminGroupDn: z.string().optional().describe('Members of this group are system administrators.'),
          startTls: z.boolean().default(false).describe('Upgrade ldap:// connections with StartTLS.'),
          tlsRejectUnauthorized: z.boolean().default(true).describe('Verify the directory certificate.'),
          timeoutMs: z.number().int().min(100).default(5000).describe('Connect and operation timeout.'),
        })
        .prefault({}),
      oidc: z
        .strictObject({
          enabled: z.boolean().default(false).describe('Console login with an OpenID Connect provider.'),
          issuer: z.url().optional().describe('Issuer URL (discovery at <issuer>/.well-known/openid-configuration).'),
          clientId: z.string().optional().describe('Client id registered at the provider.'),
          clientSecret: z.string().optional().describe('Client secret (omit for a public client with PKCE only).'),
          scopes: z.array(z.string()).default(['openid', 'profile', 'email', 'groups']).describe('Scopes to request.'),
          usernameClaim: z.string().default('preferred_username').describe('Claim used as the Berth username.'),
          groupsClaim: z.string().default('groups').describe('Claim listing the user’s groups.'),
          adminGroup: z.string().optional().describe('Members of this group are system administrators.'),
          allowInsecureHttp: z.boolean().default(false).describe('Allow an http:// issuer (labs and tests only).'),
        })
        .prefault({}),
    })
    .superRefine((auth, ctx) => {
      if (auth.oidc.enabled && (!auth.oidc.issuer || !auth.oidc.clientId)) {
        ctx.addIssue({ code: 'custom', path: ['oidc'], message: 'auth.oidc.enabled needs auth.oidc.issuer and auth.oidc.clientId' });
      }
      if (auth.ldap.enabled && auth.ldap.baseDn === '') {
        ctx.addIssue({ code: 'custom', path: ['ldap', 'baseDn'], message: 'auth.ldap.enabled needs auth.ldap.baseDn' });
      }
    })
    .prefault({}),
  jobs: z
    .strictObject({
      enabled: z.boolean().default(true).describe('Run background jobs (webhook deliveries, housekeeping) in this process.'),
      concurrency: z.number().int().min(1).max(64).default(4).describe('Jobs run at once per process.'),
      pollIntervalMs: z.number().int().min(50).default(1000).describe('How often idle workers look for jobs queued by other instances.'),
      leaseSeconds: z.number().int().min(5).default(300).describe('A job whose worker vanished is retried after this long.'),
    })
    .prefault({}),
  webhooks: z
    .strictObject({
      timeoutMs: z.number().int().min(100).default(10_000).describe('How long a receiver may take to answer.'),
      maxAttempts: z.number().int().min(1).default(10).describe('Attempts per delivery before it is marked failed.'),
      backoffBaseMs: z.number().int().min(10).default(1000).describe('Delay before the first retry; doubles each attempt.'),
      backoffMaxMs: z.number().int().min(10).default(300_000).describe('Longest delay between retries.'),
    })
    .prefault({}),
  events: z
    .strictObject({
      retentionDays: z.number().min(0.01).default(7).describe('Dispatched events older than this are removed from the outbox.'),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      enabled: z.boolean().default(true).describe('Serve Prometheus metrics at /metrics.'),
    })
    .prefault({}),
  audit: z
    .strictObject({
      retentionDays: z.number().int().min(1).default(90).describe('Audit entries older than this are deleted.'),
      logPulls: z.boolean().default(true).describe('Record every manifest pull (not only mutations).'),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Log level (JSON lines on stdout).'),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
