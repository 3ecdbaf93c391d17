import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import yazl from 'yazl';
import { connect, migrate, type Database } from '../../src/adapters/db/connect.js';
import { KyselyScanStore } from '../../src/adapters/db/kysely-scan-store.js';
import { KyselyVulnStore } from '../../src/adapters/db/kysely-vuln-store.js';
import { parseOsv } from '../../src/domain/vulns/osv.js';
import { importOsv } from '../../src/services/security/vulndb-import.js';
import { engineMatrix } from '../helpers/berth.js';
import { createTempDatabase, type TempDatabase } from '../helpers/pg.js';
import { osv } from '../helpers/osv.js';

const engines = await engineMatrix();

describe.each(engines)('vulnerability database and scan reports on $engine', ({ engine, skip }) => {
  let dir: string;
  let temp: TempDatabase | undefined;
  let database: Database;
  let vulns: KyselyVulnStore;
  let reports: KyselyScanStore;

  beforeAll(async () => {
    if (skip) return;
    dir = await mkdtemp(join(tmpdir(), 'berth-vulndb-'));
    if (engine === 'postgres') temp = await createTempDatabase();
    database = connect({ url: temp?.url ?? `sqlite:${join(dir, 'meta.db')}` });
    await migrate(database);
    vulns = new KyselyVulnStore(database);
    reports = new KyselyScanStore(database);
  });
  afterAll(async () => {
    await database?.db.destroy();
    await temp?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.skipIf(Boolean(skip))('imports a directory and a zip of OSV records incrementally: only newer records replace stored ones', async () => {
    const records = join(dir, 'records');
    await mkdir(join(records, 'nested'), { recursive: true });
    await writeFile(join(records, 'DSA-1.json'), JSON.stringify(osv('DSA-1', 'Debian:12', 'openssl', '3.0.15-1~deb12u1', { aliases: ['CVE-2024-0001'] })));
    await writeFile(join(records, 'nested', 'GHSA-aaaa.json'), JSON.stringify(osv('GHSA-aaaa', 'PyPI', 'Requests', '2.32.0', { aliases: ['CVE-2024-0002'], database_specific: { severity: 'MODERATE' } })));
    await writeFile(join(records, 'broken.json'), '{"id": "X"');
    await writeFile(join(records, 'not-osv.json'), '{"hello": "world"}');
    await writeFile(join(records, 'README.md'), 'ignored: not .json');

    const first = await importOsv(vulns, records, 'test');
    expect({ added: first.added, updated: first.updated, unchanged: first.unchanged, rejected: first.rejected }).toEqual({ added: 2, updated: 0, unchanged: 0, rejected: 2 });
    expect(first.errors.map((e) => e.slice(records.length + 1, records.length + 14))).toEqual(['broken.json: ', 'not-osv.json:']);
    const v1 = await vulns.status();
    expect(v1).toMatchObject({ version: first.id, advisories: 2, ecosystems: { 'Debian:12': 1, PyPI: 1 } });

    // The same export again changes nothing, and the version stays.
    const again = await importOsv(vulns, records, 'test');
    expect({ added: again.added, updated: again.updated, unchanged: again.unchanged }).toEqual({ added: 0, updated: 0, unchanged: 2 });
    expect((await vulns.status()).version).toBe(first.id);

    // A zip with a newer DSA-1 (now also fixed in an older line) and an older GHSA-aaaa (ignored).
    const zipPath = join(dir, 'all.zip');
    const zip = new yazl.ZipFile();
    const newer = osv('DSA-1', 'Debian:12', 'openssl', '3.0.16-1~deb12u1', { aliases: ['CVE-2024-0001'], modified: '2026-02-01T00:00:00Z' });
    zip.addBuffer(Buffer.from(JSON.stringify(newer)), 'DSA-1.json');
    zip.addBuffer(Buffer.from(JSON.stringify(osv('GHSA-aaaa', 'PyPI', 'requests', '2.0.0', { modified: '2025-01-01T00:00:00Z' }))), 'GHSA-aaaa.json');
    zip.addBuffer(Buffer.from(JSON.stringify(osv('GO-2024-1', 'Go', 'stdlib', '1.21.8', { aliases: ['CVE-2024-0003'] }))), 'sub/GO-2024-1.json');
    zip.end();
    await finished(zip.outputStream.pipe(createWriteStream(zipPath)));
    const third = await importOsv(vulns, zipPath, 'test');
    expect({ added: third.added, updated: third.updated, unchanged: third.unchanged, rejected: third.rejected }).toEqual({ added: 1, updated: 1, unchanged: 1, rejected: 0 });
    const v3 = await vulns.status();
    expect(v3.version).toBe(third.id);
    expect(v3.version).toBeGreaterThan(first.id);
    expect(v3.ecosystems).toEqual({ 'Debian:12': 1, Go: 1, PyPI: 1 });

    // Lookups are by exact ecosystem and name; the replaced advisory's old range is gone.
    const found = await vulns.candidates([
      { ecosystem: 'Debian:12', name: 'openssl' },
      { ecosystem: 'Debian:11', name: 'openssl' },
      { ecosystem: 'PyPI', name: 'requests' },
    ]);
    expect(found.map((c) => `${c.advisory.id} ${c.affected.ecosystem} ${c.affected.name} ${JSON.stringify(c.affected.ranges[0]!.events)}`).sort()).toEqual([
      'DSA-1 Debian:12 openssl [{"introduced":"0"},{"fixed":"3.0.16-1~deb12u1"}]',
      'GHSA-aaaa PyPI requests [{"introduced":"0"},{"fixed":"2.32.0"}]',
    ]);
    expect(found.find((c) => c.advisory.id === 'GHSA-aaaa')!.advisory).toMatchObject({ severity: 'MEDIUM', aliases: ['CVE-2024-0002'] });
    // Severity through an alias: the CVE is rated by the advisory that names it.
    expect([...(await vulns.aliasSeverities(['CVE-2024-0002', 'CVE-2024-0001', 'CVE-9999-0000'])).entries()]).toEqual([['CVE-2024-0002', 'MEDIUM']]);
  });

  it.skipIf(Boolean(skip))('keeps one report per digest, reads heads without findings, lists reports due and prunes orphans', async () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    await reports.put({ digest, status: 'succeeded', dbVersion: 1, scanner: 'berth', packages: 3, summary: { HIGH: 1 }, findings: [], durationMs: 12.4, scannedAt: 1000 });
    await reports.put({ digest, status: 'failed', dbVersion: 2, scanner: 'berth', packages: 0, summary: {}, findings: [], error: 'LAYER_UNREADABLE: truncated', durationMs: 3, scannedAt: 2000 });
    expect(await reports.get(digest)).toEqual({ digest, status: 'failed', dbVersion: 2, scanner: 'berth', packages: 0, summary: {}, findings: [], error: 'LAYER_UNREADABLE: truncated', durationMs: 3, scannedAt: 2000 });
    expect([...(await reports.heads([digest, `sha256:${'b'.repeat(64)}`])).keys()]).toEqual([digest]);
    // No manifest holds the digest: nothing is due, and the report is an orphan.
    expect(await reports.due(5, 10, true)).toEqual([]);
    expect(await reports.prune()).toBe(1);
    expect(await reports.get(digest)).toBeUndefined();
  });

  it.skipIf(Boolean(skip))('parses what matching needs from an OSV record and rejects what is not one', () => {
    const advisory = parseOsv({
      id: 'GHSA-x',
      modified: '2026-01-01T00:00:00Z',
      aliases: ['CVE-1', 'GHSA-x'],
      severity: [
        { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N' },
        { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' },
      ],
      affected: [
        { package: { ecosystem: 'PyPI', name: 'Foo_Bar.baz' }, ranges: [{ type: 'GIT', repo: 'x', events: [{ introduced: 'abc' }] }, { type: 'ECOSYSTEM', events: [{ introduced: '1.0' }, { fixed: '1.2' }] }] },
        { package: { ecosystem: 'PyPI', name: 'only-git' }, ranges: [{ type: 'GIT', events: [{ introduced: 'abc' }] }] },
      ],
    });
    expect(advisory).toEqual({
      id: 'GHSA-x',
      modified: '2026-01-01T00:00:00Z',
      aliases: ['CVE-1'],
      summary: '',
      severity: 'CRITICAL',
      cvss: { score: 9.8, vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' },
      references: [],
      affected: [{ ecosystem: 'PyPI', name: 'foo-bar-baz', ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '1.0' }, { fixed: '1.2' }] }], versions: [] }],
    });
    expect(() => parseOsv({ id: 'x' })).toThrow(/not an OSV record: modified/);
  });
});
