import { describe, expect, it } from 'vitest';
import { addressCategory, clientKey, inAnyCidr, parseCidr } from '../../src/domain/address-ranges.js';

describe('special-purpose address ranges', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['fd00::1', 'unique-local'],
    ['fc00::1', 'unique-local'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    // IPv4 inside IPv6: judged by the IPv4 address they carry.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['0:0:0:0:0:ffff:a00:1', 'private'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::127.0.0.1', 'loopback'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['2002:7f00:1::', 'loopback'],
    ['2002:c0a8:101::1', 'private'],
    ['not-an-address', 'reserved'],
  ])('%s is %s', (address, category) => {
    expect(addressCategory(address)).toBe(category);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '2002:808:808::1', '64:ff9b::808:808'])('%s is an ordinary address', (address) => {
    expect(addressCategory(address)).toBeUndefined();
  });

  it('parses CIDRs to their network and refuses what is not one', () => {
    expect(parseCidr('10.1.2.3/8')?.text).toBe('10.0.0.0/8');
    expect(parseCidr('127.0.0.2')?.text).toBe('127.0.0.2/32');
    expect(parseCidr('fd12:3456::7/16')?.text).toBe('fd12::/16');
    expect(parseCidr('::1')?.text).toBe('::1/128');
    for (const bad of ['10.0.0.0/33', '::/129', '10.0.0/8', 'example.com/8', '10.0.0.0/-1', '10.0.0.0/', '']) expect(parseCidr(bad), bad).toBeUndefined();
  });

  it('matches an IPv4-mapped address against an IPv4 allowlist entry', () => {
    const allow = [parseCidr('127.0.0.0/8')!];
    expect(inAnyCidr('127.0.0.5', allow)).toBe(true);
    expect(inAnyCidr('::ffff:127.0.0.5', allow)).toBe(true);
    expect(inAnyCidr('::1', allow)).toBe(false);
    expect(inAnyCidr('10.0.0.1', allow)).toBe(false);
  });

  it('counts IPv4 clients by address and IPv6 clients by /64', () => {
    expect(clientKey('127.0.0.2')).toBe('127.0.0.2');
    expect(clientKey('::ffff:127.0.0.2')).toBe('127.0.0.2');
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2:bbbb::9')).toBe('2001:db8:1:2::/64');
    expect(clientKey('::1')).toBe('::/64');
  });
});
