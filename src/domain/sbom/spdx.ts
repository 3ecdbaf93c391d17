import { imagePurl, type SbomContent, type SbomMaking, type SbomSubject } from './sbom.js';

/**
 * An SPDX 2.3 JSON document (https://spdx.github.io/spdx-spec/v2.3/) of an image: the image as
 * the package the document describes (purpose CONTAINER), which CONTAINS its operating system
 * and each of its packages. Nothing is asserted that the layers do not say: licences, download
 * locations and copyrights are NOASSERTION.
 */
export function spdxDocument(subject: SbomSubject, content: SbomContent, making: SbomMaking): Record<string, unknown> {
  const ids = new Set<string>();
  const id = (base: string) => {
    const clean = `SPDXRef-${base.replace(/[^A-Za-z0-9.-]+/g, '-')}`;
    let candidate = clean;
    for (let n = 2; ids.has(candidate); n++) candidate = `${clean}-${n}`;
    ids.add(candidate);
    return candidate;
  };
  const imageId = id('Image');
  const image: Record<string, unknown> = {
    SPDXID: imageId,
    name: `${subject.host}/${subject.repository}`,
    versionInfo: subject.digest,
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    primaryPackagePurpose: 'CONTAINER',
    externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: imagePurl(subject) }],
  };
  // The manifest's digest is the image's checksum (SPDX knows SHA256 and SHA512 among others).
  const [algorithm, hex] = subject.digest.split(':');
  if ((algorithm === 'sha256' || algorithm === 'sha512') && hex) image.checksums = [{ algorithm: algorithm.toUpperCase(), checksumValue: hex }];
  const packages: Record<string, unknown>[] = [image];
  const relationships: Record<string, unknown>[] = [{ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: imageId }];
  if (content.os) {
    const osId = id(`OperatingSystem-${content.os.id}`);
    const os: Record<string, unknown> = { SPDXID: osId, name: content.os.id, downloadLocation: 'NOASSERTION', filesAnalyzed: false, primaryPackagePurpose: 'OPERATING_SYSTEM' };
    if (content.os.versionId) os.versionInfo = content.os.versionId;
    if (content.os.prettyName) os.description = content.os.prettyName;
    packages.push(os);
    relationships.push({ spdxElementId: imageId, relationshipType: 'CONTAINS', relatedSpdxElement: osId });
  }
  for (const p of content.packages) {
    const packageId = id(`Package-${p.type}-${p.name}-${p.version}`);
    const entry: Record<string, unknown> = {
      SPDXID: packageId,
      name: p.name,
      versionInfo: p.version,
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      primaryPackagePurpose: 'LIBRARY',
      sourceInfo: `listed in ${p.foundIn}`,
      externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: p.purl }],
    };
    if (p.license) entry.comment = `license as the package database states it: ${p.license}`;
    packages.push(entry);
    relationships.push({ spdxElementId: imageId, relationshipType: 'CONTAINS', relatedSpdxElement: packageId });
  }
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${subject.host}/${subject.repository}@${subject.digest}`,
    documentNamespace: `https://${subject.host}/spdx/${subject.repository}/${subject.digest}/${making.uuid}`,
    creationInfo: { created: making.created.replace(/\.\d+Z$/, 'Z'), creators: [`Tool: berth-${making.toolVersion}`] },
    packages,
    relationships,
  };
}
