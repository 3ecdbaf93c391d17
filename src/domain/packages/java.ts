import { inflateRawSync } from 'node:zlib';
import { packageUrl, type Package } from './package.js';

/** `.jar`, `.war`, `.ear`: zip files whose Maven and manifest metadata name what they hold. */
export const javaArchivePath = /\.(jar|war|ear)$/i;

/** What one Java archive says about itself. */
export interface JavaArchive {
  /** `''` for the file itself, else the entry name of an archive nested in it (`BOOT-INF/lib/x.jar`). */
  path: string;
  /** Each `META-INF/maven/<group>/<artifact>/pom.properties` (a shaded jar holds several). */
  poms: Array<{ groupId: string; artifactId: string; version: string }>;
  /** The main section's attributes of `META-INF/MANIFEST.MF` that name the archive. */
  manifest?: Partial<Record<(typeof manifestNames)[number], string>>;
}

/** What the jar probe found: the archive's own metadata and that of the archives stored in it. */
export interface JavaArchives {
  kind: 'java-archives';
  archives: JavaArchive[];
}

const manifestNames = ['Implementation-Title', 'Implementation-Version', 'Implementation-Vendor-Id', 'Bundle-SymbolicName', 'Bundle-Version'] as const;
const pomPath = /^META-INF\/maven\/([^/]+)\/([^/]+)\/pom\.properties$/;
const manifestPath = /^META-INF\/MANIFEST\.MF$/i;

/** A metadata file larger than this, compressed or not, is not read. */
export const maxJavaMetadataBytes = 64 * 1024;
/** Archives nested in one archive, and pom.properties in all, that are reported. */
const maxArchives = 1000;
const maxPoms = 2000;
/** Names longer than this are nobody's metadata (zip allows 64 KiB). */
const maxNameBytes = 1024;
const maxValueLength = 256;

const localHeader = 0x04034b50;
const centralHeader = 0x02014b50;
const endOfCentralDirectory = 0x06054b50;
const dataDescriptor = 0x08074b50;
const localHeaderBytes = 30;
const flagEncrypted = 0x1;
const flagDataDescriptor = 0x8;
const stored = 0;
const deflated = 8;

/** The bytes of one metadata entry being gathered, by file offset. */
interface Capture {
  archive: string;
  name: string;
  method: number;
  from: number;
  /** Where its data ends, when the local header says (no data descriptor). */
  to: number | undefined;
  chunks: Buffer[];
  bytes: number;
  /** File offset up to which bytes have been taken. */
  next: number;
  overflow: boolean;
}

/**
 * Reads a Java archive as its bytes stream by: a zip's local file headers come before each
 * entry's data, so the stream is searched for them and only `pom.properties` and
 * `MANIFEST.MF` are gathered (at most 64 KiB each) and inflated. Entries whose sizes the header
 * gives are passed over unread. An entry written with a data descriptor (sizes after its data,
 * as java.util.zip writes) ends where the next header begins, and a deflate stream ends itself.
 * An archive stored uncompressed inside this one (Spring Boot's `BOOT-INF/lib/*.jar`, a war's
 * `WEB-INF/lib/*.jar`) is read the same way, one level deep; deflated ones are not. Memory: one
 * header and one metadata entry at a time, and the small result. A zip without its end record
 * (cut short) gives nothing.
 */
export class JarProbe {
  /** Unsearched bytes starting at file offset `offset` (a header cut by the chunk's end). */
  private carry = Buffer.alloc(0);
  private offset = 0;
  /** Bytes of an entry the header gave the size of, passed over unsearched. */
  private skip = 0;
  private capture: Capture | undefined;
  private nested: { path: string; end: number } | undefined;
  private readonly archives = new Map<string, JavaArchive>();
  private poms = 0;
  /** Whether the archive's end record went by: a zip cut short is not read at all. */
  private ended = false;

