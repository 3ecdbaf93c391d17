import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { walkLayer } from '../../../src/services/security/layer-walker.js';
import { LayerView } from '../../../src/services/security/layer-view.js';
import { inventoryOf, inventoryWants } from '../../../src/services/security/inventory.js';
import { InventoryService } from '../../../src/services/security/inventory-service.js';
import type { BlobService } from '../../../src/services/registry/blob-service.js';
import { parseDpkgStatus } from '../../../src/domain/packages/dpkg.js';
import { parseOsRelease } from '../../../src/domain/packages/os-release.js';
import { packageUrl } from '../../../src/domain/packages/package.js';
import { gzipTarOf, tarOf, type TarItem } from '../../helpers/layer-tar.js';

/** A dpkg status paragraph as dpkg writes it. */
function dpkg(name: string, version: string, extra = ''): string {
  return `Package: ${name}\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\n${extra}Version: ${version}\nDescription: ${name}\n the ${name} package\n .\n more text\n`;
}

async function inventory(layers: TarItem[][]) {
  const walks = [];
  for (const [i, items] of layers.entries()) walks.push(await walkLayer(Readable.from([i % 2 ? tarOf(items) : gzipTarOf(items)]), { wanted: inventoryWants }));
  return inventoryOf(new LayerView(walks));
}

const debianRelease = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n';

