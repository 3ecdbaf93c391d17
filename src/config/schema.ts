import { z } from 'zod';
import { parseCidr } from '../domain/address-ranges.js';
import { validCron } from '../domain/cron.js';

const MiB = 1024 * 1024;


/** CIDRs as written in settings (`10.0.0.0/8`, `fd00::/8`, or one address). */
export const cidrList = z
  .array(z.string().refine((value) => parseCidr(value) !== undefined, { message: 'must be a CIDR such as 10.0.0.0/8 or fd00::/8, or one address' }))
  .max(1000)
  .default([]);

/** Features that connect to other hosts, each with its own allowlist (ports/outbound.ts lists the same). */
const outboundFeatureNames = ['webhook', 'replication', 'proxyCache', 'scanner', 'oidc', 'preheat'] as const;

/**
 * Special-purpose addresses (loopback, private, link-local, ...) outbound requests may reach:
 * for every feature, and per feature. The config file's and the runtime settings' add up.
 */
export const outboundAllowSchema = z.strictObject({
  allowCidrs: cidrList.describe(
    'Special-purpose addresses (loopback, private, link-local, unique-local, ...) that every feature may reach, as CIDRs (`10.20.0.0/16`, `fd00::/8`). Ordinary internet addresses need no entry.',
  ),
  ...(Object.fromEntries(
    outboundFeatureNames.map((feature) => [
      feature,
      z.strictObject({ allowCidrs: cidrList.describe(`Special-purpose addresses ${feature} requests may reach, beyond \`outbound.allowCidrs\`.`) }).prefault({}),
    ]),
  ) as Record<(typeof outboundFeatureNames)[number], z.ZodPrefault<z.ZodObject<{ allowCidrs: typeof cidrList }>>>),
});

/** The quota a new project gets (null: unlimited); the runtime settings, when set, replace the file's. */
export const quotaDefaultsSchema = z.strictObject({
  storageBytes: z.number().int().min(0).nullable().describe('Storage quota of a new project in bytes; null: unlimited.'),
  artifacts: z.number().int().min(0).nullable().describe('Artifact (manifest) quota of a new project; null: unlimited.'),
});

/** Rate limits (Docker Hub style); the runtime settings, when an administrator set them, replace these as a whole. */
export const rateLimitsSchema = z.strictObject({
  enabled: z
    .boolean()
    .default(false)
    .describe('Limit requests per user, robot, anonymous address and project (Docker Hub style); settings made in the console replace these.'),
  windowSeconds: z.number().int().min(1).max(86_400 * 31).default(21_600).describe('Length of the window the limits count over (Docker Hub: 6 hours).'),
  get pull() {
    return limitSet('manifest GETs (pulls)', { anonymous: 100, user: 200 });
  },
  get api() {
    return limitSet('management API calls', {});
  },
});

/** Limits of one kind of request per subject; unset means unlimited. */
function limitSet(what: string, defaults: { anonymous?: number; user?: number; robot?: number; project?: number }) {
  const limit = (subject: string, value: number | undefined) =>
    z
      .number()
      .int()
      .min(0)
      .nullable()
      .default(value ?? null)
      .describe(`${what} per window for each ${subject}; null (\`none\` in the environment): unlimited.`);
  return z
    .strictObject({
      anonymous: limit('anonymous client address (IPv6: per /64)', defaults.anonymous),
      user: limit('user', defaults.user),
      robot: limit('robot account', defaults.robot),
      project: limit('project (all callers together)', defaults.project),
    })
    .prefault({});
}

/**
 * Every setting Berth has, with its default and what is allowed: the one zod schema that
 * validates the YAML file, BERTH_* environment variables and command-line flags alike.
 * docs/config.md is generated from it (`berth config docs`).
 *
 * Built when read, and not kept: its 600-odd zod objects held 0.6 MiB of every worker's heap for
 * the life of the process, for one parse at start (docs/performance.md, "The management API on
 * first use"). Building it takes 20-30 ms.
 */
