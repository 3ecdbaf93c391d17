import { packageUrl, type OperatingSystem, type Package } from './package.js';

/** What the inventory takes from one RPM header (rpm's `lib/rpmtag.h` numbers). */
export interface RpmHeader {
  name: string;
  version: string;
  release: string;
  epoch?: number;
  arch?: string;
  license?: string;
  /** The source package's file name, `name-version-release.src.rpm`. */
  sourceRpm?: string;
}

const tag = { name: 1000, version: 1001, release: 1002, epoch: 1003, license: 1014, arch: 1022, sourceRpm: 1044 } as const;
/** HEADERIMAGE, HEADERSIGNATURES, HEADERIMMUTABLE: the tags that mark a header's immutable region. */
const regionTags = new Set([61, 62, 63]);
const type = { int16: 3, int32: 4, int64: 5, string: 6, bin: 7, stringArray: 8, i18nString: 9 } as const;
/** Bytes per element of the fixed-size types (CHAR, INT8 … INT64, BIN); the string types are 0. */
const elementSize = [0, 1, 1, 2, 4, 8, 0, 1, 0, 0];
const indexEntryBytes = 16;
/** rpm's own ceilings (header_internal.h hdrchkTags / hdrchkData): more is not a header. */
const maxIndexEntries = 0xffff;
const maxDataBytes = 0x0fffffff;

interface IndexEntry {
  tag: number;
  type: number;
  offset: number;
  count: number;
}

/**
 * One header blob as rpm stores it in its database (rpm.org "RPM file format", the header
 * section without its 8-byte magic): the index entry count and data length (big-endian
 * 32-bit), that many 16-byte index entries (tag, type, offset into the data, count), then the
 * data. Every entry is checked the way rpm's header verification does (known type, aligned,
 * offset and count inside the data), and the immutable region's trailer too; entries after the
 * region (rpm's "dribbles") replace region entries of the same tag. Anything that does not
 * hold up gives undefined: hostile bytes are skipped, never thrown on.
 */
export function parseRpmHeader(blob: Buffer): RpmHeader | undefined {
  if (blob.length < 8) return undefined;
  const il = blob.readUInt32BE(0);
  const dl = blob.readUInt32BE(4);
  if (il < 1 || il > maxIndexEntries || dl > maxDataBytes) return undefined;
  const dataStart = 8 + il * indexEntryBytes;
  if (dataStart + dl > blob.length) return undefined;
  const entries: IndexEntry[] = [];
  for (let i = 0; i < il; i++) {
    const at = 8 + i * indexEntryBytes;
    const entry = { tag: blob.readUInt32BE(at), type: blob.readUInt32BE(at + 4), offset: blob.readInt32BE(at + 8), count: blob.readUInt32BE(at + 12) };
    if (!entryFits(entry, dl)) return undefined;
    entries.push(entry);
  }
  if (regionTags.has(entries[0]!.tag) && !regionFits(blob, entries[0]!, dataStart, il)) return undefined;
  // Later entries win: the dribbles rpm appends after the region replace region entries.
  const byTag = new Map<number, IndexEntry>();
  for (const entry of entries) byTag.set(entry.tag, entry);
  const data = blob.subarray(dataStart, dataStart + dl);
  const text = (t: number) => {
    const entry = byTag.get(t);
    return entry ? stringOf(data, entry) : undefined;
  };
  const name = text(tag.name);
  const version = text(tag.version);
  const release = text(tag.release);
  if (!name || !version || !release) return undefined;
  const header: RpmHeader = { name, version, release };
  const epoch = byTag.get(tag.epoch);
  if (epoch?.type === type.int32) header.epoch = data.readUInt32BE(epoch.offset);
  const arch = text(tag.arch);
  if (arch) header.arch = arch;
  const license = text(tag.license);
  if (license) header.license = license;
  const sourceRpm = text(tag.sourceRpm);
  if (sourceRpm) header.sourceRpm = sourceRpm;
  return header;
}

