import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { performance } from 'node:perf_hooks';
import { connect, type Database } from '../../src/adapters/db/connect.js';
import { ApiClient } from '../helpers/api.js';
import { engineMatrix, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { randomImage } from '../helpers/oci.js';

const engines = await engineMatrix();

/** Pushed in this order, one image each, so push times rise along the list. */
const pushed = ['1.2.3', '1.2.10', '1.10.0', 'v2.0.0-rc.1', '2.0.0', 'latest', '0.9'];
const semverOrder = ['2.0.0', 'v2.0.0-rc.1', '1.10.0', '1.2.10', '1.2.3', '0.9', 'latest'];

interface Tag {
  name: string;
  digest: string;
  pushedAt: string;
}
interface Problem {
  status: number;
  code: string;
  title: string;
}

for (const { engine, skip } of engines) {
  describe.skipIf(skip !== undefined)(`tag intelligence, ${engine}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let berth: TestBerth;
    let admin: ApiClient;
    const digests = new Map<string, string>();
    const base = '/projects/intel/repositories/app';

    beforeAll(async () => {
      berth = await startTestBerth({ engine });
      admin = new ApiClient(berth.url);
      await admin.createProject('intel', false);
      for (const tag of pushed) digests.set(tag, (await admin.registry.pushImage('intel/app', tag, randomImage(1, 64))).digest);
    });
    afterAll(async () => {
      await berth?.stop();
    });

    const latest = (range: string, extra = '') => admin.call('GET', `${base}/tags/latest?range=${encodeURIComponent(range)}${extra}`);
    const latestName = async (range: string, extra = '') => {
      const res = await latest(range, extra);
      expect(res.status).toBe(200);
      return ((await res.json()) as Tag).name;
    };

    it('lists tags in semver order: highest first, tags that are not semver after, newest first', async () => {
      const page = await admin.ok<{ items: Tag[]; total: number }>('GET', `${base}/tags?sort=semver`);
      expect(page.items.map((t) => t.name)).toEqual(semverOrder);
      expect(page.total).toBe(7);
      expect(page.items.map((t) => t.digest)).toEqual(semverOrder.map((t) => digests.get(t)));
      for (const item of page.items) expect(new Date(item.pushedAt).toISOString()).toBe(item.pushedAt);
    });

    it('pages the semver order, with the total and a link to the next page', async () => {
      const res = await admin.call('GET', `${base}/tags?sort=semver&page=2&page_size=3`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { items: Tag[] }).items.map((t) => t.name)).toEqual(semverOrder.slice(3, 6));
      expect(res.headers.get('x-total-count')).toBe('7');
      expect(res.headers.get('link')).toBe(`</api/v1${base}/tags?sort=semver&page=3&page_size=3>; rel="next"`);
    });

    it('keeps the other tag orders: name (the default), -name, pushed_at, -pushed_at, and filters by name', async () => {
      const names = async (query: string) => (await admin.ok<{ items: Tag[] }>('GET', `${base}/tags${query}`)).items.map((t) => t.name);
      const byName = [...pushed].sort();
      expect(await names('')).toEqual(byName);
      expect(await names('?sort=-name')).toEqual([...byName].reverse());
      expect(await names('?sort=pushed_at')).toEqual(pushed);
      expect(await names('?sort=-pushed_at')).toEqual([...pushed].reverse());
      expect(await names('?sort=semver&q=name%3D~1.2')).toEqual(['1.2.10', '1.2.3']);
      expect((await admin.call('GET', `${base}/tags?sort=version`)).status).toBe(400);
    });

    it('lists artifacts by the semver of their tags with sort=semver, newest first without', async () => {
      const digestsOf = async (query: string) => (await admin.ok<{ items: Array<{ digest: string; tags: string[] }> }>('GET', `${base}/artifacts${query}`)).items.map((a) => a.digest);
      expect(await digestsOf('?sort=semver')).toEqual(semverOrder.map((t) => digests.get(t)));
      expect(await digestsOf('?sort=semver&page=3&page_size=2')).toEqual(semverOrder.slice(4, 6).map((t) => digests.get(t)));
      expect(await digestsOf('')).toEqual([...pushed].reverse().map((t) => digests.get(t)));
      expect((await admin.call('GET', `${base}/artifacts?sort=name`)).status).toBe(400);
    });

    it('answers the highest tag a range matches, with its digest and push time', async () => {
      const res = await latest('^1.2');
      expect(res.status).toBe(200);
      const tag = (await res.json()) as Tag;
      expect(tag).toEqual({ name: '1.10.0', digest: digests.get('1.10.0'), pushedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
      expect(await latestName('~1.2')).toBe('1.2.10');
      expect(await latestName('>=2.0.0-rc.0 <2.0.0')).toBe('v2.0.0-rc.1');
      expect(await latestName('1.2 - 1.4')).toBe('1.2.10');
      expect(await latestName('^1.2 || ^2')).toBe('2.0.0');
      expect(await latestName('<2.0.0')).toBe('1.10.0');
      expect(await latestName('<2.0.0', '&prerelease=true')).toBe('v2.0.0-rc.1');
      expect(await latestName('*')).toBe('2.0.0');
      expect((await admin.ok<Tag>('GET', `${base}/tags/latest`)).name).toBe('2.0.0');
    });

    it('answers 404 problem JSON when no tag matches', async () => {
      const res = await latest('^3');
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const problem = (await res.json()) as Problem;
      expect(problem.code).toBe('NOT_FOUND');
      expect(problem.title).toContain('no tag of intel/app');
      expect(problem.title).toContain('^3');
    });

    it('answers 400 problem JSON for a range that is not one', async () => {
      for (const range of ['nonsense', '', '1.2.3 ||']) {
        const res = await latest(range);
        expect([range, res.status]).toEqual([range, 400]);
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(((await res.json()) as Problem).code).toBe('BAD_REQUEST');
      }
      expect((await latest('^1', '&prerelease=maybe')).status).toBe(400);
      expect((await latest('>=1.0.0 '.repeat(40))).status).toBe(400);
    });

    it('answers 404 for a repository that does not exist', async () => {
      expect((await admin.call('GET', '/projects/intel/repositories/nothing/tags/latest?range=*')).status).toBe(404);
      expect((await admin.call('GET', '/projects/intel/repositories/nothing/tags')).status).toBe(404);
    });

    it("keeps a private project's tags from anonymous callers and non-members, as the artifact listing does", async () => {
      await admin.createUser('outsider', 'Outsider-Passw0rd');
      const anonymous = new ApiClient(berth.url, null);
      const outsider = new ApiClient(berth.url, { username: 'outsider', password: 'Outsider-Passw0rd' });
      for (const [client, status] of [
        [anonymous, 401],
        [outsider, 403],
      ] as const) {
        expect((await client.call('GET', `${base}/artifacts`)).status).toBe(status);
        for (const path of [`${base}/tags?sort=semver`, `${base}/tags/latest?range=%5E1.2`, `${base}/artifacts?sort=semver`]) {
          const res = await client.call('GET', path);
          expect([path, res.status]).toEqual([path, status]);
          expect(await res.text()).not.toContain('1.10.0');
        }
      }
      // A public project's tags are anyone's to read.
      await admin.registry.pushImage('library/tool', '3.1.4', randomImage(1, 64));
      expect((await anonymous.ok<Tag>('GET', '/projects/library/repositories/tool/tags/latest?range=%5E3')).name).toBe('3.1.4');
    });

    it('answers for a repository of 10,000 tags in well under a second', async () => {
      // One image, then 9,999 more tags on it written straight into the database: pushing them one
      // by one would take the test minutes and is not what is measured.
      const image = await admin.registry.pushImage('intel/many', '0.0.0', randomImage(1, 64));
      const database: Database = connect({ url: berth.config.database.url });
      try {
        const repo = await database.db.selectFrom('repository').select('id').where('name', '=', 'intel/many').executeTakeFirstOrThrow();
        const names: string[] = [];
        for (let major = 0; names.length < 9_999; major++) {
          for (let minor = 0; minor < 50 && names.length < 9_999; minor++) {
            for (let patch = 0; patch < 20 && names.length < 9_999; patch++) {
              if (major === 0 && minor === 0 && patch === 0) continue;
              names.push(patch === 7 ? `v${major}.${minor}.${patch}-rc.1` : patch === 13 ? `build-${major}-${minor}` : `${major}.${minor}.${patch}`);
            }
          }
        }
        const now = Date.now();
        for (let i = 0; i < names.length; i += 500) {
          const rows = names.slice(i, i + 500).map((name, j) => ({ repository_id: repo.id, name, manifest_digest: image.digest, updated_at: now + i + j }));
          await database.db.insertInto('tag').values(rows).execute();
        }
      } finally {
        await database.db.destroy();
      }
      // The highest: major 9 (10 majors of 1,000 names), minor 49, patch 19.
      const requests: Array<[string, (body: unknown) => void]> = [
        [
          '/projects/intel/repositories/many/tags?sort=semver&page_size=100',
          (body) => {
            const page = body as { items: Tag[]; total: number };
            expect(page.total).toBe(10_000);
            expect(page.items[0]!.name).toBe('9.49.19');
          },
        ],
        ['/projects/intel/repositories/many/tags/latest?range=%5E5.3', (body) => expect((body as Tag).name).toBe('5.49.19')],
        ['/projects/intel/repositories/many/tags/latest?range=~5.3', (body) => expect((body as Tag).name).toBe('5.3.19')],
        ['/projects/intel/repositories/many/tags/latest?range=%5E99', () => undefined],
        ['/projects/intel/repositories/many/artifacts?sort=semver', (body) => expect((body as { total: number }).total).toBe(1)],
        ['/projects/intel/repositories/many/artifacts', (body) => expect((body as { items: Array<{ tags: string[] }> }).items[0]!.tags).toHaveLength(10_000)],
        // For comparison: what any authenticated API call costs (Basic credentials checked each time).
        ['/projects/intel', () => undefined],
      ];
      const timings: Record<string, number[]> = {};
      for (let round = 0; round < 5; round++) {
        for (const [path, check] of requests) {
          const started = performance.now();
          const res = await admin.call('GET', path);
          const body: unknown = await res.json();
          const elapsed = performance.now() - started;
          expect([path, res.status]).toEqual([path, path.endsWith('%5E99') ? 404 : 200]);
          check(body);
          (timings[path] ??= []).push(elapsed);
        }
      }
      const report = Object.fromEntries(
        Object.entries(timings).map(([path, ms]) => {
          const sorted = [...ms].sort((a, b) => a - b);
          return [path.replace('/projects/intel/repositories/many', ''), { medianMs: Math.round(sorted[2]!), maxMs: Math.round(sorted[4]!) }];
        }),
      );
      console.log(`10,000 tags on ${engine}: ${JSON.stringify(report)}`);
      // The bound is the issue's ("well under a second"), for the slowest of five rounds on a shared machine.
      for (const ms of Object.values(timings)) expect(Math.max(...ms)).toBeLessThan(1000);
    });
  });
}
