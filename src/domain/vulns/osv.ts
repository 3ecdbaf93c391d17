import { z } from 'zod';
import { cvss3BaseScore, severityOfScore, severityOfWord, severityRank, type Severity } from './cvss.js';

/** One boundary of an affected range (OSV schema, `affected[].ranges[].events`). */
export type RangeEvent = { introduced: string } | { fixed: string } | { last_affected: string } | { limit: string };

export interface AffectedRange {
  /** ECOSYSTEM: the ecosystem's own ordering; SEMVER: semver.org's. (GIT ranges name commits and are not kept.) */
  type: 'ECOSYSTEM' | 'SEMVER';
  events: RangeEvent[];
}

/** What one advisory says about one package of one ecosystem. */
export interface AffectedPackage {
  /** As OSV writes it: `Debian:12`, `Alpine:v3.19`, `PyPI`, `npm`, `Go`, `Maven`, … */
  ecosystem: string;
  /** As the ecosystem names it; PyPI names normalised (PEP 503). */
  name: string;
  ranges: AffectedRange[];
  /** Versions listed one by one. */
  versions: string[];
  /** A severity given for this package only (GHSA, Ubuntu), over the advisory's. */
  severity?: Severity;
}

export interface Advisory {
  id: string;
  /** RFC 3339, as written: an import replaces a stored advisory only by a newer one. */
  modified: string;
  published?: string;
  withdrawn?: string;
  aliases: string[];
  summary: string;
  severity: Severity;
  /** The highest CVSS v3 base score the advisory gives, with its vector. */
  cvss?: { score: number; vector: string };
  references: string[];
  affected: AffectedPackage[];
}

const event = z.union([
  z.object({ introduced: z.string() }),
  z.object({ fixed: z.string() }),
  z.object({ last_affected: z.string() }),
  z.object({ limit: z.string() }),
]);

const severityEntry = z.object({ type: z.string(), score: z.string() });

/** The parts of the OSV schema (https://ossf.github.io/osv-schema/) matching needs; the rest is ignored. */
const osvRecord = z.object({
  id: z.string().min(1).max(200),
  modified: z.string().min(1),
  published: z.string().optional(),
  withdrawn: z.string().optional(),
  aliases: z.array(z.string()).nullish(),
  summary: z.string().nullish(),
  details: z.string().nullish(),
  severity: z.array(severityEntry).nullish(),
  database_specific: z.record(z.string(), z.unknown()).nullish(),
  references: z.array(z.object({ url: z.string() })).nullish(),
  affected: z
    .array(
      z.object({
        package: z.object({ ecosystem: z.string().min(1), name: z.string().min(1) }).optional(),
        ranges: z.array(z.object({ type: z.string(), events: z.array(event) })).nullish(),
        versions: z.array(z.string()).nullish(),
        severity: z.array(severityEntry).nullish(),
        ecosystem_specific: z.record(z.string(), z.unknown()).nullish(),
        database_specific: z.record(z.string(), z.unknown()).nullish(),
      }),
    )
    .nullish(),
});

/** The advisory an OSV JSON document holds; throws a readable message when it is not one. */
export function parseOsv(document: unknown): Advisory {
  const parsed = osvRecord.safeParse(document);
  if (!parsed.success) throw new Error(`not an OSV record: ${parsed.error.issues[0]?.path.join('.') || '(root)'} ${parsed.error.issues[0]?.message ?? ''}`);
  const record = parsed.data;
  const rated = rate(record.severity ?? [], record.database_specific);
  const advisory: Advisory = {
    id: record.id,
    modified: record.modified,
    aliases: [...new Set(record.aliases ?? [])].filter((a) => a !== record.id),
    summary: (record.summary || firstLine(record.details ?? '')).slice(0, 500),
    severity: rated.severity,
    references: (record.references ?? []).map((r) => r.url).slice(0, 20),
    affected: [],
  };
  if (record.published) advisory.published = record.published;
  if (record.withdrawn) advisory.withdrawn = record.withdrawn;
  if (rated.cvss) advisory.cvss = rated.cvss;
  for (const entry of record.affected ?? []) {
    if (!entry.package) continue;
    const ranges: AffectedRange[] = [];
    for (const range of entry.ranges ?? []) if (range.type === 'ECOSYSTEM' || range.type === 'SEMVER') ranges.push({ type: range.type, events: range.events });
    const versions = entry.versions ?? [];
    if (ranges.length === 0 && versions.length === 0) continue;
    const affected: AffectedPackage = { ecosystem: entry.package.ecosystem, name: packageName(entry.package.ecosystem, entry.package.name), ranges, versions };
    const own = rate(entry.severity ?? [], { ...entry.database_specific, ...entry.ecosystem_specific });
    if (own.severity !== 'UNKNOWN') affected.severity = own.severity;
    advisory.affected.push(affected);
  }
  return advisory;
}

/** Names as matching looks them up: PyPI's are case- and separator-insensitive (PEP 503). */
export function packageName(ecosystem: string, name: string): string {
  return ecosystem === 'PyPI' ? name.toLowerCase().replace(/[-_.]+/g, '-') : name;
}

/**
 * The severity an advisory states: the highest CVSS v3 base score computed from its vectors,
 * else a word the database gives (`database_specific.severity` of GitHub's advisories, Ubuntu's
 * priority), else UNKNOWN. (CVSS v2 and v4 vectors are not scored here.)
 */
function rate(entries: ReadonlyArray<{ type: string; score: string }>, specific: Record<string, unknown> | null | undefined): { severity: Severity; cvss?: { score: number; vector: string } } {
  let best: { score: number; vector: string } | undefined;
  for (const entry of entries) {
    const score = entry.type === 'CVSS_V3' ? cvss3BaseScore(entry.score) : undefined;
    if (score !== undefined && (!best || score > best.score)) best = { score, vector: entry.score };
  }
  if (best) return { severity: severityOfScore(best.score), cvss: best };
  let word: Severity | undefined;
  for (const entry of entries) {
    const named = entry.type === 'CVSS_V3' ? undefined : severityOfWord(entry.score);
    if (named && (!word || severityRank(named) > severityRank(word))) word = named;
  }
  const stated = specific?.severity;
  if (!word && typeof stated === 'string') word = severityOfWord(stated);
  return { severity: word ?? 'UNKNOWN' };
}

function firstLine(text: string): string {
  return text.trim().split('\n', 1)[0] ?? '';
}
