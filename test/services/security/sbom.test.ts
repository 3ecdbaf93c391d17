import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { cycloneDxDocument } from '../../../src/domain/sbom/cyclonedx.js';
import { spdxDocument } from '../../../src/domain/sbom/spdx.js';
import type { SbomContent } from '../../../src/domain/sbom/sbom.js';

/** CycloneDX's official JSON schemas, as the CycloneDX JavaScript library ships them (a dev dependency). */
function cycloneDxValidator() {
  const require = createRequire(import.meta.url);
  const dir = join(dirname(require.resolve('@cyclonedx/cyclonedx-library/package.json')), 'res', 'schema');
  const load = (file: string) => JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;
  const ajv = new Ajv({ strict: false, allErrors: true, logger: false });
  addFormats.default(ajv);
  // bom-1.5 refers to its neighbours by their file names, relative to its own $id.
  for (const file of ['spdx.SNAPSHOT.schema.json', 'jsf-0.82.SNAPSHOT.schema.json']) ajv.addSchema({ ...load(file), $id: `http://cyclonedx.org/schema/${file}` });
  return ajv.compile(load('bom-1.5.SNAPSHOT.schema.json'));
}

/**
 * SPDX's official 2.3 JSON schema is in no package installable here (npm has SPDX 3's), so it is
 * read from a file when BERTH_SPDX_SCHEMA names one: `schemas/spdx-schema.json` at tag v2.3 of
 * github.com/spdx/spdx-spec (docs/inventory.md, "SBOMs").
 */
const spdxSchemaFile = process.env.BERTH_SPDX_SCHEMA;
if (!spdxSchemaFile) console.warn('SPDX 2.3 schema not given (BERTH_SPDX_SCHEMA): SPDX documents are checked field by field only');

const subject = { repository: 'library/debian', digest: `sha256:${'ab'.repeat(32)}`, host: 'registry.example:5000' };
const making = { toolVersion: '0.1.0', created: '2026-12-04T05:20:00.123Z', uuid: '3f1c8c2e-2b1a-4d5e-9f00-0a1b2c3d4e5f' };
const content: SbomContent = {
  os: { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
  packages: [
    { name: 'bash', version: '5.2.15-2+b2', type: 'deb', arch: 'amd64', purl: 'pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12', foundIn: '/var/lib/dpkg/status' },
    { name: 'libssl3', version: '3.0.15-1~deb12u1', type: 'deb', arch: 'amd64', source: 'openssl', purl: 'pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&distro=debian-12', foundIn: '/var/lib/dpkg/status' },
    { name: 'musl', version: '1.2.4-r2', type: 'apk', arch: 'x86_64', license: 'MIT', purl: 'pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64', foundIn: '/lib/apk/db/installed' },
    // The same purl twice (two databases listing one package): references stay unique.
    { name: 'musl', version: '1.2.4-r2', type: 'apk', arch: 'x86_64', purl: 'pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64', foundIn: '/lib/apk/db/installed' },
  ],
};

describe('SBOM documents', () => {
  it('makes CycloneDX 1.5 JSON that the official schema accepts, with every package once as a component', () => {
    const validate = cycloneDxValidator();
    const doc = cycloneDxDocument(subject, content, making);
    expect(validate(doc), JSON.stringify(validate.errors, null, 1)).toBe(true);
    const components = doc.components as Array<Record<string, unknown>>;
    expect(components.map((c) => `${c.type} ${c.name} ${c.version}`)).toEqual(['operating-system debian 12', 'library bash 5.2.15-2+b2', 'library libssl3 3.0.15-1~deb12u1', 'library musl 1.2.4-r2', 'library musl 1.2.4-r2']);
    const refs = components.map((c) => c['bom-ref']);
    expect(new Set(refs).size).toBe(refs.length);
    expect(doc.serialNumber).toBe(`urn:uuid:${making.uuid}`);
    expect((doc.metadata as { component: { purl: string } }).component.purl).toBe(
      'pkg:oci/debian@sha256%3Aabababababababababababababababababababababababababababababababab?repository_url=registry.example%3A5000%2Flibrary%2Fdebian',
    );
    // A document the schema refuses is refused: the check can fail.
    expect(validate({ ...doc, specVersion: '1.5', components: [{ type: 'not-a-type', name: 'x' }] })).toBe(false);
  });

  it('makes SPDX 2.3 JSON: the image describes, contains its OS and each package, with purls and nothing asserted that layers do not say', () => {
    const doc = spdxDocument(subject, content, making);
    expect(doc).toMatchObject({
      spdxVersion: 'SPDX-2.3',
      dataLicense: 'CC0-1.0',
      SPDXID: 'SPDXRef-DOCUMENT',
      documentNamespace: `https://registry.example:5000/spdx/library/debian/${subject.digest}/${making.uuid}`,
      creationInfo: { created: '2026-12-04T05:20:00Z', creators: ['Tool: berth-0.1.0'] },
    });
    const packages = doc.packages as Array<Record<string, unknown>>;
    expect(packages.map((p) => p.SPDXID)).toEqual([
      'SPDXRef-Image',
      'SPDXRef-OperatingSystem-debian',
      'SPDXRef-Package-deb-bash-5.2.15-2-b2',
      'SPDXRef-Package-deb-libssl3-3.0.15-1-deb12u1',
      'SPDXRef-Package-apk-musl-1.2.4-r2',
      'SPDXRef-Package-apk-musl-1.2.4-r2-2',
    ]);
    for (const p of packages) {
      expect(p.SPDXID).toMatch(/^SPDXRef-[A-Za-z0-9.-]+$/);
      expect(p.downloadLocation).toBe('NOASSERTION');
    }
    expect(packages[0]!.checksums).toEqual([{ algorithm: 'SHA256', checksumValue: 'ab'.repeat(32) }]);
    expect(packages[2]!.externalRefs).toEqual([{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: content.packages[0]!.purl }]);
    const relationships = doc.relationships as Array<{ spdxElementId: string; relationshipType: string; relatedSpdxElement: string }>;
    expect(relationships[0]).toEqual({ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: 'SPDXRef-Image' });
    expect(relationships.slice(1).map((r) => `${r.spdxElementId} ${r.relationshipType} ${r.relatedSpdxElement}`)).toEqual(packages.slice(1).map((p) => `SPDXRef-Image CONTAINS ${String(p.SPDXID)}`));
  });

  it.skipIf(!spdxSchemaFile)('makes SPDX 2.3 JSON that the official schema accepts (BERTH_SPDX_SCHEMA)', () => {
    const ajv = new Ajv({ strict: false, allErrors: true, logger: false });
    addFormats.default(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync(spdxSchemaFile!, 'utf8')) as Record<string, unknown>);
    const doc = spdxDocument(subject, content, making);
    expect(validate(doc), JSON.stringify(validate.errors, null, 1)).toBe(true);
    expect(validate({ ...doc, packages: [{ SPDXID: 'SPDXRef-x', name: 'x', filesAnalyzed: 'no' }] })).toBe(false);
  });
});
