import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../helpers/api.js';
import { adminCredentials, engineMatrix, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { gzipTarOf, type TarItem } from '../helpers/layer-tar.js';
import { imageIndex, imageManifest, jsonBlob, OCI_INDEX, OCI_MANIFEST, RegistryClient, sha256, type Blob } from '../helpers/oci.js';
import { osv } from '../helpers/osv.js';
import { until } from '../helpers/wait.js';
import { importOsv } from '../../src/services/security/vulndb-import.js';

// Search across the registry and images' file trees (issue 17, docs/search.md), on both engines:
// images pushed through /v2 are indexed on push; every criterion, the permission rules (a
// private project's image never found by who may not pull it, a base refused exactly as its
// pull), paging, and exact file listings of the merged filesystem and of single layers.

const engines = await engineMatrix();
const password = 'Search-Passw0rd';

const blob = (data: Buffer): Blob => ({ data, digest: sha256(data) });
const dpkg = (name: string, version: string, extra = '') => `Package: ${name}\nStatus: install ok installed\nArchitecture: amd64\n${extra}Version: ${version}\n`;
const osRelease = 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n';
const dir = (path: string, mode = 0o755): TarItem => ({ path, type: 'directory', mode });

/** A Debian 12 base: curl, a motd the application deletes, OpenSSL (libssl3 from source openssl) and bash. */
const baseItems: TarItem[] = [
  dir('etc'),
  { path: 'etc/os-release', content: osRelease },
  { path: 'etc/motd', content: 'Welcome to Debian\n' },
  dir('usr'),
  dir('usr/bin'),
  { path: 'usr/bin/curl', content: Buffer.alloc(1234, 1), mode: 0o755 },
  dir('var'),
  dir('var/lib'),
  dir('var/lib/dpkg'),
  { path: 'var/lib/dpkg/status', content: [dpkg('bash', '5.2.15-2+b2'), dpkg('libssl3', '3.0.11-1~deb12u1', 'Source: openssl\n')].join('\n') },
];
const privateKey = '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n';
/** The application: /etc/motd whited out, a private key, a start script. */
const appItems: TarItem[] = [
  dir('app'),
  { path: 'app/run', content: '#!/bin/sh\nexec /app/server\n', mode: 0o755 },
  dir('etc'),
  { path: 'etc/.wh.motd', content: '' },
  dir('root', 0o700),
  dir('root/.ssh', 0o700),
  { path: 'root/.ssh/id_rsa', content: privateKey, mode: 0o600 },
];
const secretItems: TarItem[] = [dir('srv'), { path: 'srv/id_rsa', content: 'not for everyone\n', mode: 0o600 }];
const lodash = JSON.stringify({ name: 'lodash', version: '4.17.20' });
const toolItems: TarItem[] = [
  dir('usr'),
  dir('usr/local'),
  dir('usr/local/bin'),
  { path: 'usr/local/bin/tool', content: 'tool\n', mode: 0o755 },
  dir('opt'),
  dir('opt/node_modules'),
  dir('opt/node_modules/lodash'),
  { path: 'opt/node_modules/lodash/package.json', content: lodash },
];
const layers = { base: blob(gzipTarOf(baseItems)), app: blob(gzipTarOf(appItems)), secret: blob(gzipTarOf(secretItems)), tool: blob(gzipTarOf(toolItems)) };

const vendor = 'org.opencontainers.image.vendor';
const helmConfig = 'application/vnd.cncf.helm.config.v1+json';

interface Hit {
  repository: string;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  tags: string[];
  indexes: Array<{ digest: string; tags: string[] }>;
  pushedAt: number;
  matched: Record<string, unknown>;
}
interface SearchAnswer {
  items: Hit[];
  next?: string;
  base?: { repository: string; digest: string; layers: number };
}
interface FileTree {
  digest: string;
  index?: { digest: string; platform: string };
  layers: Array<{ index: number; digest: string; size: number; uncompressedSize: number; files: number; truncated: boolean }>;
  layer: number | null;
  path: string;
  q: string | null;
  mode: 'list' | 'find';
  entries: Array<{ path: string; name: string; type: string; size: number; mode?: number; uid?: number; gid?: number; layer?: number }>;
  truncated: boolean;
}

describe.each(engines)('search and file trees on $engine', ({ engine, skip }) => {
  let berth: TestBerth;
  let admin: ApiClient;
  let workdir: string;
  /** Callers by name, with their credentials (null: anonymous). */
  const who: Record<string, { username: string; password: string } | null> = { admin: adminCredentials, anonymous: null };
  const digests: Record<string, string> = {};

  async function pushImage(repository: string, tag: string, imageLayers: Blob[], config: Record<string, unknown>, architecture = 'amd64'): Promise<{ digest: string; manifest: Buffer; blobs: Blob[] }> {
    const configBlob = jsonBlob({ architecture, os: 'linux', config, rootfs: { type: 'layers', diff_ids: [] } });
    for (const b of [configBlob, ...imageLayers]) expect((await admin.registry.pushBlob(repository, b)).status).toBe(201);
    const manifest = imageManifest(configBlob, imageLayers);
    expect((await admin.registry.pushManifest(repository, tag, manifest)).status).toBe(201);
    return { digest: sha256(manifest), manifest, blobs: [configBlob, ...imageLayers] };
  }

  /** Waits until the image index has read the image (the indexer runs on push). */
  async function indexed(repository: string, reference: string, platform?: string): Promise<void> {
    const [project, ...rest] = repository.split('/');
    const path = `/projects/${project}/repositories/${encodeURIComponent(rest.join('/'))}/artifacts/${reference}/files${platform ? `?platform=${platform}` : ''}`;
    let last = '';
    await until(
      async () => {
        const res = await admin.call('GET', path);
        last = `${res.status} ${await res.text()}`;
        return res.status === 200;
      },
      30_000,
      `${repository}:${reference} to be indexed (last answer: ${last})`,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last answer ${last}`);
    });
  }

  const client = (name: string) => new ApiClient(berth.url, who[name] ?? null);
  const search = async (name: string, query: string): Promise<SearchAnswer> => client(name).ok<SearchAnswer>('GET', `/search?${query}`);
  /** `repository@digest` of every hit of a search, paging to the end (so a result never depends on the page size). */
  async function found(name: string, query: string, limit = 100): Promise<string[]> {
    const seen: string[] = [];
    let after: string | undefined;
    for (let pages = 0; pages < 50; pages++) {
      const page = await search(name, `${query}&limit=${limit}${after ? `&after=${encodeURIComponent(after)}` : ''}`);
      seen.push(...page.items.map((h) => `${h.repository}@${h.digest}`));
      after = page.next;
      if (!after) return seen;
    }
    throw new Error('more than 50 pages');
  }
  const sorted = (hits: string[]) => [...hits].sort();
  const at = (repository: string, image: string) => `${repository}@${digests[image]}`;

  beforeAll(async () => {
    if (skip) return;
    berth = await startTestBerth({ engine, settings: { 'jobs.pollIntervalMs': 100 } });
    admin = new ApiClient(berth.url, adminCredentials);
    workdir = await mkdtemp(join(tmpdir(), 'berth-search-'));
    // lodash 4.17.20 is affected: the scan on push finds it.
    await writeFile(join(workdir, 'lodash.json'), JSON.stringify(osv('GHSA-35jh-r3h4-6jhm', 'npm', 'lodash', '4.17.21', { aliases: ['CVE-2021-23337'] })));
    await importOsv(berth.api.security.vulns, workdir, 'test');

    for (const project of ['team', 'secret']) await admin.createProject(project, false);
    await admin.createUser('alice', password);
    await admin.createUser('bob', password);
    await admin.addMember('team', 'alice', 'developer');
    who.alice = { username: 'alice', password };
    who.bob = { username: 'bob', password };
    const teamRobot = await admin.createRobot('team', 'reader', ['pull']);
    const secretRobot = await admin.createRobot('secret', 'reader', ['pull']);
    const pushOnly = await admin.createRobot('secret', 'pusher', ['push']);
    who.teamRobot = { username: teamRobot.name, password: teamRobot.secret };
    who.secretRobot = { username: secretRobot.name, password: secretRobot.secret };
    who.pushOnlyRobot = { username: pushOnly.name, password: pushOnly.secret };

    digests.base = (await pushImage('library/debian', '12', [layers.base], { Labels: { [vendor]: 'Debian' } })).digest;
    const app = await pushImage('team/app', '1.0', [layers.base, layers.app], { Labels: { [vendor]: 'ACME', 'com.example.team': 'shop' } });
    digests.app = app.digest;
    digests.secret = (await pushImage('secret/app', '1.0', [layers.base, layers.secret], { Labels: { [vendor]: 'ACME' } })).digest;
    digests.tool = (await pushImage('library/tool', '1', [layers.base, layers.tool], {})).digest;
    // A multi-arch index: the application's very manifest for amd64, the bare base layer for arm64.
    for (const b of app.blobs) expect((await admin.registry.pushBlob('team/multi', b)).status).toBe(201);
    expect((await admin.registry.pushManifest('team/multi', app.digest, app.manifest)).status).toBe(201);
    const arm = await pushImage('team/multi', 'arm64-only', [layers.base], {}, 'arm64');
    digests.arm = arm.digest;
    const index = imageIndex([
      { image: { digest: app.digest, manifest: app.manifest }, architecture: 'amd64' },
      { image: arm, architecture: 'arm64' },
    ]);
    expect((await admin.registry.pushManifest('team/multi', '1', index, OCI_INDEX)).status).toBe(201);
    digests.index = sha256(index);
    // A Helm chart: an artifact, not an image.
    const chartConfig = jsonBlob({ name: 'chart', version: '0.1.0' });
    const chartLayer = blob(Buffer.from('chart bytes'));
    for (const b of [chartConfig, chartLayer]) expect((await admin.registry.pushBlob('library/chart', b)).status).toBe(201);
    const chart = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: helmConfig, digest: chartConfig.digest, size: chartConfig.data.length },
        layers: [{ mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', digest: chartLayer.digest, size: chartLayer.data.length }],
      }),
    );
    expect((await admin.registry.pushManifest('library/chart', '0.1.0', chart)).status).toBe(201);
    digests.chart = sha256(chart);

    for (const [repository, reference] of [
      ['library/debian', '12'],
      ['team/app', '1.0'],
      ['secret/app', '1.0'],
      ['library/tool', '1'],
      ['team/multi', 'arm64-only'],
    ] as const) {
      await indexed(repository, reference);
    }
    await indexed('team/multi', '1', 'linux/amd64');
    // The scan on push of library/tool (the vulnerability criterion reads its report).
    await until(async () => (await admin.call('GET', '/projects/library/repositories/tool/artifacts/1/vulnerabilities')).status === 200, 30_000, 'the scan of library/tool', 100);
  }, 120_000);
  afterAll(async () => {
    await berth?.stop();
    if (workdir) await rm(workdir, { recursive: true, force: true });
  });

  /** Every image with the base layer (all but the chart). */
  const withBase = () => [at('library/debian', 'base'), at('team/app', 'app'), at('team/multi', 'app'), at('team/multi', 'arm'), at('secret/app', 'secret'), at('library/tool', 'tool')];

  it.skipIf(Boolean(skip))('finds by path in the merged filesystem: a file a later layer deleted is not there', async () => {
    expect(sorted(await found('admin', 'path=/usr/bin/curl'))).toEqual(sorted(withBase()));
    // /etc/motd is whited out in the application's layer.
    expect(sorted(await found('admin', 'path=/etc/motd'))).toEqual(sorted([at('library/debian', 'base'), at('team/multi', 'arm'), at('secret/app', 'secret'), at('library/tool', 'tool')]));
    expect(await found('admin', 'path=/usr/bin/wget')).toEqual([]);
    const answer = await search('admin', 'path=usr/bin/curl&limit=100');
    const hit = answer.items.find((h) => h.repository === 'library/debian')!;
    expect(hit).toEqual({
      repository: 'library/debian',
      digest: digests.base,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.oci.image.config.v1+json',
      tags: ['12'],
      indexes: [],
      pushedAt: expect.any(Number),
      matched: { files: [{ path: 'usr/bin/curl', layer: 0, size: 1234 }] },
    });
    // The amd64 image of the index: no tag of its own, found through the index's.
    const platformHit = answer.items.find((h) => h.repository === 'team/multi' && h.digest === digests.app)!;
    expect({ tags: platformHit.tags, indexes: platformHit.indexes }).toEqual({ tags: [], indexes: [{ digest: digests.index, tags: ['1'] }] });
  });

  it.skipIf(Boolean(skip))('finds by file name anywhere, by package (name or source, exact version, type), by vulnerability and by label', async () => {
    expect(sorted(await found('admin', 'file=id_rsa'))).toEqual(sorted([at('team/app', 'app'), at('team/multi', 'app'), at('secret/app', 'secret')]));
    const byName = await search('admin', 'file=id_rsa&limit=100');
    expect(byName.items.find((h) => h.repository === 'secret/app')!.matched).toEqual({ files: [{ path: 'srv/id_rsa', layer: 1, size: 17 }] });

    expect(sorted(await found('admin', 'package=lodash'))).toEqual([at('library/tool', 'tool')]);
    expect(sorted(await found('admin', 'package=lodash&version=4.17.20'))).toEqual([at('library/tool', 'tool')]);
    expect(await found('admin', 'package=lodash&version=4.17.21')).toEqual([]);
    expect(await found('admin', 'package=lodash&type=deb')).toEqual([]);
    expect(sorted(await found('admin', 'package=lodash&type=npm'))).toEqual([at('library/tool', 'tool')]);
    // The source package names the binary packages built from it.
    expect(sorted(await found('admin', 'package=openssl&version=3.0.11-1~deb12u1'))).toEqual(sorted(withBase()));
    const tool = (await search('admin', 'package=lodash')).items[0]!;
    expect(tool.matched).toEqual({ packages: [{ name: 'lodash', version: '4.17.20', type: 'npm' }] });

    for (const id of ['CVE-2021-23337', 'GHSA-35jh-r3h4-6jhm']) expect(await found('admin', `vulnerability=${id}`)).toEqual([at('library/tool', 'tool')]);
    expect(await found('admin', 'vulnerability=CVE-2099-0001')).toEqual([]);

    expect(sorted(await found('admin', `label=${vendor}=ACME`))).toEqual(sorted([at('team/app', 'app'), at('team/multi', 'app'), at('secret/app', 'secret')]));
    expect(sorted(await found('admin', `label=${vendor}`))).toEqual(sorted([at('library/debian', 'base'), at('team/app', 'app'), at('team/multi', 'app'), at('secret/app', 'secret')]));
    expect(await found('admin', `label=${vendor}=acme`)).toEqual([]);
    // Criteria together: every one must hold.
    expect(sorted(await found('admin', `label=${vendor}=ACME&file=id_rsa&path=/app/run`))).toEqual(sorted([at('team/app', 'app'), at('team/multi', 'app')]));
  });

  it.skipIf(Boolean(skip))('finds by digest or digest prefix, and by media and artifact type', async () => {
    const hex = digests.app!.slice('sha256:'.length);
    const both = sorted([at('team/app', 'app'), at('team/multi', 'app')]);
    expect(sorted(await found('admin', `digest=${digests.app}`))).toEqual(both);
    expect(sorted(await found('admin', `digest=sha256:${hex.slice(0, 10)}`))).toEqual(both);
    expect(sorted(await found('admin', `digest=${hex.slice(0, 10).toUpperCase()}`))).toEqual(both);
    // An index and an artifact are manifests too.
    expect(await found('admin', `digest=${digests.index}`)).toEqual([`team/multi@${digests.index}`]);
    expect(await found('admin', `mediaType=${encodeURIComponent(OCI_INDEX)}`)).toEqual([`team/multi@${digests.index}`]);
    expect(await found('admin', `artifactType=${encodeURIComponent(helmConfig)}`)).toEqual([`library/chart@${digests.chart}`]);
    for (const bad of ['sha256:abc', 'sha256:xyz0', 'md5:abcd']) {
      const res = await admin.call('GET', `/search?digest=${bad}`);
      expect({ bad, status: res.status, code: ((await res.json()) as { code: string }).code }).toEqual({ bad, status: 400, code: 'BAD_REQUEST' });
    }
  });

  it.skipIf(Boolean(skip))('finds images built on a base: its layers are their lowest, and they have more', async () => {
    const expected = sorted([at('team/app', 'app'), at('team/multi', 'app'), at('secret/app', 'secret'), at('library/tool', 'tool')]);
    expect(sorted(await found('admin', 'base=library/debian:12'))).toEqual(expected);
    expect(sorted(await found('admin', `base=library/debian@${digests.base}`))).toEqual(expected);
    expect(sorted(await found('admin', `base=library/debian:12@${digests.base}`))).toEqual(expected);
    const answer = await search('admin', 'base=library/debian:12');
    expect(answer.base).toEqual({ repository: 'library/debian', digest: digests.base, layers: 1 });
    // With another criterion, and by an image that is not anyone's base.
    expect(sorted(await found('admin', 'base=library/debian:12&file=id_rsa'))).toEqual(sorted([at('team/app', 'app'), at('team/multi', 'app'), at('secret/app', 'secret')]));
    expect(await found('admin', 'base=team/app:1.0')).toEqual([]);
    // An index as the base: its platform named, or refused with the list of its platforms.
    // arm64 is the bare base layer, as library/debian:12; amd64 is the application, which nothing is built on.
    expect(sorted(await found('admin', 'base=team/multi:1&platform=linux/arm64'))).toEqual(expected);
    expect(await found('admin', 'base=team/multi:1&platform=linux/amd64')).toEqual([]);
    const noPlatform = await admin.call('GET', '/search?base=team/multi:1');
    const problem = (await noPlatform.json()) as { code: string; title: string };
    expect({ status: noPlatform.status, code: problem.code }).toEqual({ status: 400, code: 'BAD_REQUEST' });
    expect(problem.title).toContain('linux/amd64, linux/arm64');
  });

  it.skipIf(Boolean(skip))('finds only what the caller may pull: a private project stays hidden, anonymous sees public projects, a robot its own', async () => {
    const library = [at('library/debian', 'base'), at('library/tool', 'tool')];
    const team = [at('team/app', 'app'), at('team/multi', 'app'), at('team/multi', 'arm')];
    const expected: Record<string, string[]> = {
      admin: withBase(),
      alice: [...library, ...team],
      teamRobot: [...library, ...team],
      secretRobot: [...library, at('secret/app', 'secret')],
      pushOnlyRobot: library,
      bob: library,
      anonymous: library,
    };
    const observed: Record<string, string[]> = {};
    for (const name of Object.keys(expected)) observed[name] = sorted(await found(name, 'path=/usr/bin/curl'));
    expect(observed).toEqual(Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, sorted(v)])));
    // The private image by its own digest, its file, its label: nothing for who may not pull it.
    for (const name of ['alice', 'teamRobot', 'bob', 'anonymous', 'pushOnlyRobot']) {
      expect({ name, hits: await found(name, `digest=${digests.secret}`) }).toEqual({ name, hits: [] });
      expect({ name, hits: await found(name, 'path=/srv/id_rsa') }).toEqual({ name, hits: [] });
      expect({ name, hits: (await found(name, `label=${vendor}=ACME`)).filter((h) => h.startsWith('secret/')) }).toEqual({ name, hits: [] });
    }
    expect(await found('secretRobot', 'path=/srv/id_rsa')).toEqual([at('secret/app', 'secret')]);
  });

  it.skipIf(Boolean(skip))('refuses a base image exactly as a pull of it is refused, whether it exists or not', async () => {
    const refs = ['secret/app:1.0', 'secret/nothing:1', 'nosuchproject/app:1', 'team/app:nosuchtag', 'team/app:1.0', 'library/debian:12', `secret/app@${digests.secret}`];
    const callers = ['anonymous', 'bob', 'alice', 'teamRobot', 'secretRobot'];
    const rows: Array<{ caller: string; ref: string; pull: string; search: string }> = [];
    for (const caller of callers) {
      const registry = new RegistryClient(berth.url, who[caller] ?? null);
      for (const ref of refs) {
        const at = ref.includes('@') ? ref.indexOf('@') : ref.lastIndexOf(':');
        const pull = await registry.fetch(`/v2/${ref.slice(0, at)}/manifests/${ref.slice(at + 1)}`, { headers: { Accept: OCI_MANIFEST } });
        const pullCode = pull.status === 200 ? '' : ((await pull.json()) as { errors: Array<{ code: string }> }).errors[0]!.code;
        const res = await client(caller).call('GET', `/search?base=${encodeURIComponent(ref)}`);
        const searchCode = res.status === 200 ? '' : ((await res.json()) as { code: string }).code;
        rows.push({ caller, ref, pull: `${pull.status} ${pullCode}`, search: `${res.status} ${searchCode}` });
      }
    }
    for (const row of rows) expect(row).toEqual({ ...row, search: row.pull });
    // The hand-written expectations of a few: the pull's own answers.
    const answer = (caller: string, ref: string) => rows.find((r) => r.caller === caller && r.ref === ref)!.search;
    expect(answer('anonymous', 'secret/app:1.0')).toBe('401 UNAUTHORIZED');
    expect(answer('anonymous', 'secret/nothing:1')).toBe('401 UNAUTHORIZED');
    expect(answer('bob', 'secret/app:1.0')).toBe('403 DENIED');
    expect(answer('bob', 'secret/nothing:1')).toBe('403 DENIED');
    expect(answer('alice', 'secret/app:1.0')).toBe('403 DENIED');
    expect(answer('alice', 'team/app:nosuchtag')).toBe('404 MANIFEST_UNKNOWN');
    expect(answer('teamRobot', 'team/app:1.0')).toBe('200 ');
    expect(answer('secretRobot', 'secret/app:1.0')).toBe('200 ');
    expect(answer('secretRobot', 'team/app:1.0')).toBe('403 DENIED');
  });

  it.skipIf(Boolean(skip))('pages through every hit exactly once, in the order of one page', async () => {
    const whole = (await search('admin', 'path=/usr/bin/curl&limit=100')).items.map((h) => `${h.repository}@${h.digest}`);
    expect(sorted(whole)).toEqual(sorted(withBase()));
    for (const limit of [1, 2, 4, 5]) {
      const paged = await found('admin', 'path=/usr/bin/curl', limit);
      expect({ limit, paged }).toEqual({ limit, paged: whole });
    }
    // Newest push first.
    const times = (await search('admin', 'path=/usr/bin/curl&limit=100')).items.map((h) => h.pushedAt);
    expect(times).toEqual([...times].sort((a, b) => b - a));
    const alice = await found('alice', 'path=/usr/bin/curl', 1);
    expect(alice.length).toBe(5);
    expect(new Set(alice).size).toBe(5);
    // The last page has no `next`; a cursor that no search gave is refused.
    expect((await search('admin', 'path=/usr/bin/curl&limit=6')).next).toBeUndefined();
    const forged = await admin.call('GET', '/search?path=/usr/bin/curl&after=not-a-cursor');
    expect({ status: forged.status, code: ((await forged.json()) as { code: string }).code }).toEqual({ status: 400, code: 'BAD_REQUEST' });
  });

  it.skipIf(Boolean(skip))('refuses a search without a criterion, an unknown parameter, a limit over 100 and bad values with coded 400s', async () => {
    for (const query of ['', '?limit=10', '?after=x', '?package=a&limit=0', '?packge=openssl', '?limit=101&file=a', '?version=1.0', '?file=a/b', '?path=/usr/../etc', '?label==v', '?type=deb', '?package=x&type=cargo', '?platform=linux/amd64&file=a', '?base=library/debian', '?mediaType=notatype']) {
      const res = await client('anonymous').call('GET', `/search${query}`);
      const body = (await res.json()) as { code: string; status: number };
      expect({ query, status: res.status, code: body.code }).toEqual({ query, status: 400, code: 'BAD_REQUEST' });
    }
    const none = await admin.call('GET', '/search');
    expect(((await none.json()) as { title: string }).title).toContain('name at least one criterion');
  });

  describe('file trees', () => {
    const files = (name: string, repository: string, reference: string, query = '') => {
      const [project, ...rest] = repository.split('/');
      return client(name).call('GET', `/projects/${project}/repositories/${encodeURIComponent(rest.join('/'))}/artifacts/${reference}/files${query}`);
    };
    const tree = async (repository: string, reference: string, query = ''): Promise<FileTree> => {
      const res = await files('admin', repository, reference, query);
      expect(res.status, await res.clone().text()).toBe(200);
      return (await res.json()) as FileTree;
    };
    const d = (path: string, layer: number, mode = 0o755) => ({ path, name: path.slice(path.lastIndexOf('/') + 1), type: 'directory', size: 0, mode, uid: 0, gid: 0, layer });
    const f = (path: string, size: number, layer: number, mode = 0o644) => ({ path, name: path.slice(path.lastIndexOf('/') + 1), type: 'file', size, mode, uid: 0, gid: 0, layer });

    it.skipIf(Boolean(skip))('lists the merged filesystem: the top layer wins, a whited-out file is gone', async () => {
      const root = await tree('team/app', '1.0');
      expect(root).toMatchObject({ digest: digests.app, layer: null, path: '', q: null, mode: 'list', truncated: false });
      expect(root.layers.map((l) => ({ index: l.index, digest: l.digest, size: l.size, truncated: l.truncated }))).toEqual([
        { index: 0, digest: layers.base.digest, size: layers.base.data.length, truncated: false },
        { index: 1, digest: layers.app.digest, size: layers.app.data.length, truncated: false },
      ]);
      expect(root.layers.map((l) => l.files)).toEqual([4, 2]);
      expect(root.entries).toEqual([d('app', 1), d('etc', 1), d('root', 1, 0o700), d('usr', 0), d('var', 0)]);
      expect((await tree('team/app', '1.0', '?path=/etc')).entries).toEqual([f('etc/os-release', Buffer.byteLength(osRelease), 0)]);
      expect((await tree('team/app', '1.0', '?path=/root/.ssh/')).entries).toEqual([f('root/.ssh/id_rsa', Buffer.byteLength(privateKey), 1, 0o600)]);
      expect((await tree('team/app', '1.0', '?path=/usr/bin')).entries).toEqual([f('usr/bin/curl', 1234, 0, 0o755)]);
      expect((await tree('team/app', '1.0', '?path=/nowhere')).entries).toEqual([]);
      // The base still has its motd.
      expect((await tree('library/debian', '12', '?path=etc')).entries).toEqual([f('etc/motd', 18, 0), f('etc/os-release', Buffer.byteLength(osRelease), 0)]);
    });

    it.skipIf(Boolean(skip))('lists one layer as it is, whiteouts included', async () => {
      const top = await tree('team/app', '1.0', '?layer=1&path=/etc');
      expect(top).toMatchObject({ layer: 1, path: 'etc', mode: 'list' });
      expect(top.entries).toEqual([{ path: 'etc/motd', name: 'motd', type: 'whiteout', size: 0, mode: 0, uid: 0, gid: 0, layer: 1 }]);
      expect((await tree('team/app', '1.0', '?layer=0&path=/etc')).entries).toEqual([f('etc/motd', 18, 0), f('etc/os-release', Buffer.byteLength(osRelease), 0)]);
      expect((await tree('team/app', '1.0', '?layer=1')).entries).toEqual([d('app', 1), d('etc', 1), d('root', 1, 0o700)]);
    });

    it.skipIf(Boolean(skip))('filters a directory by name, and finds files by name across the image or one layer', async () => {
      expect((await tree('library/debian', '12', '?path=/etc&q=OS')).entries).toEqual([f('etc/os-release', Buffer.byteLength(osRelease), 0)]);
      const find = await tree('team/app', '1.0', '?q=id_');
      expect(find).toMatchObject({ mode: 'find', q: 'id_', path: '' });
      expect(find.entries).toEqual([{ path: 'root/.ssh/id_rsa', name: 'id_rsa', type: 'file', size: Buffer.byteLength(privateKey), layer: 1 }]);
      // Deleted in the merged filesystem, there in the layer that had it.
      expect((await tree('team/app', '1.0', '?q=motd')).entries).toEqual([]);
      expect((await tree('team/app', '1.0', '?q=motd&layer=0')).entries).toEqual([{ path: 'etc/motd', name: 'motd', type: 'file', size: 18, layer: 0 }]);
      // Names with an s: os-release, usr, status; the first two by path, and more exist.
      const limited = await tree('library/debian', '12', '?q=s&limit=2');
      expect({ paths: limited.entries.map((e) => e.path), truncated: limited.truncated }).toEqual({ paths: ['etc/os-release', 'usr'], truncated: true });
      const all = await tree('library/debian', '12', '?q=s&limit=3');
      expect({ paths: all.entries.map((e) => e.path), truncated: all.truncated }).toEqual({ paths: ['etc/os-release', 'usr', 'var/lib/dpkg/status'], truncated: false });
    });

    it.skipIf(Boolean(skip))('needs a platform for an index, listing its platforms otherwise', async () => {
      const res = await files('admin', 'team/multi', '1');
      const problem = (await res.json()) as { code: string; title: string; detail: string };
      expect({ status: res.status, code: problem.code }).toEqual({ status: 400, code: 'BAD_REQUEST' });
      expect(problem.title).toContain('linux/amd64, linux/arm64');
      expect(JSON.parse(problem.detail)).toEqual({ platforms: [{ platform: 'linux/amd64', digest: digests.app }, { platform: 'linux/arm64', digest: digests.arm }] });
      const arm = await tree('team/multi', '1', '?platform=linux/arm64');
      expect(arm).toMatchObject({ digest: digests.arm, index: { digest: digests.index, platform: 'linux/arm64' } });
      expect(arm.entries).toEqual([d('etc', 0), d('usr', 0), d('var', 0)]);
      const missing = await files('admin', 'team/multi', '1', '?platform=linux/s390x');
      expect(missing.status).toBe(400);
    });

    it.skipIf(Boolean(skip))('answers as the other artifact routes: pull permission, unknown names, bad values', async () => {
      const outcome = async (name: string, repository: string, reference: string, query = '') => {
        const res = await files(name, repository, reference, query);
        return `${res.status} ${res.status === 200 ? '' : ((await res.json()) as { code: string }).code}`;
      };
      expect(await outcome('alice', 'team/app', '1.0')).toBe('200 ');
      expect(await outcome('teamRobot', 'team/app', '1.0')).toBe('200 ');
      expect(await outcome('bob', 'team/app', '1.0')).toBe('403 DENIED');
      expect(await outcome('anonymous', 'team/app', '1.0')).toBe('401 UNAUTHORIZED');
      expect(await outcome('secretRobot', 'team/app', '1.0')).toBe('403 DENIED');
      // A robot that may push but not pull reads no files.
      expect(await outcome('pushOnlyRobot', 'secret/app', '1.0')).toBe('403 DENIED');
      expect(await outcome('anonymous', 'library/debian', '12')).toBe('200 ');
      expect(await outcome('admin', 'team/nothing', '1')).toBe('404 NAME_UNKNOWN');
      expect(await outcome('admin', 'team/app', 'nosuchtag')).toBe('404 MANIFEST_UNKNOWN');
      expect(await outcome('admin', 'library/chart', '0.1.0')).toBe('422 NOT_SCANNABLE');
      for (const query of ['?layer=2', '?layer=-1', '?path=/../etc', '?q=a/b', '?bogus=1', '?limit=1001']) {
        expect({ query, outcome: await outcome('admin', 'team/app', '1.0', query) }).toEqual({ query, outcome: '400 BAD_REQUEST' });
      }
      // Reads are not audited.
      const audit = await admin.ok<{ items: Array<{ action: string; resource: string }> }>('GET', '/audit-logs?page_size=100');
      expect(audit.items.filter((e) => e.resource.includes('/files') || e.resource.includes('search'))).toEqual([]);
    });
  });
});

describe('file trees of images the index has not read', () => {
  async function pushApp(berth: TestBerth): Promise<string> {
    const registry = new RegistryClient(berth.url, adminCredentials);
    const config = jsonBlob({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] } });
    for (const b of [config, layers.base]) expect((await registry.pushBlob('library/fresh', b)).status).toBe(201);
    const manifest = imageManifest(config, [layers.base]);
    expect((await registry.pushManifest('library/fresh', '1', manifest)).status).toBe(201);
    return sha256(manifest);
  }

  it('indexes an image at once when its push job has not run yet', async () => {
    // No background jobs in this process: only the request can index the image.
    const berth = await startTestBerth({ settings: { 'jobs.enabled': false } });
    try {
      const digest = await pushApp(berth);
      const admin = new ApiClient(berth.url, adminCredentials);
      expect(await berth.api.search.images.search({ kind: 'anonymous' }, { path: '/usr/bin/curl' }, { limit: 10 })).toEqual({ items: [] });
      const tree = await admin.ok<FileTree>('GET', '/projects/library/repositories/fresh/artifacts/1/files?path=/usr/bin');
      expect({ digest: tree.digest, names: tree.entries.map((e) => e.name) }).toEqual({ digest, names: ['curl'] });
      expect((await berth.api.search.images.search({ kind: 'anonymous' }, { path: '/usr/bin/curl' }, { limit: 10 })).items.map((h) => h.digest)).toEqual([digest]);
    } finally {
      await berth.stop();
    }
  }, 60_000);

  it('answers LAYER_UNREADABLE, with the reason, for an image whose layer is hostile, and keeps serving', async () => {
    const berth = await startTestBerth({ settings: { 'jobs.enabled': false } });
    try {
      const registry = new RegistryClient(berth.url, adminCredentials);
      const hostile = blob(gzipTarOf([{ path: '../../etc/passwd', content: 'root:x:0:0\n' }]));
      const config = jsonBlob({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] } });
      for (const b of [config, layers.base, hostile]) expect((await registry.pushBlob('library/hostile', b)).status).toBe(201);
      const manifest = imageManifest(config, [layers.base, hostile]);
      expect((await registry.pushManifest('library/hostile', '1', manifest)).status).toBe(201);
      const admin = new ApiClient(berth.url, adminCredentials);
      const res = await admin.call('GET', '/projects/library/repositories/hostile/artifacts/1/files');
      const problem = (await res.json()) as { code: string; title: string };
      expect({ status: res.status, code: problem.code }).toEqual({ status: 422, code: 'LAYER_UNREADABLE' });
      expect(problem.title).toMatch(new RegExp(`^library/hostile@${sha256(manifest)} could not be indexed: LAYER_UNREADABLE \\(path-outside-root\\): `));
      // Nothing of it is found; the registry still answers.
      expect(await berth.api.search.images.search({ kind: 'anonymous' }, { path: '/etc/passwd' }, { limit: 10 })).toEqual({ items: [] });
      expect((await admin.call('GET', '/projects/library/repositories/hostile/artifacts/1/files')).status).toBe(422);
      expect((await registry.fetch('/v2/library/hostile/manifests/1', { headers: { Accept: OCI_MANIFEST } })).status).toBe(200);
    } finally {
      await berth.stop();
    }
  }, 60_000);

  it('answers IMAGE_NOT_INDEXED when indexing is off', async () => {
    const berth = await startTestBerth({ settings: { 'insights.index.enabled': false } });
    try {
      const digest = await pushApp(berth);
      const res = await new ApiClient(berth.url, adminCredentials).call('GET', '/projects/library/repositories/fresh/artifacts/1/files');
      const problem = (await res.json()) as { code: string; title: string };
      expect({ status: res.status, code: problem.code }).toEqual({ status: 409, code: 'IMAGE_NOT_INDEXED' });
      expect(problem.title).toBe(`library/fresh@${digest} is not indexed: images are indexed as they are pushed while the image index is on (insights.index.enabled)`);
    } finally {
      await berth.stop();
    }
  }, 60_000);
});