  update(chunk: Buffer): boolean {
    if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length);
      this.take(this.offset, chunk.subarray(0, n));
      this.skip -= n;
      this.offset += n;
      chunk = chunk.subarray(n);
      if (chunk.length === 0) return false;
    }
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    const base = this.offset;
    this.take(base, data);
    let i = 0;
    let keepFrom = Math.max(0, data.length - 3);
    for (;;) {
      const at = data.indexOf('PK', i, 'latin1');
      if (at < 0 || at >= keepFrom) break;
      if (data.length - at < 4) {
        keepFrom = at;
        break;
      }
      const signature = data.readUInt32LE(at);
      if (signature === endOfCentralDirectory && !(this.nested && base + at < this.nested.end)) this.ended = true;
      if (signature === centralHeader) {
        this.endCapture(base + at);
        i = at + 4;
        continue;
      }
      if (signature !== localHeader) {
        i = at + 1;
        continue;
      }
      if (data.length - at < localHeaderBytes) {
        keepFrom = at;
        break;
      }
      const version = data.readUInt16LE(at + 4);
      const flags = data.readUInt16LE(at + 6);
      const method = data.readUInt16LE(at + 8);
      const compressedSize = data.readUInt32LE(at + 18);
      const size = data.readUInt32LE(at + 22);
      const nameBytes = data.readUInt16LE(at + 26);
      const extraBytes = data.readUInt16LE(at + 28);
      // Not a header after all: the signature turned up inside some entry's data.
      if (nameBytes === 0 || nameBytes > maxNameBytes || (version & 0xff) > 63) {
        i = at + 1;
        continue;
      }
      if (data.length - at < localHeaderBytes + nameBytes) {
        keepFrom = at;
        break;
      }
      const name = data.toString('utf8', at + localHeaderBytes, at + localHeaderBytes + nameBytes);
      const headerAt = base + at;
      this.endCapture(headerAt);
      if (this.nested && headerAt >= this.nested.end) this.nested = undefined;
      const archive = this.nested?.path ?? '';
      const dataFrom = headerAt + localHeaderBytes + nameBytes + extraBytes;
      const known = (flags & flagDataDescriptor) === 0 && compressedSize !== 0xffffffff && size !== 0xffffffff;
      const end = known ? dataFrom + compressedSize : undefined;
      const metadata = (pomPath.test(name) || manifestPath.test(name)) && (method === stored || method === deflated) && (flags & flagEncrypted) === 0;
      if (metadata && (!known || compressedSize <= maxJavaMetadataBytes)) {
        this.capture = { archive, name, method, from: dataFrom, to: end, chunks: [], bytes: 0, next: dataFrom, overflow: false };
        this.take(base, data);
      } else if (!this.nested && known && method === stored && javaArchivePath.test(name)) {
        // An archive stored in this one: its own headers follow, searched like ours.
        this.nested = { path: name, end: end! };
        i = at + localHeaderBytes + nameBytes;
        continue;
      }
      if (end === undefined) {
        i = at + localHeaderBytes + nameBytes;
        continue;
      }
      const past = end - base;
      if (past <= data.length) {
        i = past;
        continue;
      }
      // The entry runs past this chunk: pass over the rest of it unsearched.
      this.skip = past - data.length;
      this.carry = Buffer.alloc(0);
      this.offset = base + data.length;
      return false;
    }
    // Bytes of an entry passed over are not searched again.
    keepFrom = Math.max(keepFrom, i);
    this.carry = Buffer.from(data.subarray(keepFrom));
    this.offset = base + keepFrom;
    return false;
  }

  finish(): JavaArchives | undefined {
    this.endCapture(undefined);
    if (!this.ended) return undefined;
    const archives = [...this.archives.values()].filter((a) => a.poms.length > 0 || a.manifest);
    return archives.length > 0 ? { kind: 'java-archives', archives } : undefined;
  }

  /** Hands the capture what it has not yet taken of `bytes` (at file offset `at`), up to its end and the size limit. */
  private take(at: number, bytes: Buffer): void {
    const c = this.capture;
    if (!c) return;
    const start = Math.max(c.next, c.from);
    const end = Math.min(c.to ?? Infinity, at + bytes.length);
    if (end > start && start >= at) {
      let piece = bytes.subarray(start - at, end - at);
      if (c.bytes + piece.length > maxJavaMetadataBytes) {
        c.overflow = true;
        piece = piece.subarray(0, maxJavaMetadataBytes - c.bytes);
      }
      c.chunks.push(Buffer.from(piece));
      c.bytes += piece.length;
      c.next = end;
    }
    if (c.to !== undefined && c.next >= c.to) this.endCapture(c.to);
  }

  /** Ends the capture at file offset `at` (the next header; undefined for the end of the file) and reads what it gathered. */
  private endCapture(at: number | undefined): void {
    const c = this.capture;
    if (!c || (at !== undefined && at < c.from)) return;
    this.capture = undefined;
    let data: Buffer = Buffer.concat(c.chunks);
    if (at !== undefined && at - c.from < data.length) data = data.subarray(0, at - c.from);
    let text: string | undefined;
    if (c.to !== undefined) {
      // Sizes from the header: all of it, or (the file ended early) nothing.
      if (data.length !== c.to - c.from) return;
    } else if (c.method === stored) {
      if (c.overflow) return;
      data = withoutDescriptor(data);
    }
    if (c.method === deflated) {
      try {
        // A deflate stream ends itself: a data descriptor or anything after it is left alone.
        text = inflateRawSync(data, { maxOutputLength: maxJavaMetadataBytes }).toString('utf8');
      } catch {
        return;
      }
    } else text = data.toString('utf8');
    this.record(c.archive, c.name, text);
  }

  private record(path: string, name: string, text: string): void {
    let archive = this.archives.get(path);
    if (!archive) {
      if (this.archives.size >= maxArchives) return;
      archive = { path, poms: [] };
      this.archives.set(path, archive);
    }
    if (manifestPath.test(name)) {
      const manifest = parseManifest(text);
      if (manifest) archive.manifest = manifest;
      return;
    }
    const pom = parseProperties(text);
    const { groupId, artifactId, version } = pom;
    if (groupId && artifactId && version && this.poms < maxPoms) {
      archive.poms.push({ groupId, artifactId, version });
      this.poms++;
    }
  }
}

