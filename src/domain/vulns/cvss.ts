/** Severity bands, lowest first (CVSS v3.1 specification, section 5 "Qualitative Severity Rating Scale"). */
export const severities = ['UNKNOWN', 'NONE', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export type Severity = (typeof severities)[number];

export function severityRank(severity: Severity): number {
  return severities.indexOf(severity);
}

/** The band a CVSS base score falls in. */
export function severityOfScore(score: number): Severity {
  if (score === 0) return 'NONE';
  if (score < 4) return 'LOW';
  if (score < 7) return 'MEDIUM';
  if (score < 9) return 'HIGH';
  return 'CRITICAL';
}

/** A severity word as databases write it (`moderate`, `Important`, …), or undefined. */
export function severityOfWord(word: string): Severity | undefined {
  switch (word.trim().toLowerCase()) {
    case 'critical':
      return 'CRITICAL';
    case 'high':
    case 'important':
      return 'HIGH';
    case 'medium':
    case 'moderate':
      return 'MEDIUM';
    case 'low':
    case 'negligible':
    case 'unimportant':
      return 'LOW';
    case 'none':
      return 'NONE';
    default:
      return undefined;
  }
}

const weights: Record<string, Record<string, number>> = {
  AV: { N: 0.85, A: 0.62, L: 0.55, P: 0.2 },
  AC: { L: 0.77, H: 0.44 },
  UI: { N: 0.85, R: 0.62 },
  C: { H: 0.56, L: 0.22, N: 0 },
  I: { H: 0.56, L: 0.22, N: 0 },
  A: { H: 0.56, L: 0.22, N: 0 },
};

/**
 * The base score of a CVSS v3.0/v3.1 vector (`CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H`), by
 * the specification's section 7.1 formulas and Appendix A's Roundup; undefined when the vector is
 * not a complete v3 base vector.
 */
export function cvss3BaseScore(vector: string): number | undefined {
  const parts = vector.trim().split('/');
  if (!/^CVSS:3\.[01]$/.test(parts[0] ?? '')) return undefined;
  const metrics = new Map<string, string>();
  for (const part of parts.slice(1)) {
    const [key, value] = part.split(':');
    if (!key || !value || metrics.has(key)) return undefined;
    metrics.set(key, value);
  }
  const scope = metrics.get('S');
  if (scope !== 'U' && scope !== 'C') return undefined;
  const changed = scope === 'C';
  const pr = { N: 0.85, L: changed ? 0.68 : 0.62, H: changed ? 0.5 : 0.27 }[metrics.get('PR') ?? ''];
  const w = (key: string) => weights[key]![metrics.get(key) ?? ''];
  const [av, ac, ui, c, i, a] = ['AV', 'AC', 'UI', 'C', 'I', 'A'].map(w);
  if ([pr, av, ac, ui, c, i, a].some((x) => x === undefined)) return undefined;
  const iss = 1 - (1 - c!) * (1 - i!) * (1 - a!);
  const impact = changed ? 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 : 6.42 * iss;
  if (impact <= 0) return 0;
  const exploitability = 8.22 * av! * ac! * pr! * ui!;
  return roundUp(Math.min((changed ? 1.08 : 1) * (impact + exploitability), 10));
}

/** CVSS v3.1 Appendix A: the smallest number, to one decimal, not below `x` (free of float noise). */
function roundUp(x: number): number {
  const scaled = Math.round(x * 100_000);
  return scaled % 10_000 === 0 ? scaled / 100_000 : (Math.floor(scaled / 10_000) + 1) / 10;
}
