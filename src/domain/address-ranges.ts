import { isIPv4, isIPv6 } from 'node:net';

/**
 * Which special-purpose range an IP address falls in (IANA IPv4 and IPv6 Special-Purpose
 * Address Registries, RFC 6890 and successors), so the outbound-request policy can refuse
 * addresses inside the registry's own network. Addresses that embed an IPv4 address
 * (IPv4-mapped, IPv4-compatible, NAT64's well-known prefix, 6to4) are judged by the IPv4
 * address they carry, so `::ffff:127.0.0.1` is loopback like `127.0.0.1`.
 */
export type AddressCategory = 'unspecified' | 'loopback' | 'private' | 'link-local' | 'unique-local' | 'multicast' | 'reserved';

/** An address as 4 (IPv4) or 16 (IPv6) bytes. */
export type AddressBytes = Uint8Array;

export interface Cidr {
  bytes: AddressBytes;
  prefix: number;
  /** As written, normalized (`10.0.0.0/8`). */
  text: string;
}

const v4Ranges: Array<[string, number, AddressCategory]> = [
  ['0.0.0.0', 8, 'unspecified'], // "this network"; 0.0.0.0 reaches the local host on Linux
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'private'], // shared address space (carrier-grade NAT)
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'], // cloud metadata services live here (169.254.169.254)
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'], // IETF protocol assignments
  ['192.0.2.0', 24, 'reserved'], // documentation
  ['192.88.99.0', 24, 'reserved'], // 6to4 relay anycast
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'reserved'], // benchmarking
  ['198.51.100.0', 24, 'reserved'], // documentation
  ['203.0.113.0', 24, 'reserved'], // documentation
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'], // future use, and 255.255.255.255 broadcast
];

const v6Ranges: Array<[string, number, AddressCategory]> = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['64:ff9b:1::', 48, 'private'], // local-use NAT64 (RFC 8215)
  ['100::', 64, 'reserved'], // discard-only
  ['2001::', 32, 'reserved'], // Teredo: the client address inside is obfuscated
  ['2001:2::', 48, 'reserved'], // benchmarking
  ['2001:db8::', 32, 'reserved'], // documentation
  ['fc00::', 7, 'unique-local'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'private'], // site-local (deprecated, still routed inside some networks)
  ['ff00::', 8, 'multicast'],
];

const v4Table = v4Ranges.map(([address, prefix, category]) => ({ bytes: addressBytes(address)!, prefix, category }));
const v6Table = v6Ranges.map(([address, prefix, category]) => ({ bytes: addressBytes(address)!, prefix, category }));

/** The special-purpose category of an address, or undefined for an ordinary (global) one. */
export function addressCategory(address: string): AddressCategory | undefined {
  const bytes = addressBytes(address);
  if (!bytes) return 'reserved'; // not an address at all: never treat it as harmless
  const v4 = embeddedIPv4(bytes);
  if (v4) return lookup(v4Table, v4);
  return lookup(v6Table, bytes);
}

/**
 * The IPv4 address an IPv6 address stands for, when it carries one: IPv4-mapped (`::ffff:a.b.c.d`),
 * IPv4-compatible (`::a.b.c.d`, deprecated), NAT64's well-known prefix (`64:ff9b::a.b.c.d`) and
 * 6to4 (`2002:aabb:ccdd::`); the 4 bytes themselves for an IPv4 address.
 */
export function embeddedIPv4(bytes: AddressBytes): AddressBytes | undefined {
  if (bytes.length === 4) return bytes;
  const zeros = (from: number, to: number) => bytes.subarray(from, to).every((b) => b === 0);
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.subarray(12, 16);
  // ::a.b.c.d, but not :: and ::1 themselves.
  if (zeros(0, 12) && !(zeros(12, 15) && bytes[15]! <= 1)) return bytes.subarray(12, 16);
  if (bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b && zeros(4, 12)) return bytes.subarray(12, 16);
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return bytes.subarray(2, 6);
  return undefined;
}