/** rpm's checks of one index entry: a known type, aligned, its data inside the data section. */
function entryFits({ type: t, offset, count }: IndexEntry, dl: number): boolean {
  if (t > type.i18nString || offset < 0 || offset >= dl || count < 1 || count > dl) return false;
  const size = elementSize[t]!;
  if (size > 1 && offset % size !== 0) return false;
  return size === 0 || offset + count * size <= dl;
}

/**
 * The region tag's data is a 16-byte trailer: an index entry whose negated offset is the
 * region's index length. rpm refuses a header whose trailer does not say so; so do we.
 */
function regionFits(blob: Buffer, region: IndexEntry, dataStart: number, il: number): boolean {
  if (region.type !== type.bin || region.count !== indexEntryBytes) return false;
  const at = dataStart + region.offset;
  const trailerTag = blob.readUInt32BE(at);
  const trailerType = blob.readUInt32BE(at + 4);
  const trailerOffset = blob.readInt32BE(at + 8);
  const regionEntries = -trailerOffset / indexEntryBytes;
  return regionTags.has(trailerTag) && trailerType === type.bin && Number.isInteger(regionEntries) && regionEntries >= 1 && regionEntries <= il;
}

/** The entry's string (the first one of an array), NUL-terminated inside the data section. */
function stringOf(data: Buffer, entry: IndexEntry): string | undefined {
  if (entry.type !== type.string && entry.type !== type.stringArray && entry.type !== type.i18nString) return undefined;
  const end = data.indexOf(0, entry.offset);
  return end < 0 ? undefined : data.toString('utf8', entry.offset, end);
}

/**
 * The purl namespace for an RPM distribution: the vendor, lowercased (purl-spec, type rpm).
 * os-release IDs name most vendors already; RHEL's is `rhel` for the vendor Red Hat, and the
 * openSUSE and SUSE variants share one vendor each.
 */
export function rpmVendor(os: OperatingSystem | undefined): string | undefined {
  const id = os?.id.toLowerCase();
  if (id === 'rhel') return 'redhat';
  if (id?.startsWith('opensuse')) return 'opensuse';
  if (id === 'sles' || id === 'sled' || id?.startsWith('sle-')) return 'suse';
  return id;
}

/**
 * The inventory's package for a header: version `[epoch:]version-release` (rpm's EVR, the epoch
 * only when the header has one); purl `pkg:rpm/<vendor>/<name>@<version>-<release>` with
 * `arch`, `epoch` and `distro` qualifiers (purl-spec: the epoch is a qualifier, not part of
 * the version). rpm's `gpg-pubkey` entries are imported signing keys, not packages: undefined.
 */
export function rpmPackage(header: RpmHeader, foundIn: string, os: OperatingSystem | undefined): Package | undefined {
  const { name, arch, epoch } = header;
  if (name === 'gpg-pubkey') return undefined;
  const versionRelease = `${header.version}-${header.release}`;
  const version = epoch === undefined ? versionRelease : `${epoch}:${versionRelease}`;
  const distro = os && os.versionId ? `${os.id}-${os.versionId}` : os?.id;
  const purl = packageUrl('rpm', rpmVendor(os), name, versionRelease, { arch, epoch: epoch?.toString(), distro });
  const pkg: Package = { name, version, type: 'rpm', purl, foundIn };
  if (arch) pkg.arch = arch;
  // "name-version-release.src.rpm" (or .nosrc.rpm): the name is what is left of the last two dashes.
  const source = /^(.+)-[^-]+-[^-]+\.(?:no)?src\.rpm$/.exec(header.sourceRpm ?? '')?.[1];
  if (source && source !== name) pkg.source = source;
  if (header.license) pkg.license = header.license;
  return pkg;
}

/** The packages of a database's header blobs; blobs that are not headers are skipped. */
export function rpmPackages(blobs: Iterable<Buffer>, foundIn: string, os: OperatingSystem | undefined): Package[] {
  const packages: Package[] = [];
  for (const blob of blobs) {
    const header = parseRpmHeader(blob);
    const pkg = header && rpmPackage(header, foundIn, os);
    if (pkg) packages.push(pkg);
  }
  return packages;
}
