/** The fields of a scan finding (domain/vulns/match.ts Finding) scan_finding keeps. */
export interface FindingLike {
  id: string;
  advisories?: string[];
  aliases?: string[];
  severity: string;
  package: { name: string };
}

/**
 * scan_finding rows of one report: one per vulnerability id, advisory and alias of each finding
 * (each once per package), so a search by any of the names finds the finding.
 */
export function findingRows(digest: string, findings: readonly FindingLike[]): Array<{ digest: string; vuln_id: string; finding_id: string; severity: string; package: string }> {
  const rows = [];
  const seen = new Set<string>();
  for (const f of findings) {
    for (const id of [f.id, ...(f.advisories ?? []), ...(f.aliases ?? [])]) {
      const key = `${id}\0${f.package.name}`;
      if (seen.has(key)) continue;
      seen.add(key);
      rows.push({ digest, vuln_id: id, finding_id: f.id, severity: f.severity, package: f.package.name });
    }
  }
  return rows;
}