function lookup(table: Array<{ bytes: AddressBytes; prefix: number; category: AddressCategory }>, bytes: AddressBytes): AddressCategory | undefined {
  return table.find((range) => inPrefix(bytes, range.bytes, range.prefix))?.category;
}

/** Whether `bytes` lies in `network/prefix` (both of the same family). */
export function inPrefix(bytes: AddressBytes, network: AddressBytes, prefix: number): boolean {
  if (bytes.length !== network.length) return false;
  const whole = prefix >> 3;
  for (let i = 0; i < whole; i++) if (bytes[i] !== network[i]) return false;
  const rest = prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (bytes[whole]! & mask) === (network[whole]! & mask);
}

/** Parses `a.b.c.d/n`, an IPv6 `x::/n`, or a single address (a /32 or /128). Undefined when invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  const address = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const bytes = addressBytes(address);
  if (!bytes) return undefined;
  const max = bytes.length * 8;
  let prefix = max;
  if (slash >= 0) {
    const given = trimmed.slice(slash + 1);
    if (!/^\d{1,3}$/.test(given)) return undefined;
    prefix = Number(given);
    if (prefix > max) return undefined;
  }
  const network = new Uint8Array(bytes.length);
  for (let bit = 0; bit < prefix; bit++) network[bit >> 3]! |= bytes[bit >> 3]! & (0x80 >> (bit & 7));
  return { bytes: network, prefix, text: `${formatBytes(network)}/${prefix}` };
}

/** Whether an address lies in any of `cidrs`; IPv4 forms inside IPv6 (mapped, NAT64, ...) match IPv4 entries too. */
export function inAnyCidr(address: string, cidrs: readonly Cidr[]): boolean {
  const bytes = addressBytes(address);
  if (!bytes) return false;
  const v4 = embeddedIPv4(bytes);
  return cidrs.some((cidr) => inPrefix(bytes, cidr.bytes, cidr.prefix) || (v4 !== undefined && inPrefix(v4, cidr.bytes, cidr.prefix)));
}

/**
 * An address's bytes: dotted-quad IPv4, or IPv6 with `::`, an embedded dotted quad, brackets and
 * a zone id (`fe80::1%eth0`) allowed. Undefined when it is not an address.
 */
export function addressBytes(text: string): AddressBytes | undefined {
  let address = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const zone = address.indexOf('%');
  if (zone >= 0) address = address.slice(0, zone);
  if (isIPv4(address)) return Uint8Array.from(address.split('.').map(Number));
  if (!isIPv6(address)) return undefined;
  const bytes = new Uint8Array(16);
  let tail = address;
  let v4: AddressBytes | undefined;
  const lastColon = tail.lastIndexOf(':');
  if (tail.slice(lastColon + 1).includes('.')) {
    v4 = addressBytes(tail.slice(lastColon + 1));
    tail = `${tail.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = tail.split('::') as [string, string | undefined];
  const groups = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const front = groups(head);
  const back = rest === undefined ? [] : groups(rest);
  const all = rest === undefined ? front : [...front, ...Array<number>(8 - front.length - back.length).fill(0), ...back];
  all.forEach((group, i) => {
    bytes[i * 2] = group >> 8;
    bytes[i * 2 + 1] = group & 0xff;
  });
  if (v4) bytes.set(v4, 12);
  return bytes;
}

function formatBytes(bytes: AddressBytes): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  // Longest run of zero groups becomes "::" (RFC 5952).
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLength).join(':')}`;
}

/**
 * The client a request counts against: an IPv4 address as it is (also when it arrives
 * IPv4-mapped), an IPv6 address as its /64, the block one subscriber usually holds — otherwise
 * one attacker would have 2^64 addresses to rotate through.
 */
export function clientKey(address: string): string {
  const bytes = addressBytes(address);
  if (!bytes) return address;
  const v4 = bytes.length === 4 ? bytes : embeddedIPv4(bytes);
  if (v4 && (bytes.length === 4 || (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff))) return v4.join('.');
  const network = new Uint8Array(16);
  network.set(bytes.subarray(0, 8));
  return `${formatBytes(network)}/64`;
}