export function configSchema() {
  return z.strictObject({
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
          .describe('Processes serving requests on the one port (Node cluster); 0 means one per CPU core, or one (under a supervising primary) on a machine of 2 cores or fewer; 1 runs in a single process.'),
        trustProxy: z
          .boolean()
          .default(false)
          .describe(
            'Trust X-Forwarded-For/-Proto/-Host from a reverse proxy (client IPs in the audit log, login back-off and rate limits, URLs in auth challenges). Only behind a proxy that sets them: otherwise clients choose their own address.',
          ),
        headersTimeoutMs: z
          .number()
          .int()
          .min(1000)
          .default(20_000)
          .describe('A client must send a request\'s headers within this long, or gets 408 and is disconnected (slow-loris defence).'),
        idleTimeoutMs: z
          .number()
          .int()
          .min(1000)
          .default(120_000)
          .describe('A connection on which nothing moves for this long (no body bytes, no request) is closed.'),
        maxConnections: z
          .number()
          .int()
          .min(1)
          .default(4096)
          .describe('Open connections per serving process; more are closed at once and the client may retry (see docs/hardening.md).'),
      })
      .prefault({}),
    database: z
      .strictObject({
        url: z
          .string()
          .regex(/^(sqlite:|postgres:\/\/|postgresql:\/\/)/, 'must start with sqlite:, postgres:// or postgresql://')
          .optional()
          .describe(
            'Metadata database: `sqlite:<path>` or `postgres://user:pass@host:5432/db`. Default: `sqlite:<dataDir>/berth.db`. PostgreSQL on the same machine is cheaper through its Unix socket: `postgres://berth@%2Fvar%2Frun%2Fpostgresql/berth` (docs/performance.md, "Write paths on PostgreSQL").',
          ),
        poolSize: z.number().int().min(1).max(1000).default(10).describe('PostgreSQL connections per process.'),
        preparedStatements: z
          .boolean()
          .default(true)
          .describe(
            'PostgreSQL: each connection prepares the queries it runs once, instead of the server parsing and planning each anew. Turn off behind a pooler in transaction mode that does not keep prepared statements (PgBouncer before 1.21, or without max_prepared_statements).',
          ),
        connectRetryMs: z
          .number()
          .int()
          .min(0)
          .max(300_000)
          .default(10_000)
          .describe('While PostgreSQL refuses connections (a restart, a failover), requests wait this long for it before failing with 503; so do reads and transactions whose connection dropped under them (docs/hardening.md).'),
      })
      .prefault({}),
    storage: z
      .strictObject({
        driver: z
          .enum(['filesystem', 's3', 'azure'])
          .default('filesystem')
          .describe(
            'Where blob bytes live: `filesystem` (one machine), `s3` (any S3 API store) or `azure` (Azure Blob Storage); several instances share `s3` or `azure`. See docs/storage.md.',
          ),
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
        azure: z
          .strictObject({
            accountName: z
              .string()
              .regex(/^[a-z0-9]{3,24}$/, 'must be 3 to 24 lowercase letters and digits (an Azure storage account name)')
              .optional()
              .describe('Storage account name: with `accountKey`, and for the default endpoint `https://<accountName>.blob.core.windows.net`.'),
            accountKey: z
              .string()
              .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be a base64 account key, as the portal shows it')
              .optional()
              .describe('Storage account access key (never logged; prefer the environment variable). Signs requests and the SAS URLs of redirects.'),
            connectionString: z
              .string()
              .min(1)
              .optional()
              .describe(
                'Connection string (`DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...` or with `SharedAccessSignature=`), instead of `accountName`, `accountKey`, `sasToken` and `endpoint`. Never logged.',
              ),
            sasToken: z
              .string()
              .min(1)
              .optional()
              .describe(
                'A SAS token for the container (permissions r, a, c, w, d, l) instead of a key; never logged. Redirects then need `redirect.cdnBaseUrl`, since Berth cannot sign URLs.',
              ),
            endpoint: z
              .url({ protocol: /^https?$/ })
              .optional()
              .describe(
                'Blob service URL. Default: `https://<accountName>.blob.core.windows.net`. Sovereign clouds: `https://<account>.blob.core.usgovcloudapi.net`, `.blob.core.chinacloudapi.cn`; Azurite: `http://127.0.0.1:10000/<account>`.',
              ),
            container: z
              .string()
              .regex(/^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/, 'must be 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit')
              .optional()
              .describe('Container for blobs and upload sessions; required when `storage.driver` is `azure`. Berth does not create it.'),
            prefix: z
              .string()
              .regex(/^[A-Za-z0-9._\-/]*$/, 'may contain only letters, digits, ".", "_", "-" and "/"')
              .default('')
              .describe('Blob name prefix inside the container (e.g. `berth/`), so a container can hold other things too.'),
            blockSizeBytes: z
              .number()
              .int()
              .min(MiB)
              .max(4000 * MiB)
              .default(16 * MiB)
              .describe(
                'Block size of uploads, 1 MiB to 4000 MiB (Azure limit); memory per upload in flight. An upload holds up to 50,000 blocks (781 GiB at 16 MiB).',
              ),
            redirect: z
              .strictObject({
                enabled: z
                  .boolean()
                  .default(false)
                  .describe('Answer blob GETs with a 307 redirect to Azure (read-only SAS URL) or the CDN, so bytes bypass Berth.'),
                expiresSeconds: z.number().int().min(1).max(604_800).default(900).describe('Lifetime of the SAS URLs of redirects (at most 7 days).'),
                cdnBaseUrl: z
                  .url({ protocol: /^https?$/ })
                  .optional()
                  .describe('Redirect to `<cdnBaseUrl>/<blob name>` instead of a SAS URL (a CDN or Front Door in front of the container).'),
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
        for (const issue of azureIssues(storage.driver === 'azure', storage.azure)) ctx.addIssue({ code: 'custom', ...issue });
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
        mirrorProject: z
          .string()
          .default('')
          .describe(
            'Transparent mirror: pulls of a repository whose project does not exist here (`library/alpine` from a Docker daemon with Berth in `registry-mirrors`) are served from this proxy-cache project (`hub/library/alpine`). Empty: off.',
          ),
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
        lockout: z
          .strictObject({
            attempts: z
              .number()
              .int()
              .min(1)
              .default(5)
              .describe('Failed logins for one account from one client address before that address must wait (other addresses are not affected).'),
            delaySeconds: z.number().int().min(1).default(30).describe('The first wait after `attempts` failures; it doubles with each further failure from that address.'),
            maxDelaySeconds: z.number().int().min(1).default(3600).describe('The longest wait.'),
            sourceAttempts: z
              .number()
              .int()
              .min(1)
              .default(50)
              .describe('Failed logins from one client address over all accounts before that address must wait (password spraying).'),
            forgetHours: z.number().min(0.01).default(24).describe('Failures older than this are forgotten.'),
          })
          .prefault({}),
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
        pollIntervalMs: z.number().int().min(50).default(1000).describe('How often workers look for jobs and events that other processes or instances queued; while none turn up the wait doubles, up to 8 times this. Work queued in the process itself starts at once.'),
        leaseSeconds: z.number().int().min(5).default(300).describe('A job whose worker vanished is retried after this long.'),
        backgroundMaxDelaySeconds: z
          .number()
          .int()
          .min(0)
          .default(30)
          .describe('While a process is saturated with requests (its event loop busy 75% of the time or more, a request in flight), indexing and scanning pushed images waits, at most this long; then it runs anyway. 0: it never waits.'),
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
    outbound: outboundAllowSchema
      .extend({
        timeoutMs: z.number().int().min(100).default(10_000).describe('Connecting, waiting for response headers, and each pause in a response body.'),
        maxResponseBytes: z.number().int().min(1024).default(MiB).describe('Largest response body Berth reads into memory (receivers\' answers, discovery documents).'),
        maxRedirects: z.number().int().min(0).max(20).default(5).describe('Redirects followed; every hop is checked like the first request.'),
      })
      .prefault({}),
    rateLimits: rateLimitsSchema.prefault({}),
    replication: z
      .strictObject({
        ecr: z
          .strictObject({
            apiUrl: z.string().url().nullable().default(null).describe("ECR API address for endpoints of kind ecr given an access key; null: https://api.ecr.<region>.amazonaws.com. Set it for a VPC endpoint."),
            region: z.string().nullable().default(null).describe("Region of ECR endpoints whose host does not name it (<account>.dkr.ecr.<region>.amazonaws.com does)."),
          })
          .prefault({}),
      })
      .prefault({}),
    secrets: z
      .strictObject({
        encryptionKey: z
          .string()
          .min(32)
          .optional()
          .describe(
            'Key (any text of 32 characters or more) that encrypts stored credentials of registry endpoints; the same on every instance. Unset: a random key is made in dataDir/secrets.key on first use (one instance only).',
          ),
        previousKeys: z
          .array(z.string().min(32))
          .default([])
          .describe('Keys used before encryptionKey: secrets they encrypted are read, and encrypted again with encryptionKey at start (rotation).'),
      })
      .prefault({}),
    lifecycle: z
      .strictObject({
        gc: z
          .strictObject({
            schedule: z
              .string()
              .refine((value) => value === '' || validCron(value), { message: 'must be a cron expression (5 or 6 fields) or empty' })
              .default('30 2 * * *')
              .describe('When garbage collection runs (cron, UTC); empty: only on demand (API, console, `berth gc`).'),
            graceHours: z
              .number()
              .min(0)
              .default(24)
              .describe('Only what has not been pushed, linked or looked up for this long is collected; longer than any push takes.'),
            deleteUntagged: z.boolean().default(false).describe('Scheduled runs also delete manifests no tag and no index references (untagged artifacts).'),
            batchSize: z.number().int().min(1).max(10_000).default(200).describe('Candidates per transaction.'),
            leaseSeconds: z
              .number()
              .int()
              .min(1)
              .default(60)
              .describe('A run renews its lease with every batch; a run whose process died is taken over (or followed by a new run) once it runs out.'),
          })
          .prefault({}),
        scrub: z
          .strictObject({
            schedule: z
              .string()
              .refine((value) => value === '' || validCron(value), { message: 'must be a cron expression (5 or 6 fields) or empty' })
              .default('0 4 * * 0')
              .describe('When a scrub re-reads and verifies every stored blob and manifest (cron, UTC); empty: only on demand (API, console, `berth scrub`).'),
            bytesPerSecond: z
              .number()
              .int()
              .min(0)
              .default(64 * 1024 * 1024)
              .describe('How fast a scrub reads from storage, over all its reads; 0: unthrottled.'),
            leaseSeconds: z.number().int().min(1).default(60).describe('A scrub whose process died is taken over (or continued by the next run) once its lease runs out.'),
          })
          .prefault({}),
        quota: z
          .strictObject({
            defaultStorageBytes: z
              .number()
              .int()
              .min(0)
              .nullable()
              .default(null)
              .describe('Storage quota a new project gets, in bytes; null: unlimited. Settings made in the console replace this.'),
            defaultArtifacts: z.number().int().min(0).nullable().default(null).describe('Artifact (manifest) quota a new project gets; null: unlimited.'),
          })
          .prefault({}),
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
    security: z
      .strictObject({
        scanning: z.boolean().default(true).describe('Vulnerability scanning with the built-in scanner: on push (per project, see docs/vulnerabilities.md), on demand, and again when the vulnerability database changes. false: no scans, and pull policies that need a scan refuse nothing.'),
        rescanSchedule: z
          .string()
          .refine((value) => value === '' || validCron(value), { message: 'must be a cron expression (5 or 6 fields) or empty' })
          .default('30 3 * * *')
          .describe('When images whose report predates the newest vulnerability-database import are scanned again (cron, UTC); `berth vulndb import` also asks for one at once. Empty: only after imports.'),
        scanConcurrency: z.number().int().min(1).max(16).default(2).describe('Scans one instance runs at a time (each reads layers and matches packages: CPU and storage reads).'),
        scannerAdapter: z
          .strictObject({
            enabled: z.boolean().default(false).describe("Serve the built-in scanner through Harbor's pluggable scanner API v1.1 under /scanner-adapter/api/v1, so Harbor (or another Berth) can register Berth as its scanner (docs/scanners.md)."),
            apiKey: z.string().min(16).optional().describe('The key callers must send, as `Authorization: Bearer <key>` or `X-ScannerAdapter-API-Key: <key>` (16 characters or more; never logged; prefer the environment variable).'),
          })
          .refine((adapter) => !adapter.enabled || adapter.apiKey !== undefined, { message: 'security.scannerAdapter.enabled needs security.scannerAdapter.apiKey', path: ['apiKey'] })
          .prefault({}),
      })
      .prefault({}),
    insights: z
      .strictObject({
        index: z
          .strictObject({
            enabled: z.boolean().default(true).describe('Index every pushed image (docs/insights.md, "The image index"): each new layer walked once for its file listing, the inventory and lint, stored for search, file trees, stored lint results and rebuild hints; older images indexed in the background. false: nothing indexed, search and file trees find nothing new.'),
            concurrency: z.number().int().min(1).max(16).default(2).describe('Images one instance indexes at a time (each reads its new layers: CPU and storage reads).'),
            maxEntriesPerLayer: z.number().int().min(1).max(1_000_000).default(250_000).describe('Entries of one layer the index stores at most; the rest are counted and the layer marked truncated (file search and trees then miss them).'),
            cacheBytes: z.number().int().min(0).default(64 * 2 ** 20).describe('Bytes of per-layer walk results (package databases, lint summaries) kept in memory, shared by the scanner, lint, insights and the index.'),
            maxLayerEntries: z.number().int().min(1).default(1_000_000).describe('Entries one layer may list at all: a layer with more is refused as unreadable (too-many-entries) by the scanner, lint, insights and the index alike.'),
          })
          .prefault({}),
      })
      .prefault({}),
    backup: z
      .strictObject({
        schedule: z
          .string()
          .refine((value) => value === '' || validCron(value), { message: 'must be a cron expression (5 or 6 fields) or empty' })
          .default('')
          .describe('When the server takes a backup of the embedded database and blobs (cron, UTC); empty: none (`berth backup` on demand). SQLite and filesystem storage only. See docs/backup.md.'),
        directory: z.string().min(1).nullable().default(null).describe('Where scheduled backups go: one directory per backup, berth-<UTC time>, each linking the blobs of the one before.'),
        keep: z.number().int().min(1).default(7).describe('Scheduled backups kept in backup.directory; older ones are deleted after a new one is complete.'),
        blobs: z.boolean().default(true).describe('Scheduled backups include the blobs; false: the database and secrets key only.'),
      })
      .refine((backup) => backup.schedule === '' || backup.directory !== null, { message: 'backup.schedule needs backup.directory', path: ['directory'] })
      .prefault({}),
    log: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Log level (JSON lines on stdout).'),
      })
      .prefault({}),
  });
}

/**
 * What is wrong with the Azure settings. `active`: the driver is azure, so what it needs must be
 * there; combinations that contradict each other are refused either way.
 */
function azureIssues(
  active: boolean,
  azure: { accountName?: string; accountKey?: string; connectionString?: string; sasToken?: string; endpoint?: string; container?: string; redirect: { enabled: boolean; cdnBaseUrl?: string } },
): Array<{ path: string[]; message: string }> {
  const issues: Array<{ path: string[]; message: string }> = [];
  if (azure.connectionString !== undefined && [azure.accountName, azure.accountKey, azure.sasToken, azure.endpoint].some((v) => v !== undefined)) {
    issues.push({
      path: ['azure', 'connectionString'],
      message: 'storage.azure.connectionString names the account, its key or SAS and the endpoint; leave out accountName, accountKey, sasToken and endpoint',
    });
  }
  if (azure.accountKey !== undefined && azure.sasToken !== undefined) {
    issues.push({ path: ['azure', 'sasToken'], message: 'give storage.azure.accountKey or storage.azure.sasToken, not both' });
  }
  if (azure.accountKey !== undefined && azure.accountName === undefined) {
    issues.push({ path: ['azure', 'accountName'], message: 'storage.azure.accountKey needs storage.azure.accountName' });
  }
  if (azure.sasToken !== undefined && azure.endpoint === undefined && azure.accountName === undefined) {
    issues.push({ path: ['azure', 'endpoint'], message: 'storage.azure.sasToken needs storage.azure.endpoint or storage.azure.accountName' });
  }
  if (!active) return issues;
  if (!azure.container) issues.push({ path: ['azure', 'container'], message: 'storage.driver azure needs storage.azure.container' });
  if (azure.connectionString === undefined && azure.accountKey === undefined && azure.sasToken === undefined) {
    issues.push({
      path: ['azure'],
      message: 'storage.driver azure needs credentials: storage.azure.connectionString, storage.azure.accountKey (with accountName) or storage.azure.sasToken',
    });
  }
  const canSign = azure.accountKey !== undefined || /(^|;)\s*AccountKey=/i.test(azure.connectionString ?? '');
  if (azure.redirect.enabled && azure.redirect.cdnBaseUrl === undefined && !canSign) {
    issues.push({
      path: ['azure', 'redirect', 'enabled'],
      message: 'storage.azure.redirect needs an account key to sign SAS URLs (storage.azure.accountKey, or a connection string with AccountKey) or storage.azure.redirect.cdnBaseUrl',
    });
  }
  return issues;
}

export type Config = z.infer<ReturnType<typeof configSchema>>;
export type ConfigInput = z.input<ReturnType<typeof configSchema>>;
