import { z } from 'zod';
import { BerthError } from '../../domain/errors.js';
import { severities } from '../../domain/vulns/cvss.js';
import { allowlisted } from '../../domain/pull-policy.js';
import type { ScanReport } from '../../ports/scan-store.js';
import { route, type AnyRoute } from './api-route.js';
import { artifactParams, fullName } from './repository-routes.js';
import type { ApiServices } from './services.js';
import { signatureTrustSchema } from '../../services/security/signatures/index.js';

const projectParam = z.object({ project: z.string().min(1).max(255) });
const by = (principal: { kind: string; name?: string }) => (principal.kind === 'anonymous' ? 'anonymous' : (principal.name ?? principal.kind));
const severity = z.enum(severities);
const barSeverity = z.enum(['LOW', 'MEDIUM', 'HIGH', 'CRITICAL']);

const securityPolicy = z.strictObject({
  scanOnPush: z.boolean().default(true).describe('Scan each image when it is pushed'),
  sbomOnPush: z.boolean().default(false).describe("Attach Berth's SPDX and CycloneDX SBOMs to each image pushed, as OCI referrers"),
  preventVulnerable: barSeverity.nullable().default(null).describe('Refuse pulls of images with a vulnerability of this severity or higher (allowlisted ones aside); null: off'),
  preventUnscanned: z.boolean().default(false).describe('Refuse pulls of images not scanned yet, or whose scan failed'),
  preventUnsigned: z.boolean().default(false).describe('Refuse pulls of images without a signature the trusted signers (trust) verify'),
  trust: signatureTrustSchema
    .nullable()
    .default(null)
    .describe('Trusted signers: cosign public keys and keyless identities (Fulcio roots, Rekor keys), Notation trust store and identities (docs/signatures.md)'),
  allowlist: z
    .array(z.strictObject({ id: z.string().min(1).max(100).describe('CVE or advisory id'), expiresAt: z.iso.datetime({ offset: true }).optional().describe('After this the entry no longer counts') }))
    .max(1000)
    .default([]),
  exemptRobots: z.array(z.string().min(1).max(255)).max(100).default([]).describe('Robot accounts (full names, robot$…) these policies never refuse'),
});

const findingSchema = z.object({
  id: z.string().describe('The CVE when an advisory names one, else the advisory id'),
  advisories: z.array(z.string()),
  aliases: z.array(z.string()),
  severity,
  cvss: z.object({ score: z.number(), vector: z.string() }).optional(),
  summary: z.string(),
  package: z.object({ name: z.string(), version: z.string(), type: z.string(), purl: z.string() }),
  ecosystem: z.string(),
  fixedVersion: z.string().optional(),
  allowlisted: z.boolean().optional().describe("On the project's allowlist: shown, not held against the image"),
});

const reportSchema = z.object({
  digest: z.string(),
  status: z.enum(['succeeded', 'failed']),
  scanner: z.string(),
  dbVersion: z.number().int().describe('The vulnerability-database import the findings were matched against'),
  current: z.boolean().describe('Matched against the newest import'),
  packages: z.number().int(),
  summary: z.record(z.string(), z.number().int()).describe('Findings per severity'),
  findings: z.array(findingSchema),
  error: z.string().optional(),
  durationMs: z.number().int(),
  scannedAt: z.string(),
});

const statusSchema = z.object({
  version: z.number().int(),
  advisories: z.number().int(),
  ecosystems: z.record(z.string(), z.number().int()),
  lastImport: z
    .object({ id: z.number().int(), source: z.string(), added: z.number().int(), updated: z.number().int(), unchanged: z.number().int(), rejected: z.number().int(), importedBy: z.string().nullable(), importedAt: z.string() })
    .optional(),
});

