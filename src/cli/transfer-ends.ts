import { resolve } from 'node:path';
import { ConfigError } from '../config/load.js';
import { parseCidr, type Cidr } from '../domain/address-ranges.js';
import { OutboundClient } from '../adapters/outbound/outbound-client.js';
import { RegistryClient } from '../adapters/upstream/registry-client.js';
import { ArchiveStorage, DirectoryStorage } from '../adapters/transfer/layout-storage.js';
import { OciLayout } from '../adapters/transfer/oci-layout.js';
import { DockerArchiveSource, addDockerManifest } from '../adapters/transfer/docker-archive.js';
import type { UpstreamRegistry } from '../ports/upstream-registry.js';

/** Where images are copied from or to, in skopeo's transport syntax. */
export type TransferLocation =
  | { transport: 'docker'; host: string; repository: string; reference?: string }
  | { transport: 'oci' | 'oci-archive' | 'docker-archive'; path: string; reference?: string };

export const transportsHelp = 'docker://HOST/REPOSITORY[:TAG|@DIGEST], oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:NAME:TAG]';

/** Parses `docker://…`, `oci:…`, `oci-archive:…`, `docker-archive:…` as skopeo writes them. */
export function parseLocation(text: string): TransferLocation {
  if (text.startsWith('docker://')) {
    const rest = text.slice('docker://'.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) throw new ConfigError(`"${text}": expected docker://HOST/REPOSITORY[:TAG|@DIGEST]`);
    const host = rest.slice(0, slash);
    let name = rest.slice(slash + 1);
    let reference: string | undefined;
    const at = name.indexOf('@');
    if (at >= 0) {
      reference = name.slice(at + 1);
      name = name.slice(0, at);
    } else {
      const colon = name.lastIndexOf(':');
      if (colon > name.lastIndexOf('/')) {
        reference = name.slice(colon + 1);
        name = name.slice(0, colon);
      }
    }
    if (name === '') throw new ConfigError(`"${text}": no repository after the host`);
    return { transport: 'docker', host, repository: name, reference };
  }
  const match = /^(oci|oci-archive|docker-archive):(.+)$/.exec(text);
  if (!match) throw new ConfigError(`"${text}": unknown location; use ${transportsHelp}`);
  // As skopeo: the path ends at the first colon; what follows is the reference.
  const [path, ...rest] = match[2]!.split(':');
  return { transport: match[1] as 'oci', path: resolve(path!), reference: rest.length > 0 ? rest.join(':') : undefined };
}

export interface OpenedLocation {
  registry: UpstreamRegistry;
  repository: string;
  /** The tag or digest named, or the only image the source holds. */
  reference?: string;
  /** Writes what a destination still needs (index.json, manifest.json) and closes files. */
  finish(): Promise<void>;
  /** Closes without finishing: an archive can be resumed. */
  abandon(): Promise<void>;
}

export interface RegistryAccess {
  credentials?: { username: string; secret: string };
  /** Plain HTTP instead of HTTPS (skopeo's --tls-verify=false for a registry without TLS). */
  insecure?: boolean;
}

const maxManifestBytes = 4 * 1024 * 1024;

/**
 * The CLI acts for the person running it, as skopeo does: it may reach any address. The
 * outbound-request policy still carries the request (one client for every outbound call);
 * what it guards against — users making the server call into its own network — does not
 * arise when the operator types the address.
 */
export function cliOutbound(): OutboundClient {
  const everywhere: Cidr[] = [parseCidr('0.0.0.0/0')!, parseCidr('::/0')!];
  return new OutboundClient({ allowed: () => everywhere, timeoutMs: 60_000, maxResponseBytes: maxManifestBytes, maxRedirects: 5, userAgent: 'berth-cli' });
}

function credentialsFrom(text: string | undefined): RegistryAccess['credentials'] {
  if (text === undefined) return undefined;
  const colon = text.indexOf(':');
  if (colon <= 0) throw new ConfigError('credentials are USERNAME:PASSWORD');
  return { username: text.slice(0, colon), secret: text.slice(colon + 1) };
}

export function registryAccess(creds: string | undefined, tlsVerify: string | undefined): RegistryAccess {
  if (tlsVerify !== undefined && tlsVerify !== 'true' && tlsVerify !== 'false') throw new ConfigError('--*-tls-verify expects true or false');
  return { credentials: credentialsFrom(creds), insecure: tlsVerify === 'false' };
}

/** Opens a location to read images from. */
export async function openSource(location: TransferLocation, access: RegistryAccess = {}): Promise<OpenedLocation> {
  const done = async () => undefined;
  switch (location.transport) {
    case 'docker':
      return { registry: registryClient(location.host, access), repository: location.repository, reference: location.reference ?? 'latest', finish: done, abandon: done };
    case 'oci': {
      const layout = await OciLayout.read(new DirectoryStorage(location.path), { maxManifestBytes });
      return { registry: layout, repository: '', reference: location.reference ?? onlyName(layout.tagged().map((t) => t.tag), location.path), finish: done, abandon: done };
    }
    case 'oci-archive': {
      const layout = await OciLayout.read(await ArchiveStorage.openForReading(location.path), { maxManifestBytes });
      const names = layout.tagged().map((t) => (t.repository === '' ? t.tag : `${t.repository}:${t.tag}`));
      return { registry: layout, repository: '', reference: location.reference ?? onlyName(names, location.path), finish: done, abandon: done };
    }
    case 'docker-archive': {
      const source = await DockerArchiveSource.open(await ArchiveStorage.openForReading(location.path), maxManifestBytes);
      return { registry: source, repository: '', reference: location.reference ?? onlyName(source.names(), location.path), finish: done, abandon: done };
    }
  }
}

/**
 * Opens a location to write to. An archive that an interrupted run left is resumed (the whole
 * blobs in it are kept), unless `fresh`; a directory layout is added to.
 */
export async function openDestination(location: TransferLocation, access: RegistryAccess = {}, fresh = false): Promise<OpenedLocation & { kept: number }> {
  switch (location.transport) {
    case 'docker': {
      const done = async () => undefined;
      return { registry: registryClient(location.host, access), repository: location.repository, reference: location.reference, finish: done, abandon: done, kept: 0 };
    }
    case 'oci': {
      const layout = await OciLayout.write(new DirectoryStorage(location.path), { maxManifestBytes });
      return { registry: layout, repository: '', reference: location.reference, finish: () => layout.finish(), abandon: async () => undefined, kept: 0 };
    }
    case 'oci-archive':
    case 'docker-archive': {
      const { archive, kept } = await ArchiveStorage.openForWriting(location.path, !fresh);
      const layout = await OciLayout.write(archive, { maxManifestBytes });
      const finish = async () => {
        if (location.transport === 'docker-archive') await addDockerManifest(layout);
        await layout.finish();
      };
      return { registry: layout, repository: '', reference: location.reference, finish, abandon: () => archive.abandon(), kept };
    }
  }
}

function registryClient(host: string, access: RegistryAccess): RegistryClient {
  // Docker Hub's name for users is not where its API is.
  const apiHost = host === 'docker.io' ? 'registry-1.docker.io' : host;
  return new RegistryClient({ outbound: cliOutbound(), feature: 'replication', url: `${access.insecure ? 'http' : 'https'}://${apiHost}`, credentials: access.credentials, maxManifestBytes });
}

function onlyName(names: string[], path: string): string {
  if (names.length === 1) return names[0]!;
  throw new ConfigError(names.length === 0 ? `${path} holds no tagged image: name the image (…:REF)` : `${path} holds ${names.length} images (${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}): name one (…:REF)`);
}
