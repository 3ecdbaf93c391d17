import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../helpers/api.js';
import { adminCredentials, startTestBerth, type TestBerth } from '../helpers/berth.js';
import type { Image } from '../helpers/oci.js';
import { runBerthCommand } from '../helpers/process.js';
import { formatSearch, searchParameters, searchRegistry, shortDigest } from '../../src/cli/search.js';
import { exitCodeFor, exitCodes } from '../../src/cli/exit-codes.js';

// `berth search` (issue 17) asks a running Berth's search API with the given credentials: here a
// test Berth over plain HTTP. Digest and media-type criteria need no image index, so the command
// is tested here on its own; the criteria themselves are tested in test/http/search.test.ts.

const creds = `${adminCredentials.username}:${adminCredentials.password}`;
const password = 'Cli-Search-Passw0rd';

describe('berth search', () => {
  let berth: TestBerth;
  let host: string;
  let open: Image;
  let hidden: Image;
  const older: Image[] = [];

  beforeAll(async () => {
    berth = await startTestBerth();
    host = new URL(berth.url).host;
    const admin = new ApiClient(berth.url, adminCredentials);
    await admin.createProject('hidden', false);
    await admin.createUser('carol', password);
    for (let i = 0; i < 3; i++) older.push(await admin.registry.pushImage('library/many', `v${i}`));
    open = await admin.registry.pushImage('library/app', '1.0');
    hidden = await admin.registry.pushImage('hidden/app', '2.0');
  });
  afterAll(async () => {
    await berth?.stop();
  });

  const base = { registry: '', tlsVerify: 'false' };
  const hex = (image: Image) => image.digest.slice('sha256:'.length);

  it('maps its flags to the API: a package name split at its last @, a CVE as vulnerability', () => {
    const params = searchParameters({ package: '@babel/core@7.24.0', cve: 'CVE-2024-3094', label: 'a=b', mediaType: 'x/y', path: '/usr/bin/curl' });
    expect(Object.fromEntries(params)).toEqual({ package: '@babel/core', version: '7.24.0', vulnerability: 'CVE-2024-3094', label: 'a=b', mediaType: 'x/y', path: '/usr/bin/curl' });
    expect(Object.fromEntries(searchParameters({ package: 'openssl' }))).toEqual({ package: 'openssl' });
    expect(() => searchParameters({ type: 'deb' })).toThrow(/at least one criterion/);
  });

  it('finds by digest prefix what the credentials may pull, as a table or JSON', async () => {
    const found = await searchRegistry({ ...base, registry: host, creds, digest: hex(open).slice(0, 12) });
    expect(found.items.map((h) => [h.repository, h.digest, h.tags])).toEqual([['library/app', open.digest, ['1.0']]]);
    expect(found.next).toBeUndefined();
    expect(formatSearch(found)).toBe(
      `REPOSITORY   DIGEST               TAGS  MATCHED\nlibrary/app  ${shortDigest(open.digest)}  1.0   -\n`,
    );
    expect(shortDigest(open.digest)).toBe(`sha256:${hex(open).slice(0, 12)}`);
    // Without credentials, or as a user of no project: the private image is not found.
    expect((await searchRegistry({ ...base, registry: host, digest: hidden.digest })).items).toEqual([]);
    expect((await searchRegistry({ ...base, registry: host, creds: `carol:${password}`, digest: hidden.digest })).items).toEqual([]);
    expect(formatSearch({ items: [] })).toBe('no images found\n');
    const admin = await searchRegistry({ ...base, registry: host, creds, digest: hidden.digest });
    expect(admin.items.map((h) => h.repository)).toEqual(['hidden/app']);
  });

  it('pages to --limit, newest first, and says when more match', async () => {
    const all = await searchRegistry({ ...base, registry: host, creds, mediaType: 'application/vnd.oci.image.manifest.v1+json', limit: '100' });
    expect(all.items.map((h) => h.digest)).toEqual([hidden, open, ...[...older].reverse()].map((i) => i.digest));
    const two = await searchRegistry({ ...base, registry: host, creds, mediaType: 'application/vnd.oci.image.manifest.v1+json', limit: '2' });
    expect(two.items.map((h) => h.digest)).toEqual([hidden.digest, open.digest]);
    expect(typeof two.next).toBe('string');
    expect(formatSearch(two)).toContain(`(more images match: raise --limit, or go on with --after ${two.next})`);
    // Going on from the cursor gives the rest, each image once.
    const rest = await searchRegistry({ ...base, registry: host, creds, mediaType: 'application/vnd.oci.image.manifest.v1+json', limit: '100', after: two.next });
    expect(rest.items.map((h) => h.digest)).toEqual([...older].reverse().map((i) => i.digest));
    expect(rest.next).toBeUndefined();
  });

  it('exits 2 for a usage mistake or a refused value, 5 for a missing base, 1 for refused credentials or an unreachable Berth', async () => {
    const code = async (opts: Parameters<typeof searchRegistry>[0]) => exitCodeFor((await searchRegistry(opts).then(() => ({}), (err: unknown) => err)) as Error);
    expect(await code({ ...base, registry: host })).toBe(exitCodes.usage);
    expect(await code({ ...base, registry: 'http://x', digest: 'abcd' })).toBe(exitCodes.usage);
    expect(await code({ ...base, registry: host, digest: 'abcd', limit: '0' })).toBe(exitCodes.usage);
    expect(await code({ ...base, registry: host, creds, digest: 'sha256:zz' })).toBe(exitCodes.usage);
    expect(await code({ ...base, registry: host, creds, base: 'library/nothing:1' })).toBe(exitCodes.notFound);
    // A private base is refused as its pull: anonymous 401, a user of no project 403.
    expect(await code({ ...base, registry: host, base: 'hidden/app:2.0' })).toBe(exitCodes.failed);
    expect(await code({ ...base, registry: host, creds: `carol:${password}`, base: 'hidden/app:2.0' })).toBe(exitCodes.failed);
    expect(await code({ ...base, registry: host, creds: 'admin:wrong', digest: 'abcd' })).toBe(exitCodes.failed);
    expect(await code({ ...base, registry: '127.0.0.1:9', digest: 'abcd' })).toBe(exitCodes.failed);
  });

  it('runs as the built CLI: --json is the API answer, a missing criterion exits 2, an unreachable Berth 1', async () => {
    const json = await runBerthCommand(['search', '--registry', host, '--tls-verify=false', '--creds', creds, '--digest', open.digest, '--json']);
    expect({ code: json.code, stderr: json.stderr }).toEqual({ code: 0, stderr: '' });
    const printed = JSON.parse(json.stdout) as { items: Array<{ repository: string; digest: string; tags: string[] }> };
    expect(printed.items.map((h) => [h.repository, h.digest, h.tags])).toEqual([['library/app', open.digest, ['1.0']]]);

    const text = await runBerthCommand(['search', '--registry', host, '--tls-verify=false', '--digest', hex(open).slice(0, 8)]);
    expect({ code: text.code, stderr: text.stderr, stdout: text.stdout }).toEqual({ code: 0, stderr: '', stdout: `REPOSITORY   DIGEST               TAGS  MATCHED\nlibrary/app  ${shortDigest(open.digest)}  1.0   -\n` });

    const usage = await runBerthCommand(['search', '--registry', host]);
    expect(usage.code).toBe(exitCodes.usage);
    expect(usage.stderr).toContain('name at least one criterion');

    const refused = await runBerthCommand(['search', '--registry', '127.0.0.1:9', '--tls-verify=false', '--digest', 'abcd', '--json']);
    expect(refused.code).toBe(exitCodes.failed);
    expect((JSON.parse(refused.stdout) as { error: { code: string } }).error.code).toBe('UNAVAILABLE');
  }, 60_000);
});