const signatureStatusSchema = z.object({
  digest: z.string(),
  verified: z.boolean().describe('Some signature verified with the trusted signers'),
  verifiedThrough: z.string().optional().describe('A platform manifest without signatures of its own: the signed index of the repository that lists it'),
  signatures: z.array(
    z.object({
      format: z.enum(['cosign', 'sigstore-bundle', 'notation', 'unknown']),
      source: z.enum(['tag', 'referrer']),
      signatureDigest: z.string(),
      layerDigest: z.string().optional(),
      verified: z.boolean(),
      reason: z.string().optional().describe('Why not: bad-signature, digest-mismatch, untrusted-key, untrusted-identity, certificate-expired, signature-expired, malformed, unsupported, no-trust-configured'),
      detail: z.string().optional(),
      signer: z.string().optional().describe('Key fingerprint (SHA-256 of the SPKI), or certificate SAN or subject'),
      issuer: z.string().optional(),
      signedAt: z.string().optional(),
    }),
  ),
});

const sbomEntrySchema = z.object({
  format: z.enum(['spdx', 'cyclonedx', 'syft', 'other']),
  mediaType: z.string(),
  source: z.enum(['berth', 'referrer', 'cosign-attestation', 'buildkit-attestation']),
  manifestDigest: z.string(),
  blobDigest: z.string().describe('The document (a DSSE envelope for attestations): GET /v2/<repository>/blobs/<digest>'),
  size: z.number().int(),
  predicateType: z.string().optional(),
  created: z.string().optional(),
});

