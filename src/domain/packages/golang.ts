import { packageUrl, type Package } from './package.js';

/**
 * What a Go binary says about how it was built: the toolchain's version and runtime/debug's
 * module lines (`path`, `mod`, `dep`, `=>`, `build`, tab-separated), as Go 1.18 and later embed
 * them in the `.go.buildinfo` section (Go's debug/buildinfo reads the same record).
 */
export interface GoBuildInfo {
  kind: 'go-buildinfo';
  goVersion: string;
  /** Empty for a binary built outside module mode. */
  modules: string;
}

const elfMagic = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const buildInfoMagic = Buffer.from('\xff Go buildinf:', 'latin1');
/** The magic, pointer size and flags; the strings follow it. */
const headerBytes = 32;
/** The linker places the record at a 16-byte boundary. */
const recordAlign = 16;
/** Flag bit: version and module strings are stored inline, varint-prefixed (Go 1.18+). */
const inlineStrings = 0x2;
const maxVersionBytes = 256;
/** Module lines of one binary (a few hundred dependencies take some 50 KiB). */
export const maxGoModuleInfoBytes = 256 * 1024;
/** runtime/debug wraps the module lines in two 16-byte sentinels. */
const sentinelBytes = 16;

/**
 * Finds a Go binary's build info as its bytes stream by, never holding more than one record
 * (at most {@link maxGoModuleInfoBytes} and change): a file that does not start like an ELF
 * executable is given up at once. The magic may also sit elsewhere (a program that embeds Go's
 * debug/buildinfo has it as a constant), so a candidate whose header does not hold up is passed
 * over and the search goes on. Pre-1.18 binaries keep pointers instead of inline strings and are
 * not read.
 */
export class GoBuildInfoProbe {
  /** Bytes not yet searched or a record being gathered, starting at file offset `offset`. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private offset = 0;
  /** Bytes `pending` must hold before it is worth looking at again. */
  private need = elfMagic.length;
  private elfChecked = false;
  private found: GoBuildInfo | undefined;

  update(chunk: Buffer): boolean {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < this.need) return false;
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.need = 0;
    if (!this.elfChecked) {
      if (!data.subarray(0, elfMagic.length).equals(elfMagic)) return true;
      this.elfChecked = true;
    }
    return this.search(data, false);
  }

  finish(): GoBuildInfo | undefined {
    // A record cut short by the end of the file is read with what there is.
    if (!this.found && this.elfChecked && this.need > 0) this.search(Buffer.concat(this.pending), true);
    return this.found;
  }

  /** Looks for a record in `data` (at file offset `offset`); true once found. */
  private search(data: Buffer, last: boolean): boolean {
    let from = 0;
    for (;;) {
      const at = data.indexOf(buildInfoMagic, from);
      if (at < 0) break;
      if ((this.offset + at) % recordAlign !== 0) {
        from = at + 1;
        continue;
      }
      const record = readRecord(data, at);
      if (typeof record === 'number' && !last) {
        // Keep the record's start and wait for the rest of it.
        this.keep(data, at, record);
        return false;
      }
      if (typeof record === 'object') {
        this.found = record;
        return true;
      }
      from = at + 1;
    }
    // A magic split across two chunks starts in the last 13 bytes.
    this.keep(data, Math.max(0, data.length - (buildInfoMagic.length - 1)), 0);
    return false;
  }

  private keep(data: Buffer, from: number, need: number): void {
    const rest = Buffer.from(data.subarray(from));
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    this.offset += from;
    this.need = need;
  }
}

/**
 * The record at `at`: the build info, undefined when it is not one (a stray magic, an old or
 * damaged binary), or the number of bytes from `at` needed before it can be told.
 */
function readRecord(data: Buffer, at: number): GoBuildInfo | undefined | number {
  if (data.length - at < headerBytes) return headerBytes;
  const pointerSize = data[at + 14];
  const flags = data[at + 15]!;
  if ((pointerSize !== 4 && pointerSize !== 8) || (flags & inlineStrings) === 0) return undefined;
  const version = readString(data, at, at + headerBytes, maxVersionBytes);
  if (version === undefined || typeof version === 'number') return version;
  const modules = readString(data, at, version.end, maxGoModuleInfoBytes + 2 * sentinelBytes);
  if (modules === undefined || typeof modules === 'number') return modules;
  const goVersion = version.bytes.toString('latin1');
  if (!/^[\x21-\x7e][\x20-\x7e]*$/.test(goVersion)) return undefined;
  const mod = modules.bytes;
  // Go's own reader: the lines stand between the sentinels, the last one ending in a newline.
  const lines = mod.length >= 2 * sentinelBytes + 1 && mod[mod.length - sentinelBytes - 1] === 0x0a ? mod.subarray(sentinelBytes, mod.length - sentinelBytes).toString('utf8') : '';
  return { kind: 'go-buildinfo', goVersion, modules: lines };
}

/** A uvarint-prefixed string at `pos`, no longer than `max`; undefined when malformed, a byte count (from `at`) when more is needed. */
function readString(data: Buffer, at: number, pos: number, max: number): { bytes: Buffer; end: number } | undefined | number {
  let length = 0;
  let p = pos;
  for (let shift = 0; ; shift += 7) {
    if (p >= data.length) return p - at + 10;
    if (shift > 28) return undefined;
    const byte = data[p++]!;
    length += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) break;
  }
  if (length === 0 || length > max) return undefined;
  if (data.length < p + length) return p + length - at;
  return { bytes: data.subarray(p, p + length), end: p + length };
}

export function isGoBuildInfo(value: unknown): value is GoBuildInfo {
  return typeof value === 'object' && value !== null && (value as GoBuildInfo).kind === 'go-buildinfo';
}

/** A module path that names a directory (`replace x => ../x`), as cmd/go tells them apart. */
const directoryPath = /^(\.{1,2}(\/|$)|\/|[A-Za-z]:[\\/])/;

/**
 * The modules a Go binary was built from: its main module (often `(devel)`), every `dep`, and
 * the standard library as `stdlib` at the toolchain's version, which vulnerability databases
 * list like a module. A dependency replaced by another module is listed as that module at its
 * version (the code that was compiled); one replaced by a local directory keeps its own path
 * with the directory's version, `(devel)`.
 */
export function parseGoBuildInfo(info: GoBuildInfo, foundIn: string): Package[] {
  const modules: Array<{ path: string; version: string }> = [];
  let last: { path: string; version: string } | undefined;
  for (const line of info.modules.split('\n')) {
    const [word, path = '', version = ''] = line.split('\t');
    if (word === 'mod' || word === 'dep') {
      last = path === '' ? undefined : { path, version: version || '(devel)' };
      if (last) modules.push(last);
    } else if (word === '=>' && last && path !== '') {
      if (!directoryPath.test(path)) last.path = path;
      last.version = version || '(devel)';
      last = undefined;
    }
  }
  const packages = modules.map(({ path, version }) => goModule(path, version, foundIn));
  // `go1.21.0 X:loopvar` names experiments after the version.
  const stdlib = info.goVersion.split(' ')[0]!;
  if (stdlib.startsWith('go')) packages.push(goModule('stdlib', stdlib, foundIn));
  return packages;
}

function goModule(path: string, version: string, foundIn: string): Package {
  const slash = path.lastIndexOf('/');
  const purl = slash < 0 ? packageUrl('golang', undefined, path, version) : packageUrl('golang', path.slice(0, slash), path.slice(slash + 1), version);
  return { name: path, version, type: 'golang', purl, foundIn };
}