describe('package inventory', () => {
  it('lists the dpkg packages an image ends with: one removed by a later layer absent, one upgraded at its new version only', async () => {
    const base: TarItem[] = [
      { path: 'usr/lib/os-release', content: debianRelease },
      { path: 'etc/os-release', type: 'symlink', target: '../usr/lib/os-release' },
      { path: 'var/lib/dpkg/status', content: [dpkg('bash', '5.2.15-2+b2'), dpkg('curl', '7.88.1-10+deb12u5'), dpkg('libssl3', '3.0.11-1~deb12u2', 'Source: openssl\n')].join('\n') },
    ];
    // apt-get upgrade libssl3 && apt-get purge curl, plus a package dpkg keeps config-files of.
    const later: TarItem[] = [
      {
        path: 'var/lib/dpkg/status',
        content: [dpkg('bash', '5.2.15-2+b2'), dpkg('libssl3', '3.0.15-1~deb12u1', 'Source: openssl (3.0.15-1~deb12u1)\n'), dpkg('vim', '2:9.0.1378-2').replace('install ok installed', 'deinstall ok config-files')].join('\n'),
      },
    ];
    const result = await inventory([base, later]);
    expect(result.os).toEqual({ id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)', codename: 'bookworm' });
    expect(result.packages).toEqual([
      { name: 'bash', version: '5.2.15-2+b2', type: 'deb', arch: 'amd64', purl: 'pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12', foundIn: '/var/lib/dpkg/status' },
      { name: 'libssl3', version: '3.0.15-1~deb12u1', type: 'deb', arch: 'amd64', source: 'openssl', purl: 'pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&distro=debian-12', foundIn: '/var/lib/dpkg/status' },
    ]);
  });

  it('reads distroless status.d files, and honours a whiteout of one', async () => {
    const result = await inventory([
      [
        { path: 'etc/os-release', content: debianRelease },
        { path: 'var/lib/dpkg/status.d/base-files', content: 'Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n' },
        { path: 'var/lib/dpkg/status.d/base-files.md5sums', content: 'abc  etc/debian_version\n' },
        { path: 'var/lib/dpkg/status.d/tzdata', content: 'Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n' },
      ],
      [{ path: 'var/lib/dpkg/status.d/.wh.tzdata', content: '' }],
    ]);
    expect(result.packages.map((p) => `${p.name} ${p.version} ${p.foundIn}`)).toEqual(['base-files 12.4+deb12u5 /var/lib/dpkg/status.d/base-files']);
  });

  it('lists Alpine packages from the apk database, with origin and license', async () => {
    const apk = [
      'C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nS:383459\nI:622592\nT:the musl c library\nU:https://musl.libc.org/\nL:MIT\no:musl\nm:Maintainer\nF:lib\nR:ld-musl-x86_64.so.1\n',
      'P:libcrypto3\nV:3.1.4-r5\nA:x86_64\nL:Apache-2.0\no:openssl\nF:usr/lib\nR:libcrypto.so.3\n',
      '',
    ].join('\n');
    const result = await inventory([[{ path: 'etc/os-release', content: 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n' }, { path: 'lib/apk/db/installed', content: apk }]]);
    expect(result.os).toEqual({ id: 'alpine', versionId: '3.19.1', prettyName: 'Alpine Linux v3.19' });
    expect(result.packages).toEqual([
      { name: 'libcrypto3', version: '3.1.4-r5', type: 'apk', arch: 'x86_64', source: 'openssl', license: 'Apache-2.0', purl: 'pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1', foundIn: '/lib/apk/db/installed' },
      { name: 'musl', version: '1.2.4-r2', type: 'apk', arch: 'x86_64', license: 'MIT', purl: 'pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1', foundIn: '/lib/apk/db/installed' },
    ]);
  });

  it('lists Python distributions and npm packages where they are installed, after upgrades and removals in later layers', async () => {
    const metadata = (name: string, version: string, license?: string) => `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n${license ? `License: ${license}\n` : ''}Summary: x\n\nLong description with Name: not-this\n`;
    const npmPackage = (name: string, version: string) => JSON.stringify({ name, version, license: 'MIT', description: 'x' });
    const site = 'usr/lib/python3/dist-packages';
    const result = await inventory([
      [
        { path: `${site}/requests-2.28.1.dist-info/METADATA`, content: metadata('requests', '2.28.1', 'Apache 2.0') },
        { path: `${site}/Typing_Extensions-4.4.0.dist-info/METADATA`, content: metadata('Typing_Extensions', '4.4.0') },
        { path: 'usr/local/lib/python3.11/site-packages/six.egg-info/PKG-INFO', content: metadata('six', '1.16.0', 'MIT') },
        { path: 'app/node_modules/left-pad/package.json', content: npmPackage('left-pad', '1.3.0') },
        { path: 'app/node_modules/@babel/core/package.json', content: npmPackage('@babel/core', '7.23.0') },
        // Not installed packages: a package.json deeper inside a package, a project's own.
        { path: 'app/node_modules/@babel/core/test/fixture/package.json', content: npmPackage('fixture', '0.0.0') },
        { path: 'app/package.json', content: npmPackage('my-app', '1.0.0') },
      ],
      [
        // pip install -U requests; npm uninstall left-pad.
        { path: `${site}/.wh.requests-2.28.1.dist-info`, content: '' },
        { path: `${site}/requests-2.31.0.dist-info/METADATA`, content: metadata('requests', '2.31.0', 'Apache 2.0') },
        { path: 'app/node_modules/.wh.left-pad', content: '' },
      ],
    ]);
    expect(result.packages).toEqual([
      { name: '@babel/core', version: '7.23.0', type: 'npm', license: 'MIT', purl: 'pkg:npm/%40babel/core@7.23.0', foundIn: '/app/node_modules/@babel/core/package.json' },
      { name: 'requests', version: '2.31.0', type: 'pypi', license: 'Apache 2.0', purl: 'pkg:pypi/requests@2.31.0', foundIn: `/${site}/requests-2.31.0.dist-info/METADATA` },
      { name: 'six', version: '1.16.0', type: 'pypi', license: 'MIT', purl: 'pkg:pypi/six@1.16.0', foundIn: '/usr/local/lib/python3.11/site-packages/six.egg-info/PKG-INFO' },
      { name: 'Typing_Extensions', version: '4.4.0', type: 'pypi', purl: 'pkg:pypi/typing-extensions@4.4.0', foundIn: `/${site}/Typing_Extensions-4.4.0.dist-info/METADATA` },
    ]);
  });

  it('finds nothing in an image without package databases', async () => {
    expect(await inventory([[{ path: 'app/server', content: 'binary' }]])).toEqual({ packages: [] });
  });

  it('parses os-release quoting and dpkg continuation lines as written', () => {
    expect(parseOsRelease('ID="ubuntu"\nVERSION_ID="22.04"\nPRETTY_NAME="Ubuntu \\"Jammy\\" 22.04"\n# comment\nBAD LINE\n')).toEqual({ id: 'ubuntu', versionId: '22.04', prettyName: 'Ubuntu "Jammy" 22.04' });
    expect(parseOsRelease('NAME=nothing\n')).toBeUndefined();
    const parsed = parseDpkgStatus(dpkg('zlib1g', '1:1.2.13.dfsg-1', 'Source: zlib\n'), '/var/lib/dpkg/status', { id: 'ubuntu', versionId: '22.04' });
    expect(parsed).toEqual([{ name: 'zlib1g', version: '1:1.2.13.dfsg-1', type: 'deb', arch: 'amd64', source: 'zlib', purl: 'pkg:deb/ubuntu/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=ubuntu-22.04', foundIn: '/var/lib/dpkg/status' }]);
  });

  it('makes package URLs as the purl spec encodes them', () => {
    expect(packageUrl('deb', 'debian', 'g++-12', '12.2.0-14', { distro: 'debian-12', arch: 'amd64' })).toBe('pkg:deb/debian/g%2B%2B-12@12.2.0-14?arch=amd64&distro=debian-12');
    expect(packageUrl('apk', 'alpine', 'busybox', '1.36.1-r5', { arch: undefined })).toBe('pkg:apk/alpine/busybox@1.36.1-r5');
  });
});

describe('the inventory service', () => {
  it('reads a layer shared by 100 images once, even when they are asked for at the same time', async () => {
    const base = gzipTarOf([
      { path: 'etc/os-release', content: 'ID=alpine\nVERSION_ID=3.19.1\n' },
      { path: 'lib/apk/db/installed', content: 'P:musl\nV:1.2.4-r2\nA:x86_64\n\n' },
    ]);
    const apps = Array.from({ length: 100 }, (_, i) => gzipTarOf([{ path: `app/${i}`, content: String(i) }]));
    const layers = new Map<string, Buffer>([['sha256:base', base], ...apps.map((a, i): [string, Buffer] => [`sha256:app${i}`, a])]);
    const opened = new Map<string, number>();
    // What InventoryService needs of the registry's BlobService: open a blob of a repository as a stream.
    const blobs = {
      open: async (_repository: string, digest: string) => {
        opened.set(digest, (opened.get(digest) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 5));
        return { stream: Readable.from([layers.get(digest)!]) };
      },
    };
    const service = new InventoryService(blobs as unknown as BlobService);
    const results = await Promise.all(apps.map((_, i) => service.ofImage(`library/app${i}`, [{ digest: 'sha256:base' }, { digest: `sha256:app${i}` }])));
    for (const result of results) expect(result.packages.map((p) => p.name)).toEqual(['musl']);
    expect(opened.get('sha256:base')).toBe(1);
    expect([...opened.values()].reduce((a, b) => a + b, 0)).toBe(101);
    // Asked again later: from memory.
    await service.ofImage('library/app0', [{ digest: 'sha256:base' }, { digest: 'sha256:app0' }]);
    expect(opened.get('sha256:base')).toBe(1);
  });
});

describe('npm lockfiles', () => {
  it('lists what an application lockfile installs, without dev dependencies, links or what node_modules already shows', async () => {
    const lock = {
      name: 'app',
      lockfileVersion: 3,
      packages: {
        '': { name: 'app', version: '1.0.0' },
        'node_modules/express': { version: '4.19.2' },
        'node_modules/express/node_modules/debug': { version: '2.6.9' },
        'node_modules/@types/node': { version: '20.1.0', dev: true },
        'node_modules/local-lib': { resolved: 'lib', link: true },
        'node_modules/lodash': { version: '4.17.21' },
        'node_modules/my-alias': { name: 'left-pad', version: '1.3.0' },
      },
    };
    const v1 = { lockfileVersion: 1, dependencies: { ms: { version: '2.1.3', dependencies: { nested: { version: '0.1.0' } } }, jest: { version: '29.0.0', dev: true } } };
    const result = await inventory([
      [
        { path: 'srv/app/package-lock.json', content: JSON.stringify(lock) },
        // Installed: listed from its package.json, not twice.
        { path: 'srv/app/node_modules/lodash/package.json', content: JSON.stringify({ name: 'lodash', version: '4.17.21' }) },
        // A lockfile shipped inside an installed package is that package's business.
        { path: 'srv/app/node_modules/lodash/package-lock.json', content: JSON.stringify({ lockfileVersion: 3, packages: { 'node_modules/evil': { version: '6.6.6' } } }) },
        { path: 'opt/old/npm-shrinkwrap.json', content: JSON.stringify(v1) },
        { path: 'opt/broken/package-lock.json', content: '{not json' },
      ],
    ]);
    expect(result.packages.map((p) => `${p.name}@${p.version} ${p.foundIn}`)).toEqual([
      'debug@2.6.9 /srv/app/package-lock.json',
      'express@4.19.2 /srv/app/package-lock.json',
      'left-pad@1.3.0 /srv/app/package-lock.json',
      'lodash@4.17.21 /srv/app/node_modules/lodash/package.json',
      'ms@2.1.3 /opt/old/npm-shrinkwrap.json',
      'nested@0.1.0 /opt/old/npm-shrinkwrap.json',
    ]);
  });
});