/** Vulnerability reports, scans on demand, the vulnerability database's state and project security policies (docs/vulnerabilities.md). */
export function securityRoutes(s: ApiServices): AnyRoute[] {
  const { scans, pullPolicy, vulns } = s.security;
  const project = (name: string) => s.projects.get(name);
  /** The digest `reference` names in the project's repository (a tag resolves to what it points at now). */
  const digestOf = async (projectName: string, repository: string, reference: string) => {
    const name = fullName(projectName, repository);
    if (!(await s.registry.meta.getRepository(name))) throw new BerthError('NOT_FOUND', { message: `repository ${name} not found` });
    const manifest = await s.registry.manifests.get(name, reference);
    return { name, digest: manifest.digest };
  };
  const view = async (projectName: string, report: ScanReport) => {
    const policy = await pullPolicy.policy(await project(projectName));
    const now = Date.now();
    const { version } = await vulns.status();
    return {
      digest: report.digest,
      status: report.status,
      scanner: report.scanner,
      dbVersion: report.dbVersion,
      current: report.dbVersion >= version,
      packages: report.packages,
      summary: report.summary as Record<string, number>,
      findings: report.findings.map((f) => (allowlisted(policy, f, now) ? { ...f, allowlisted: true } : f)),
      ...(report.error ? { error: report.error } : {}),
      durationMs: Math.round(report.durationMs),
      scannedAt: new Date(report.scannedAt).toISOString(),
    };
  };
  return [
    route({
      method: 'GET',
      path: '/projects/{project}/repositories/{repository}/artifacts/{reference}/vulnerabilities',
      summary: "An artifact's vulnerability report: its packages matched against the imported advisories",
      tag: 'security',
      auth: { action: 'read', project: ({ params }) => params.project },
      params: artifactParams,
      response: reportSchema,
      handler: async ({ params }) => {
        const { digest } = await digestOf(params.project, params.repository, params.reference);
        const report = await scans.report(digest);
        if (!report) throw new BerthError('NOT_FOUND', { message: `${digest} has not been scanned: POST …/artifacts/${params.reference}/scan` });
        return view(params.project, report);
      },
    }),
    route({
      method: 'POST',
      path: '/projects/{project}/repositories/{repository}/artifacts/{reference}/scan',
      summary: 'Scan an artifact now and answer with its report (an index: its platform images together)',
      tag: 'security',
      auth: { action: 'push', project: ({ params }) => params.project },
      params: artifactParams,
      query: z.object({ scanner: z.string().min(1).max(100).optional().describe('A registered scanner by name (docs/scanners.md), or berth for the built-in one; default: the default scanner, else the built-in one') }),
      response: reportSchema,
      audit: {
        action: 'artifact.scan',
        resourceType: 'artifact',
        resource: ({ params }) => `${fullName(params.project, params.repository)}@${params.reference}`,
        project: ({ params }) => params.project,
      },
      handler: async ({ params, query }) => {
        const { name, digest } = await digestOf(params.project, params.repository, params.reference);
        return view(params.project, await scans.scan(name, digest, query.scanner));
      },
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/repositories/{repository}/artifacts/{reference}/signatures',
      summary: "An artifact's signatures (cosign's .sig tag, Notation and Sigstore-bundle referrers), each verified against the project's trusted signers",
      tag: 'security',
      auth: { action: 'read', project: ({ params }) => params.project },
      params: artifactParams,
      response: signatureStatusSchema,
      handler: async ({ params }) => {
        const { name, digest } = await digestOf(params.project, params.repository, params.reference);
        const policy = await pullPolicy.policy(await project(params.project));
        return s.security.signatures.status(name, digest, policy.trust ?? undefined);
      },
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/repositories/{repository}/artifacts/{reference}/sboms',
      summary: "An artifact's SBOMs: Berth's referrers, and those clients pushed (referrers, cosign attestations, BuildKit attestations)",
      tag: 'security',
      auth: { action: 'read', project: ({ params }) => params.project },
      params: artifactParams,
      response: z.array(sbomEntrySchema),
      handler: async ({ params }) => {
        const { name, digest } = await digestOf(params.project, params.repository, params.reference);
        return s.security.sboms.list(name, digest);
      },
    }),
    route({
      method: 'POST',
      path: '/projects/{project}/repositories/{repository}/artifacts/{reference}/sboms',
      summary: "Attach Berth's SPDX and CycloneDX SBOMs to an image as OCI referrers (once per format)",
      tag: 'security',
      auth: { action: 'push', project: ({ params }) => params.project },
      params: artifactParams,
      response: z.array(z.object({ format: z.enum(['spdx', 'cyclonedx']), digest: z.string().describe('The referrer manifest'), created: z.boolean().describe('false: Berth had attached it before') })),
      audit: {
        action: 'artifact.sbom-attach',
        resourceType: 'artifact',
        resource: ({ params }) => `${fullName(params.project, params.repository)}@${params.reference}`,
        project: ({ params }) => params.project,
      },
      handler: async ({ params, principal }) => {
        const { name, digest } = await digestOf(params.project, params.repository, params.reference);
        return s.security.sboms.attach(name, digest, by(principal));
      },
    }),
    route({
      method: 'GET',
      path: '/projects/{project}/security-policy',
      summary: "The project's security policy: scan on push, pull policies, CVE allowlist",
      tag: 'security',
      auth: { action: 'read-policies', project: ({ params }) => params.project },
      params: projectParam,
      response: securityPolicy,
      handler: async ({ params }) => pullPolicy.policy(await project(params.project)),
    }),
    route({
      method: 'PUT',
      path: '/projects/{project}/security-policy',
      summary: "Replace the project's security policy (pull policies answer refused pulls with DENIED, naming the policy)",
      tag: 'security',
      auth: { action: 'manage-policies', project: ({ params }) => params.project },
      params: projectParam,
      body: securityPolicy,
      response: securityPolicy,
      audit: { action: 'security-policy.update', resourceType: 'project', resource: ({ params }) => params.project, project: ({ params }) => params.project },
      handler: async ({ params, body, principal }) => {
        const row = await project(params.project);
        await pullPolicy.setPolicy(row, body, by(principal));
        return pullPolicy.policy(row);
      },
    }),
    route({
      method: 'GET',
      path: '/system/vulnerability-database',
      summary: 'What the vulnerability database holds: advisories per ecosystem and the last import',
      tag: 'security',
      auth: 'authenticated',
      response: statusSchema,
      handler: async () => {
        const status = await vulns.status();
        return { ...status, lastImport: status.lastImport ? { ...status.lastImport, importedAt: new Date(status.lastImport.importedAt).toISOString() } : undefined };
      },
    }),
  ];
}
