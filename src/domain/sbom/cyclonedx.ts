import { imagePurl, type SbomContent, type SbomMaking, type SbomSubject } from './sbom.js';

/**
 * A CycloneDX 1.5 JSON document (https://cyclonedx.org/docs/1.5/json/) of an image: the image as
 * the metadata's component, its operating system and its packages as components, each package
 * depending on nothing the inventory knows. Checked against the official schema in the tests.
 */
export function cycloneDxDocument(subject: SbomSubject, content: SbomContent, making: SbomMaking): Record<string, unknown> {
  const refs = new Set<string>();
  const unique = (ref: string) => {
    let candidate = ref;
    for (let n = 2; refs.has(candidate); n++) candidate = `${ref}#${n}`;
    refs.add(candidate);
    return candidate;
  };
  const imageRef = unique(imagePurl(subject));
  const components: Record<string, unknown>[] = [];
  if (content.os) {
    const os: Record<string, unknown> = { type: 'operating-system', 'bom-ref': unique(`os:${content.os.id}@${content.os.versionId ?? ''}`), name: content.os.id };
    if (content.os.versionId) os.version = content.os.versionId;
    if (content.os.prettyName) os.description = content.os.prettyName;
    components.push(os);
  }
  for (const p of content.packages) {
    const component: Record<string, unknown> = { type: 'library', 'bom-ref': unique(p.purl), name: p.name, version: p.version, purl: p.purl };
    if (p.license) component.licenses = [{ license: { name: p.license } }];
    const properties = [{ name: 'berth:package:foundIn', value: p.foundIn }];
    if (p.source) properties.push({ name: 'berth:package:source', value: p.source });
    if (p.arch) properties.push({ name: 'berth:package:arch', value: p.arch });
    component.properties = properties;
    components.push(component);
  }
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${making.uuid}`,
    version: 1,
    metadata: {
      timestamp: making.created,
      tools: { components: [{ type: 'application', name: 'berth', version: making.toolVersion }] },
      component: { type: 'container', 'bom-ref': imageRef, name: `${subject.host}/${subject.repository}`, version: subject.digest, purl: imagePurl(subject) },
    },
    components,
  };
}
