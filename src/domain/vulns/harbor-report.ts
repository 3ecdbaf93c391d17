import { z } from 'zod';
import { severityRank, type Severity } from './cvss.js';
import { sortFindings, type Finding } from './match.js';

/** Media types of Harbor's pluggable scanner API v1.1 (goharbor/pluggable-scanner-spec). */
export const ScannerMime = {
  metadata: 'application/vnd.scanner.adapter.metadata+json; version=1.0',
  scanRequest: 'application/vnd.scanner.adapter.scan.request+json; version=1.0',
  scanResponse: 'application/vnd.scanner.adapter.scan.response+json; version=1.0',
  error: 'application/vnd.scanner.adapter.error+json; version=1.0',
  /** The report Berth asks for and serves. */
  vulnReport: 'application/vnd.security.vulnerability.report; version=1.1',
  /** The same report's 1.0 name, which older adapters produce. */
  harborReport: 'application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0',
} as const;

export const harborSeverities = ['Unknown', 'Negligible', 'Low', 'Medium', 'High', 'Critical'] as const;
export type HarborSeverity = (typeof harborSeverities)[number];

const scannerSchema = z.object({ name: z.string().max(255), vendor: z.string().max(255).optional(), version: z.string().max(255).optional() });

/** ScannerAdapterMetadata: what `GET /api/v1/metadata` answers. */
export const scannerMetadataSchema = z.object({
  scanner: scannerSchema,
  capabilities: z.array(z.object({ consumes_mime_types: z.array(z.string()), produces_mime_types: z.array(z.string()) })),
  properties: z.record(z.string(), z.string()).optional(),
});
export type ScannerMetadata = z.infer<typeof scannerMetadataSchema>;

const vulnerabilitySchema = z.object({
  id: z.string().min(1).max(500),
  package: z.string().max(1000).default(''),
  version: z.string().max(1000).default(''),
  fix_version: z.string().max(1000).nullish(),
  severity: z.string().max(50).nullish(),
  description: z.string().nullish(),
  links: z.array(z.string()).nullish(),
  preferred_cvss: z.object({ score_v3: z.number().nullish(), vector_v3: z.string().nullish(), score_v2: z.number().nullish(), vector_v2: z.string().nullish() }).nullish(),
  cwe_ids: z.array(z.string()).nullish(),
  vendor_attributes: z.record(z.string(), z.unknown()).nullish(),
});

/** HarborVulnerabilityReport, leniently: adapters leave out what they do not know. */
export const harborReportSchema = z.object({
  generated_at: z.string().nullish(),
  artifact: z.object({ repository: z.string().nullish(), digest: z.string().nullish(), tag: z.string().nullish(), mime_type: z.string().nullish() }).nullish(),
  scanner: scannerSchema.nullish(),
  severity: z.string().nullish(),
  vulnerabilities: z.array(vulnerabilitySchema).nullish(),
});
export type HarborReport = z.infer<typeof harborReportSchema>;
export type HarborVulnerability = z.infer<typeof vulnerabilitySchema>;

const toHarbor: Record<Severity, HarborSeverity> = { UNKNOWN: 'Unknown', NONE: 'Negligible', LOW: 'Low', MEDIUM: 'Medium', HIGH: 'High', CRITICAL: 'Critical' };

/** Berth's severity in Harbor's scale: NONE (a CVSS score of 0) sits where Negligible does, between Unknown and Low. */
export function harborSeverity(severity: Severity): HarborSeverity {
  return toHarbor[severity];
}

/** Harbor's severity (any case; `None` too, which Harbor itself uses) in Berth's scale; anything else is UNKNOWN. */
export function berthSeverity(severity: string | null | undefined): Severity {
  switch ((severity ?? '').toLowerCase()) {
    case 'critical':
      return 'CRITICAL';
    case 'high':
      return 'HIGH';
    case 'medium':
      return 'MEDIUM';
    case 'low':
      return 'LOW';
    case 'negligible':
    case 'none':
      return 'NONE';
    default:
      return 'UNKNOWN';
  }
}

/**
 * What a report item carries for Berth beyond the spec's fields, under `vendor_attributes.berth`:
 * the advisories, aliases, ecosystem and package identity, so a Berth reading another Berth's
 * report gets its findings back whole.
 */
const berthAttributes = z.object({
  advisories: z.array(z.string()).optional(),
  aliases: z.array(z.string()).optional(),
  ecosystem: z.string().optional(),
  type: z.string().optional(),
  purl: z.string().optional(),
});

/** Berth's findings as a HarborVulnerabilityReport (the spec's item fields, plus vendor_attributes.berth). */
export function toHarborReport(
  findings: readonly Finding[],
  context: { generatedAt: number; artifact: { repository: string; digest: string; tag?: string; mime_type?: string }; scanner: { name: string; vendor: string; version: string } },
): HarborReport & { vulnerabilities: HarborVulnerability[] } {
  let worst: Severity = 'UNKNOWN';
  for (const f of findings) if (severityRank(f.severity) > severityRank(worst)) worst = f.severity;
  return {
    generated_at: new Date(context.generatedAt).toISOString(),
    artifact: context.artifact,
    scanner: context.scanner,
    severity: harborSeverity(worst),
    vulnerabilities: findings.map((f) => ({
      id: f.id,
      package: f.package.name,
      version: f.package.version,
      ...(f.fixedVersion ? { fix_version: f.fixedVersion } : {}),
      severity: harborSeverity(f.severity),
      description: f.summary,
      links: f.advisories.map((a) => `https://osv.dev/vulnerability/${encodeURIComponent(a)}`),
      ...(f.cvss ? { preferred_cvss: { score_v3: f.cvss.score, vector_v3: f.cvss.vector } } : {}),
      vendor_attributes: { berth: { advisories: f.advisories, aliases: f.aliases, ecosystem: f.ecosystem, type: f.package.type, purl: f.package.purl } },
    })),
  };
}

/**
 * A Harbor report's vulnerabilities as Berth's findings, sorted as the built-in scanner sorts
 * them. What the spec does not carry (advisories, package type, purl) is taken from
 * `vendor_attributes.berth` when another Berth sent it, else made from what there is: the id
 * as the one advisory, a `pkg:generic` purl.
 */
export function findingsFromHarbor(report: HarborReport): Finding[] {
  const findings: Finding[] = [];
  for (const v of report.vulnerabilities ?? []) {
    const extra = berthAttributes.safeParse(v.vendor_attributes?.berth);
    const berth = extra.success ? extra.data : {};
    const cvss = v.preferred_cvss;
    const finding: Finding = {
      id: v.id,
      advisories: berth.advisories ?? [v.id],
      aliases: berth.aliases ?? [],
      severity: berthSeverity(v.severity),
      summary: v.description ?? '',
      package: {
        name: v.package,
        version: v.version,
        type: berth.type ?? 'unknown',
        purl: berth.purl ?? `pkg:generic/${encodeURIComponent(v.package)}@${encodeURIComponent(v.version)}`,
      },
      ecosystem: berth.ecosystem ?? '',
    };
    if (typeof cvss?.score_v3 === 'number' && cvss.vector_v3) finding.cvss = { score: cvss.score_v3, vector: cvss.vector_v3 };
    if (v.fix_version) finding.fixedVersion = v.fix_version;
    findings.push(finding);
  }
  return sortFindings(findings);
}