/** A stored entry's data without the descriptor after it (with or without its signature, zip64 or not), when one is there. */
function withoutDescriptor(data: Buffer): Buffer {
  for (const [bytes, signed, wide] of [
    [16, true, false],
    [12, false, false],
    [24, true, true],
    [20, false, true],
  ] as const) {
    const at = data.length - bytes;
    if (at < 0 || (signed && data.readUInt32LE(at) !== dataDescriptor)) continue;
    const sizes = at + (signed ? 8 : 4);
    const compressed = wide ? Number(data.readBigUInt64LE(sizes)) : data.readUInt32LE(sizes);
    const size = wide ? Number(data.readBigUInt64LE(sizes + 8)) : data.readUInt32LE(sizes + 4);
    if (compressed === at && size === at) return data.subarray(0, at);
  }
  return data;
}

/** `key=value` (or `key: value`) lines of a Java properties file; comments and continuation lines are not metadata Maven writes. */
function parseProperties(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split(/\r?\n|\r/)) {
    const match = /^\s*([^#!=:\s][^=:\s]*)\s*[=:]\s*(.*?)\s*$/.exec(line);
    if (match && match[2]!.length <= maxValueLength) values[match[1]!] = match[2]!;
  }
  return values;
}

/** The naming attributes of a manifest's main section (up to the first blank line), continuation lines joined. */
function parseManifest(text: string): JavaArchive['manifest'] {
  const main = text.split(/\r?\n\r?\n|\r\r/, 1)[0]!.replace(/\r?\n |\r /g, '');
  const found: NonNullable<JavaArchive['manifest']> = {};
  for (const line of main.split(/\r?\n|\r/)) {
    const colon = line.indexOf(':');
    const name = manifestNames.find((n) => n.toLowerCase() === line.slice(0, colon).trim().toLowerCase());
    const value = line.slice(colon + 1).trim();
    if (colon > 0 && name && value !== '' && value.length <= maxValueLength) found[name] = value;
  }
  return Object.keys(found).length > 0 ? found : undefined;
}

export function isJavaArchives(value: unknown): value is JavaArchives {
  return typeof value === 'object' && value !== null && (value as JavaArchives).kind === 'java-archives';
}

/**
 * The Maven packages of a Java archive at `foundIn` and of the archives stored in it (found in
 * `foundIn!/<entry>`): each pom.properties as `group:artifact` (the Maven name vulnerability
 * databases use), and for an archive without one, its manifest: `Bundle-SymbolicName` and
 * `Bundle-Version`, else `Implementation-Title` and `Implementation-Version` (grouped by
 * `Implementation-Vendor-Id` when it is given). A manifest names no group otherwise: the
 * package's name is then the artifact's alone, and its purl has no namespace.
 */
export function parseJavaArchives(found: JavaArchives, foundIn: string): Package[] {
  const packages: Package[] = [];
  for (const archive of found.archives) {
    const where = archive.path === '' ? foundIn : `${foundIn}!/${archive.path}`;
    for (const pom of archive.poms) packages.push(maven(pom.groupId, pom.artifactId, pom.version, where));
    const m = archive.manifest;
    if (archive.poms.length > 0 || !m) continue;
    const symbolicName = m['Bundle-SymbolicName']?.split(';')[0]!.trim();
    if (symbolicName && m['Bundle-Version']) packages.push(maven(undefined, symbolicName, m['Bundle-Version'], where));
    else if (m['Implementation-Title'] && m['Implementation-Version']) packages.push(maven(m['Implementation-Vendor-Id'], m['Implementation-Title'], m['Implementation-Version'], where));
  }
  return packages;
}

function maven(group: string | undefined, artifact: string, version: string, foundIn: string): Package {
  return { name: group ? `${group}:${artifact}` : artifact, version, type: 'maven', purl: packageUrl('maven', group, artifact, version), foundIn };
}
