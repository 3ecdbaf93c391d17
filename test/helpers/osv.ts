/** OSV records for tests (https://ossf.github.io/osv-schema/), written by hand. */
export interface OsvFixture {
  id: string;
  modified: string;
  aliases?: string[];
  summary?: string;
  severity?: Array<{ type: string; score: string }>;
  database_specific?: Record<string, unknown>;
  withdrawn?: string;
  affected: Array<{
    package: { ecosystem: string; name: string };
    ranges?: Array<{ type: string; events: Array<Record<string, string>> }>;
    versions?: string[];
    ecosystem_specific?: Record<string, unknown>;
  }>;
}

/** One package affected from `introduced` up to (not including) `fixed`. */
export function osv(id: string, ecosystem: string, name: string, fixed: string | undefined, extra: Partial<OsvFixture> = {}, introduced = '0'): OsvFixture {
  const events: Array<Record<string, string>> = [{ introduced }];
  if (fixed !== undefined) events.push({ fixed });
  return {
    id,
    modified: '2026-01-01T00:00:00Z',
    summary: `${id} in ${name}`,
    affected: [{ package: { ecosystem, name }, ranges: [{ type: ecosystem === 'Go' || ecosystem === 'npm' ? 'SEMVER' : 'ECOSYSTEM', events }] }],
    ...extra,
  };
}
